/*
 * test_cmdline.c - -m sizes in QEMU's syntax, and the options that must be
 * refused before anything is built.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cmdline.h"
#include "util/compiler.h"
#include "util/size.h"

struct size_case {
	const char *in;
	int ret;
	uint64_t want;
	const char *msg; /* part of the error line */
};

static const struct size_case size_cases[] = {
        {"512", 0, 512ULL << 20, NULL},
        {"512M", 0, 512ULL << 20, NULL},
        {"6G", 0, 6ULL << 30, NULL},
        {"6g", 0, 6ULL << 30, NULL},
        {"1T", 0, 1ULL << 40, NULL},
        {"64K", 0, 64ULL << 10, NULL},
        {"4GB", 0, 4ULL << 30, NULL},
        {"size=2816M", 0, 2816ULL << 20, NULL},
        {"0", CMDLINE_ERROR, 0, "greater than zero"},
        {"-1", CMDLINE_ERROR, 0, "not a size"},
        {"1.5G", CMDLINE_ERROR, 0, "fractional"},
        {"10Q", CMDLINE_ERROR, 0, "suffix"},
        {"99999999T", CMDLINE_ERROR, 0, "too large"},
        {"", CMDLINE_ERROR, 0, "not a size"},
        {"G", CMDLINE_ERROR, 0, "not a size"},
        {"4GiB", CMDLINE_ERROR, 0, "suffix"},
        {"18446744073709551616", CMDLINE_ERROR, 0, "too large"},
};

static void test_sizes(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(size_cases); i++) {
		const struct size_case *c = &size_cases[i];
		char err[256] = "";
		uint64_t v = 0;
		int ret = cmdline_parse_size(c->in, &v, err, sizeof(err));

		if (ret != c->ret || (!ret && v != c->want) || (c->msg && !strstr(err, c->msg)))
			fail_msg("'%s': got %d %llu '%s'", c->in, ret, (unsigned long long)v, err);
	}
}

static int parse(const char *const *argv, struct options *o, char *err)
{
	char *args[16];
	int argc = 0;

	while (argv[argc]) {
		args[argc] = (char *)argv[argc];
		argc++;
	}
	args[argc] = NULL;
	return cmdline_parse(argc, args, o, err, 256);
}

static void test_options(void **state)
{
	static const struct {
		const char *argv[12];
		int ret;
		const char *msg;
	} cases[] = {
	        {{"kvmfs", NULL}, CMDLINE_OK, NULL},
	        {{"kvmfs", "-M", "q35", "-m", "6G", "-smp", "2", "-S", "/mnt", NULL}, CMDLINE_OK},
	        {{"kvmfs", "-M", "isapc", NULL}, CMDLINE_ERROR, "unknown machine"},
	        {{"kvmfs", "-smp", "0", NULL}, CMDLINE_ERROR, "1 or more"},
	        {{"kvmfs", "-smp", "99999", NULL}, CMDLINE_ERROR, "at most"},
	        {{"kvmfs", "-m", NULL}, CMDLINE_ERROR, "needs a value"},
	        {{"kvmfs", "-frobnicate", NULL}, CMDLINE_ERROR, "unknown option"},
	        {{"kvmfs", "-m", "1M", NULL}, CMDLINE_ERROR, "at least 2 MiB"},
	        {{"kvmfs", "-o", "direct_io,bogus", NULL}, CMDLINE_ERROR, "bogus"},
	        {{"kvmfs", "a", "b", NULL}, CMDLINE_ERROR, "only one mountpoint"},
	        /* An option after the mountpoint is named as such, with the order to use. */
	        {{"kvmfs", "/mnt", "-m", "1G", NULL},
	         CMDLINE_ERROR,
	         "'-m' comes after the mountpoint /mnt: options go before it (usage: kvmfs "
	         "[options] MOUNTPOINT)"},
	        {{"kvmfs", "-M", "q35", "/mnt", "--writable", NULL},
	         CMDLINE_ERROR,
	         "'--writable' comes after the mountpoint /mnt"},
	        /* A lone "-" is a name (a second mountpoint), not an option. */
	        {{"kvmfs", "/mnt", "-", NULL}, CMDLINE_ERROR, "only one mountpoint"},
	        {{"kvmfs", "-accel", "tcg", NULL}, CMDLINE_ERROR, "unknown"},
	        /* --version is main's to print: parsing only says so, wherever it stands. */
	        {{"kvmfs", "--version", NULL}, CMDLINE_VERSION, NULL},
	        {{"kvmfs", "-version", NULL}, CMDLINE_VERSION, NULL},
	        {{"kvmfs", "-M", "q35", "--version", "/mnt", NULL}, CMDLINE_VERSION, NULL},
	        {{"kvmfs", "-M", "isapc", "--version", NULL}, CMDLINE_ERROR, "unknown machine"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct options o;
		char err[256] = "";
		int ret = parse(cases[i].argv, &o, err);

		if (ret != cases[i].ret || (cases[i].msg && !strstr(err, cases[i].msg)))
			fail_msg("case %zu: got %d '%s'", i, ret, err);
	}
}

static void test_values(void **state)
{
	static const char *const argv[] = {"kvmfs",
	                                   "-M",
	                                   "q35",
	                                   "-m",
	                                   "size=3583M",
	                                   "-smp",
	                                   "cpus=4",
	                                   "-S",
	                                   "--writable",
	                                   "-o",
	                                   "direct_io,allow_other",
	                                   "/mnt/vm",
	                                   NULL};
	struct options o;
	char err[256];

	(void)state;
	assert_int_equal(parse(argv, &o, err), CMDLINE_OK);
	assert_string_equal(o.machine, "q35");
	assert_int_equal(o.ram_size, 3583ULL << 20);
	assert_int_equal(o.cpus, 4);
	assert_true(o.start_paused && o.writable && o.direct_io && o.allow_other);
	assert_string_equal(o.mountpoint, "/mnt/vm");
}

/*
 * What the ready line prints for -m: the size the guest has, exactly, in
 * the largest unit that divides it, and -m reads it back unchanged.
 */
static void test_format_size(void **state)
{
	static const struct {
		const char *arg; /* -m as given */
		const char *shown;
	} cases[] = {
	        {"2049K", "2056K"}, /* QEMU's 8 KiB rounding, not "2M" */
	        {"2M", "2M"},       {"1024", "1G"},     {"6144M", "6G"},    {"3583M", "3583M"},
	        {"100T", "100T"},   {"1025M", "1025M"}, {"8193K", "8200K"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *argv[] = {"kvmfs", "-m", cases[i].arg, NULL};
		char buf[SIZE_TEXT_LEN], err[256] = "";
		struct options o, back;
		const char *argv2[] = {"kvmfs", "-m", buf, NULL};

		assert_int_equal(parse(argv, &o, err), CMDLINE_OK);
		assert_string_equal(size_format(o.ram_size, buf, sizeof(buf)), cases[i].shown);
		assert_int_equal(parse(argv2, &back, err), CMDLINE_OK);
		assert_int_equal(back.ram_size, o.ram_size);
	}
	/* Never truncated: the largest size there is fits. */
	{
		char buf[SIZE_TEXT_LEN];

		assert_string_equal(size_format(UINT64_MAX, buf, sizeof(buf)),
		                    "18446744073709551615B");
		assert_string_equal(size_format(UINT64_MAX << 40, buf, sizeof(buf)), "16777215T");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_sizes),
	        cmocka_unit_test(test_format_size),
	        cmocka_unit_test(test_options),
	        cmocka_unit_test(test_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
