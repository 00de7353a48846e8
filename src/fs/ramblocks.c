/*
 * fs_ram.c - MNT/ramblocks/<idstr>: the bytes of each RAM block, and the
 * rules every file of guest memory follows (phys shares them).
 *
 * RAM files are served from the page cache (keep_cache on open) and kept
 * true to the guest by the dirty-log sweep (fs_inval.c), which tells us
 * which runs of a block the guest wrote; we invalidate exactly those.  With
 * -o direct_io every read goes to guest memory instead (and shared mmap is
 * refused by the kernel with ENODEV).
 *
 * Writing (write() or a shared writable mapping) needs --writable; it then
 * reaches ROM blocks too: only the guest is kept from writing a ROM (KVM's
 * read-only slot), not the host's owner.  RAM files never change size: a
 * write starting at or past the end fails with ENOSPC, one that straddles
 * it is short, O_APPEND writes therefore always fail with ENOSPC, O_TRUNC
 * and truncate() fail with EPERM.
 *
 * Holes: guest memory nobody populated is a hole (SEEK_DATA/SEEK_HOLE from
 * the block, st_blocks the memfd's allocation), so sparse copies take time
 * proportional to what the guest used; and reading a hole returns zeros
 * without populating it (fs_ram_read), so reading costs no guest memory.
 *
 * This file also builds the replies of every file of guest memory
 * (fs_reply_*): pieces of guest memory and of zeros, sent without a copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "memory/phys.h"
#include "memory/ram.h"
#include "vm.h"

#include "fs/internal.h"

static uint64_t fs_ram_length(struct fs *fs, struct ram_block *rb)
{
	struct ram_list *rl = &fs->vm->machine.ram;
	uint64_t len;

	pthread_mutex_lock(&rl->lock);
	len = rb->used_length;
	pthread_mutex_unlock(&rl->lock);
	return len;
}

static int fs_ram_size(struct fs *fs, struct fs_node *n, uint64_t *size)
{
	*size = fs_ram_length(fs, n->rb);
	return 0;
}

int fs_ram_open(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi)
{
	(void)n;
	if (fi->flags & O_TRUNC)
		return -EPERM;
	/* The dirty-log sweep keeps the cache right; do not drop it on open. */
	if (fs->cfg.direct_io)
		fi->direct_io = 1;
	else
		fi->keep_cache = 1;
	return 0;
}

/* ---- replies of guest memory ---- */

void fs_reply_init(struct fs_reply *r, struct fs *fs, size_t size)
{
	r->zeros = fs->zeros;
	r->size = size;
	r->len = 0;
	r->nr = 0;
	r->tail = NULL;
	r->err = 0;
}

/*
 * Add n bytes at bytes (NULL: zeros) to the last piece if they follow on
 * from it: guest memory that goes on, zeros that still fit the buffer, or
 * anything at all once the rest is being copied.
 */
static bool fs_reply_merge(struct fs_reply *r, const void *bytes, size_t n)
{
	struct iovec *last = r->nr ? &r->iov[r->nr - 1] : NULL;
	char *end;

	if (!last)
		return false;
	end = (char *)last->iov_base + last->iov_len;
	if (r->tail) {
		if (bytes)
			memcpy(end, bytes, n);
		else
			memset(end, 0, n);
	} else if (bytes ? end != (const char *)bytes
	                 : last->iov_base != r->zeros || last->iov_len + n > FS_ZEROS) {
		return false;
	}
	last->iov_len += n;
	return true;
}

/* A new piece; the last free one becomes the buffer the rest is copied into. */
static int fs_reply_add(struct fs_reply *r, const void *bytes, size_t n)
{
	if (r->nr < FS_REPLY_IOV - 1) {
		r->iov[r->nr++] = (struct iovec){(void *)(bytes ? bytes : r->zeros), n};
		return 0;
	}
	r->tail = malloc(r->size - r->len);
	if (!r->tail) {
		r->err = ENOMEM;
		return -ENOMEM;
	}
	r->iov[r->nr++] = (struct iovec){r->tail, 0};
	fs_reply_merge(r, bytes, n);
	return 0;
}

int fs_reply_piece(void *opaque, const void *bytes, size_t len)
{
	struct fs_reply *r = opaque;

	if (r->err)
		return 1;
	if (len > r->size - r->len)
		len = r->size - r->len;
	while (len) {
		/* Zeros come from one FS_ZEROS buffer: a longer hole takes several pieces. */
		size_t n = bytes || len <= FS_ZEROS ? len : FS_ZEROS;

		if (!fs_reply_merge(r, bytes, n) && fs_reply_add(r, bytes, n))
			return 1;
		r->len += n;
		len -= n;
		if (bytes)
			bytes = (const char *)bytes + n;
	}
	return 0;
}

void fs_reply_send(struct fs_reply *r, fuse_req_t req)
{
	if (!r->err && r->len < r->size)
		fs_reply_piece(r, NULL, r->size - r->len);
	if (r->err)
		fuse_reply_err(req, r->err);
	else if (!r->nr)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_iov(req, r->iov, r->nr);
	free(r->tail);
	r->tail = NULL;
}

/* ---- ramblocks/<idstr> ---- */

