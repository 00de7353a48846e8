/*
 * dirty_blocks.c - per-block dirty bitmaps for the dirty/ views (see dirty_blocks.h).
 *
 * Lock order: the sweep holds dirty's lock and the view's read lock when it
 * calls us, and we take dl->lock inside; dirty_blocks_take sweeps before it
 * takes dl->lock, never while holding it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/dirty_blocks.h"
#include "memory/ram.h"
#include "util/compiler.h"
#include "util/strbuf.h"

uint64_t dirty_blocks_words(const struct dirty_block *b)
{
	return (b->pages + 63) / 64;
}

static void dirty_blocks_set(uint64_t *bm, uint64_t first, uint64_t end)
{
	for (; first < end && first % 64; first++)
		bm[first / 64] |= 1ULL << (first % 64);
	for (; first + 64 <= end; first += 64)
		bm[first / 64] = ~0ULL;
	for (; first < end; first++)
		bm[first / 64] |= 1ULL << (first % 64);
}

static void dirty_blocks_dirty(struct dirty_listener *l, struct ram_block *rb, uint64_t offset,
                               uint64_t len)
{
	struct dirty_blocks *dl = container_of(l, struct dirty_blocks, listener);
	struct dirty_block *b = dirty_blocks_find(dl, rb);
	uint64_t first, end;
	unsigned i;

	if (!b || !len)
		return;
	first = offset / DIRTY_BLOCKS_PAGE;
	end = (offset + len + DIRTY_BLOCKS_PAGE - 1) / DIRTY_BLOCKS_PAGE;
	if (end > b->pages)
		end = b->pages;
	pthread_mutex_lock(&dl->lock);
	for (i = 0; i < DIRTY_BLOCKS_NR_READERS; i++)
		dirty_blocks_set(b->bits[i], first, end);
	pthread_mutex_unlock(&dl->lock);
}

int dirty_blocks_init(struct dirty_blocks *dl, struct ram_list *rl)
{
	struct ram_block *rb;
	size_t n = 0;
	unsigned i;
	int ret = 0;

	memset(dl, 0, sizeof(*dl));
	pthread_mutex_init(&dl->lock, NULL);
	pthread_mutex_lock(&rl->lock);
	for (rb = rl->head; rb; rb = rb->next)
		n++;
	dl->blocks = calloc(n ? n : 1, sizeof(*dl->blocks));
	for (rb = rl->head; dl->blocks && rb; rb = rb->next) {
		struct dirty_block *b = &dl->blocks[dl->nr];

		/* The guest cannot write a ROM: KVM maps it read-only and logs nothing. */
		if (rb->flags & RAM_READONLY)
			continue;
		b->rb = rb;
		b->pages = (rb->used_length + DIRTY_BLOCKS_PAGE - 1) / DIRTY_BLOCKS_PAGE;
		dl->nr++;
		for (i = 0; i < DIRTY_BLOCKS_NR_READERS; i++) {
			b->bits[i] = calloc(dirty_blocks_words(b) ? dirty_blocks_words(b) : 1, 8);
			if (!b->bits[i])
				ret = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&rl->lock);
	if (!dl->blocks)
		ret = -ENOMEM;
	if (ret) {
		dirty_blocks_exit(dl);
		return ret;
	}
	dl->listener.dirty = dirty_blocks_dirty;
	/* Counts pages: must not see the clean pages a coalesced run bridges. */
	dl->listener.exact = true;
	return 0;
}

void dirty_blocks_attach(struct dirty_blocks *dl, struct dirty *d)
{
	dl->dirty = d;
	dirty_add_listener(d, &dl->listener);
}

void dirty_blocks_exit(struct dirty_blocks *dl)
{
	size_t j;
	unsigned i;

	for (j = 0; j < dl->nr; j++)
		for (i = 0; i < DIRTY_BLOCKS_NR_READERS; i++)
			free(dl->blocks[j].bits[i]);
	free(dl->blocks);
	dl->blocks = NULL;
	dl->nr = 0;
	pthread_mutex_destroy(&dl->lock);
}

struct dirty_block *dirty_blocks_find(struct dirty_blocks *dl, const struct ram_block *rb)
{
	size_t i;

	for (i = 0; i < dl->nr; i++)
		if (dl->blocks[i].rb == rb)
			return &dl->blocks[i];
	return NULL;
}

int dirty_blocks_take(struct dirty_blocks *dl, struct dirty_block *b, enum dirty_blocks_reader who,
                      uint64_t **bm)
{
	uint64_t *fresh = calloc(dirty_blocks_words(b) ? dirty_blocks_words(b) : 1, 8);

	if (!fresh)
		return -ENOMEM;
	/* Collect what the guest wrote up to now, so a stopped guest reads exact. */
	if (dl->dirty)
		dirty_sweep(dl->dirty);
	pthread_mutex_lock(&dl->lock);
	*bm = b->bits[who];
	b->bits[who] = fresh;
	pthread_mutex_unlock(&dl->lock);
	return 0;
}

int dirty_blocks_peek(struct dirty_blocks *dl, const struct dirty_block *b,
                      enum dirty_blocks_reader who, uint64_t **bm)
{
	size_t words = dirty_blocks_words(b) ? dirty_blocks_words(b) : 1;
	uint64_t *copy = malloc(words * 8);

	if (!copy)
		return -ENOMEM;
	pthread_mutex_lock(&dl->lock);
	memcpy(copy, b->bits[who], words * 8);
	pthread_mutex_unlock(&dl->lock);
	*bm = copy;
	return 0;
}

void dirty_blocks_render_ranges(const uint64_t *bm, uint64_t pages, struct strbuf *sb)
{
	uint64_t i = 0, start;

	while (i < pages) {
		if (!(bm[i / 64] >> (i % 64))) {
			i = (i / 64 + 1) * 64; /* the rest of this word is clean */
			continue;
		}
		if (!(bm[i / 64] & (1ULL << (i % 64)))) {
			i++;
			continue;
		}
		start = i;
		while (i < pages && (bm[i / 64] & (1ULL << (i % 64))))
			i++;
		sb_printf(sb, "%016llx-%016llx %llu\n",
		          (unsigned long long)(start * DIRTY_BLOCKS_PAGE),
		          (unsigned long long)(i * DIRTY_BLOCKS_PAGE - 1),
		          (unsigned long long)(i - start));
	}
}
