/*
 * dirty_blocks.h - what the guest wrote, per RAM block, accumulated for the
 * dirty/ views from the same dirty-log sweep that keeps the page cache true.
 *
 * A second dirty_listener: the sweep reports each run once to every
 * listener, so neither consumer can clear the other's bits.  Each reader
 * (the text file and the .bitmap file of a block) has its own bitmap, which
 * collects until that reader takes it: "what the guest wrote since the
 * previous read of this file" - as far as the sweep saw it, which is while
 * the block's slots logged (dirty_log_get/put; the FS holds a block from
 * each open of its files to the release).  Bits are 4 KiB pages of the block, KVM's
 * dirty-log granularity.  The sweep reports runs as dirty_sweep.c coalesces them
 * (clean gaps shorter than its COALESCE_PAGES inside a run count as written).
 */
#ifndef KVMFS_KVM_DIRTY_BLOCKS_H
#define KVMFS_KVM_DIRTY_BLOCKS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "kvm/dirty_sweep.h"

struct ram_block;
struct ram_list;
struct strbuf;

#define DIRTY_BLOCKS_PAGE 4096ULL

enum dirty_blocks_reader {
	DIRTY_BLOCKS_TEXT,
	DIRTY_BLOCKS_BITMAP,
	DIRTY_BLOCKS_NR_READERS,
};

struct dirty_block {
	struct ram_block *rb;
	uint64_t pages;
	uint64_t *bits[DIRTY_BLOCKS_NR_READERS];
};

struct dirty_blocks {
	struct dirty *dirty;
	pthread_mutex_t lock;       /* guards every bits[] pointer and its contents */
	struct dirty_block *blocks; /* the blocks the guest can write (not ROM) */
	size_t nr;
	struct dirty_listener listener;
};

int dirty_blocks_init(struct dirty_blocks *dl, struct ram_list *rl);
/* Start listening to d's sweeps; like every listener, before dirty_start(). */
void dirty_blocks_attach(struct dirty_blocks *dl, struct dirty *d);
void dirty_blocks_exit(struct dirty_blocks *dl);
struct dirty_block *dirty_blocks_find(struct dirty_blocks *dl, const struct ram_block *rb);
/* Words of a block's bitmap. */
uint64_t dirty_blocks_words(const struct dirty_block *b);
/*
 * Sweep now, then hand the reader's bitmap over (*bm, dirty_blocks_words()
 * words, free() it) and start the reader a new, empty one.
 */
int dirty_blocks_take(struct dirty_blocks *dl, struct dirty_block *b, enum dirty_blocks_reader who,
                      uint64_t **bm);
/*
 * A copy of the reader's bitmap as it stands (*bm, free() it), leaving it
 * as it is and sweeping nothing: what stat reports, since looking must not
 * consume what the next open takes.
 */
int dirty_blocks_peek(struct dirty_blocks *dl, const struct dirty_block *b,
                      enum dirty_blocks_reader who, uint64_t **bm);
/* One line per run of set bits: "<first byte>-<last byte> <pages>", block offsets in hex. */
void dirty_blocks_render_ranges(const uint64_t *bm, uint64_t pages, struct strbuf *sb);

#endif
