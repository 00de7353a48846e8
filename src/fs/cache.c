/*
 * cache.c - keeping the kernel's cached copies of guest memory true.
 *
 * The same bytes show in several files (ramblocks/<idstr>, and phys at
 * every GPA an alias maps them): whatever writes them - the guest, seen by
 * the dirty sweep, or a write() through one file - invalidates the kernel's
 * copy in all others.
 *
 * Only where the kernel may hold a copy: the kernel caches a page of a FUSE
 * file only from a READ or WRITE we answered, so each file that is cached
 * keeps a bit per page, set when such a request comes (before guest memory
 * is looked at) and taken back by the invalidation.  A guest writing one
 * word per MiB would otherwise cost one notification per MiB per sweep for
 * pages nobody reads (1 000 per 5 ms sweep of a 1 GiB guest, measured, the
 * whole period).  Why no write is lost: a READ marks its pages, with a full
 * barrier, before it reads guest memory; the sweep reads the marks after
 * it harvested the dirty log.  Either the sweep sees the mark and
 * invalidates, or the READ marked after the harvest and so read memory
 * after it, where the write is visible - or it comes after the harvest and
 * sets the page's dirty bit again for the next sweep.
 *
 * Only while the block logs: the sweep hears of the guest's writes to a
 * block only while its dirty logging is on, which every file that may be
 * cached holds while it is open (fs_dirty_log_hold: cached RAM files, and
 * phys for every block).  The kernel keeps a file's cache after its last
 * close (keep_cache), so when a block stops logging every page of it
 * that any view may cache is dropped (fs_cache_unlogged): a later open,
 * which turns logging on again before its first read, reads memory anew.
 *
 * Shared core, not a kind: ramblocks.c and phys.c track their pages here
 * and call fs_invalidate_bytes after their writes; the dirty sweep calls
 * it through the listener the session attaches (fs_cache_attach).  It
 * finds a block's file by its ops (block_bytes, priv the block) and the
 * GPA view by the inode phys registered (fs_cache_track_gpa).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/dirty_sweep.h"
#include "memory/phys.h"
#include "memory/ram.h"
#include "util/compiler.h"
#include "vm.h"

#include "fs/internal.h"

#define FS_PAGE 4096ULL

int fs_cache_track(struct fs_node *n, uint64_t size)
{
	uint64_t pages = (size + FS_PAGE - 1) / FS_PAGE;

	/* calloc of this much is mmap: only the words readers touch cost memory. */
	n->cached = calloc((pages + 63) / 64 ? (pages + 63) / 64 : 1, sizeof(*n->cached));
	if (!n->cached)
		return -ENOMEM;
	n->cached_pages = pages;
	return 0;
}

int fs_cache_track_gpa(struct fs *fs, fuse_ino_t ino, uint64_t size)
{
	fs->cache_gpa_ino = ino;
	return fs_cache_track(fs_node_get(fs, ino), size);
}

/* The pages of [off, off+len) n tracks, as [*first, *last]; false: none. */
static bool fs_cache_pages(const struct fs_node *n, uint64_t off, uint64_t len, uint64_t *first,
                           uint64_t *last)
{
	if (!len || off >= n->cached_pages * FS_PAGE)
		return false;
	*first = off / FS_PAGE;
	*last = (off + len - 1) / FS_PAGE;
	if (*last >= n->cached_pages)
		*last = n->cached_pages - 1;
	return true;
}

/* Word w's bits among pages [first, last]. */
static uint64_t fs_cache_mask(uint64_t w, uint64_t first, uint64_t last)
{
	unsigned lo = w == first / 64 ? (unsigned)(first % 64) : 0;
	unsigned hi = w == last / 64 ? (unsigned)(last % 64) : 63;

	return (~0ULL << lo) & (~0ULL >> (63 - hi));
}

void fs_cache_note(struct fs_node *n, uint64_t off, uint64_t len)
{
	uint64_t first, last, w;

	if (!n->cached || !fs_cache_pages(n, off, len, &first, &last))
		return;
	for (w = first / 64; w <= last / 64; w++) {
		uint64_t mask = fs_cache_mask(w, first, last);

		/* Marked already: that mark is older than this request, which is enough. */
		if ((__atomic_load_n(&n->cached[w], __ATOMIC_SEQ_CST) & mask) != mask)
			__atomic_fetch_or(&n->cached[w], mask, __ATOMIC_SEQ_CST);
	}
}

