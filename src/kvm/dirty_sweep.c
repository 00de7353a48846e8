/*
 * dirty_sweep.c - sweep KVM's dirty log and tell listeners what the guest wrote.
 *
 * Staleness bound: a guest write is reported at most period_ms plus one
 * sweep's duration after it happened (a sweep of a slot copies its bitmap:
 * 32 KiB per GiB).  After vm_stop() one more sweep runs before it returns,
 * so a stopped guest's memory is exact in every cache.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kvm/dirty_sweep.h"
#include "kvm/kvm.h"
#include "memory/ram.h"
#include "util/compiler.h"

#define PAGE 4096ULL
/*
 * Dirty runs closer than this are reported as one: invalidating a few
 * clean cached pages is cheaper than one more notification each.
 */
#define COALESCE_PAGES 16

void dirty_init(struct dirty *d, struct kvm *kvm, struct runstate *rs, unsigned period_ms)
{
	memset(d, 0, sizeof(*d));
	d->kvm = kvm;
	d->rs = rs;
	d->period_ms = period_ms;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
}

void dirty_add_listener(struct dirty *d, struct dirty_listener *l)
{
	l->next = d->listeners;
	d->listeners = l;
}

/* Tell the listeners that want runs of this kind (exact or coalesced). */
static void dirty_report(struct dirty *d, const struct kvm_slot *s, bool exact, uint64_t first,
                         uint64_t n)
{
	struct dirty_listener *l;

	for (l = d->listeners; l; l = l->next)
		if (l->exact == exact)
			l->dirty(l, s->d.block, s->d.offset + first * PAGE, n * PAGE);
}

/*
 * Walk one slot's bitmap once, reporting exact runs of dirty pages to the
 * listeners that count pages and runs coalesced across small gaps to those
 * that only invalidate caches.
 */
static void dirty_walk(struct dirty *d, const struct kvm_slot *s, const uint64_t *bm,
                       uint64_t pages)
{
	uint64_t i = 0, ex_start = 0, ex_end = 0, co_start = 0, co_end = 0;
	bool in_run = false;

	while (i < pages) {
		uint64_t w = bm[i / 64] >> (i % 64);

		if (!w) {
			i = (i / 64 + 1) * 64; /* skip the rest of a clean word */
			continue;
		}
		i += (uint64_t)__builtin_ctzll(w);
		if (i >= pages)
			break;
		d->dirty_pages++;
		if (in_run && i == ex_end) {
			ex_end++;
		} else {
			if (in_run)
				dirty_report(d, s, true, ex_start, ex_end - ex_start);
			ex_start = i;
			ex_end = i + 1;
		}
		if (in_run && i <= co_end + COALESCE_PAGES) {
			co_end = i + 1;
		} else {
			if (in_run)
				dirty_report(d, s, false, co_start, co_end - co_start);
			co_start = i;
			co_end = i + 1;
		}
		in_run = true;
		i++;
	}
	if (in_run) {
		dirty_report(d, s, true, ex_start, ex_end - ex_start);
		dirty_report(d, s, false, co_start, co_end - co_start);
	}
}

/*
 * Sweep the slots of rb that log (rb NULL: every slot that logs), with
 * d->lock and the view's read lock held: the slot table must not change
 * under us.
 */
static void dirty_sweep_locked(struct dirty *d, const struct ram_block *rb)
{
	struct kvm *kvm = d->kvm;
	size_t i;

	for (i = 0; i < kvm->table.nr; i++) {
		const struct kvm_slot *s = &kvm->table.slots[i];
		uint64_t pages = s->d.size / PAGE, words = (pages + 63) / 64;

		if (!(s->d.flags & KVM_MEM_LOG_DIRTY_PAGES) || (rb && s->d.block != rb))
			continue;
		if (words > d->bitmap_words) {
			uint64_t *bm = realloc(d->bitmap, words * sizeof(*bm));

			if (!bm)
				continue;
			d->bitmap = bm;
			d->bitmap_words = words;
		}
		memset(d->bitmap, 0, words * sizeof(*d->bitmap));
		if (kvm_slot_dirty_log(kvm, s, d->bitmap) == 0)
			dirty_walk(d, s, d->bitmap, pages);
	}
}

