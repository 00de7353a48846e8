/*
 * fs_inval.c - keeping the kernel's cached copies of guest memory true.
 *
 * The same bytes show in several files (ramblocks/<idstr>, and phys at
 * every GPA an alias maps them): whatever writes them - the guest, seen by
 * the dirty sweep, or a write() through one file - invalidates the kernel's
 * copy in all others.
 */
#include <stdint.h>

#include "kvmfs/dirty.h"
#include "kvmfs/phys.h"
#include "kvmfs/vm.h"

#include "fs_internal.h"

/* Drop the kernel's cached copy of [off, off+len) of inode ino. */
static void fs_notify_inval(struct fs *fs, fuse_ino_t ino, uint64_t off, uint64_t len)
{
	if (off > INT64_MAX)
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
	fs_notify_except(iv->fs, iv->fs->phys_ino, gpa, len, iv->skip);
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
		if (!fs->nodes[i].ops->block_bytes || fs->nodes[i].rb != rb)
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
	struct fs *fs = (struct fs *)((char *)l - offsetof(struct fs, dirty));

	fs_invalidate_bytes(fs, rb, offset, len, NULL);
}

void fs_inval_attach(struct fs *fs, struct dirty *dirty)
{
	fs->dirty.dirty = fs_inval_dirty;
	dirty_add_listener(dirty, &fs->dirty);
}
