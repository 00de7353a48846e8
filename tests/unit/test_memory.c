/*
 * test_memory.c - flattening: priorities, insertion order, aliases of
 * aliases, clipping, disabled regions and merging; regions of size 2^64;
 * and random region trees checked address by address against the
 * brute-force reference of region_oracle.h, which mr_resolve() - the same
 * rules for one address - must agree with too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "memory/memory.h"
#include "memory/ram.h"
#include "region_oracle.h"
#include "util/compiler.h"

/* Fake blocks: flattening only needs their identity. */
static struct ram_block blocks[8];

static struct memory_region *ram(const char *name, int i, uint64_t size)
{
	blocks[i].used_length = size;
	return mr_new_ram(name, &blocks[i]);
}

static const struct flat_range *at(const struct flatview *fv, uint64_t a)
{
	return flatview_lookup(fv, a);
}

static void test_priority_and_order(void **state)
{
	struct memory_region *root = mr_new_container("root", 0x1000);
	struct memory_region *lo = ram("lo", 0, 0x1000), *hi = ram("hi", 1, 0x100);
	struct memory_region *a = ram("a", 2, 0x100), *b = ram("b", 3, 0x100);
	struct flatview *fv;

	(void)state;
	assert_int_equal(mr_add_subregion(root, 0, lo), 0);
	assert_int_equal(mr_add_subregion_overlap(root, 0x100, hi, 1), 0);
	/* Equal priority: the one added later wins. */
	assert_int_equal(mr_add_subregion(root, 0x300, a), 0);
	assert_int_equal(mr_add_subregion(root, 0x380, b), 0);
	assert_int_equal(flatview_build(root, &fv), 0);
	assert_ptr_equal(at(fv, 0x0)->mr, lo);
	assert_ptr_equal(at(fv, 0x150)->mr, hi);
	assert_int_equal(at(fv, 0x150)->start, 0x100);
	assert_ptr_equal(at(fv, 0x350)->mr, a);
	assert_ptr_equal(at(fv, 0x390)->mr, b);
	assert_int_equal(at(fv, 0x390)->start, 0x380);
	/* lo shows again between them, at the matching offset. */
	assert_int_equal(at(fv, 0x200)->start, 0x200);
	assert_int_equal(at(fv, 0x200)->offset, 0x200);
	assert_ptr_equal(at(fv, 0x200)->mr, lo);
	/* lo is split around the others: ranges do not overlap and are sorted. */
	for (size_t i = 1; i < fv->nr; i++)
		assert_true(fv->ranges[i - 1].start + fv->ranges[i - 1].size <=
		            fv->ranges[i].start);
	flatview_free(fv);
	mr_free(root);
}

static void test_alias_of_alias_and_clipping(void **state)
{
	struct memory_region *root = mr_new_container("root", 0x10000);
	struct memory_region *r = ram("r", 0, 0x4000);
	struct memory_region *a1 = mr_new_alias("a1", r, 0x1000, 0x2000);
	struct memory_region *a2 = mr_new_alias("a2", a1, 0x800, 0x1000);
	struct memory_region *c = mr_new_container("c", 0x100);
	struct memory_region *big = ram("big", 1, 0x1000);
	struct flatview *fv;

	(void)state;
	assert_int_equal(mr_add_subregion(root, 0x8000, a2), 0);
	/* A container clips what it holds to its own size. */
	assert_int_equal(mr_add_subregion(root, 0x100, c), 0);
	assert_int_equal(mr_add_subregion(c, 0x80, big), 0);
	assert_int_equal(flatview_build(root, &fv), 0);
	assert_ptr_equal(at(fv, 0x8000)->mr, r);
	assert_int_equal(at(fv, 0x8000)->offset, 0x1800);
	assert_int_equal(at(fv, 0x8000)->size, 0x1000);
	assert_ptr_equal(at(fv, 0x180)->mr, big);
	assert_int_equal(at(fv, 0x180)->size, 0x80);
	assert_null(at(fv, 0x200));
	assert_null(at(fv, 0x9000));
	flatview_free(fv);
	/* One address: the same leaf and offset, and the aliases on the way, outermost first. */
	{
		struct memory_region *path[2];
		uint64_t off = 0;
		size_t nr = 0;

		assert_ptr_equal(mr_resolve(root, 0x8010, &off, path, 2, &nr), r);
		assert_int_equal(off, 0x1810);
		assert_int_equal(nr, 2);
		assert_ptr_equal(path[0], a2);
		assert_ptr_equal(path[1], a1);
		/* Only max are stored; nr still counts them all. */
		assert_ptr_equal(mr_resolve(root, 0x8010, &off, path, 1, &nr), r);
		assert_int_equal(nr, 2);
		assert_ptr_equal(path[0], a2);
		assert_ptr_equal(mr_resolve(root, 0x180, &off, path, 2, &nr), big);
		assert_int_equal(off, 0);
		assert_int_equal(nr, 0);
		assert_null(mr_resolve(root, 0x9000, &off, path, 2, &nr));
		assert_null(mr_resolve(root, 0x200, &off, path, 2, &nr));
	}
	/* A disabled region vanishes. */
	mr_set_enabled(c, false);
	assert_int_equal(flatview_build(root, &fv), 0);
	assert_null(at(fv, 0x180));
	flatview_free(fv);
	mr_free(root);
	mr_free(a1); /* in no container: only a2's alias target */
	mr_free(r);
}