void dirty_sweep(struct dirty *d)
{
	struct kvm *kvm = d->kvm;

	if (kvm->vm_fd < 0 || !kvm->dirty_log)
		return;
	pthread_mutex_lock(&d->lock);
	if (!d->quit) {
		pthread_rwlock_rdlock(&kvm->as->lock);
		dirty_sweep_locked(d, NULL);
		pthread_rwlock_unlock(&kvm->as->lock);
		d->sweeps++;
	}
	pthread_mutex_unlock(&d->lock);
}

int dirty_log_get(struct dirty *d, struct ram_block *rb)
{
	int ret = 0;

	if (d->kvm->vm_fd < 0 || !d->kvm->dirty_log)
		return 0;
	/* Under d->lock: a sweep never sees a slot half way between on and off. */
	pthread_mutex_lock(&d->lock);
	if (!d->quit)
		ret = kvm_dirty_log_users(d->kvm, rb, true);
	pthread_mutex_unlock(&d->lock);
	return ret;
}

/* Tell the listeners that rb's slots stopped logging. */
static void dirty_report_unlogged(struct dirty *d, struct ram_block *rb)
{
	struct dirty_listener *l;

	for (l = d->listeners; l; l = l->next)
		if (l->unlogged)
			l->unlogged(l, rb);
}

int dirty_log_put(struct dirty *d, struct ram_block *rb)
{
	struct kvm *kvm = d->kvm;
	size_t i, j;
	int ret = 0;

	if (kvm->vm_fd < 0 || !kvm->dirty_log)
		return 0;
	pthread_mutex_lock(&d->lock);
	if (d->quit)
		goto out;
	/*
	 * The last harvest before the flag may go: KVM frees a slot's log
	 * with it.  d->lock keeps other sweeps out until the flag is gone, so
	 * only what the guest writes in between is unseen - and that is what
	 * unlogged() is for.
	 */
	pthread_rwlock_rdlock(&kvm->as->lock);
	dirty_sweep_locked(d, rb);
	pthread_rwlock_unlock(&kvm->as->lock);
	ret = kvm_dirty_log_users(kvm, rb, false);
	/*
	 * Every block of the put that no longer logs, once: a block that
	 * never logged has nothing cached either, so telling it too costs
	 * only a look.  Called like dirty(), under the view's read lock.
	 */
	pthread_rwlock_rdlock(&kvm->as->lock);
	for (i = 0; i < kvm->table.nr; i++) {
		const struct kvm_slot *s = &kvm->table.slots[i];

		if ((rb && s->d.block != rb) || (s->d.flags & KVM_MEM_READONLY) ||
		    kvm_dirty_log_wanted(kvm, s->d.block))
			continue;
		/* Told already for an earlier writable slot of the block (a ROM alias is not one)?
		 */
		for (j = 0; j < i; j++)
			if (kvm->table.slots[j].d.block == s->d.block &&
			    !(kvm->table.slots[j].d.flags & KVM_MEM_READONLY))
				break;
		if (j == i)
			dirty_report_unlogged(d, s->d.block);
	}
	pthread_rwlock_unlock(&kvm->as->lock);
out:
	pthread_mutex_unlock(&d->lock);
	return ret;
}

static void *dirty_thread(void *arg)
{
	struct dirty *d = arg;
	struct timespec ts;

	pthread_setname_np(pthread_self(), "dirty-sweep");
	pthread_mutex_lock(&d->lock);
	while (!d->quit) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)d->period_ms * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&d->cond, &d->lock, &ts);
		if (d->quit)
			break;
		pthread_mutex_unlock(&d->lock);
		/* Also while stopped: a guest that failed still gets its last writes seen. */
		dirty_sweep(d);
		pthread_mutex_lock(&d->lock);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

static void dirty_on_stop(struct runstate_listener *l)
{
	struct dirty *d = container_of(l, struct dirty, on_stop);

	dirty_sweep(d);
}

int dirty_start(struct dirty *d)
{
	int ret;

	if (d->kvm->vm_fd < 0 || !d->kvm->dirty_log)
		return 0;
	d->on_stop.stopped = dirty_on_stop;
	runstate_add_listener(d->rs, &d->on_stop);
	ret = -pthread_create(&d->thread, NULL, dirty_thread, d);
	if (!ret)
		d->running = true;
	return ret;
}

void dirty_stop(struct dirty *d)
{
	pthread_mutex_lock(&d->lock);
	d->quit = true;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
	if (d->running) {
		pthread_join(d->thread, NULL);
		d->running = false;
	}
}

void dirty_exit(struct dirty *d)
{
	dirty_stop(d);
	free(d->bitmap);
	d->bitmap = NULL;
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
}