struct fs_ram_reply {
	struct fs_reply r;
	const uint8_t *host;
};

static int fs_ram_run(void *opaque, uint64_t off, uint64_t len, bool data)
{
	struct fs_ram_reply *rr = opaque;

	return fs_reply_piece(&rr->r, data ? rr->host + off : NULL, (size_t)len);
}

static void fs_ram_read(struct fs *fs, struct fs_node *n, fuse_req_t req, size_t size, off_t off,
                        struct fuse_file_info *fi)
{
	uint64_t len = fs_ram_length(fs, n->rb);
	struct fs_ram_reply rr = {.host = n->rb->host};

	(void)fi;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (!fs_clip((uint64_t)off, &size, len)) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	/*
	 * Which pages hold data is asked before the reply is sent, so a page
	 * we call a hole may be populated and written by the guest before the
	 * kernel has our zeros in its page cache.  The cache still ends up
	 * right, as for any guest write racing with a read of data:
	 *  - the kernel locked the page-cache pages of this READ before it
	 *    sent it, and unlocks them only once our reply has filled them;
	 *  - KVM logs the guest's write in the dirty bitmap when it maps the
	 *    page writable for the guest (a never-populated page is never
	 *    writable before that), so the bit is set after our check;
	 *  - the sweep that harvests the bit runs after the write and
	 *    invalidates the range (fs_inval.c): the kernel's
	 *    invalidate_inode_pages2_range() takes each page's lock, so it
	 *    waits for our reply to land, then drops the stale zeros (and
	 *    unmaps them from every mapping).
	 * A write through the tree is the same, with fs_invalidate_bytes in
	 * place of the sweep.  Zeros at the moment of the check are a true
	 * snapshot of the page; anything later is news the sweep delivers.
	 * The sweep only tells the kernel about pages a READ or WRITE went
	 * through, so those are noted first (fs_cache_note, see fs_inval.c).
	 */
	fs_cache_note(n, (uint64_t)off, size);
	fs_reply_init(&rr.r, fs, size);
	ram_block_extents(n->rb, (uint64_t)off, size, fs_ram_run, &rr);
	fs_reply_send(&rr.r, req);
}

bool fs_clip(uint64_t off, size_t *len, uint64_t size)
{
	if (off >= size)
		return false;
	if (*len > size - off)
		*len = (size_t)(size - off);
	return true;
}

bool fs_write_begin(struct fs *fs, fuse_req_t req, off_t off, size_t *size, uint64_t file_size)
{
	if (!fs->cfg.writable) {
		fuse_reply_err(req, EROFS);
		return false;
	}
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return false;
	}
	if (!*size) {
		fuse_reply_write(req, 0);
		return false;
	}
	/* Files of guest memory never grow: a write at the end has no room. */
	if (!fs_clip((uint64_t)off, size, file_size)) {
		fuse_reply_err(req, ENOSPC);
		return false;
	}
	return true;
}

static void fs_ram_write(struct fs *fs, struct fs_node *n, fuse_req_t req, const char *buf,
                         size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	if (!fs_write_begin(fs, req, off, &size, fs_ram_length(fs, n->rb)))
		return;
	/*
	 * Races with the guest's own accesses exactly as a DMA would.  This
	 * file's cache already holds the bytes; the other views of them drop
	 * theirs before the writer hears back.
	 */
	fs_cache_note(n, (uint64_t)off, size);
	memcpy(n->rb->host + off, buf, size);
	fs_invalidate_bytes(fs, n->rb, (uint64_t)off, size,
	                    &(struct fs_skip){fs_node_ino(fs, n), (uint64_t)off, size});
	fuse_reply_write(req, size);
}

static uint64_t fs_ram_resident(struct fs *fs, struct fs_node *n)
{
	(void)fs;
	return phys_block_resident(n->rb);
}

static int fs_ram_lseek(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi, uint64_t off,
                        int whence, uint64_t *out)
{
	(void)fs;
	(void)fi;
	return ram_block_seek(n->rb, off, whence, out);
}

static const struct fs_kind_ops fs_ram_ops = {
        .open = fs_ram_open,
        .read = fs_ram_read,
        .write = fs_ram_write,
        .size = fs_ram_size,
        .resident = fs_ram_resident,
        .lseek = fs_ram_lseek,
        .writable = true,
        .ram_mode = true,
        .block_bytes = true,
};

int fs_ram_build(struct fs *fs, fuse_ino_t top)
{
	struct ram_list *rl = &fs->vm->machine.ram;
	struct ram_block *rb;
	fuse_ino_t ino;
	int ret = 0;

	/*
	 * Directories first, for every block, so that a block whose name a
	 * directory also needs is the one that gets renamed.
	 */
	pthread_mutex_lock(&rl->lock);
	for (rb = rl->head; !ret && rb; rb = rb->next) {
		const char *last;

		ret = fs_add_dirs(fs, top, rb->idstr, &ino, &last);
	}
	for (rb = rl->head; !ret && rb; rb = rb->next) {
		ret = fs_add_block(fs, top, rb, "", &fs_ram_ops, &ino);
		if (!ret)
			ret = fs_cache_track(fs_node_get(fs, ino), rb->max_length);
	}
	pthread_mutex_unlock(&rl->lock);
	return ret;
}