static void test_merge_and_readonly(void **state)
{
	struct memory_region *root = mr_new_container("root", 0x10000);
	struct memory_region *r = ram("r", 0, 0x4000), *rom;
	struct flatview *fv;

	(void)state;
	/* Two aliases that continue one another become one range. */
	assert_int_equal(mr_add_subregion(root, 0, mr_new_alias("x", r, 0, 0x1000)), 0);
	assert_int_equal(mr_add_subregion(root, 0x1000, mr_new_alias("y", r, 0x1000, 0x1000)), 0);
	/* Not contiguous in the block: stays apart. */
	assert_int_equal(mr_add_subregion(root, 0x2000, mr_new_alias("z", r, 0x3000, 0x1000)), 0);
	rom = mr_new_rom("rom", &blocks[1]);
	blocks[1].used_length = 0x1000;
	rom->size = 0x1000;
	assert_int_equal(mr_add_subregion(root, 0x4000, rom), 0);
	assert_int_equal(flatview_build(root, &fv), 0);
	assert_int_equal(fv->nr, 3);
	assert_int_equal(fv->ranges[0].size, 0x2000);
	assert_int_equal(fv->ranges[1].offset, 0x3000);
	assert_true(fv->ranges[2].readonly);
	assert_false(fv->ranges[0].readonly);
	flatview_free(fv);
	mr_free(root);
	mr_free(r);
}

/*
 * Regions of size 2^64 (MR_SIZE_2_64), as QEMU's Int128 sizes have them:
 * such a region holds its last byte 0xffffffffffffffff, and an alias whose
 * offset carries an address past 2^64 reaches nothing there rather than
 * wrapping round to 0.  A 64-bit reference gets both wrong (it once did);
 * the oracle, the flat view and mr_resolve() must all say what QEMU says.
 */
static void test_2_64_sized_regions(void **state)
{
	struct memory_region *root = mr_new_container("root", MR_SIZE_2_64);
	struct memory_region *top = ram("top", 0, 0x1000);
	struct memory_region *via = mr_new_container("via", MR_SIZE_2_64);
	struct memory_region *t = mr_new_container("t", MR_SIZE_2_64);
	struct memory_region *low = ram("low", 1, 0x1000), *hi = ram("hi", 2, 0x1000);
	struct memory_region *a = mr_new_alias("a", t, 0x10, MR_SIZE_2_64);
	const struct {
		struct memory_region *root;
		uint64_t addr;
		struct memory_region *leaf; /* NULL: a hole */
		uint64_t off;
	} cases[] = {
	        {root, UINT64_MAX, top, 0xfff}, /* the last byte of 2^64 */
	        {root, UINT64_MAX - 0xfff, top, 0},
	        {root, UINT64_MAX - 0x1000, NULL, 0},
	        {via, 0, low, 0x10},                 /* through the alias */
	        {via, UINT64_MAX - 0x10, hi, 0xfff}, /* t's last byte */
	        {via, UINT64_MAX - 0xf, NULL, 0},    /* t at 2^64: not t at 0 */
	        {via, UINT64_MAX, NULL, 0},
	};
	struct flatview *fv[2];
	size_t i;

	(void)state;
	assert_int_equal(mr_add_subregion(root, 0 - (uint64_t)0x1000, top), 0);
	assert_int_equal(mr_add_subregion(t, 0, low), 0);
	assert_int_equal(mr_add_subregion(t, 0 - (uint64_t)0x1000, hi), 0);
	assert_int_equal(mr_add_subregion(via, 0, a), 0);
	assert_int_equal(flatview_build(root, &fv[0]), 0);
	assert_int_equal(flatview_build(via, &fv[1]), 0);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct flat_range *fr =
		        flatview_lookup(fv[cases[i].root == via], cases[i].addr);
		struct memory_region *leaf = NULL, *path[2];
		oracle_u128 off = 0;
		uint64_t roff = 0;
		size_t nr;

		assert_int_equal(oracle_resolve(cases[i].root, cases[i].addr, &leaf, &off),
		                 cases[i].leaf != NULL);
		assert_ptr_equal(mr_resolve(cases[i].root, cases[i].addr, &roff, path, 2, &nr),
		                 cases[i].leaf);
		if (!cases[i].leaf) {
			assert_null(fr);
			continue;
		}
		assert_ptr_equal(leaf, cases[i].leaf);
		assert_true(off == cases[i].off);
		assert_int_equal(roff, cases[i].off);
		assert_non_null(fr);
		assert_ptr_equal(fr->mr, cases[i].leaf);
		assert_int_equal(fr->offset + (cases[i].addr - fr->start), cases[i].off);
	}
	flatview_free(fv[0]);
	flatview_free(fv[1]);
	mr_free(root);
	mr_free(via);
	mr_free(t); /* in no container: only a's alias target */
}

