/*
 * region_tree.h - random region trees from a fuzzer input, for the
 * flattening, memslot and renderer harnesses.
 *
 * Containers, RAM, ROM, I/O and aliases (of leaves, containers and other
 * aliases), at addresses near 0 and near the top of the 2^64 space, with
 * priorities, overlaps and disabled regions.  An alias never targets a
 * region from which its own container can be reached, so the tree has no
 * cycle (kvmfs refuses those with -ELOOP; that is not what is tested here).
 * The harnesses judge kvmfs against oracle_resolve() (region_oracle.h).
 */
#ifndef KVMFS_FUZZ_REGION_TREE_H
#define KVMFS_FUZZ_REGION_TREE_H

#include <stdbool.h>
#include <stdio.h>

#include "../unit/region_oracle.h" /* the reference the harnesses check against */
#include "fuzz_input.h"
#include "memory/memory.h"
#include "memory/ram.h"

#define RT_SPACE      512 /* the windows at 0 and at 2^64 - RT_SPACE */
#define RT_MAX        32
#define RT_TOP        (0 - (uint64_t)RT_SPACE)
#define RT_BLOCK_SIZE (2 * RT_SPACE) /* host bytes behind every block */

struct region_tree {
	struct memory_region *all[RT_MAX + 1]; /* all[0] is the root */
	unsigned nr;
};

static bool rt_reaches(struct memory_region *from, struct memory_region *to, int depth)
{
	size_t i;

	if (from == to)
		return true;
	if (depth > 2 * RT_MAX)
		return true; /* cannot happen without a cycle; refuse to make one */
	if (from->kind == MR_ALIAS && from->alias && rt_reaches(from->alias, to, depth + 1))
		return true;
	for (i = 0; i < from->nr_subs; i++)
		if (rt_reaches(from->subs[i], to, depth + 1))
			return true;
	return false;
}

static uint64_t rt_addr(struct fuzz_in *in)
{
	switch (fuzz_u8(in) % 4) {
	case 0: return RT_TOP + fuzz_below(in, RT_SPACE);
	case 1: return fuzz_u64(in, 8);
	default: return fuzz_below(in, RT_SPACE);
	}
}

/* "r<i>", or with names, up to 12 arbitrary non-NUL bytes from the input. */
static void rt_name(struct fuzz_in *in, bool names, unsigned i, char *name, size_t len)
{
	unsigned n, k;

	snprintf(name, len, "r%u", i);
	if (!names || !(n = fuzz_below(in, 13)))
		return;
	for (k = 0; k < n && k + 1 < len; k++)
		name[k] = (char)(fuzz_u8(in) ?: 'x');
	name[k] = '\0';
}

/*
 * Build a tree whose RAM and ROM leaves use blocks[i % nr_blocks], each
 * block backed by at least RT_BLOCK_SIZE host bytes.  names: see rt_name.  Returns the root.
 */
static struct memory_region *rt_build(struct region_tree *t, struct fuzz_in *in,
                                      struct ram_block **blocks, unsigned nr_blocks, bool names)
{
	unsigned n = 1 + fuzz_below(in, RT_MAX), i;
	char name[32];

	t->all[0] = mr_new_container("root", MR_SIZE_2_64);
	t->nr = 1;
	if (!t->all[0])
		abort();
	for (i = 0; i < n; i++) {
		unsigned kind = fuzz_below(in, 5), c;
		uint64_t size = fuzz_u8(in) % 16 ? 1 + fuzz_below(in, 2 * RT_SPACE) : MR_SIZE_2_64;
		struct memory_region *mr = NULL, *parent = NULL;

		struct memory_region *containers[RT_MAX + 1];
		unsigned nr_containers = 0;

		for (c = 0; c < t->nr; c++)
			if (t->all[c]->kind == MR_CONTAINER)
				containers[nr_containers++] = t->all[c];
		parent = containers[fuzz_below(in, nr_containers)];
		rt_name(in, names, i, name, sizeof(name));
		if (kind == 4) {
			struct memory_region *target = t->all[fuzz_below(in, t->nr)];

			if (!rt_reaches(target, parent, 0))
				mr = mr_new_alias(name, target, rt_addr(in) % (2 * RT_SPACE), size);
			else
				kind = 1;
		}
		if (kind == 0) {
			mr = mr_new_container(name, size);
		} else if (kind == 1 || kind == 2) {
			/* A RAM region is no larger than its block (RT_BLOCK_SIZE). */
			mr = (kind == 1 ? mr_new_ram : mr_new_rom)(name, blocks[i % nr_blocks]);
			if (mr)
				mr->size = size < RT_BLOCK_SIZE ? size : RT_BLOCK_SIZE;
		} else if (kind == 3) {
			mr = mr_new_io(name, size, NULL, NULL);
		}
		if (!mr ||
		    mr_add_subregion_overlap(parent, rt_addr(in), mr, (int)fuzz_below(in, 5) - 2))
			abort();
		if (!fuzz_below(in, 10))
			mr_set_enabled(mr, false);
		t->all[t->nr++] = mr;
	}
	return t->all[0];
}

#endif
