/*
 * firmware.c - refusing -bios files that cannot be firmware (firmware.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "boot/firmware.h"
#include "util/compiler.h"

#define FIRMWARE_RESET_BYTES 16 /* 0xfffffff0 to 4G: the file's last 16 bytes */

/*
 * Formats a file can be recognised by from its first bytes, with what to
 * do instead.  Their magics cannot begin a firmware image that QEMU's pc
 * boots: SeaBIOS and OVMF images begin with code, data or a zero vector.
 */
static const struct {
	const char *magic;
	size_t len;
	const char *what;
} firmware_not[] = {
        {"\x7f"
         "ELF",
         4,
         "an ELF file, not firmware: -bios takes raw bytes whose end is the reset vector "
         "(objcopy -O binary makes them from an ELF); a Linux vmlinux boots with -kernel"},
        {"MZ", 2,
         "a DOS/PE executable (MZ), not firmware: -bios takes raw bytes whose end is the reset "
         "vector"},
        {"#!", 2,
         "a script (#!), not firmware: -bios takes raw bytes whose end is the reset vector"},
        {"\x1f\x8b", 2, "gzip-compressed: uncompress it first (gunzip)"},
        {"\xfd"
         "7zXZ\x00",
         6, "xz-compressed: uncompress it first (unxz)"},
        {"\x28\xb5\x2f\xfd", 4, "zstd-compressed: uncompress it first (unzstd)"},
        {"BZh", 3, "bzip2-compressed: uncompress it first (bunzip2)"},
};

/* Printable ASCII and the whitespace of text files. */
static bool firmware_is_text(const uint8_t *p, size_t size)
{
	size_t i;

	for (i = 0; i < size; i++)
		if ((p[i] < 0x20 || p[i] > 0x7e) && p[i] != '\n' && p[i] != '\r' && p[i] != '\t')
			return false;
	return true;
}

int firmware_check_head(const void *head, size_t size, char *msg, size_t len)
{
	const uint8_t *p = head;
	size_t i;

	/* A bzImage has an MZ stub (EFI) or none: its boot header names it either way. */
	if (size >= 0x206 && !memcmp(p + 0x202, "HdrS", 4)) {
		snprintf(msg, len, "a Linux bzImage, not firmware: boot it with -kernel");
		return -EINVAL;
	}
	for (i = 0; i < ARRAY_SIZE(firmware_not); i++) {
		if (size >= firmware_not[i].len &&
		    !memcmp(p, firmware_not[i].magic, firmware_not[i].len)) {
			snprintf(msg, len, "%s", firmware_not[i].what);
			return -EINVAL;
		}
	}
	return 0;
}

int firmware_check(const void *data, size_t size, char *msg, size_t len)
{
	const uint8_t *p = data, *reset;
	size_t i;
	int ret;

	ret = firmware_check_head(data, size, msg, len);
	if (ret)
		return ret;
	if (firmware_is_text(p, size)) {
		snprintf(msg, len,
		         "a text file, not firmware: -bios takes raw bytes whose last 16 are the "
		         "code at the reset vector");
		return -EINVAL;
	}
	if (size < FIRMWARE_RESET_BYTES)
		return 0;
	reset = p + size - FIRMWARE_RESET_BYTES;
	for (i = 1; i < FIRMWARE_RESET_BYTES && reset[i] == reset[0]; i++)
		;
	if (i == FIRMWARE_RESET_BYTES && (reset[0] == 0x00 || reset[0] == 0xff)) {
		snprintf(msg, len,
		         "its last 16 bytes, the reset vector at 0xfffffff0 where the vCPU starts, "
		         "are all 0x%02x: as it stands nothing runs (firmware ends with its reset "
		         "code)",
		         reset[0]);
		return 1;
	}
	return 0;
}
