/*
 * ramblocks.c - MNT/ramblocks/<idstr>: the bytes of each RAM block, and the
 * rules of opening a file of guest memory (phys shares them).
 *
 * Where the kernel offers FUSE passthrough and kvmfs may register a backing
 * file (passthrough.c), a block's file is its memfd: the kernel sends its
 * reads, writes and mappings there and kvmfs never sees them, so the file
 * is exact at every moment and a shared mapping is the guest's own page.
 * Only without --writable: a write that kvmfs never sees could leave other
 * views' caches stale.  And the file must be the memfd byte for byte: a memfd block whose
 * memfd is as long as the block (not anonymous memory, which has no fd;
 * not a dump's file, which holds the bytes elsewhere; not a resizeable
 * block whose memfd is longer than its used length).  The choice is made
 * once per block, at the first open or listing, and holds for every open:
 * the kernel refuses an inode open both ways at once (EIO).
 *
 * Otherwise RAM files are served from the page cache (keep_cache on open)
 * and kept true to the guest by the dirty-log sweep (cache.c), which tells
 * us which runs of a block the guest wrote; we invalidate exactly those.
 * Such a file holds its block's dirty logging from open to release; a
 * passthrough or direct_io file needs none.
 * With -o direct_io every read goes to guest memory instead (and shared
 * mmap is refused by the kernel with ENODEV).
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
 * The replies themselves are reply.c's.
 *
 * Each file's node has priv = its struct ram_block (fs_add_block), which
 * is also how cache.c finds the file of a block the guest wrote, and arg =
 * its entry in the kind's state (struct fs_ramblocks).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory/phys.h"
#include "memory/ram.h"
#include "vm.h"

#include "fs/internal.h"

/* Defined at the end; its state is found through it (fs_kind_priv). */
extern const struct fs_kind fs_ramblocks_kind;

static uint64_t fs_ram_length(struct fs *fs, struct ram_block *rb)
{
	struct ram_list *rl = &fs->vm->machine.ram;
	uint64_t len;

	pthread_mutex_lock(&rl->lock);
	len = rb->used_length;
	pthread_mutex_unlock(&rl->lock);
	return len;
}

static struct ram_block *fs_ram_block(const struct fs_node *n)
{
	return n->priv;
}

/* The kind's state: how each block's file is served, decided once. */
struct fs_ramblocks {
	pthread_mutex_t lock; /* guards every file's backing */
	bool said;            /* the one stderr line about a fallback is out */
	size_t nr;
	struct fs_ram_file {
		struct ram_block *rb;
		/* 0: not decided yet; > 0: the passthrough backing id; < 0: -errno, served cached.
		 */
		int backing;
	} files[];
};

/* Why rb's file cannot be its memfd; NULL when it can. */
static const char *fs_ram_unpassable(const struct fs *fs, const struct ram_block *rb)
{
	/*
	 * A write through a passthrough file goes to the memfd without a word
	 * to kvmfs: phys's page cache would keep stale bytes, and the rules of
	 * writes (ENOSPC at the end, short writes) would not hold.
	 */
	if (fs->cfg.writable)
		return "with --writable, writes must pass through kvmfs to keep every view true";
	if (fs->cfg.no_passthrough)
		return "-o no_passthrough";
	if (rb->fd < 0)
		return "anonymous memory (-mem-backing anon) has no file to pass through";
	if (rb->flags & RAM_FILE)
		return "a dump's bytes lie in its file at other offsets";
	if (rb->used_length != rb->max_length)
		return "a resizeable block's memfd is longer than its used length";
	return NULL;
}

/*
 * Decide, once, how f's file is served; returns f->backing.  A fallback
 * is said once on stderr, with its reason: the first file that cannot be
 * passed through speaks for the rest (they share the host and the backing).
 */
