/*
 * mtree.c - the region tree and the flat view of an address space as text,
 * exactly as QEMU's `info mtree` and `info mtree -f` print them, and the
 * same as JSON.  Only reads the model (under the address space's read
 * lock); memory.c builds it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "memory/memory.h"
#include "memory/ram.h"
#include "util/strbuf.h"

#define ADDR_FMT "%016llx"

/* Last address of [start, start+size); a size of MR_SIZE_2_64 is 2^64. */
static unsigned long long mr_last(uint64_t start, uint64_t size)
{
	if (size == MR_SIZE_2_64)
		return (unsigned long long)(start - 1);
	return (unsigned long long)(start + (size ? size - 1 : 0));
}

/* Last address of a flat range: its sizes are plain (a 2^64 range is two). */
static unsigned long long fr_last(const struct flat_range *fr)
{
	return (unsigned long long)(fr->start + fr->size - 1);
}

struct mtree_queue {
	struct memory_region **mr;
	size_t nr;
};

static void mtree_queue_add(struct mtree_queue *q, struct memory_region *mr)
{
	struct memory_region **p;
	size_t i;

	for (i = 0; i < q->nr; i++)
		if (q->mr[i] == mr)
			return;
	p = realloc(q->mr, (q->nr + 1) * sizeof(*p));
	if (!p)
		return;
	q->mr = p;
	q->mr[q->nr++] = mr;
}

/* `info mtree` lists subregions by address, then higher priority first. */
static int mtree_cmp(const void *a, const void *b)
{
	const struct memory_region *x = *(struct memory_region *const *)a;
	const struct memory_region *y = *(struct memory_region *const *)b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return (x->priority < y->priority) - (x->priority > y->priority);
}

static void mtree_print(struct strbuf *sb, struct memory_region *mr, int level, uint64_t base,
                        struct mtree_queue *q)
{
	uint64_t start = base + mr->addr;
	struct memory_region **sorted;
	size_t i;

	if (level > 64)
		return;
	sb_printf(sb, "%*s" ADDR_FMT "-" ADDR_FMT " (prio %d, %s): ", level * 2, "",
	          (unsigned long long)start, mr_last(start, mr->size), mr->priority, mr_type(mr));
	if (mr->kind == MR_ALIAS && mr->alias) {
		sb_printf(sb, "alias ");
		sb_name(sb, mr->name, 0);
		sb_printf(sb, " @");
		sb_name(sb, mr->alias->name, 0);
		sb_printf(sb, " " ADDR_FMT "-" ADDR_FMT, (unsigned long long)mr->alias_offset,
		          mr_last(mr->alias_offset, mr->size));
		mtree_queue_add(q, mr->alias);
	} else {
		sb_name(sb, mr->name, 0);
	}
	sb_printf(sb, "%s\n", mr->enabled ? "" : " [disabled]");

	/* Sort a copy, stably: equal keys keep the subregion list's order. */
	sorted = malloc(mr->nr_subs * sizeof(*sorted) + 1);
	if (!sorted) {
		sb->err = -ENOMEM;
		return;
	}
	for (i = 0; i < mr->nr_subs; i++) {
		size_t j = i;

		while (j > 0 && mtree_cmp(&sorted[j - 1], &mr->subs[i]) > 0) {
			sorted[j] = sorted[j - 1];
			j--;
		}
		sorted[j] = mr->subs[i];
	}
	for (i = 0; i < mr->nr_subs; i++)
		mtree_print(sb, sorted[i], level + 1, start, q);
	free(sorted);
}

void as_render_tree(struct address_space *as, struct strbuf *sb)
{
	struct mtree_queue q = {NULL, 0};
	size_t i;

	pthread_rwlock_rdlock(&as->lock);
	sb_printf(sb, "address-space: %s\n", as->name);
	mtree_print(sb, as->root, 1, 0, &q);
	sb_printf(sb, "\n");
	/* Regions shown through aliases, as QEMU appends them; the list grows. */
	for (i = 0; i < q.nr; i++) {
		sb_printf(sb, "memory-region: ");
		sb_name(sb, q.mr[i]->name, 0);
		sb_printf(sb, "\n");
		mtree_print(sb, q.mr[i], 1, 0, &q);
		sb_printf(sb, "\n");
	}
	pthread_rwlock_unlock(&as->lock);
	free(q.mr);
}