/* Take back the marks of [off, off+len) of n: true if the kernel may cache any of it. */
static bool fs_cache_take(struct fs_node *n, uint64_t off, uint64_t len)
{
	uint64_t first, last, w;
	bool any = false;

	if (!n || !n->cached)
		return true;
	if (!len)
		return false;
	/* Past the pages tracked (phys, should the view grow): say it may be cached. */
	any = off + len > n->cached_pages * FS_PAGE;
	if (!fs_cache_pages(n, off, len, &first, &last))
		return any;
	for (w = first / 64; w <= last / 64; w++) {
		uint64_t mask = fs_cache_mask(w, first, last);

		if (__atomic_load_n(&n->cached[w], __ATOMIC_SEQ_CST) & mask &&
		    __atomic_fetch_and(&n->cached[w], ~mask, __ATOMIC_SEQ_CST) & mask)
			any = true;
	}
	return any;
}

/* Drop the kernel's cached copy of [off, off+len) of inode ino, if it may have one. */
static void fs_notify_inval(struct fs *fs, fuse_ino_t ino, uint64_t off, uint64_t len)
{
	if (off > INT64_MAX || !fs_cache_take(fs_node_get(fs, ino), off, len))
		return;
	if (len > (uint64_t)INT64_MAX - off)
		len = (uint64_t)INT64_MAX - off;
	pthread_rwlock_rdlock(&fs->live_lock);
	/* -ENOENT: the kernel holds no inode for it, so nothing cached. */
	if (fs->live)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, (off_t)off, (off_t)len);
	pthread_rwlock_unlock(&fs->live_lock);
}

struct fs_inval {
	struct fs *fs;
	const struct fs_skip *skip;
};

/* Invalidate [off, off+len) of ino but for the part skip covers. */
static void fs_notify_except(struct fs *fs, fuse_ino_t ino, uint64_t off, uint64_t len,
                             const struct fs_skip *skip)
{
	uint64_t end = off + len, s_end;

	if (!skip || skip->ino != ino || skip->off >= end || skip->off + skip->len <= off) {
		fs_notify_inval(fs, ino, off, len);
		return;
	}
	s_end = skip->off + skip->len;
	if (off < skip->off)
		fs_notify_inval(fs, ino, off, skip->off - off);
	if (s_end < end)
		fs_notify_inval(fs, ino, s_end, end - s_end);
}

static void fs_inval_phys(void *opaque, struct ram_block *rb, uint64_t offset, uint64_t gpa,
                          uint64_t len)
{
	struct fs_inval *iv = opaque;

	(void)rb;
	(void)offset;
	fs_notify_except(iv->fs, iv->fs->cache_gpa_ino, gpa, len, iv->skip);
}

/*
 * Called by the dirty sweep for what the guest wrote and after every write
 * through the FS; any other writer of guest memory that bypasses both must
 * call it too.
 */
void fs_invalidate_bytes(struct fs *fs, struct ram_block *rb, uint64_t off, uint64_t len,
                         const struct fs_skip *skip)
{
	struct fs_inval iv = {fs, skip};
	size_t i;

	for (i = 0; i < fs->nr_nodes; i++) {
		if (!fs->nodes[i].ops->block_bytes || fs->nodes[i].priv != rb)
			continue;
		fs_notify_except(fs, FUSE_ROOT_ID + i, off, len, skip);
		break;
	}
	/* The same bytes at every GPA that maps them: aliases included. */
	phys_block_to_gpa(&fs->vm->machine.as, rb, off, len, fs_inval_phys, &iv);
}

static void fs_inval_dirty(struct dirty_listener *l, struct ram_block *rb, uint64_t offset,
                           uint64_t len)
{
	struct fs *fs = container_of(l, struct fs, cache_listener);

	fs_invalidate_bytes(fs, rb, offset, len, NULL);
}

/*
 * rb stopped logging: from now on the guest's writes to it go unseen, so
 * nothing of it may stay cached.  Nobody holds it, so no file that caches
 * it is open, and the next open turns logging on before its first read.
 */
static void fs_cache_unlogged(struct dirty_listener *l, struct ram_block *rb)
{
	struct fs *fs = container_of(l, struct fs, cache_listener);

	fs_invalidate_bytes(fs, rb, 0, rb->used_length, NULL);
}

void fs_cache_attach(struct fs *fs, struct dirty *dirty)
{
	fs->cache_listener.dirty = fs_inval_dirty;
	fs->cache_listener.unlogged = fs_cache_unlogged;
	dirty_add_listener(dirty, &fs->cache_listener);
}

int fs_dirty_log_hold(struct fs *fs, struct ram_block *rb)
{
	return fs->dirty ? dirty_log_get(fs->dirty, rb) : 0;
}

void fs_dirty_log_drop(struct fs *fs, struct ram_block *rb)
{
	int ret;

	if (!fs->dirty)
		return;
	/* A release cannot fail; what KVM refused is said, and the slot logs on. */
	ret = dirty_log_put(fs->dirty, rb);
	if (ret)
		fprintf(stderr, "kvmfs: dirty logging of %s stays on: %s\n", rb ? rb->idstr : "RAM",
		        strerror(-ret));
}
