/*
 * phys.c - the guest-physical view of the tree:
 *
 *   MNT/phys     offset = guest-physical address, size = end of the highest
 *                RAM/ROM range; holes (no RAM/ROM there, or memory nobody
 *                touched) read as zeros and are reported by SEEK_DATA /
 *                SEEK_HOLE and st_blocks.  Written and permitted exactly
 *                like the RAM files; a write starting in a hole fails with
 *                ENXIO and one running into a hole is short.
 *
 * phys is read direct_io wherever the connection lets a direct_io file be
 * mapped shared (FUSE_DIRECT_IO_ALLOW_MMAP, passthrough.c): every read()
 * is answered from guest memory and nothing lands in the page cache, which
 * reads an idle guest cold two to three times as fast as filling a page
 * cache with zeros did, and costs no memory (a warm re-read, served from
 * that cache before, is now ~0.8x as fast).  A shared mapping still
 * works: its pages come through READs into the page cache, which cache.c
 * keeps true as for the cached files.  Elsewhere (a kernel before 6.6) it is
 * served as the RAM files are (fs_ram_open): from the page cache, or
 * direct_io and unmappable with -o direct_io.
 *
 * While phys is open (but with -o direct_io, which has no cache at all) it
 * holds KVM's dirty logging on every RAM block: the sweep is what keeps
 * its cached pages true (kvm/dirty_sweep.c).
 *
 * Layout and holes are the model's (memory/phys.c); this file only hands
 * its answers to FUSE.  It keeps no state: cache.c knows its inode, since
 * every write to guest memory must invalidate it.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "memory/phys.h"
#include "vm.h"

#include "fs/internal.h"

static struct address_space *fs_as(struct fs *fs)
{
	return &fs->vm->machine.as;
}

/* ---- phys ---- */

/* Served direct_io: mappable unless -o direct_io (see the header). */
static bool fs_phys_direct(struct fs *fs)
{
	return fs->cfg.direct_io || fs_pt_direct_mmap(&fs->pt);
}

static int fs_phys_open(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi)
{
	int ret = fs_ram_open(fs, n, fi); /* the same write rules as RAM files */

	if (ret)
		return ret;
	if (fs_phys_direct(fs)) {
		fi->keep_cache = 0;
		fi->direct_io = 1;
	}
	/* Only -o direct_io has no cache at all: it refuses shared mappings. */
	if (fs->cfg.direct_io)
		return 0;
	/*
	 * Cached, or direct with mappings allowed (whose pages are cached): at
	 * every GPA, the guest's writes to any block must reach us.
	 */
	ret = fs_dirty_log_hold(fs, NULL);
	if (!ret)
		fi->fh = FS_FH_LOG_HELD;
	return ret;
}

static void fs_phys_read(struct fs *fs, struct fs_node *n, fuse_req_t req, size_t size, off_t off,
                         struct fuse_file_info *fi)
{
	struct fs_reply r;

	(void)fi;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (!fs_clip((uint64_t)off, &size, phys_size(fs_as(fs)))) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	/* Pieces of several blocks and holes; never-populated pages as zeros (see ramblocks.c). */
	fs_cache_note(n, (uint64_t)off, size);
	fs_reply_init(&r, fs, size);
	phys_read_pieces(fs_as(fs), (uint64_t)off, size, fs_reply_piece, &r);
	fs_reply_send(&r, req);
}

struct fs_phys_write {
	struct fs *fs;
	struct fs_skip skip; /* the range being written */
};

static void fs_phys_written(void *opaque, struct ram_block *rb, uint64_t offset, uint64_t gpa,
                            uint64_t len)
{
	struct fs_phys_write *w = opaque;

	(void)gpa;
	fs_invalidate_bytes(w->fs, rb, offset, len, &w->skip);
}

static void fs_phys_write(struct fs *fs, struct fs_node *n, fuse_req_t req, const char *buf,
                          size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs_phys_write w;
	long done;

	if (!fs_write_begin(fs, req, off, &size, phys_size(fs_as(fs))))
		return;
	fs_cache_note(n, (uint64_t)off, size);
	done = phys_write(fs_as(fs), (uint64_t)off, buf, size);
	if (done < 0) {
		fuse_reply_err(req, (int)-done);
		return;
	}
	/*
	 * Other views of the same bytes (ramblocks/<idstr>, aliases in phys),
	 * then the reply.  The written range of phys itself is left alone
	 * where the kernel holds it: a cached write() copied it into the page
	 * cache (pages it holds locked until we reply), and a mapping's
	 * writeback sends the very pages (under writeback until we reply).
	 * A direct_io write() holds no page, and a mapping may have faulted
	 * the old bytes in meanwhile: those are dropped too.
	 */
	w = (struct fs_phys_write){fs, {fs_node_ino(fs, n), (uint64_t)off, (uint64_t)done}};
	if (fs_phys_direct(fs) && !fi->writepage)
		w.skip.ino = 0;
	phys_gpa_to_block(fs_as(fs), (uint64_t)off, (uint64_t)done, fs_phys_written, &w);
	fuse_reply_write(req, (size_t)done);
}

static int fs_phys_size(struct fs *fs, struct fs_node *n, uint64_t *size)
{
	(void)n;
	*size = phys_size(fs_as(fs));
	return 0;
}

static uint64_t fs_phys_resident(struct fs *fs, struct fs_node *n)
{
	(void)n;
	return phys_resident(fs_as(fs));
}

static int fs_phys_lseek(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi, uint64_t off,
                         int whence, uint64_t *out)
{
	(void)n;
	(void)fi;
	return phys_seek(fs_as(fs), off, whence, out);
}

/* The same cache and write rules as RAM files. */
static void fs_phys_release(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi)
{
	(void)n;
	if (fi->fh == FS_FH_LOG_HELD)
		fs_dirty_log_drop(fs, NULL);
}

static const struct fs_kind_ops fs_phys_ops = {
        .open = fs_phys_open,
        .release = fs_phys_release,
        .read = fs_phys_read,
        .write = fs_phys_write,
        .size = fs_phys_size,
        .resident = fs_phys_resident,
        .lseek = fs_phys_lseek,
        .writable = true,
        .ram_mode = true,
};

static int fs_phys_build(struct fs *fs, fuse_ino_t ino)
{
	/* Invalidations of guest writes go to this inode too (cache.c). */
	return fs_cache_track_gpa(fs, ino, phys_size(fs_as(fs)));
}

const struct fs_kind fs_phys_kind = {
        .name = "phys",
        .ops = &fs_phys_ops,
        .build = fs_phys_build,
};
