/*
 * region_oracle.h - the brute-force reference the unit tests and the fuzzers
 * check kvmfs's flattening, mr_resolve() and memslots against: QEMU's rule
 * for one address, applied by walking the region tree.
 *
 * Written apart from memory.c on purpose: it shares no code with the
 * flattening it judges.  Addresses and offsets are 128-bit, as QEMU's
 * (MemoryRegion.size is an Int128 and render_memory_region() adds and
 * clips in Int128): a region of size MR_SIZE_2_64 covers the whole 64-bit
 * space, 0xffffffffffffffff included, and an alias whose offset carries an
 * address past 2^64 reaches nothing there - it does not wrap around to 0.
 */
#ifndef KVMFS_TESTS_REGION_ORACLE_H
#define KVMFS_TESTS_REGION_ORACLE_H

#include "memory/memory.h"

typedef unsigned __int128 oracle_u128;

/* Deeper than any tree the tests build; only a cycle would reach it. */
#define ORACLE_MAX_DEPTH 256

static inline oracle_u128 oracle_size(const struct memory_region *mr)
{
	/* QEMU's memory_region_init() reads UINT64_MAX as 2^64, as kvmfs does. */
	return mr->size == MR_SIZE_2_64 ? (oracle_u128)1 << 64 : mr->size;
}

static inline int oracle_walk(struct memory_region *mr, oracle_u128 addr,
                              struct memory_region **leaf, oracle_u128 *off, int depth)
{
	size_t i;

	if (!mr->enabled || addr >= oracle_size(mr) || depth > ORACLE_MAX_DEPTH)
		return 0;
	if (mr->kind == MR_ALIAS)
		return oracle_walk(mr->alias, mr->alias_offset + addr, leaf, off, depth + 1);
	/* subs[] is in QEMU's order: highest priority first, then latest added. */
	for (i = 0; i < mr->nr_subs; i++) {
		struct memory_region *s = mr->subs[i];

		if (addr >= s->addr && oracle_walk(s, addr - s->addr, leaf, off, depth + 1))
			return 1;
	}
	if (mr->kind == MR_CONTAINER)
		return 0;
	*leaf = mr;
	*off = addr;
	return 1;
}

/*
 * What lies at addr within mr: 1 with the leaf and the offset in it, 0 for
 * a hole.  The first enabled subregion that holds addr wins, else the
 * region itself (a container holds nothing of its own).
 */
static inline int oracle_resolve(struct memory_region *mr, uint64_t addr,
                                 struct memory_region **leaf, oracle_u128 *off)
{
	return oracle_walk(mr, addr, leaf, off, 0);
}

#endif
