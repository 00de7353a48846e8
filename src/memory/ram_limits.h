/*
 * ram_limits.h - why a RAM block could not be reserved, and how large one
 * can be: for the one line kvmfs prints when -m (or an -object size) asks
 * for more than this host lets a process have.
 *
 * A block is reserved with MAP_NORESERVE (ram.c), so what limits it is not
 * the host's free memory but three things:
 *
 *   the address space   x86-64 user space is 2^47 bytes (128 TiB), and
 *                       mmap() needs one free range of the whole size in
 *                       it, between the program, its libraries and stacks;
 *   ulimit -v           RLIMIT_AS caps the process's mappings together;
 *   strict overcommit   with vm.overcommit_memory=2 the kernel ignores
 *                       MAP_NORESERVE and counts private writable mappings
 *                       (-mem-backing anon) against CommitLimit; a memfd
 *                       (the default backing) is counted page by page as it
 *                       is used, not when it is reserved.
 *
 * The largest size is probed, not computed: the same reservation
 * (ram_reserve) is tried at sizes halving the gap, and undone at once, so
 * the answer is what this process can have now, whatever the cause.
 */
#ifndef KVMFS_MEMORY_RAM_LIMITS_H
#define KVMFS_MEMORY_RAM_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include "memory/ram.h"

enum ram_limit {
	RAM_LIMIT_NONE,          /* the size fits now: the failure was something else */
	RAM_LIMIT_ADDRESS_SPACE, /* no free range that large */
	RAM_LIMIT_RLIMIT_AS,     /* ulimit -v */
	RAM_LIMIT_COMMIT,        /* overcommit_memory=2 and -mem-backing anon */
};

struct ram_limits {
	enum ram_limit limit;
	/*
	 * The size to suggest: the largest reservation the probe got, less
	 * what kvmfs maps after its RAM (under ulimit -v or strict
	 * overcommit) or what address randomization may take from the next
	 * run (in the address space), rounded down to a whole unit
	 * (ram_limits.c says why).  0: none.
	 */
	uint64_t suggest;
	uint64_t largest;     /* the largest reservation the probe got, in MiB steps */
	int overcommit;       /* vm.overcommit_memory: 0, 1, 2; -1 unreadable */
	uint64_t commit_free; /* CommitLimit - Committed_AS in bytes; UINT64_MAX unknown */
	uint64_t as_limit;    /* RLIMIT_AS in bytes; UINT64_MAX unlimited */
	uint64_t as_used;     /* VmSize in bytes when probed */
};

/*
 * What keeps a block of want bytes, reserved as backing says, from being
 * reserved now; threads: how many threads kvmfs will still start (each maps
 * a stack and may map a malloc arena, which ulimit -v counts).
 */
void ram_limits_probe(struct ram_limits *l, enum ram_backing backing, uint64_t want,
                      unsigned threads);
/*
 * The cause and the remedy as the rest of a line that begins "-m 100T: ",
 * ending in the size that fits ("...; -m 84T fits here, allowing for
 * address randomization"): opt is how that size is asked for ("-m ",
 * "size=").  Pure: it reads only l, for the unit tests.
 */
void ram_limits_explain(const struct ram_limits *l, enum ram_backing backing, uint64_t want,
                        const char *opt, char *buf, size_t len);
/* The size suggest would be for a probe that found largest (rounding, in ram_limits.c). */
uint64_t ram_limits_round(uint64_t largest);

#endif
