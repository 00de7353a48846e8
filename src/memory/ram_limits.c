/*
 * ram_limits.c - whether guest RAM can be had, why not, and how much can
 * (ram_limits.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "memory/ram_limits.h"
#include "util/compiler.h"
#include "util/size.h"

#define MIB (1ULL << 20)
/*
 * What a thread maps besides its stack, where ulimit -v or strict
 * overcommit counts it: glibc gives a new thread's malloc its own arena,
 * HEAP_MAX_SIZE = 64 MiB of address space on 64-bit hosts.
 */
#define RAM_LIMITS_ARENA (64 * MIB)
/* glibc's thread stack without a stack rlimit (ARCH_STACK_DEFAULT_SIZE, x86-64). */
#define RAM_LIMITS_STACK_DEFAULT (32 * MIB)

/* The first number after key in a /proc file of "key value" lines; -1 if none. */
static long long ram_limits_read(const char *path, const char *key)
{
	char line[256];
	long long v = -1;
	size_t klen = strlen(key);
	FILE *f = fopen(path, "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && sscanf(line + klen, " %lld", &v) == 1)
			break;
	fclose(f);
	return v;
}

static void ram_limits_read_host(struct ram_limits *l, unsigned bitmaps, unsigned threads)
{
	long long limit, used, total, swap;
	uint64_t stack = RAM_LIMITS_STACK_DEFAULT;
	struct rlimit rl;

	*l = (struct ram_limits){.overcommit = -1,
	                         .commit_free = UINT64_MAX,
	                         .as_limit = UINT64_MAX,
	                         .bitmaps = bitmaps};
	l->overcommit = (int)ram_limits_read("/proc/sys/vm/overcommit_memory", "");
	limit = ram_limits_read("/proc/meminfo", "CommitLimit:");
	used = ram_limits_read("/proc/meminfo", "Committed_AS:");
	if (limit >= 0 && used >= 0)
		l->commit_free = limit > used ? (uint64_t)(limit - used) << 10 : 0;
	total = ram_limits_read("/proc/meminfo", "MemTotal:");
	swap = ram_limits_read("/proc/meminfo", "SwapTotal:");
	if (total > 0)
		l->memory = ((uint64_t)total + (uint64_t)(swap > 0 ? swap : 0)) << 10;
	if (!getrlimit(RLIMIT_AS, &rl) && rl.rlim_cur != RLIM_INFINITY)
		l->as_limit = rl.rlim_cur;
	used = ram_limits_read("/proc/self/status", "VmSize:");
	l->as_used = used > 0 ? (uint64_t)used << 10 : 0;
	if (!getrlimit(RLIMIT_STACK, &rl) && rl.rlim_cur != RLIM_INFINITY)
		stack = rl.rlim_cur;
	l->thread_room = (uint64_t)threads * (stack + RAM_LIMITS_ARENA);
}

uint64_t ram_limits_keep_bound(const struct ram_limits *l, enum ram_backing backing,
                               enum ram_limit *why)
{
	uint64_t bound = UINT64_MAX, avail, b, per;

	*why = RAM_LIMIT_NONE;
	/* ulimit -v: the RAM, its bitmaps and the threads within what is left. */
	if (l->as_limit != UINT64_MAX) {
		avail = l->as_limit > l->as_used + l->thread_room
		                ? l->as_limit - l->as_used - l->thread_room
		                : 0;
		b = avail / (RAM_LIMITS_BITMAP_RATIO + l->bitmaps) * RAM_LIMITS_BITMAP_RATIO;
		if (b < bound) {
			bound = b;
			*why = RAM_LIMIT_RLIMIT_AS;
		}
	}
	/* Heuristic overcommit: the bitmaps, as one mapping, no larger than RAM and swap. */
	if (l->overcommit == 0 && l->memory && l->bitmaps) {
		b = l->memory / l->bitmaps * RAM_LIMITS_BITMAP_RATIO;
		if (b < bound) {
			bound = b;
			*why = RAM_LIMIT_MEMORY;
		}
	}
	/* Strict: the bitmaps, the threads and anonymous RAM itself within CommitLimit. */
	per = l->bitmaps + (backing == RAM_BACKING_ANON ? RAM_LIMITS_BITMAP_RATIO : 0);
	if (l->overcommit == 2 && l->commit_free != UINT64_MAX && per) {
		avail = l->commit_free > l->thread_room ? l->commit_free - l->thread_room : 0;
		b = avail / per * RAM_LIMITS_BITMAP_RATIO;
		if (b < bound) {
			bound = b;
			*why = RAM_LIMIT_COMMIT;
		}
	}
	return bound;
}

/* Whether backing can reserve size bytes right now; what it reserved is undone at once. */
static bool ram_limits_fits(enum ram_backing backing, uint64_t size)
{
	uint8_t *host;
	int fd;

	if (size > SIZE_MAX / 2 || ram_reserve(backing, "kvmfs-probe", size, &host, &fd))
		return false;
	ram_unreserve(host, size, fd);
	return true;
}

/* The largest reservation below upto, which does not fit, to the MiB. */
static uint64_t ram_limits_largest(enum ram_backing backing, uint64_t upto)
{
	uint64_t lo = 0, hi = upto / MIB;

	/* lo fits (0 trivially), hi does not. */
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (ram_limits_fits(backing, mid * MIB))
			lo = mid;
		else
			hi = mid;
	}
	return lo * MIB;
}

