/*
 * firmware.h - what a -bios file must be, checked before anything is built.
 *
 * Firmware is raw bytes: the file fills the top of pc.bios, so its last 16
 * bytes are what the vCPU executes first, at the reset vector 0xfffffff0
 * (in real mode, CS base 0xffff0000, IP 0xfff0).  QEMU takes any file of
 * whole 64 KiB and runs it, whatever it holds; kvmfs also takes smaller
 * ones (machine/pc.h), and refuses only what is clearly something else: a
 * file that starts with the magic of an executable or archive format, or
 * that is text through and through - x86 code at a reset vector is never
 * all printable ASCII (a far jump is 0xea, a near one 0xe9).
 */
#ifndef KVMFS_BOOT_FIRMWARE_H
#define KVMFS_BOOT_FIRMWARE_H

#include <stddef.h>

/*
 * 0 when data can be firmware; -EINVAL when it clearly is not, with why
 * (and what to do instead) in msg: "an ELF file, not firmware: ...".  1
 * when it is accepted but will not run as it stands, with the note in msg:
 * a reset vector of all 0x00 or all 0xff (a zero-filled or erased image,
 * or code that does not end where the reset vector is).
 */
int firmware_check(const void *data, size_t size, char *msg, size_t len);
/*
 * The part of firmware_check that needs only the file's first bytes
 * (FIRMWARE_HEAD of them, or the whole file if shorter): its format, so
 * that a kernel or an archive is named as such before its size is judged.
 */
#define FIRMWARE_HEAD 4096
int firmware_check_head(const void *head, size_t size, char *msg, size_t len);

#endif
