/*
 * test_fs_refused.c - the line a file reads back after it refused a write:
 * how the written bytes are quoted (one line of printable text, whatever
 * was written), and for ctl, the reason for each refusal: not a command
 * (with the commands it takes), too long, cont with -accel none, cont of a
 * guest that stopped for good, stop or cont of a dump, dirty logging that
 * KVM refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fs/ctl.h"
#include "fs/refused.h"
#include "util/compiler.h"
#include "util/strbuf.h"

#define CMDS "stop, cont, dirty-log on, dirty-log off"

static void test_ctl_why(void **state)
{
	static const struct {
		const char *cmd;
		size_t size;
		int err;
		const char *state, *why;
	} cases[] = {
	        {NULL, 6, -EINVAL, "running", "not a command; ctl takes " CMDS ", one per write"},
	        {NULL, 65, -EINVAL, "running",
	         "a write of 65 bytes; a command is at most 64, one per write: " CMDS},
	        {"cont", 5, -ENODEV, "no vcpus (-accel none)",
	         "there is no vCPU to run: kvmfs was started with -accel none (the machine and its "
	         "tree, no guest); start it without -accel none where /dev/kvm is"},
	        {"cont", 5, -EPERM, "paused (guest-panicked)",
	         "the guest stopped for good (paused (guest-panicked)) and cannot resume; its "
	         "memory stays readable until kvmfs ends; start kvmfs again for a new guest"},
	        {"cont", 4, -EPERM, "paused (shutdown)",
	         "the guest stopped for good (paused (shutdown)) and cannot resume; its memory "
	         "stays readable until kvmfs ends; start kvmfs again for a new guest"},
	        {"stop", 5, -EROFS, "dump /tmp/core",
	         "a dump never runs: there is nothing to stop or continue"},
	        {"dirty-log on", 13, -ENOMEM, "running",
	         "KVM refused dirty logging: Cannot allocate memory"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char buf[FS_REFUSED_MAX];

		fs_ctl_why(cases[i].cmd, cases[i].size, cases[i].err, cases[i].state, CMDS, buf,
		           sizeof(buf));
		if (strcmp(buf, cases[i].why))
			fail_msg("case %zu: got '%s'", i, buf);
	}
}

static void test_refused_line(void **state)
{
	static const struct {
		const char *buf;
		size_t size;
		const char *line;
	} cases[] = {
	        {"bogus\n", 6, "refused: 'bogus': why\n"},
	        {"bogus", 5, "refused: 'bogus': why\n"},
	        {"\n", 1, "refused: '': why\n"},
	        /* Control bytes, NULs and high bytes become '?': one line, whatever was written. */
	        {"st\0p\n\x1b[2J\xff", 10, "refused: 'st?p??[2J?': why\n"},
	        {"0123456789012345678901234567890123456789", 40,
	         "refused: '0123456789012345678901234567890123456789': why\n"},
	        {"01234567890123456789012345678901234567890", 41,
	         "refused: '0123456789012345678901234567890123456789...': why\n"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct fs_refused r = {""};
		struct strbuf sb = STRBUF_INIT;

		fs_refused_set(&r, cases[i].buf, cases[i].size, "%s", "why");
		fs_refused_render(&r, &sb);
		assert_int_equal(sb.err, 0);
		if (sb.len != strlen(cases[i].line) || memcmp(sb.buf, cases[i].line, sb.len))
			fail_msg("case %zu: got '%.*s'", i, (int)sb.len, sb.buf);
		/* Cleared by a write that succeeds: nothing is rendered. */
		fs_refused_clear(&r);
		sb.len = 0;
		fs_refused_render(&r, &sb);
		assert_int_equal(sb.len, 0);
		sb_free(&sb);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_ctl_why),
	        cmocka_unit_test(test_refused_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
