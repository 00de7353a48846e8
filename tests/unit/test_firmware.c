/*
 * test_firmware.c - which -bios files are refused as not firmware, each
 * with the line that says what it is instead, and which pass: the built-in
 * guest, raw bytes of any pattern, sizes smaller than a reset vector.  A
 * reset vector of all 0x00 or 0xff passes with a note.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "boot/firmware.h"
#include "kvmfs/guest.h"
#include "util/compiler.h"

#define SIZE 0x10000

enum fill { FILL_PATTERN, FILL_ZERO, FILL_FF, FILL_HLT, FILL_TEXT };

static uint8_t *image(enum fill fill, const void *head, size_t head_len, size_t at)
{
	uint8_t *p = malloc(SIZE);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < SIZE; i++) {
		switch (fill) {
		case FILL_PATTERN: p[i] = (uint8_t)(i * 7 + 3); break; /* test_claims.py's bytes */
		case FILL_ZERO: p[i] = 0; break;
		case FILL_FF: p[i] = 0xff; break;
		case FILL_HLT: p[i] = 0xf4; break;
		case FILL_TEXT: p[i] = i % 61 == 60 ? '\n' : (uint8_t)('a' + i % 26); break;
		}
	}
	if (head)
		memcpy(p + at, head, head_len);
	return p;
}

static void test_refused_and_passed(void **state)
{
	static const struct {
		enum fill fill;
		const char *head;
		size_t head_len, at;
		int ret;
		const char *msg; /* the start of the line */
	} cases[] = {
	        {FILL_PATTERN,
	         "\x7f"
	         "ELF\x02\x01\x01",
	         7, 0, -EINVAL, "an ELF file, not firmware: "},
	        {FILL_PATTERN, "MZ", 2, 0, -EINVAL, "a DOS/PE executable (MZ), not firmware"},
	        /* A bzImage with its EFI stub and without: the boot header says what it is. */
	        {FILL_PATTERN, "HdrS", 4, 0x202, -EINVAL,
	         "a Linux bzImage, not firmware: boot it with -kernel"},
	        {FILL_ZERO, "HdrS", 4, 0x202, -EINVAL, "a Linux bzImage"},
	        {FILL_PATTERN, "#!/bin/sh\n", 10, 0, -EINVAL, "a script (#!), not firmware"},
	        {FILL_PATTERN, "\x1f\x8b\x08", 3, 0, -EINVAL,
	         "gzip-compressed: uncompress it first"},
	        {FILL_PATTERN,
	         "\xfd"
	         "7zXZ\x00",
	         6, 0, -EINVAL, "xz-compressed"},
	        {FILL_PATTERN, "\x28\xb5\x2f\xfd", 4, 0, -EINVAL, "zstd-compressed"},
	        {FILL_PATTERN, "BZh9", 4, 0, -EINVAL, "bzip2-compressed"},
	        {FILL_TEXT, NULL, 0, 0, -EINVAL, "a text file, not firmware"},
	        {FILL_TEXT, "\r\n\t", 3, 100, -EINVAL, "a text file"},
	        /* One byte of code in a text makes it not text. */
	        {FILL_TEXT, "\xea", 1, SIZE - 16, 0, NULL},
	        {FILL_PATTERN, NULL, 0, 0, 0, NULL},
	        {FILL_HLT, NULL, 0, 0, 0, NULL},
	        /* A magic anywhere but at the start is just bytes. */
	        {FILL_PATTERN,
	         "\x7f"
	         "ELF",
	         4, 0x100, 0, NULL},
	        /* Passed, with a note: nothing runs from a reset vector like these. */
	        {FILL_ZERO, NULL, 0, 0, 1,
	         "its last 16 bytes, the reset vector at 0xfffffff0 "
	         "where the vCPU starts, are all 0x00"},
	        {FILL_FF, NULL, 0, 0, 1,
	         "its last 16 bytes, the reset vector at 0xfffffff0 "
	         "where the vCPU starts, are all 0xff"},
	        /* Code at the reset vector, zeros before it: a small firmware padded out. */
	        {FILL_ZERO, "\xea\x5b\xe0\x00\xf0", 5, SIZE - 16, 0, NULL},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		uint8_t *p = image(cases[i].fill, cases[i].head, cases[i].head_len, cases[i].at);
		char msg[256] = "";
		int ret = firmware_check(p, SIZE, msg, sizeof(msg));

		if (ret != cases[i].ret ||
		    (cases[i].msg && strncmp(msg, cases[i].msg, strlen(cases[i].msg))))
			fail_msg("case %zu: got %d '%s'", i, ret, msg);
		/* The magics need no more than the head of the file. */
		if (ret < 0 && cases[i].fill != FILL_TEXT)
			assert_int_equal(firmware_check_head(p, FIRMWARE_HEAD, msg, sizeof(msg)),
			                 ret);
		free(p);
	}
}

/* The built-in guest is firmware, and so is anything shorter than a reset vector. */
static void test_built_in_and_tiny(void **state)
{
	char msg[256];

	(void)state;
	assert_int_equal(firmware_check(guest_firmware,
	                                (size_t)(guest_firmware_end - guest_firmware), msg,
	                                sizeof(msg)),
	                 0);
	assert_int_equal(firmware_check("\xf4", 1, msg, sizeof(msg)), 0);
	assert_int_equal(firmware_check("\xeb\xfe", 2, msg, sizeof(msg)), 0);
	/* Short text is text, and a lone "M" is not "MZ". */
	assert_int_equal(firmware_check("hi\n", 3, msg, sizeof(msg)), -EINVAL);
	assert_int_equal(firmware_check("M\xf4", 2, msg, sizeof(msg)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_refused_and_passed),
	        cmocka_unit_test(test_built_in_and_tiny),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
