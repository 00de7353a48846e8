/*
 * test_linux_maple.c - the walk of a task's maple tree (linux_vmas.c) on
 * hand-built trees in a fake kernel memory, as lib/maple_tree.c lays them
 * out: an allocation-range root (its data end in its metadata byte at
 * 240) over four leaves - one that ends early (last pivot 0: the data end
 * in the metadata byte at 248, stale entries after it), one full up to
 * its parent's limit (last pivot equal to the node's max: 15 entries, the
 * 16th slot stale), one full past it (the last slot used: 16 entries),
 * and the last child, whose max is the tree's - and a range_64 inner node,
 * and a tree of one entry held in the root.  Every VMA in use must come
 * out, in order, and no stale one.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "inspect/linux_vmas.h"

#define BASE     0xffff888000100000ULL
#define MEM_SIZE 0x10000
#define NODES    0x1000 /* nodes from here, 256 bytes each */
#define VMAS     0x8000 /* vm_area_structs from here, 64 bytes each */
#define MM       0x0800 /* the mm_struct */

#include "fake_kmem.h"

enum { MT_LEAF_64 = 1, MT_RANGE_64 = 2, MT_ARANGE_64 = 3 };

static unsigned nr_vmas;
static uint64_t want[64][2];
static unsigned nr_want;

static void put64(uint64_t va, uint64_t v)
{
	memcpy(mem + (va - BASE), &v, sizeof(v));
}

/* A layout of our own choosing: the walk must use it. */
static void guest_init(struct linux_guest *lg)
{
	memset(lg, 0, sizeof(*lg));
	lg->kmem = (struct linux_kmem){fake_read, NULL};
	lg->has_btf = true;
	lg->l = (struct linux_layout){
	        .mm_mt_root = 0,
	        .mm_start_brk = 8,
	        .mm_brk = 16,
	        .mm_start_stack = 24,
	        .have_maple = true,
	        .vma_start = 0,
	        .vma_end = 8,
	        .vma_flags = 16,
	        .vma_pgoff = 24,
	        .vma_file = 32,
	        .vma_ops = 40,
	        .vma_private = 48,
	        .vma_mm = 56,
	};
}

/* A VMA of the mm; listed: one the walk must find. */
static uint64_t vma(uint64_t start, uint64_t end, bool listed)
{
	uint64_t va = BASE + VMAS + 64ULL * nr_vmas++;

	assert_true(nr_vmas <= (MEM_SIZE - VMAS) / 64);
	put64(va + 0, start);
	put64(va + 8, end);
	put64(va + 16, 0x3); /* VM_READ | VM_WRITE */
	put64(va + 56, BASE + MM);
	if (listed) {
		want[nr_want][0] = start;
		want[nr_want][1] = end;
		nr_want++;
	}
	return va;
}

static uint64_t node(unsigned i)
{
	return BASE + NODES + 256ULL * i;
}

static uint64_t enode(unsigned i, unsigned type)
{
	return node(i) | (uint64_t)type << 3 | 2;
}

/* maple_range_64 / maple_leaf_64: pivot[i] at 8 + 8i, slot[i] at 128 + 8i, end at 248. */
static void r64_set(unsigned n, unsigned i, uint64_t slot, uint64_t pivot)
{
	put64(node(n) + 128 + 8 * i, slot);
	if (i < 15)
		put64(node(n) + 8 + 8 * i, pivot);
}

/* maple_arange_64: pivot[i] at 8 + 8i, slot[i] at 80 + 8i, end at 240. */
static void a64_set(unsigned n, unsigned i, uint64_t slot, uint64_t pivot)
{
	put64(node(n) + 80 + 8 * i, slot);
	if (i < 9)
		put64(node(n) + 8 + 8 * i, pivot);
}

/*
 * A leaf of n VMAs from start on, 0x1000 apart, one page each, slot i's
 * pivot its VMA's last byte; returns the next free address.
 */
static uint64_t leaf_fill(unsigned node_i, unsigned from, unsigned n, uint64_t start)
{
	unsigned i;

	for (i = from; i < from + n; i++, start += 0x2000)
		r64_set(node_i, i, vma(start, start + 0x1000, true), start + 0xfff);
	return start;
}