static void tree_json(struct strbuf *sb, struct memory_region *mr, uint64_t base, int level)
{
	uint64_t start = base + mr->addr;
	size_t i;

	if (level > 64)
		return;
	sb_printf(sb, "{\"name\": ");
	sb_json_str(sb, mr->name);
	sb_printf(sb,
	          ", \"type\": \"%s\", \"kind\": \"%s\", \"start\": %llu, \"last\": %llu, "
	          "\"size\": %llu, \"priority\": %d, \"enabled\": %s",
	          mr_type(mr), (const char *[]){"container", "ram", "rom", "alias", "io"}[mr->kind],
	          (unsigned long long)start, mr_last(start, mr->size), (unsigned long long)mr->size,
	          mr->priority, mr->enabled ? "true" : "false");
	if (mr->kind == MR_ALIAS && mr->alias) {
		sb_printf(sb, ", \"alias\": ");
		sb_json_str(sb, mr->alias->name);
		sb_printf(sb, ", \"alias_offset\": %llu", (unsigned long long)mr->alias_offset);
	}
	if (mr->block) {
		sb_printf(sb, ", \"ramblock\": ");
		sb_json_str(sb, mr->block->idstr);
	}
	sb_printf(sb, ", \"subregions\": [");
	for (i = 0; i < mr->nr_subs; i++) {
		sb_printf(sb, "%s", i ? ", " : "");
		tree_json(sb, mr->subs[i], start, level + 1);
	}
	sb_printf(sb, "]}");
}

void as_render_tree_json(struct address_space *as, struct strbuf *sb)
{
	pthread_rwlock_rdlock(&as->lock);
	sb_printf(sb, "{\"address_space\": ");
	sb_json_str(sb, as->name);
	sb_printf(sb, ", \"root\": ");
	tree_json(sb, as->root, 0, 0);
	sb_printf(sb, "}\n");
	pthread_rwlock_unlock(&as->lock);
}

void flatview_render_range(const struct flat_range *fr, const char *accel, struct strbuf *sb)
{
	sb_printf(sb, "  " ADDR_FMT "-" ADDR_FMT " (prio %d, %s): ", (unsigned long long)fr->start,
	          fr_last(fr), fr->mr->priority, fr->readonly ? "rom" : mr_type(fr->mr));
	sb_name(sb, fr->mr->name, 0);
	if (fr->offset)
		sb_printf(sb, " @" ADDR_FMT, (unsigned long long)fr->offset);
	if (accel && flat_range_is_ram(fr))
		sb_printf(sb, " %s", accel);
	sb_printf(sb, "\n");
}

void as_render_flatview(struct address_space *as, const char *accel, struct strbuf *sb)
{
	size_t i;

	pthread_rwlock_rdlock(&as->lock);
	sb_printf(sb, "FlatView #0\n AS \"%s\", root: ", as->name);
	sb_name(sb, as->root->name, 0);
	sb_printf(sb, "\n Root memory region: ");
	sb_name(sb, as->root->name, 0);
	sb_printf(sb, "\n");
	for (i = 0; i < as->fv->nr; i++)
		flatview_render_range(&as->fv->ranges[i], accel, sb);
	if (!as->fv->nr)
		sb_printf(sb, "  No rendered FlatView\n");
	pthread_rwlock_unlock(&as->lock);
	sb_printf(sb, "\n");
}

void as_render_flatview_json(struct address_space *as, struct strbuf *sb)
{
	size_t i;

	pthread_rwlock_rdlock(&as->lock);
	sb_printf(sb, "[");
	for (i = 0; i < as->fv->nr; i++) {
		const struct flat_range *fr = &as->fv->ranges[i];

		sb_printf(sb,
		          "%s\n  {\"start\": %llu, \"last\": %llu, \"size\": %llu, \"region\": ",
		          i ? "," : "", (unsigned long long)fr->start, fr_last(fr),
		          (unsigned long long)fr->size);
		sb_json_str(sb, fr->mr->name);
		sb_printf(
		        sb,
		        ", \"type\": \"%s\", \"priority\": %d, \"offset\": %llu, \"readonly\": %s",
		        fr->readonly ? "rom" : mr_type(fr->mr), fr->mr->priority,
		        (unsigned long long)fr->offset, fr->readonly ? "true" : "false");
		if (fr->mr->block) {
			sb_printf(sb, ", \"ramblock\": ");
			sb_json_str(sb, fr->mr->block->idstr);
		}
		sb_printf(sb, "}");
	}
	pthread_rwlock_unlock(&as->lock);
	sb_printf(sb, "\n]\n");
}
