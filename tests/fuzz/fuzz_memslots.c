/*
 * fuzz_memslots.c - libFuzzer harness for memslot derivation and the diff
 * that applies a new flat view.
 *
 * 1. kvm_slots_diff() on slot lists drawn from a small pool (so that equal
 *    slots are common): kept old slots and present new ones pair up one to
 *    one with equal descriptions, and no unkept old slot equals an absent
 *    new one (nothing is removed and re-added for nothing).
 * 2. A random region tree (region_tree.h) committed again and again with
 *    regions switched on and off, through kvm_init_none()'s listener: after
 *    every commit the slot table maps exactly what the brute-force reference
 *    (oracle_resolve, written apart from kvmfs's flattening and slot code) finds
 *    at every address of the windows - RAM and ROM, at the host address of
 *    their block's bytes, ROM read-only, nothing else - each slot within
 *    KVM's size limit, sorted, ids unique and marked used, and a slot that
 *    stayed the same kept its id.
 *
 *   make fuzz-build && build-fuzz/fuzz_memslots tests/fuzz/corpus/fuzz_memslots
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/kvm.h"
#include "region_tree.h"

#define POOL     6
#define MAX_LIST 24

static uint8_t host[4][RT_BLOCK_SIZE];
static struct ram_block blk[4];

static bool same(const struct kvm_slot_desc *a, const struct kvm_slot_desc *b)
{
	return a->gpa == b->gpa && a->size == b->size && a->host == b->host && a->flags == b->flags;
}

static void pool_desc(struct fuzz_in *in, struct kvm_slot_desc *d)
{
	unsigned k = fuzz_below(in, POOL);

	*d = (struct kvm_slot_desc){.gpa = (k % 3) * 0x1000,
	                            .size = 0x1000 << (k % 2),
	                            .host = host[k % 4],
	                            .block = &blk[k % 4],
	                            .flags = k == 5 ? KVM_MEM_READONLY : 0};
}

static void check_diff(struct fuzz_in *in)
{
	struct kvm_slot old[MAX_LIST];
	struct kvm_slot_desc new[MAX_LIST];
	bool keep[MAX_LIST], have[MAX_LIST], used[MAX_LIST] = {false};
	unsigned no = fuzz_below(in, MAX_LIST + 1), nn = fuzz_below(in, MAX_LIST + 1), i, j;

	for (i = 0; i < no; i++) {
		old[i].id = (int)i;
		pool_desc(in, &old[i].d);
	}
	for (j = 0; j < nn; j++)
		pool_desc(in, &new[j]);
	kvm_slots_diff(old, no, new, nn, keep, have);
	/* Equality is an equivalence: pairing greedily finds a matching if one exists. */
	for (i = 0; i < no; i++) {
		if (!keep[i])
			continue;
		for (j = 0; j < nn; j++)
			if (have[j] && !used[j] && same(&old[i].d, &new[j]))
				break;
		if (j == nn)
			abort(); /* kept, but nothing new equals it */
		used[j] = true;
	}
	for (j = 0; j < nn; j++)
		if (have[j] && !used[j])
			abort(); /* "present" without a kept old slot */
	for (i = 0; i < no; i++)
		for (j = 0; j < nn; j++)
			if (!keep[i] && !have[j] && same(&old[i].d, &new[j]))
				abort(); /* removed and re-added for nothing */
}

/* The slot holding a, or NULL. */
static const struct kvm_slot *slot_at(const struct kvm_slot_table *t, uint64_t a)
{
	size_t i;

	for (i = 0; i < t->nr; i++)
		if (a >= t->slots[i].d.gpa && a - t->slots[i].d.gpa < t->slots[i].d.size)
			return &t->slots[i];
	return NULL;
}