static void build_tree(void)
{
	uint64_t a = 0x400000, max_a, max_b1, max_b2;
	unsigned i;

	memset(mem, 0, sizeof(mem));
	nr_vmas = nr_want = 0;

	/* Leaf 1 (A): a gap, a VMA, a gap, two VMAs: data end 4 in its metadata. */
	r64_set(1, 0, 0, a - 1);
	a = leaf_fill(1, 1, 1, a);
	r64_set(1, 2, 0, a - 1);
	a = leaf_fill(1, 3, 2, a);
	mem[NODES + 256 * 1 + 248] = 4;
	/* Stale slots past the end: VMAs freed, whose pointers the node kept. */
	r64_set(1, 5, vma(a, a + 0x1000, false), a + 0xfff);
	r64_set(1, 6, vma(a + 0x2000, a + 0x3000, false), a + 0x2fff);
	max_a = a + 0x10000 - 1;
	a = max_a + 1;

	/* Leaf 2 (B1): 15 entries, its last pivot its max: slot 15 is not in use. */
	a = leaf_fill(2, 0, 15, a);
	max_b1 = a - 1 + 0x1000;
	put64(node(2) + 8 + 8 * 14, max_b1);
	r64_set(2, 15, vma(max_b1 + 1, max_b1 + 0x1001, false), 0);
	mem[NODES + 256 * 2 + 248] = 3; /* meaningless while the last pivot is set */
	a = max_b1 + 0x10001;

	/* Leaf 3 (B2): all 16 slots; the last pivot below the node's max: slot 15 holds the rest.
	 */
	a = leaf_fill(3, 0, 16, a);
	max_b2 = a + 0xffff;
	a = max_b2 + 1;

	/* Leaf 4 (C): the last child, its max the tree's: two VMAs, data end 1. */
	a = leaf_fill(4, 0, 2, a);
	mem[NODES + 256 * 4 + 248] = 1;
	r64_set(4, 2, vma(a, a + 0x1000, false), a + 0xfff);

	/* The root (arange): four children, data end 3 in its metadata at 240. */
	a64_set(0, 0, enode(1, MT_LEAF_64), max_a);
	a64_set(0, 1, enode(2, MT_LEAF_64), max_b1);
	a64_set(0, 2, enode(3, MT_LEAF_64), max_b2);
	a64_set(0, 3, enode(4, MT_LEAF_64), 0);
	mem[NODES + 240] = 3;
	/* A stale fifth child after the end, and bytes where a leaf's metadata would be. */
	a64_set(0, 4, enode(5, MT_LEAF_64), 0);
	r64_set(5, 0, vma(0x7f0000000000, 0x7f0000001000, false), 0);
	mem[NODES + 248] = 9;
	for (i = 0; i < 10; i++)
		put64(node(0) + 160 + 8 * i, 0x1000); /* gaps: never read */

	put64(BASE + MM, enode(0, MT_ARANGE_64));
}

static void check(struct linux_guest *lg)
{
	struct linux_vma *v;
	size_t nr, i;

	assert_int_equal(linux_vmas_read(lg, BASE + MM, &v, &nr), 0);
	assert_int_equal(nr, nr_want);
	for (i = 0; i < nr; i++) {
		assert_int_equal(v[i].start, want[i][0]);
		assert_int_equal(v[i].end, want[i][1]);
	}
	free(v);
	for (i = 0; i < LINUX_ERR_NR; i++)
		assert_int_equal(lg->errors[i], 0);
}

static void test_arange_root_over_leaves(void **state)
{
	struct linux_guest lg;

	(void)state;
	guest_init(&lg);
	build_tree();
	assert_int_equal(nr_want, 3 + 15 + 16 + 2);
	check(&lg);
}

/* A range_64 inner node: its data end by its pivots, or its metadata at 248. */
static void test_range_inner_node(void **state)
{
	struct linux_guest lg;
	uint64_t a = 0x10000;

	(void)state;
	guest_init(&lg);
	memset(mem, 0, sizeof(mem));
	nr_vmas = nr_want = 0;
	a = leaf_fill(1, 0, 3, a);
	mem[NODES + 256 * 1 + 248] = 2;
	r64_set(0, 0, enode(1, MT_LEAF_64), a - 1);
	a = leaf_fill(2, 0, 2, a);
	mem[NODES + 256 * 2 + 248] = 1;
	r64_set(0, 1, enode(2, MT_LEAF_64), 0);
	r64_set(0, 2, enode(5, MT_LEAF_64), 0); /* stale */
	r64_set(5, 0, vma(a, a + 0x1000, false), 0);
	mem[NODES + 248] = 1;
	put64(BASE + MM, enode(0, MT_RANGE_64));
	check(&lg);
}

/* A tree of one entry keeps it in the root itself. */
static void test_single_entry_root(void **state)
{
	struct linux_guest lg;

	(void)state;
	guest_init(&lg);
	memset(mem, 0, sizeof(mem));
	nr_vmas = nr_want = 0;
	put64(BASE + MM, vma(0x400000, 0x401000, true));
	check(&lg);
}

/* A node pointer that leads nowhere, and a node of an unknown type: counted, not followed. */
static void test_bad_nodes_are_counted(void **state)
{
	struct linux_guest lg;
	struct linux_vma *v;
	size_t nr;

	(void)state;
	guest_init(&lg);
	build_tree();
	a64_set(0, 1, (0xffff999000000000ULL) | MT_LEAF_64 << 3 | 2, 0x7fff);
	a64_set(0, 2, enode(3, 7), 0x7fff);
	assert_int_equal(linux_vmas_read(&lg, BASE + MM, &v, &nr), 0);
	assert_int_equal(nr, 3 + 2);
	assert_int_equal(lg.errors[LINUX_ERR_UNREADABLE], 1);
	assert_int_equal(lg.errors[LINUX_ERR_INVALID], 1);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_arange_root_over_leaves),
	        cmocka_unit_test(test_range_inner_node),
	        cmocka_unit_test(test_single_entry_root),
	        cmocka_unit_test(test_bad_nodes_are_counted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