/*
 * A reservation's answer holds for this process only: the next run's
 * program and libraries land elsewhere.  ASLR moves each by at most
 * 2^mmap_rnd_bits pages (28 bits on x86-64: a TiB), so a free range is at
 * most that much smaller in another run - the largest one, below a PIE
 * program (placed at 2/3 of the 128 TiB and only ever moved up), is 85.3 to
 * 86.3 TiB.
 */
static uint64_t ram_limits_aslr_span(void)
{
	long long bits = ram_limits_read("/proc/sys/vm/mmap_rnd_bits", "");

	return bits > 0 && bits < 40 ? 4096ULL << bits : 0;
}

/*
 * The suggestion is rounded down to a whole unit - T, G or M, the largest
 * of which the size holds at least four - so that it reads as a size a user
 * would write; rounding costs less than a quarter of it, and mostly far
 * less.
 */
uint64_t ram_limits_round(uint64_t size)
{
	static const unsigned shifts[] = {40, 30, 20};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(shifts); i++)
		if (size >> shifts[i] >= 4 || shifts[i] == 20)
			return size >> shifts[i] << shifts[i];
	return 0;
}

/* The block size to suggest from s, the most for it, and others beside it. */
static void ram_limits_suggest(struct ram_limits *l, uint64_t s, uint64_t bound, uint64_t others)
{
	bound = bound > others ? bound - others : 0;
	l->suggest = ram_limits_round(MIN(s, bound));
}

int ram_limits_check(struct ram_limits *l, enum ram_backing backing, uint64_t want, uint64_t others,
                     unsigned bitmaps, unsigned threads)
{
	enum ram_limit why;
	uint64_t bound, s, span;

	ram_limits_read_host(l, bitmaps, threads);
	bound = ram_limits_keep_bound(l, backing, &why);
	if (want <= bound && others <= bound - want)
		return 0;
	l->limit = why;
	/* What the accounting allows must be reservable too. */
	s = bound > others ? bound - others : 0;
	if (s && !ram_limits_fits(backing, s)) {
		l->largest = ram_limits_largest(backing, s);
		span = ram_limits_aslr_span();
		s = l->largest > span ? l->largest - span : 0;
	}
	ram_limits_suggest(l, s, bound, others);
	return -ENOMEM;
}

