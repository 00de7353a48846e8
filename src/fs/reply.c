/*
 * reply.c - the replies of every file of guest memory (ramblocks/<idstr>,
 * phys, vmcore, vcpus/<n>/vmem), and the checks every write into guest
 * memory makes.
 *
 * A READ of guest memory is answered from the pieces a walk of the model
 * hands out (ram_block_extents, phys_read_pieces, vmcore_read_pieces):
 * guest memory goes to /dev/fuse straight from where it lies and holes
 * from one buffer of zeros, so nothing is copied and no page nobody
 * populated is touched.  The kinds call these; they call no kind.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vm.h"

#include "fs/internal.h"

/*
 * Holes go out as pieces of at most this many zeros, each pointing at the
 * start of fs->zeros: the kernel copies a reply's bytes to the reader, and
 * a source this small stays in the CPU's cache across the pieces of a
 * 1 MiB reply, where one 1 MiB piece is read from memory each time (an
 * idle guest's phys read direct_io: 0.8x the CPU time and 1.25x the speed
 * of 1 MiB pieces; 4 KiB pieces, 64 to a reply, lose it again).
 */
#define FS_HOLE_PIECE (64u << 10)
_Static_assert(FS_HOLE_PIECE <= FS_ZEROS, "pieces of holes come from fs->zeros");

/*
 * Real pages, not the kernel's zero page: the kernel takes a reply's pages
 * with get_user_pages, whose fast path refuses the zero page (a special
 * mapping): the slow path cost a fifth of the time of a hole read
 * (O_DIRECT: ~5.5 GB/s, 7.5 without).  Populated (written) now, read-only
 * after.
 */
int fs_zeros_new(const char **zeros)
{
	void *z = mmap(NULL, FS_ZEROS, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	int ret;

	if (z == MAP_FAILED)
		return -errno;
	if (mprotect(z, FS_ZEROS, PROT_READ)) {
		ret = -errno;
		munmap(z, FS_ZEROS);
		return ret;
	}
	*zeros = z;
	return 0;
}

void fs_zeros_free(const char *zeros)
{
	munmap((void *)zeros, FS_ZEROS);
}

void fs_reply_init(struct fs_reply *r, struct fs *fs, size_t size)
{
	r->zeros = fs->zeros;
	r->size = size;
	r->len = 0;
	r->nr = 0;
	r->tail = NULL;
	r->err = 0;
	r->strict = false;
	/*
	 * An attached QEMU's memory comes in copies that the next piece
	 * overwrites (as_piece_fn): the reply copies every piece at once.  A
	 * walk that stops short there means QEMU's memory could not be read
	 * (QEMU gone): the reader gets EIO, not zeros.
	 */
	if (fs->vm->qemu && size) {
		r->strict = true;
		r->tail = malloc(size);
		if (!r->tail)
			r->err = ENOMEM;
		else
			r->iov[r->nr++] = (struct iovec){r->tail, 0};
	}
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
	                 : last->iov_base != r->zeros || last->iov_len + n > FS_HOLE_PIECE) {
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
		/* A hole longer than FS_HOLE_PIECE takes several pieces. */
		size_t n = bytes || len <= FS_HOLE_PIECE ? len : FS_HOLE_PIECE;

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
	if (!r->err && r->len < r->size && r->strict)
		r->err = EIO;
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