static int fs_ram_decide(struct fs *fs, struct fs_ramblocks *st, struct fs_ram_file *f)
{
	const char *why = NULL;
	int ret;

	pthread_mutex_lock(&st->lock);
	if (!f->backing) {
		why = fs_ram_unpassable(fs, f->rb);
		if (why) {
			f->backing = -EINVAL;
		} else {
			ret = fs_pt_register(&fs->pt, f->rb->fd);
			f->backing = ret ? ret : -EIO;
			why = fs_pt_why(&fs->pt);
		}
		if (f->backing < 0 && !st->said && why) {
			st->said = true;
			fprintf(stderr,
			        "kvmfs: FUSE passthrough off for %s: %s; RAM files are served %s\n",
			        f->rb->idstr, why,
			        fs->cfg.direct_io ? "from guest memory at each read (direct_io)"
			                          : "through the page cache");
		}
	}
	ret = f->backing;
	pthread_mutex_unlock(&st->lock);
	return ret;
}

static struct fs_ram_file *fs_ram_file(struct fs *fs, struct ram_block *rb,
                                       struct fs_ramblocks **st)
{
	size_t i;

	*st = fs_kind_priv(fs, &fs_ramblocks_kind);
	for (i = 0; i < (*st)->nr; i++)
		if ((*st)->files[i].rb == rb)
			return &(*st)->files[i];
	return NULL;
}

const char *fs_ram_io(struct fs *fs, struct ram_block *rb)
{
	struct fs_ramblocks *st;
	struct fs_ram_file *f = fs_ram_file(fs, rb, &st);

	if (!ram_block_has_bytes(rb))
		return "unverified";
	if (rb->flags & RAM_REMOTE)
		return "process";
	if (f && fs_ram_decide(fs, st, f) > 0)
		return "passthrough";
	return fs->cfg.direct_io ? "direct" : "cached";
}

