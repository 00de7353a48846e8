/*
 * ram_limits.h - whether guest RAM of a given size can be had, why not, and
 * how much can: for the one line kvmfs prints when -m (or an -object size)
 * asks for more than this host lets a process have.
 *
 * A block is reserved with MAP_NORESERVE (ram.c), so the host's free memory
 * is not what limits it, but:
 *
 *   the address space   x86-64 user space is 2^47 bytes (128 TiB), and
 *                       mmap() needs one free range of the whole size in
 *                       it, between the program, its libraries and stacks;
 *   ulimit -v           RLIMIT_AS caps the process's mappings together;
 *   overcommit          what kvmfs keeps beside the RAM is ordinary,
 *                       accounted memory: bitmaps of one bit per 4 KiB page
 *                       (dirty/'s two readers, the page-cache trackers of a
 *                       block's file and of phys, the dirty-log sweep's
 *                       buffer) - 1/32768 of the RAM each.  With
 *                       vm.overcommit_memory=0 no one mapping may exceed
 *                       RAM and swap together, at allocation and again at
 *                       fork() (fusermount3 is forked to mount), and the
 *                       bitmaps, allocated one after another, can end up as
 *                       one mapping: measured on a 4 GiB guest without swap,
 *                       a 40 TiB block mounts and 44 TiB fails in fork(),
 *                       where 3 bitmaps reach 3.8 GiB at 41.7 TiB.  With
 *                       vm.overcommit_memory=2 the bitmaps count against
 *                       CommitLimit, and so does -mem-backing anon RAM
 *                       itself (MAP_NORESERVE is ignored); a memfd (the
 *                       default) is counted page by page as it is used.
 *
 * ram_limits_check() tells, before anything is reserved, what accounting
 * refuses; ram_limits_probe(), after a reservation failed, finds the
 * largest one that succeeds by trying the same reservation (ram_reserve) at
 * sizes halving the gap, each undone at once.
 */
#ifndef KVMFS_MEMORY_RAM_LIMITS_H
#define KVMFS_MEMORY_RAM_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include "memory/ram.h"

/* Guest RAM per byte of one of kvmfs's page bitmaps: a bit per 4 KiB page. */
#define RAM_LIMITS_BITMAP_RATIO 32768ULL

enum ram_limit {
	RAM_LIMIT_NONE,          /* the size fits: the failure was something else */
	RAM_LIMIT_ADDRESS_SPACE, /* no free range that large */
	RAM_LIMIT_RLIMIT_AS,     /* ulimit -v */
	RAM_LIMIT_COMMIT,        /* vm.overcommit_memory=2: CommitLimit */
	RAM_LIMIT_MEMORY,        /* vm.overcommit_memory=0: a bitmap mapping beyond RAM + swap */
};

struct ram_limits {
	enum ram_limit limit;
	/*
	 * The size to suggest: the most that both the reservation and the
	 * accounting of what kvmfs keeps beside it allow, less what address
	 * randomization may take from the next run, rounded down to a whole
	 * unit (ram_limits.c says why).  0: none.
	 */
	uint64_t suggest;
	uint64_t largest;     /* the largest reservation the probe got; 0: not probed */
	unsigned bitmaps;     /* page bitmaps kvmfs keeps for the RAM (ram_limits.c) */
	uint64_t thread_room; /* what kvmfs's threads map later: stacks, malloc arenas */
	int overcommit;       /* vm.overcommit_memory: 0, 1, 2; -1 unreadable */
	uint64_t memory;      /* MemTotal + SwapTotal in bytes; 0 unknown */
	uint64_t commit_free; /* CommitLimit - Committed_AS in bytes; UINT64_MAX unknown */
	uint64_t as_limit;    /* RLIMIT_AS in bytes; UINT64_MAX unlimited */
	uint64_t as_used;     /* VmSize in bytes when read */
};

/*
 * Before reserving a block of want bytes as backing says, beside others
 * bytes of other blocks, with bitmaps page bitmaps kept for all of them and
 * threads threads still to start: 0 if the accounting allows it, else
 * -ENOMEM, and l says why and the largest block that fits.
 */
int ram_limits_check(struct ram_limits *l, enum ram_backing backing, uint64_t want, uint64_t others,
                     unsigned bitmaps, unsigned threads);
/*
 * After the reservation of a block of want bytes failed: why, and the
 * largest block that fits (l->limit NONE: want fits now).
 */
void ram_limits_probe(struct ram_limits *l, enum ram_backing backing, uint64_t want,
                      uint64_t others, unsigned bitmaps, unsigned threads);
/*
 * The most RAM in all the accounting of l allows (UINT64_MAX: no bound),
 * and in *why the limit that sets it.  Pure, for the unit tests.
 */
uint64_t ram_limits_keep_bound(const struct ram_limits *l, enum ram_backing backing,
                               enum ram_limit *why);
/*
 * The cause and the remedy as the rest of a line that begins "-m 100T: ",
 * ending in the size that fits ("...; -m 84T fits here, allowing for
 * address randomization"): opt is how that size is asked for ("-m ",
 * "size=").  Pure: it reads only l, for the unit tests.
 */
void ram_limits_explain(const struct ram_limits *l, enum ram_backing backing, uint64_t want,
                        const char *opt, char *buf, size_t len);
/* A size rounded down to a whole T, G or M (ram_limits.c). */
uint64_t ram_limits_round(uint64_t size);

#endif
