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
 * Holes: guest memory nobody touched is a hole (SEEK_DATA/SEEK_HOLE answered
 * from the memfd behind each block, st_blocks its allocation), so sparse
 * copies take time proportional to what the guest used.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "kvmfs/phys.h"
#include "kvmfs/ram.h"
#include "kvmfs/vm.h"

#include "fs_internal.h"

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

static void fs_ram_read(struct fs *fs, struct fs_node *n, fuse_req_t req, size_t size, off_t off,
                        struct fuse_file_info *fi)
{
	uint64_t len = fs_ram_length(fs, n->rb);

	(void)fi;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if ((uint64_t)off >= len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > len - (uint64_t)off)
		size = (size_t)(len - (uint64_t)off);
	/* Straight from guest memory: libfuse writes it to /dev/fuse, no copy here. */
	fuse_reply_buf(req, (const char *)n->rb->host + off, size);
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
	for (rb = rl->head; !ret && rb; rb = rb->next)
		ret = fs_add_block(fs, top, rb, "", &fs_ram_ops, &ino);
	pthread_mutex_unlock(&rl->lock);
	return ret;
}
