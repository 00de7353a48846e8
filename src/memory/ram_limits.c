/*
 * ram_limits.c - why a RAM block could not be reserved, and the largest one
 * that can (ram_limits.h).
 */
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

/*
 * The suggestion is rounded down to a whole unit - T, G or M, the largest
 * of which the size holds at least four - so that it reads as a size a user
 * would write; rounding costs less than a quarter of it, and mostly far
 * less.
 */
uint64_t ram_limits_round(uint64_t largest)
{
	static const unsigned shifts[] = {40, 30, 20};
	size_t i;

	for (i = 0; i < sizeof(shifts) / sizeof(shifts[0]); i++)
		if (largest >> shifts[i] >= 4 || shifts[i] == 20)
			return largest >> shifts[i] << shifts[i];
	return 0;
}

void ram_limits_probe(struct ram_limits *l, enum ram_backing backing, uint64_t want,
                      unsigned threads)
{
	uint64_t lo = 0, hi = want / MIB, overhead = 0, stack;
	long long limit, used, bits;
	struct rlimit rl;

	*l = (struct ram_limits){
	        .overcommit = -1, .commit_free = UINT64_MAX, .as_limit = UINT64_MAX};
	l->overcommit = (int)ram_limits_read("/proc/sys/vm/overcommit_memory", "");
	limit = ram_limits_read("/proc/meminfo", "CommitLimit:");
	used = ram_limits_read("/proc/meminfo", "Committed_AS:");
	if (limit >= 0 && used >= 0)
		l->commit_free = limit > used ? (uint64_t)(limit - used) << 10 : 0;
	if (!getrlimit(RLIMIT_AS, &rl) && rl.rlim_cur != RLIM_INFINITY)
		l->as_limit = rl.rlim_cur;
	used = ram_limits_read("/proc/self/status", "VmSize:");
	l->as_used = used > 0 ? (uint64_t)used << 10 : 0;

	if (ram_limits_fits(backing, want)) {
		l->largest = want;
		return;
	}
	/* Largest fitting number of MiB in [lo, hi): lo fits (0 trivially), hi does not. */
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (ram_limits_fits(backing, mid * MIB))
			lo = mid;
		else
			hi = mid;
	}
	l->largest = lo * MIB;
	if (l->as_limit != UINT64_MAX && want > l->as_limit - MIN(l->as_limit, l->as_used))
		l->limit = RAM_LIMIT_RLIMIT_AS;
	else if (backing == RAM_BACKING_ANON && l->overcommit == 2 && want > l->commit_free)
		l->limit = RAM_LIMIT_COMMIT;
	else
		l->limit = RAM_LIMIT_ADDRESS_SPACE;
	if (l->limit == RAM_LIMIT_ADDRESS_SPACE) {
		/*
		 * The probe's answer holds for this process only: the next
		 * run's program and libraries land elsewhere.  ASLR moves each
		 * by at most 2^mmap_rnd_bits pages (28 bits on x86-64: a TiB),
		 * so a free range is at most that much smaller in another run
		 * - the largest one, below a PIE program (placed at 2/3 of the
		 * 128 TiB and only ever moved up), is 85.3 to 86.3 TiB.
		 * (kvmfs's own threads fit in other free ranges.)
		 */
		bits = ram_limits_read("/proc/sys/vm/mmap_rnd_bits", "");
		if (bits > 0 && bits < 40)
			overhead = (4096ULL << bits);
	} else {
		/*
		 * Under a cap on the whole process the RAM must leave room for
		 * what kvmfs maps after it: each thread's stack and malloc
		 * arena.
		 */
		stack = RAM_LIMITS_STACK_DEFAULT;
		if (!getrlimit(RLIMIT_STACK, &rl) && rl.rlim_cur != RLIM_INFINITY)
			stack = rl.rlim_cur;
		overhead = (uint64_t)threads * (stack + RAM_LIMITS_ARENA);
	}
	l->suggest = l->largest > overhead ? ram_limits_round(l->largest - overhead) : 0;
}

void ram_limits_explain(const struct ram_limits *l, enum ram_backing backing, uint64_t want,
                        const char *opt, char *buf, size_t len)
{
	char w[SIZE_TEXT_LEN], a[SIZE_TEXT_LEN], b[SIZE_TEXT_LEN], fit[SIZE_TEXT_LEN + 32];

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
		         "leaving room for kvmfs's threads",
		         w, size_format(l->as_limit, a, sizeof(a)),
		         size_format(l->as_used / MIB * MIB, b, sizeof(b)), fit);
		break;
	case RAM_LIMIT_COMMIT:
		snprintf(buf, len,
		         "cannot reserve %s of guest RAM: vm.overcommit_memory=2 (strict) counts "
		         "-mem-backing %s against CommitLimit, which has %s free; use -mem-backing "
		         "memfd (the default: counted as pages are used), or %s now, leaving room "
		         "for kvmfs's threads",
		         w, backing == RAM_BACKING_ANON ? "anon" : "memfd",
		         size_format(l->commit_free / MIB * MIB, a, sizeof(a)), fit);
		break;
	}
}
