/*
 * test_ram_limits.c - what kvmfs says when guest RAM cannot be had: the
 * cause and remedy for each limit (a table of states, exact lines), the
 * bound each kind of accounting sets (by hand), the rounding of the
 * suggested size, and the check and the probe against this host's real
 * limits - its address space, and a real ulimit -v set for the test -
 * where the size the probe finds must be reservable and a MiB more must not.
 */
#include <errno.h>
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
	         "under it, leaving room for kvmfs's threads and page bitmaps"},
	        {{.limit = RAM_LIMIT_COMMIT,
	          .suggest = 11 * GIB,
	          .bitmaps = 4,
	          .overcommit = 2,
	          .commit_free = 11 * GIB + 300 * MIB + 5},
	         RAM_BACKING_ANON,
	         100 * GIB,
	         "-m ",
	         "cannot keep 100G of guest RAM: vm.overcommit_memory=2 (strict) counts "
	         "-mem-backing anon RAM itself and kvmfs's 4 page bitmaps for it against "
	         "CommitLimit, which has 11564M free; use -mem-backing memfd (the default: "
	         "counted as pages are used), or -m 11G fits now"},
	        {{.limit = RAM_LIMIT_COMMIT,
	          .suggest = 40 * TIB,
	          .bitmaps = 4,
	          .overcommit = 2,
	          .commit_free = 5 * GIB},
	         RAM_BACKING_MEMFD,
	         64 * TIB,
	         "-m ",
	         "cannot keep 64T of guest RAM: vm.overcommit_memory=2 (strict) counts kvmfs's 4 "
	         "page bitmaps for it (a bit per 4 KiB page each, 8G) against CommitLimit, which "
	         "has 5G free; -m 40T fits now"},
	        {{.limit = RAM_LIMIT_MEMORY,
	          .suggest = 31 * TIB,
	          .bitmaps = 4,
	          .overcommit = 0,
	          .memory = 4007132ULL << 10},
	         RAM_BACKING_MEMFD,
	         44 * TIB,
	         "size=",
	         "cannot keep 44T of guest RAM: kvmfs keeps 4 page bitmaps for it (a bit per 4 KiB "
	         "page each, 5632M of memory), and vm.overcommit_memory=0 refuses a mapping larger "
	         "than RAM and swap together (3913M here); size=31T fits here"},
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

/*
 * What the accounting allows, by hand: ulimit -v takes the RAM, its
 * bitmaps and the threads; heuristic overcommit the bitmaps as one mapping
 * within RAM + swap; strict overcommit the bitmaps, the threads and
 * anonymous RAM within CommitLimit.  The tightest wins.
 */