/* ---- random trees against a per-address reference --------------------- */

#define SPACE 512
#define NR    14

static uint32_t rng_state;

static uint32_t rnd(uint32_t n)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return (rng_state >> 8) % n;
}

static void random_tree(uint32_t seed)
{
	struct memory_region *all[NR + 1], *root, *leaf;
	struct flatview *fv;
	char name[16];
	oracle_u128 off;
	uint64_t a;
	int n = 1, i;

	rng_state = seed;
	root = all[0] = mr_new_container("root", SPACE);
	for (i = 0; i < NR; i++) {
		struct memory_region *mr, *parent;
		uint64_t size = 1 + rnd(SPACE / 2);
		uint32_t kind = rnd(4);

		snprintf(name, sizeof(name), "r%d", i);
		if (kind == 0) {
			mr = mr_new_container(name, size);
		} else if (kind == 3 && n > 1 && all[n - 1]->kind != MR_CONTAINER) {
			/* Aliases of leaves and of aliases: a container target could cycle. */
			struct memory_region *t;

			do {
				t = all[1 + rnd((uint32_t)n - 1)];
			} while (t->kind == MR_CONTAINER);
			mr = mr_new_alias(name, t, rnd((uint32_t)t->size), size);
		} else {
			blocks[i % 8].used_length = size;
			mr = mr_new_ram(name, &blocks[i % 8]);
			if (rnd(4) == 0)
				mr->kind = MR_ROM;
		}
		do {
			parent = all[rnd((uint32_t)n)];
		} while (parent->kind != MR_CONTAINER);
		assert_int_equal(mr_add_subregion_overlap(parent, rnd(SPACE), mr, (int)rnd(3) - 1),
		                 0);
		if (rnd(8) == 0)
			mr_set_enabled(mr, false);
		all[n++] = mr;
	}
	assert_int_equal(flatview_build(root, &fv), 0);
	for (a = 0; a < SPACE; a++) {
		const struct flat_range *fr = flatview_lookup(fv, a);
		int found = oracle_resolve(root, a, &leaf, &off);
		struct memory_region *path[4];
		uint64_t roff = 0;
		size_t nr;

		if (mr_resolve(root, a, &roff, path, 4, &nr) != (found ? leaf : NULL) ||
		    (found && roff != off))
			fail_msg("seed %u addr %llu: mr_resolve disagrees with the reference", seed,
			         (unsigned long long)a);

		if (!found) {
			if (fr)
				fail_msg("seed %u addr %llu: flat view has %s, reference a hole",
				         seed, (unsigned long long)a, fr->mr->name);
			continue;
		}
		if (!fr || fr->mr != leaf || fr->offset + (a - fr->start) != off)
			fail_msg("seed %u addr %llu: want %s+%llu, got %s", seed,
			         (unsigned long long)a, leaf->name, (unsigned long long)off,
			         fr ? fr->mr->name : "hole");
	}
	flatview_free(fv);
	/* Aliases may point anywhere in the tree: free the tree once. */
	mr_free(root);
}

static void test_random_trees(void **state)
{
	uint32_t seed;

	(void)state;
	for (seed = 1; seed <= 3000; seed++)
		random_tree(seed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_priority_and_order),
	        cmocka_unit_test(test_alias_of_alias_and_clipping),
	        cmocka_unit_test(test_merge_and_readonly),
	        cmocka_unit_test(test_2_64_sized_regions),
	        cmocka_unit_test(test_random_trees),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
