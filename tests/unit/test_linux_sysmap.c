/*
 * test_linux_sysmap.c - -system-map's symbols (linux_kallsyms_from_map): a
 * System.map's lines parsed, the image's symbols moved by the KASLR offset
 * and the rest (per-CPU offsets, absolute values) kept, looked up by name
 * (the first of equal names), rendered as /proc/kallsyms; and texts that
 * are no System.map refused with the line that is not.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "inspect/linux_kallsyms.h"
#include "util/strbuf.h"

static const char map[] = "0000000000000000 A fixed_percpu_data\n"
                          "0000000000001000 D cpu_number\n"
                          "ffffffff81000000 T _text\n"
                          "ffffffff81000000 T startup_64\n"
                          "ffffffff81c00000 D linux_banner\n"
                          "ffffffff82000000 d dup\n"
                          "ffffffff82000010 d dup\n"
                          "ffffffffc0000000 t last"; /* no newline at the end */

static void test_parsed_and_moved(void **state)
{
	const uint64_t delta = 0x1e000000;
	struct linux_kallsyms ks;
	struct strbuf sb = STRBUF_INIT;
	char err[128];
	uint64_t a;

	(void)state;
	assert_int_equal(linux_kallsyms_from_map(&ks, map, delta, err, sizeof(err)), 0);
	assert_int_equal(ks.nr, 8);
	assert_int_equal(linux_kallsyms_lookup(&ks, "_text", &a), 0);
	assert_true(a == 0xffffffff81000000ULL + delta);
	assert_int_equal(linux_kallsyms_lookup(&ks, "cpu_number", &a), 0);
	assert_true(a == 0x1000); /* a per-CPU offset: not moved */
	assert_int_equal(linux_kallsyms_lookup(&ks, "dup", &a), 0);
	assert_true(a == 0xffffffff82000000ULL + delta);
	assert_int_equal(linux_kallsyms_lookup(&ks, "last", &a), 0);
	assert_true(a == 0xffffffffc0000000ULL + delta);
	assert_int_equal(linux_kallsyms_lookup(&ks, "nope", &a), -ENOENT);
	linux_kallsyms_render(&ks, &sb);
	assert_non_null(strstr(sb.buf, "\nffffffff9f000000 T startup_64\n"));
	assert_non_null(strstr(sb.buf, "0000000000000000 A fixed_percpu_data\n"));
	sb_free(&sb);
	linux_kallsyms_free(&ks);
}

static void test_refused(void **state)
{
	static const struct {
		const char *text, *err;
	} cases[] = {
	        {"", "no symbols in it"},
	        {"ffffffff81000000 T _text\nnot a line\n", "line 2 is not 'ADDRESS TYPE NAME'"},
	        {"ffffffff81000000 T\n", "line 1 is not 'ADDRESS TYPE NAME'"},
	        {"ffffffff81000000 T \n", "line 1 is not 'ADDRESS TYPE NAME'"},
	        {"ffffffff81000000  T x\n", "line 1 is not 'ADDRESS TYPE NAME'"},
	        {"ffffffff810000001 T x\n", "line 1 is not 'ADDRESS TYPE NAME'"},
	};
	struct linux_kallsyms ks;
	char err[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(linux_kallsyms_from_map(&ks, cases[i].text, 0, err, sizeof(err)),
		                 -EINVAL);
		assert_string_equal(err, cases[i].err);
		assert_null(ks.addr);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parsed_and_moved),
	        cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
