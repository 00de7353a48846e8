/*
 * dirtylog.h - what the guest wrote, per RAM block, accumulated for the
 * dirty/ views from the same dirty-log sweep that keeps the page cache true.
 *
 * A second dirty_listener: the sweep reports each run once to every
 * listener, so neither consumer can clear the other's bits.  Each reader
 * (the text file and the .bitmap file of a block) has its own bitmap, which
 * collects until that reader takes it: "what the guest wrote since the
 * previous read of this file".  Bits are 4 KiB pages of the block, KVM's
 * dirty-log granularity.  The sweep reports runs as dirty.c coalesces them
 * (clean gaps shorter than its COALESCE_PAGES inside a run count as written).
 */
#ifndef KVMFS_DIRTYLOG_H
#define KVMFS_DIRTYLOG_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmfs/dirty.h"

struct ram_block;
struct ram_list;
struct strbuf;

#define DIRTYLOG_PAGE 4096ULL

enum dirtylog_reader {
	DIRTYLOG_TEXT,
	DIRTYLOG_BITMAP,
	DIRTYLOG_NR_READERS,
};

struct dirtylog_block {
	struct ram_block *rb;
	uint64_t pages;
	uint64_t *bits[DIRTYLOG_NR_READERS];
};

struct dirtylog {
	struct dirty *dirty;
	pthread_mutex_t lock;          /* guards every bits[] pointer and its contents */
	struct dirtylog_block *blocks; /* the blocks the guest can write (not ROM) */
	size_t nr;
	struct dirty_listener listener;
};

int dirtylog_init(struct dirtylog *dl, struct ram_list *rl);
/* Start listening to d's sweeps; like every listener, before dirty_start(). */
void dirtylog_attach(struct dirtylog *dl, struct dirty *d);
void dirtylog_exit(struct dirtylog *dl);
struct dirtylog_block *dirtylog_find(struct dirtylog *dl, const struct ram_block *rb);
/* Words of a block's bitmap. */
uint64_t dirtylog_words(const struct dirtylog_block *b);
/*
 * Sweep now, then hand the reader's bitmap over (*bm, dirtylog_words()
 * words, free() it) and start the reader a new, empty one.
 */
int dirtylog_take(struct dirtylog *dl, struct dirtylog_block *b, enum dirtylog_reader who,
                  uint64_t **bm);
/* One line per run of set bits: "<first byte>-<last byte> <pages>", block offsets in hex. */
void dirtylog_render_ranges(const uint64_t *bm, uint64_t pages, struct strbuf *sb);

#endif