static void test_keep_bound(void **state)
{
	static const struct {
		struct ram_limits l;
		enum ram_backing backing;
		uint64_t bound;
		enum ram_limit why;
	} cases[] = {
	        /* 4 GiB, no swap, 4 bitmaps: 1 GiB each at most, so 32 TiB of RAM. */
	        {{.bitmaps = 4,
	          .overcommit = 0,
	          .memory = 4 * GIB,
	          .commit_free = UINT64_MAX,
	          .as_limit = UINT64_MAX},
	         RAM_BACKING_MEMFD,
	         32 * TIB,
	         RAM_LIMIT_MEMORY},
	        /* The measured guest: 3 bitmaps, 3.82 GiB: 41.7 TiB (40T mounted, 44T did not). */
	        {{.bitmaps = 3,
	          .overcommit = 0,
	          .memory = 4007132ULL << 10,
	          .commit_free = UINT64_MAX,
	          .as_limit = UINT64_MAX},
	         RAM_BACKING_MEMFD,
	         (4007132ULL << 10) / 3 * 32768,
	         RAM_LIMIT_MEMORY},
	        /* Always overcommit, or no tree (no bitmaps): no bound. */
	        {{.bitmaps = 4,
	          .overcommit = 1,
	          .memory = 4 * GIB,
	          .commit_free = 0,
	          .as_limit = UINT64_MAX},
	         RAM_BACKING_ANON,
	         UINT64_MAX,
	         RAM_LIMIT_NONE},
	        {{.bitmaps = 0,
	          .overcommit = 0,
	          .memory = 4 * GIB,
	          .commit_free = UINT64_MAX,
	          .as_limit = UINT64_MAX},
	         RAM_BACKING_MEMFD,
	         UINT64_MAX,
	         RAM_LIMIT_NONE},
	        /* Strict: memfd counts the bitmaps, anon the RAM too; the threads first. */
	        {{.bitmaps = 4,
	          .overcommit = 2,
	          .memory = 64 * GIB,
	          .commit_free = 5 * GIB,
	          .thread_room = GIB,
	          .as_limit = UINT64_MAX},
	         RAM_BACKING_MEMFD,
	         32 * TIB,
	         RAM_LIMIT_COMMIT},
	        {{.bitmaps = 4,
	          .overcommit = 2,
	          .memory = 64 * GIB,
	          .commit_free = 5 * GIB,
	          .thread_room = GIB,
	          .as_limit = UINT64_MAX},
	         RAM_BACKING_ANON,
	         4 * GIB / 32772 * 32768,
	         RAM_LIMIT_COMMIT},
	        /* ulimit -v, tighter than the memory. */
	        {{.bitmaps = 4,
	          .overcommit = 0,
	          .memory = 64 * GIB,
	          .commit_free = UINT64_MAX,
	          .as_limit = 8 * GIB,
	          .as_used = GIB,
	          .thread_room = GIB},
	         RAM_BACKING_MEMFD,
	         6 * GIB / 32772 * 32768,
	         RAM_LIMIT_RLIMIT_AS},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		enum ram_limit why;
		uint64_t b = ram_limits_keep_bound(&cases[i].l, cases[i].backing, &why);

		if (b != cases[i].bound || why != cases[i].why)
			fail_msg("case %zu: %llu (%d)", i, (unsigned long long)b, why);
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

		ram_limits_probe(&l, backings[i], 200 * TIB, 0, 0, 1);
		/* Strict overcommit would stop -mem-backing anon first. */
		if (backings[i] == RAM_BACKING_ANON && l.overcommit == 2)
			assert_int_equal(l.limit, RAM_LIMIT_COMMIT);
		else
			assert_int_equal(l.limit, RAM_LIMIT_ADDRESS_SPACE);
		assert_tight(&l, backings[i]);
		assert_true(l.largest < 128 * TIB);
	}
}

/*
 * A real ulimit -v, 1 GiB above what this process maps now, then restored:
 * the check refuses 8 GiB before anything is reserved, and suggests what
 * leaves room for the bitmaps and threads; the probe (as after a failed
 * reservation) finds the largest reservation exactly.
 */
static void test_rlimit(void **state)
{
	struct rlimit saved, rl;
	struct ram_limits l;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_AS, &saved), 0);
	/* Fits: only reads the host. */
	assert_int_equal(ram_limits_check(&l, RAM_BACKING_MEMFD, MIB, 0, 4, 1), 0);
	assert_true(l.as_used > 0);
	rl = saved;
	rl.rlim_cur = l.as_used + GIB;
	assert_int_equal(setrlimit(RLIMIT_AS, &rl), 0);
	assert_int_equal(ram_limits_check(&l, RAM_BACKING_MEMFD, 8 * GIB, 0, 4, 2), -ENOMEM);
	assert_int_equal(l.limit, RAM_LIMIT_RLIMIT_AS);
	assert_int_equal(l.as_limit, rl.rlim_cur);
	/* Two threads' stacks and arenas, and the bitmaps, are left out of the suggestion. */
	assert_true(l.suggest > 0 && l.suggest + 2 * 64 * MIB <= GIB);
	assert_true(fits(RAM_BACKING_MEMFD, l.suggest));
	ram_limits_probe(&l, RAM_BACKING_MEMFD, 8 * GIB, 0, 4, 2);
	assert_int_equal(l.limit, RAM_LIMIT_RLIMIT_AS);
	assert_tight(&l, RAM_BACKING_MEMFD);
	assert_true(l.largest <= GIB);
	assert_true(l.suggest + 2 * 64 * MIB <= l.largest);
	assert_int_equal(setrlimit(RLIMIT_AS, &saved), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_explain), cmocka_unit_test(test_keep_bound),
	        cmocka_unit_test(test_round),   cmocka_unit_test(test_probe_address_space),
	        cmocka_unit_test(test_rlimit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
