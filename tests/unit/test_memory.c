/*
 * test_memory.c - flattening: priorities, insertion order, aliases of
 * aliases, clipping, disabled regions and merging; and random region trees
 * checked address by address against a brute-force reference, which
 * mr_resolve() - the same rules for one address - must agree with too.
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

/* ---- random trees against a per-address reference --------------------- */

#define SPACE 512
#define NR    14

static uint32_t rng_state;

static uint32_t rnd(uint32_t n)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return (rng_state >> 8) % n;
}

/* What QEMU's rules say is at addr within mr: the leaf and the offset. */
static int resolve(struct memory_region *mr, uint64_t addr, struct memory_region **leaf,
                   uint64_t *off, int depth)
{
	size_t i;

	if (!mr->enabled || addr >= mr->size || depth > 32)
		return 0;
	if (mr->kind == MR_ALIAS)
		return resolve(mr->alias, mr->alias_offset + addr, leaf, off, depth + 1);
	for (i = 0; i < mr->nr_subs; i++) {
		struct memory_region *s = mr->subs[i];

		if (addr >= s->addr && resolve(s, addr - s->addr, leaf, off, depth + 1))
			return 1;
	}
	if (mr->kind == MR_CONTAINER)
		return 0;
	*leaf = mr;
	*off = addr;
	return 1;
}

static void random_tree(uint32_t seed)
{
	struct memory_region *all[NR + 1], *root, *leaf;
	struct flatview *fv;
	char name[16];
	uint64_t a, off;
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
		int found = resolve(root, a, &leaf, &off, 0);
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
	        cmocka_unit_test(test_random_trees),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
