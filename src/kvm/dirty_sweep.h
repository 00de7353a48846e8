/*
 * dirty_sweep.h - the dirty-log sweep: what the guest wrote, from KVM's
 * per-slot dirty log, handed to listeners as runs of bytes in RAM blocks.
 *
 * One sweep mechanism serves everyone who needs to know what the guest
 * wrote (the FS keeps its page cache true with it; the dirty/ views count
 * it), so that no consumer can clear bits another one still needed.  A
 * thread sweeps every period_ms while the guest runs; a stop of the run
 * state (vm_stop()) triggers a final sweep, after which every cache is
 * exact.  It takes the KVM VM it sweeps and the run state it listens to,
 * not the VM above both.
 *
 * Only slots that log are swept, and a RAM block's slots log only while
 * the block has users (dirty_log_get/put): a reader that needs to hear of
 * the guest's writes holds the block from before its first read until it
 * is done.  Logging costs the guest a write-protect fault per page.
 */
#ifndef KVMFS_KVM_DIRTY_SWEEP_H
#define KVMFS_KVM_DIRTY_SWEEP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kvm/runstate.h"
#include "memory/ram.h" /* listeners are told of runs in RAM blocks */

struct kvm;

struct dirty_listener {
	/* A run of len bytes at offset in rb was written by the guest. */
	void (*dirty)(struct dirty_listener *l, struct ram_block *rb, uint64_t offset,
	              uint64_t len);
	/*
	 * rb's slots stopped logging (dirty_log_put): the guest's writes go
	 * unseen from now on, so whatever relies on hearing of them (a cached
	 * copy) must go.  NULL: nothing does.  Called as dirty() is.
	 */
	void (*unlogged)(struct dirty_listener *l, struct ram_block *rb);
	/*
	 * exact: runs hold only dirty pages (for counting them); otherwise
	 * runs may bridge a few clean pages (cheaper cache invalidation).
	 */
	bool exact;
	struct dirty_listener *next;
};

struct dirty {
	struct kvm *kvm;     /* whose slots are swept */
	struct runstate *rs; /* whose stops trigger a final sweep */
	unsigned period_ms;
	pthread_t thread;
	bool running;
	bool quit;            /* dirty_stop(): no more sweeps, logging stays as it is */
	pthread_mutex_t lock; /* guards quit; serializes sweeps and logging's on and off */
	pthread_cond_t cond;
	uint64_t *bitmap; /* scratch for one slot's log */
	uint64_t bitmap_words;
	struct dirty_listener *listeners; /* fixed before dirty_start() */
	struct runstate_listener on_stop;
	uint64_t sweeps; /* statistics */
	uint64_t dirty_pages;
};

void dirty_init(struct dirty *d, struct kvm *kvm, struct runstate *rs, unsigned period_ms);
void dirty_add_listener(struct dirty *d, struct dirty_listener *l);
/* Starts the sweep thread (no-op without dirty logging) and hooks vm_stop. */
int dirty_start(struct dirty *d);
/* Sweep every slot that logs once, now. */
void dirty_sweep(struct dirty *d);
/*
 * One user more of rb's dirty logging (rb NULL: of every RAM block); the
 * first turns its slots' logging on.  -errno when KVM refuses (then
 * nothing is held).  Without dirty logging (-accel none) it does nothing.
 */
int dirty_log_get(struct dirty *d, struct ram_block *rb);
/*
 * One user fewer.  Its block is swept first, so listeners hear of every
 * write made while it logged; a block whose logging this turns off is
 * then told to every listener's unlogged().  Always counts; -errno: KVM
 * refused to turn a slot's logging off (it logs on, which costs only time).
 */
int dirty_log_put(struct dirty *d, struct ram_block *rb);
/*
 * End the sweeps: the thread, and every sweep, get and put after it (they
 * return at once).  What still holds logging may let go afterwards, until
 * dirty_exit().
 */
void dirty_stop(struct dirty *d);
void dirty_exit(struct dirty *d);

#endif
