/*
 * dump.h - a guest from a file instead of a running VM (kvmfs -dump FILE):
 *
 *   - an ELF core: QEMU's dump-guest-memory (paging off), kvmfs's own
 *     vmcore, a kdump vmcore.  Guest-physical memory is its PT_LOADs at
 *     their p_paddr (those that repeat bytes another one already gives -
 *     kernel-virtual aliases - are left out); the vCPUs are its NT_PRSTATUS
 *     notes, completed by QEMU's "QEMU" CPU-state notes (segments,
 *     descriptor tables, control registers) and kvmfs's "KVMFS" note (EFER);
 *     its VMCOREINFO note is kept;
 *   - a raw image: guest-physical memory itself, offset = GPA (a copy of
 *     MNT/phys, QEMU's pmemsave from 0), in the layout -M/-m describe.
 *
 * The file is mapped private and read-only behind RAM blocks (ram.h); it
 * is never written.  Everything wrong with it is found by dump_open, before
 * anything is built, and said in one line.
 */
#ifndef KVMFS_INSPECT_DUMPFILE_H
#define KVMFS_INSPECT_DUMPFILE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "machine/machine.h"

enum dump_format {
	DUMP_ELF,
	DUMP_RAW,
};

struct dump_cpu {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	bool have_sregs; /* a QEMU note gave the control registers */
};

struct dump {
	char *path;
	int fd;
	uint64_t file_size;
	enum dump_format format;
	/* ELF: the physical PT_LOADs by GPA; raw: the whole file at GPA 0. */
	struct machine_file_range *ranges;
	size_t nr_ranges;
	struct dump_cpu *cpus;
	unsigned nr_cpus;
	char *vmcoreinfo; /* the core's VMCOREINFO note's text, NUL-terminated, or NULL */
	size_t vmcoreinfo_len;
};

/*
 * Open path: an ELF core when it starts with the ELF magic, otherwise a raw
 * image (raw_ok: -M/-m gave its layout).  err: one line, naming the file
 * ("-dump PATH: ...").
 */
int dump_open(struct dump *d, const char *path, bool raw_ok, char *err, size_t errlen);
/*
 * Pure: read an ELF core's header, program headers and notes from buf (the
 * first len bytes of a file of file_size bytes; -EAGAIN with *need set
 * when more of the file is needed).
 */
int dump_parse(struct dump *d, const uint8_t *buf, size_t len, uint64_t file_size, size_t *need,
               char *err, size_t errlen);
/* A raw image: map it behind every RAM/ROM range of m's flat view (offset = GPA). */
int dump_map_raw(const struct dump *d, struct machine *m);
void dump_close(struct dump *d);

#endif