/* What the reference says lies at a, against the slot table. */
static void check_addr(struct memory_region *root, const struct kvm_slot_table *t, uint64_t a)
{
	const struct kvm_slot *s = slot_at(t, a);
	struct memory_region *leaf = NULL;
	oracle_u128 off = 0;
	bool mem = oracle_resolve(root, a, &leaf, &off) &&
	           (leaf->kind == MR_RAM || leaf->kind == MR_ROM) && leaf->block;

	if (!mem) {
		if (s)
			abort(); /* a slot where the reference has no memory */
		return;
	}
	if (!s || s->d.host + (a - s->d.gpa) != leaf->block->host + (uint64_t)off ||
	    s->d.block != leaf->block || s->d.offset + (a - s->d.gpa) != (uint64_t)off ||
	    !!(s->d.flags & KVM_MEM_READONLY) != (leaf->kind == MR_ROM))
		abort();
}

static void check_table(struct memory_region *root, struct kvm *kvm, const struct kvm_slot *prev,
                        size_t nr_prev)
{
	struct kvm_slot_table *t = &kvm->table;
	unsigned ids = 0;
	size_t i, j;
	uint64_t a;

	for (i = 0; i < t->nr; i++) {
		const struct kvm_slot *s = &t->slots[i];

		if (i && t->slots[i - 1].d.gpa >= s->d.gpa)
			abort(); /* sorted, no two at one address */
		if (i && t->slots[i - 1].d.gpa + t->slots[i - 1].d.size > s->d.gpa)
			abort(); /* overlapping */
		if (!s->d.size || s->d.size > KVM_SLOT_MAX_SIZE)
			abort();
		if (s->id < 0 || (unsigned)s->id >= t->max_slots || !t->used_ids[s->id])
			abort();
		for (j = 0; j < i; j++)
			if (t->slots[j].id == s->id)
				abort();
		/* Unchanged slots keep their ids. */
		for (j = 0; j < nr_prev; j++)
			if (same(&prev[j].d, &s->d) && prev[j].id != s->id) {
				size_t k, twins = 0;

				for (k = 0; k < nr_prev; k++)
					twins += same(&prev[k].d, &s->d);
				if (twins == 1)
					abort();
			}
	}
	for (i = 0; i < t->max_slots; i++)
		ids += t->used_ids[i];
	if (ids != t->nr)
		abort(); /* an id leaked or was freed twice */
	for (a = 0; a < RT_SPACE + RT_BLOCK_SIZE; a++)
		check_addr(root, t, a);
	for (a = RT_TOP - RT_BLOCK_SIZE;; a++) {
		check_addr(root, t, a);
		if (a == UINT64_MAX)
			break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ram_block *blocks[4] = {&blk[0], &blk[1], &blk[2], &blk[3]};
	struct fuzz_in in = {data, size};
	struct address_space as;
	struct region_tree t;
	struct kvm kvm;
	struct memory_region *root;
	unsigned round, i;

	for (i = 0; i < 4; i++)
		blk[i].host = host[i];
	check_diff(&in);
	root = rt_build(&t, &in, blocks, 4, false);
	if (as_init(&as, "memory", root) || as_commit(&as) || kvm_init_none(&kvm, &as))
		abort();
	check_table(root, &kvm, NULL, 0);
	for (round = 0; round < 8 && in.n; round++) {
		size_t nr_prev = kvm.table.nr;
		struct kvm_slot *prev = malloc((nr_prev + 1) * sizeof(*prev));
		unsigned flips = 1 + fuzz_below(&in, 3);
		int ret;

		if (nr_prev)
			memcpy(prev, kvm.table.slots, nr_prev * sizeof(*prev));
		while (flips--) {
			struct memory_region *mr =
			        t.all[1 + fuzz_below(&in, t.nr - 1 ? t.nr - 1 : 1)];

			if (t.nr > 1)
				mr_set_enabled(mr, !mr->enabled);
		}
		ret = as_commit(&as);
		if (ret == -ENOSPC) {
			free(prev);
			break; /* more slots than KVM offers: kvmfs stops there */
		}
		if (ret)
			abort();
		check_table(root, &kvm, prev, nr_prev);
		free(prev);
	}
	kvm_exit(&kvm);
	as_exit(&as);
	mr_free(root);
	return 0;
}
