/*
 * fuzz_flatview.c - libFuzzer harness for flattening: random region trees
 * (region_tree.h) against a brute-force reference that applies QEMU's rules
 * to one address at a time.
 *
 * For every address of the windows at 0 and at the top of the 2^64 space
 * the flat view must name the leaf and offset the reference finds (or a
 * hole), read-only exactly for ROM; and the view must be sorted, without
 * overlaps or empty ranges, with no two neighbours left unmerged.
 *
 *   make fuzz-build && build-fuzz/fuzz_flatview tests/fuzz/corpus/fuzz_flatview
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "region_tree.h"

typedef oracle_u128 u128;

static void check_addr(struct memory_region *root, const struct flatview *fv, uint64_t a)
{
	const struct flat_range *fr = flatview_lookup(fv, a);
	struct memory_region *leaf = NULL;
	u128 off = 0;
	int found = oracle_resolve(root, a, &leaf, &off);

	if (!found && !fr)
		return;
	if (!found || !fr || fr->mr != leaf || (u128)fr->offset + (a - fr->start) != off ||
	    fr->readonly != (leaf->kind == MR_ROM)) {
		fprintf(stderr,
		        "addr %#llx: reference %s+%#llx (kind %d), flat view %s+%#llx (ro %d)\n",
		        (unsigned long long)a, found ? leaf->name : "hole", (unsigned long long)off,
		        found ? (int)leaf->kind : -1, fr ? fr->mr->name : "hole",
		        fr ? (unsigned long long)(fr->offset + (a - fr->start)) : 0ULL,
		        fr ? fr->readonly : -1);
		abort();
	}
}

static void check_shape(const struct flatview *fv)
{
	size_t i;

	for (i = 0; i < fv->nr; i++) {
		const struct flat_range *r = &fv->ranges[i], *p = i ? r - 1 : NULL;

		if (!r->size || (u128)r->start + r->size > (u128)1 << 64)
			abort();
		if (p && (u128)p->start + p->size > r->start)
			abort(); /* unsorted or overlapping */
		if (p && p->mr == r->mr && p->readonly == r->readonly &&
		    (u128)p->start + p->size == r->start &&
		    (u128)p->offset + p->size == r->offset && (u128)p->size + r->size <= UINT64_MAX)
			abort(); /* should have been merged */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ram_block b[4];
	struct ram_block *blocks[4] = {&b[0], &b[1], &b[2], &b[3]};
	struct fuzz_in in = {data, size};
	struct region_tree t;
	struct memory_region *root = rt_build(&t, &in, blocks, 4, false);
	struct flatview *fv;
	uint64_t a;

	/* FUZZ_DUMP=1: print the tree of the input being replayed. */
	if (getenv("FUZZ_DUMP"))
		for (unsigned j = 0; j < t.nr; j++) {
			struct memory_region *m = t.all[j];
			fprintf(stderr,
			        "%s kind %d addr %#llx size %#llx prio %d en %d in %s alias "
			        "%s+%#llx\n",
			        m->name, m->kind, (unsigned long long)m->addr,
			        (unsigned long long)m->size, m->priority, m->enabled,
			        m->container ? m->container->name : "-",
			        m->alias ? m->alias->name : "-",
			        (unsigned long long)m->alias_offset);
		}
	if (flatview_build(root, &fv))
		abort(); /* acyclic trees of at most 33 regions always flatten */
	check_shape(fv);
	for (a = 0; a < RT_SPACE; a++)
		check_addr(root, fv, a);
	for (a = RT_TOP; a; a++)
		check_addr(root, fv, a);
	flatview_free(fv);
	mr_free(root);
	return 0;
}
