/*
 * test_ram_limits.c - what kvmfs says when guest RAM cannot be reserved:
 * the cause and remedy for each limit (a table of states, exact lines),
 * the rounding of the suggested size, and the probe against this host's
 * real limits - its address space, and a real ulimit -v set for the test -
 * where the size it finds must be reservable and a MiB more must not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>

#include <cmocka.h>

#include "memory/ram.h"
#include "memory/ram_limits.h"
#include "util/compiler.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)
#define TIB (1ULL << 40)

static void test_explain(void **state)
{
	static const struct {
		struct ram_limits l;
		enum ram_backing backing;
		uint64_t want;
		const char *opt, *line;
	} cases[] = {
	        {{.limit = RAM_LIMIT_ADDRESS_SPACE, .suggest = 85 * TIB, .overcommit = 0},
	         RAM_BACKING_MEMFD,
	         100 * TIB,
	         "-m ",
	         "cannot reserve 100T of guest RAM: no free range that large in kvmfs's address "
	         "space (128T on x86-64, shared with its program and libraries; memory and "
	         "overcommit are not the limit: the reservation is MAP_NORESERVE, "
	         "vm.overcommit_memory=0); -m 85T fits here, allowing for address randomization"},
	        {{.limit = RAM_LIMIT_RLIMIT_AS,
	          .suggest = 2671 * MIB,
	          .as_limit = 4000000ULL << 10,
	          .as_used = 11 * MIB + 4096},
	         RAM_BACKING_MEMFD,
	         8 * GIB,
	         "-m ",
	         "cannot reserve 8G of guest RAM: kvmfs's address-space limit (ulimit -v) is "
	         "4000000K, 11M of it in use; raise it (ulimit -v unlimited), or -m 2671M fits "
	         "under it, leaving room for kvmfs's threads"},
	        {{.limit = RAM_LIMIT_COMMIT,
	          .suggest = 11 * GIB,
	          .overcommit = 2,
	          .commit_free = 11 * GIB + 300 * MIB + 5},
	         RAM_BACKING_ANON,
	         100 * GIB,
	         "-m ",
	         "cannot reserve 100G of guest RAM: vm.overcommit_memory=2 (strict) counts "
	         "-mem-backing anon against CommitLimit, which has 11564M free; use -mem-backing "
	         "memfd (the default: counted as pages are used), or -m 11G fits now, leaving "
	         "room for kvmfs's threads"},
	        /* An -object's size, and nothing left at all. */
	        {{.limit = RAM_LIMIT_ADDRESS_SPACE, .suggest = 0, .overcommit = 1},
	         RAM_BACKING_MEMFD,
	         120 * TIB,
	         "size=",
	         "cannot reserve 120T of guest RAM: no free range that large in kvmfs's address "
	         "space (128T on x86-64, shared with its program and libraries; memory and "
	         "overcommit are not the limit: the reservation is MAP_NORESERVE, "
	         "vm.overcommit_memory=1); nothing fits here, allowing for address randomization"},
	        {{.limit = RAM_LIMIT_NONE},
	         RAM_BACKING_MEMFD,
	         GIB,
	         "-m ",
	         "Cannot allocate memory"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char buf[512];

		ram_limits_explain(&cases[i].l, cases[i].backing, cases[i].want, cases[i].opt, buf,
		                   sizeof(buf));
		if (strcmp(buf, cases[i].line))
			fail_msg("case %zu: got '%s'", i, buf);
	}
}

static void test_round(void **state)
{
	static const struct {
		uint64_t in, out;
	} cases[] = {
	        {85 * TIB + 333 * GIB, 85 * TIB}, /* whole TiB from 4 TiB up */
	        {4 * TIB, 4 * TIB},
	        {4 * TIB - 1, 4095 * GIB}, /* then whole GiB */
	        {5 * GIB + 999 * MIB, 5 * GIB},
	        {4 * GIB - MIB, 4095 * MIB}, /* then whole MiB */
	        {2671 * MIB + 12345, 2671 * MIB},
	        {MIB - 1, 0},
	        {0, 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++)
		if (ram_limits_round(cases[i].in) != cases[i].out)
			fail_msg("case %zu: %llu -> %llu", i, (unsigned long long)cases[i].in,
			         (unsigned long long)ram_limits_round(cases[i].in));
}

static bool fits(enum ram_backing backing, uint64_t size)
{
	uint8_t *host;
	int fd;

	if (ram_reserve(backing, "test", size, &host, &fd))
		return false;
	ram_unreserve(host, size, fd);
	return true;
}

/*
 * The probe's answer is exact to the MiB: that much can be reserved, a MiB
 * more cannot (within this process, in the same instant).
 */
static void assert_tight(const struct ram_limits *l, enum ram_backing backing)
{
	assert_true(l->largest > 0);
	assert_true(fits(backing, l->largest));
	assert_false(fits(backing, l->largest + MIB));
	assert_true(l->suggest <= l->largest);
}

/* More than x86-64's 128 TiB of user space: no range is that large, on any host. */
static void test_probe_address_space(void **state)
{
	static const enum ram_backing backings[] = {RAM_BACKING_MEMFD, RAM_BACKING_ANON};
	struct rlimit rl;
	size_t i;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_AS, &rl), 0);
	if (rl.rlim_cur != RLIM_INFINITY)
		skip(); /* ulimit -v would be the limit: test_probe_rlimit's case */
	for (i = 0; i < ARRAY_SIZE(backings); i++) {
		struct ram_limits l;

		ram_limits_probe(&l, backings[i], 200 * TIB, 1);
		/* Strict overcommit would stop -mem-backing anon first. */
		if (backings[i] == RAM_BACKING_ANON && l.overcommit == 2)
			assert_int_equal(l.limit, RAM_LIMIT_COMMIT);
		else
			assert_int_equal(l.limit, RAM_LIMIT_ADDRESS_SPACE);
		assert_tight(&l, backings[i]);
		assert_true(l.largest < 128 * TIB);
	}
}

/* A real ulimit -v, 1 GiB above what this process maps now, then restored. */
static void test_probe_rlimit(void **state)
{
	struct rlimit saved, rl;
	struct ram_limits l;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_AS, &saved), 0);
	ram_limits_probe(&l, RAM_BACKING_MEMFD, MIB, 1); /* fits: only reads as_used */
	assert_int_equal(l.limit, RAM_LIMIT_NONE);
	assert_true(l.as_used > 0);
	rl = saved;
	rl.rlim_cur = l.as_used + GIB;
	assert_int_equal(setrlimit(RLIMIT_AS, &rl), 0);
	ram_limits_probe(&l, RAM_BACKING_MEMFD, 8 * GIB, 2);
	assert_int_equal(l.limit, RAM_LIMIT_RLIMIT_AS);
	assert_int_equal(l.as_limit, rl.rlim_cur);
	assert_tight(&l, RAM_BACKING_MEMFD);
	assert_true(l.largest <= GIB);
	/* Two threads' stacks and arenas are left out of the suggestion. */
	assert_true(l.suggest + 2 * 64 * MIB <= l.largest);
	assert_int_equal(setrlimit(RLIMIT_AS, &saved), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_explain),
	        cmocka_unit_test(test_round),
	        cmocka_unit_test(test_probe_address_space),
	        cmocka_unit_test(test_probe_rlimit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
