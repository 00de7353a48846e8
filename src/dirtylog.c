/*
 * dirtylog.c - per-block dirty bitmaps for the dirty/ views (see dirtylog.h).
 *
 * Lock order: the sweep holds dirty's lock and the view's read lock when it
 * calls us, and we take dl->lock inside; dirtylog_take sweeps before it
 * takes dl->lock, never while holding it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvmfs/dirtylog.h"
#include "kvmfs/ram.h"
#include "kvmfs/strbuf.h"

uint64_t dirtylog_words(const struct dirtylog_block *b)
{
	return (b->pages + 63) / 64;
}

static void dirtylog_set(uint64_t *bm, uint64_t first, uint64_t end)
{
	for (; first < end && first % 64; first++)
		bm[first / 64] |= 1ULL << (first % 64);
	for (; first + 64 <= end; first += 64)
		bm[first / 64] = ~0ULL;
	for (; first < end; first++)
		bm[first / 64] |= 1ULL << (first % 64);
}

static void dirtylog_dirty(struct dirty_listener *l, struct ram_block *rb, uint64_t offset,
                           uint64_t len)
{
	struct dirtylog *dl = (struct dirtylog *)((char *)l - offsetof(struct dirtylog, listener));
	struct dirtylog_block *b = dirtylog_find(dl, rb);
	uint64_t first, end;
	unsigned i;

	if (!b || !len)
		return;
	first = offset / DIRTYLOG_PAGE;
	end = (offset + len + DIRTYLOG_PAGE - 1) / DIRTYLOG_PAGE;
	if (end > b->pages)
		end = b->pages;
	pthread_mutex_lock(&dl->lock);
	for (i = 0; i < DIRTYLOG_NR_READERS; i++)
		dirtylog_set(b->bits[i], first, end);
	pthread_mutex_unlock(&dl->lock);
}

int dirtylog_init(struct dirtylog *dl, struct ram_list *rl)
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
		struct dirtylog_block *b = &dl->blocks[dl->nr];

		/* The guest cannot write a ROM: KVM maps it read-only and logs nothing. */
		if (rb->flags & RAM_READONLY)
			continue;
		b->rb = rb;
		b->pages = (rb->used_length + DIRTYLOG_PAGE - 1) / DIRTYLOG_PAGE;
		dl->nr++;
		for (i = 0; i < DIRTYLOG_NR_READERS; i++) {
			b->bits[i] = calloc(dirtylog_words(b) ? dirtylog_words(b) : 1, 8);
			if (!b->bits[i])
				ret = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&rl->lock);
	if (!dl->blocks)
		ret = -ENOMEM;
	if (ret) {
		dirtylog_exit(dl);
		return ret;
	}
	dl->listener.dirty = dirtylog_dirty;
	/* Counts pages: must not see the clean pages a coalesced run bridges. */
	dl->listener.exact = true;
	return 0;
}

void dirtylog_attach(struct dirtylog *dl, struct dirty *d)
{
	dl->dirty = d;
	dirty_add_listener(d, &dl->listener);
}

void dirtylog_exit(struct dirtylog *dl)
{
	size_t j;
	unsigned i;

	for (j = 0; j < dl->nr; j++)
		for (i = 0; i < DIRTYLOG_NR_READERS; i++)
			free(dl->blocks[j].bits[i]);
	free(dl->blocks);
	dl->blocks = NULL;
	dl->nr = 0;
	pthread_mutex_destroy(&dl->lock);
}

struct dirtylog_block *dirtylog_find(struct dirtylog *dl, const struct ram_block *rb)
{
	size_t i;

	for (i = 0; i < dl->nr; i++)
		if (dl->blocks[i].rb == rb)
			return &dl->blocks[i];
	return NULL;
}

int dirtylog_take(struct dirtylog *dl, struct dirtylog_block *b, enum dirtylog_reader who,
                  uint64_t **bm)
{
	uint64_t *fresh = calloc(dirtylog_words(b) ? dirtylog_words(b) : 1, 8);

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

void dirtylog_render_ranges(const uint64_t *bm, uint64_t pages, struct strbuf *sb)
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
		sb_printf(sb, "%016llx-%016llx %llu\n", (unsigned long long)(start * DIRTYLOG_PAGE),
		          (unsigned long long)(i * DIRTYLOG_PAGE - 1),
		          (unsigned long long)(i - start));
	}
}