static int fs_ram_size(struct fs *fs, struct fs_node *n, uint64_t *size)
{
	*size = fs_ram_length(fs, fs_ram_block(n));
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

/* ---- ramblocks/<idstr> ---- */

static int fs_ramblocks_open(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi)
{
	struct fs_ramblocks *st = fs_kind_priv(fs, &fs_ramblocks_kind);
	int id, ret;

	if (fi->flags & O_TRUNC)
		return -EPERM;
	id = fs_ram_decide(fs, st, &st->files[n->arg]);
	if (id > 0) {
		fs_pt_open(&fs->pt, fi, id);
		return 0;
	}
	ret = fs_ram_open(fs, n, fi);
	if (ret || fi->direct_io)
		return ret;
	/* Cached: the sweep must tell us of the guest's writes before the first read. */
	ret = fs_dirty_log_hold(fs, fs_ram_block(n));
	if (!ret)
		fi->fh = FS_FH_LOG_HELD;
	return ret;
}

static void fs_ramblocks_release(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi)
{
	if (fi->fh == FS_FH_LOG_HELD)
		fs_dirty_log_drop(fs, fs_ram_block(n));
}

static void fs_ram_read(struct fs *fs, struct fs_node *n, fuse_req_t req, size_t size, off_t off,
                        struct fuse_file_info *fi)
{
	struct ram_block *rb = fs_ram_block(n);
	uint64_t len = fs_ram_length(fs, rb);
	struct fs_reply r;

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
	 *    invalidates the range (cache.c): the kernel's
	 *    invalidate_inode_pages2_range() takes each page's lock, so it
	 *    waits for our reply to land, then drops the stale zeros (and
	 *    unmaps them from every mapping).
	 * A write through the tree is the same, with fs_invalidate_bytes in
	 * place of the sweep.  Zeros at the moment of the check are a true
	 * snapshot of the page; anything later is news the sweep delivers.
	 * The sweep only tells the kernel about pages a READ or WRITE went
	 * through, so those are noted first (fs_cache_note, see cache.c).
	 */
	fs_cache_note(n, (uint64_t)off, size);
	fs_reply_init(&r, fs, size);
	ram_block_pieces(rb, (uint64_t)off, size, fs_reply_piece, &r);
	fs_reply_send(&r, req);
}

static void fs_ram_write(struct fs *fs, struct fs_node *n, fuse_req_t req, const char *buf,
                         size_t size, off_t off, struct fuse_file_info *fi)
{
	struct ram_block *rb = fs_ram_block(n);

	(void)fi;
	if (!fs_write_begin(fs, req, off, &size, fs_ram_length(fs, rb)))
		return;
	/*
	 * Races with the guest's own accesses exactly as a DMA would.  This
	 * file's cache already holds the bytes; the other views of them drop
	 * theirs before the writer hears back.
	 */
	fs_cache_note(n, (uint64_t)off, size);
	if (ram_block_write(rb, (uint64_t)off, buf, size)) {
		fuse_reply_err(req, EIO);
		return;
	}
	fs_invalidate_bytes(fs, rb, (uint64_t)off, size,
	                    &(struct fs_skip){fs_node_ino(fs, n), (uint64_t)off, size});
	fuse_reply_write(req, size);
}

static uint64_t fs_ram_resident(struct fs *fs, struct fs_node *n)
{
	(void)fs;
	return phys_block_resident(fs_ram_block(n));
}

static int fs_ram_lseek(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi, uint64_t off,
                        int whence, uint64_t *out)
{
	(void)fs;
	(void)fi;
	return ram_block_seek(fs_ram_block(n), off, whence, out);
}

static const struct fs_kind_ops fs_ram_ops = {
        .open = fs_ramblocks_open,
        .read = fs_ram_read,
        .release = fs_ramblocks_release,
        .write = fs_ram_write,
        .size = fs_ram_size,
        .resident = fs_ram_resident,
        .lseek = fs_ram_lseek,
        .writable = true,
        .ram_mode = true,
        .block_bytes = true,
};

static int fs_ram_init(struct fs *fs, void **priv)
{
	struct ram_list *rl = &fs->vm->machine.ram;
	struct fs_ramblocks *st;
	struct ram_block *rb;
	size_t nr = 0;

	pthread_mutex_lock(&rl->lock);
	for (rb = rl->head; rb; rb = rb->next)
		nr++;
	st = calloc(1, sizeof(*st) + nr * sizeof(st->files[0]));
	if (st) {
		for (rb = rl->head; rb; rb = rb->next)
			st->files[st->nr++].rb = rb;
		pthread_mutex_init(&st->lock, NULL);
	}
	pthread_mutex_unlock(&rl->lock);
	*priv = st;
	return st ? 0 : -ENOMEM;
}

static void fs_ram_exit(void *priv)
{
	struct fs_ramblocks *st = priv;

	/* The backing files went with the session's /dev/fuse fd. */
	pthread_mutex_destroy(&st->lock);
	free(st);
}

static int fs_ram_build(struct fs *fs, fuse_ino_t top)
{
	struct ram_list *rl = &fs->vm->machine.ram;
	struct ram_block *rb;
	fuse_ino_t ino;
	size_t i = 0;
	int ret = 0;

	/*
	 * Directories first, for every block, so that a block whose name a
	 * directory also needs is the one that gets renamed.
	 */
	pthread_mutex_lock(&rl->lock);
	for (rb = rl->head; !ret && rb; rb = rb->next) {
		const char *last;

		if (ram_block_has_bytes(rb))
			ret = fs_add_dirs(fs, top, rb->idstr, &ino, &last);
	}
	/*
	 * The list's order is the state's (fs_ram_init): the same blocks,
	 * unchanged since.  A block without bytes (an attached QEMU's that
	 * could not be verified) has no file: nothing true could be read.
	 */
	for (rb = rl->head; !ret && rb; rb = rb->next, i++) {
		if (!ram_block_has_bytes(rb))
			continue;
		ret = fs_add_block(fs, top, rb, "", &fs_ram_ops, &ino);
		if (!ret) {
			fs_node_get(fs, ino)->arg = i;
			ret = fs_cache_track(fs_node_get(fs, ino), rb->max_length);
		}
	}
	pthread_mutex_unlock(&rl->lock);
	return ret;
}

const struct fs_kind fs_ramblocks_kind = {
        .name = "ramblocks",
        .ops = &fs_dir_ops,
        .init = fs_ram_init,
        .build = fs_ram_build,
        .exit = fs_ram_exit,
};