void ram_limits_probe(struct ram_limits *l, enum ram_backing backing, uint64_t want,
                      uint64_t others, unsigned bitmaps, unsigned threads)
{
	enum ram_limit why;
	uint64_t bound, s, span;

	ram_limits_read_host(l, bitmaps, threads);
	if (ram_limits_fits(backing, want)) {
		l->largest = want;
		return;
	}
	l->largest = ram_limits_largest(backing, want);
	if (l->as_limit != UINT64_MAX && want > l->as_limit - MIN(l->as_limit, l->as_used))
		l->limit = RAM_LIMIT_RLIMIT_AS;
	else if (backing == RAM_BACKING_ANON && l->overcommit == 2 && want > l->commit_free)
		l->limit = RAM_LIMIT_COMMIT;
	else
		l->limit = RAM_LIMIT_ADDRESS_SPACE;
	s = l->largest;
	if (l->limit == RAM_LIMIT_ADDRESS_SPACE) {
		/* (kvmfs's threads and bitmaps fit in other free ranges.) */
		span = ram_limits_aslr_span();
		s = s > span ? s - span : 0;
	}
	/* Under ulimit -v or strict overcommit the bound leaves their room. */
	bound = ram_limits_keep_bound(l, backing, &why);
	ram_limits_suggest(l, s, bound, others);
}

void ram_limits_explain(const struct ram_limits *l, enum ram_backing backing, uint64_t want,
                        const char *opt, char *buf, size_t len)
{
	char w[SIZE_TEXT_LEN], a[SIZE_TEXT_LEN], b[SIZE_TEXT_LEN], fit[SIZE_TEXT_LEN + 32];
	uint64_t bitmaps = want / RAM_LIMITS_BITMAP_RATIO * l->bitmaps / MIB * MIB;

	size_format(want, w, sizeof(w));
	if (l->suggest)
		snprintf(fit, sizeof(fit), "%s%s fits", opt, size_format(l->suggest, a, sizeof(a)));
	else
		snprintf(fit, sizeof(fit), "nothing fits");
	switch (l->limit) {
	case RAM_LIMIT_NONE: snprintf(buf, len, "Cannot allocate memory"); break;
	case RAM_LIMIT_ADDRESS_SPACE:
		snprintf(buf, len,
		         "cannot reserve %s of guest RAM: no free range that large in kvmfs's "
		         "address space (128T on x86-64, shared with its program and libraries; "
		         "memory and overcommit are not the limit: the reservation is "
		         "MAP_NORESERVE, vm.overcommit_memory=%d); %s here, allowing for address "
		         "randomization",
		         w, l->overcommit, fit);
		break;
	case RAM_LIMIT_RLIMIT_AS:
		snprintf(buf, len,
		         "cannot reserve %s of guest RAM: kvmfs's address-space limit (ulimit -v) "
		         "is %s, %s of it in use; raise it (ulimit -v unlimited), or %s under it, "
		         "leaving room for kvmfs's threads and page bitmaps",
		         w, size_format(l->as_limit, a, sizeof(a)),
		         size_format(l->as_used / MIB * MIB, b, sizeof(b)), fit);
		break;
	case RAM_LIMIT_COMMIT:
		if (backing == RAM_BACKING_ANON)
			snprintf(buf, len,
			         "cannot keep %s of guest RAM: vm.overcommit_memory=2 (strict) "
			         "counts "
			         "-mem-backing anon RAM itself and kvmfs's %u page bitmaps for it "
			         "against CommitLimit, which has %s free; use -mem-backing memfd "
			         "(the "
			         "default: counted as pages are used), or %s now",
			         w, l->bitmaps,
			         size_format(l->commit_free / MIB * MIB, a, sizeof(a)), fit);
		else
			snprintf(buf, len,
			         "cannot keep %s of guest RAM: vm.overcommit_memory=2 (strict) "
			         "counts "
			         "kvmfs's %u page bitmaps for it (a bit per 4 KiB page each, %s) "
			         "against CommitLimit, which has %s free; %s now",
			         w, l->bitmaps, size_format(bitmaps, a, sizeof(a)),
			         size_format(l->commit_free / MIB * MIB, b, sizeof(b)), fit);
		break;
	case RAM_LIMIT_MEMORY:
		snprintf(buf, len,
		         "cannot keep %s of guest RAM: kvmfs keeps %u page bitmaps for it (a bit "
		         "per 4 KiB page each, %s of memory), and vm.overcommit_memory=0 refuses a "
		         "mapping larger than RAM and swap together (%s here); %s here",
		         w, l->bitmaps, size_format(bitmaps, a, sizeof(a)),
		         size_format(l->memory / MIB * MIB, b, sizeof(b)), fit);
		break;
	}
}
