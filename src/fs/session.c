/*
 * session.c - the FUSE session of the tree: mounting, the loop thread, the
 * FUSE operations, the open handles, and the attributes and access rules
 * every file shares.
 *
 * It names no kind of file.  tree.c sets the kinds up, builds the tree
 * from its table and tears it down (fs_tree_*); the operations reach each
 * file through its node's ops (internal.h).  What it holds for the kinds
 * is only what they all share: the inode table, the zeros replies point
 * at (reply.c) and the listener that keeps the page cache true (cache.c).
 *
 * Access: without --writable an open of guest memory for writing fails
 * with EACCES (checked here too, since root passes default_permissions).
 * Nothing can be created, removed or renamed (EPERM).
 */
#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 34
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "fs/fs.h"
#include "util/errmsg.h"

#include "fs/internal.h"

#define FS_FUSE_SUPER_MAGIC 0x65735546
/* Seconds the kernel may cache names and attributes that cannot change. */
#define FS_STATIC_TIMEOUT 1.0

/* ---- attributes ---- */

static mode_t fs_mode(struct fs *fs, const struct fs_node *n)
{
	if (n->ops->dir)
		return S_IFDIR | n->mode;
	if (n->ops->ram_mode)
		return S_IFREG | (fs->cfg.writable ? 0600 : 0400);
	return S_IFREG | n->mode;
}

static int fs_stat(struct fs *fs, fuse_ino_t ino, struct stat *st)
{
	struct fs_node *n = fs_node_get(fs, ino);
	const struct fs_kind_ops *ops;
	uint64_t size = 0;
	int ret;

	if (!n)
		return -ENOENT;
	ops = n->ops;
	if (ops->size) {
		ret = ops->size(fs, n, &size);
		if (ret)
			return ret;
	}
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = fs_mode(fs, n);
	st->st_nlink = ops->dir ? 2 + n->nr_subdirs : 1;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_size = size > INT64_MAX ? INT64_MAX : (off_t)size;
	st->st_blksize = 4096;
	/* Sparse files: coreutils asks for holes only when st_blocks is below st_size. */
	st->st_blocks = (blkcnt_t)(((ops->resident ? ops->resident(fs, n) : size) + 511) / 512);
	if (ops->live_mtime) {
		clock_gettime(CLOCK_REALTIME, &st->st_mtim);
	} else {
		st->st_mtim = fs->start;
	}
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
	return 0;
}

static double fs_timeout(const struct fs_node *n)
{
	return n->ops->dynamic ? 0.0 : FS_STATIC_TIMEOUT;
}

/* A node of the table that is there only at times (fs_kind_ops.visible). */
static bool fs_node_visible(struct fs *fs, fuse_ino_t ino)
{
	struct fs_node *n = fs_node_get(fs, ino);

	return !n->ops->visible || n->ops->visible(fs, n);
}

/* ---- FUSE operations ---- */

static void fs_op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs *fs = userdata;

	conn->max_write = FS_IO_MAX;
	conn->max_readahead = FS_IO_MAX;
	/* fuse_reply_buf from guest memory measured faster than splicing. */
	conn->want &=
	        ~(unsigned)(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
	/* O_TRUNC reaches open() instead of a setattr, so ctl sees a plain open. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* The sizes of RAM files never change: only explicit invalidation. */
	conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
	/* RAM files pass through to their memfds where the kernel lets them. */
	fs_pt_conn_init(&fs->pt, conn);

	pthread_rwlock_wrlock(&fs->live_lock);
	fs->live = true;
	pthread_rwlock_unlock(&fs->live_lock);
}

static void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_node *p = fs_node_get(fs, parent);
	struct fuse_entry_param e;
	int ret;

	if (!p) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (!p->ops->dir) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	memset(&e, 0, sizeof(e));
	if (p->ops->lookup) {
		ret = p->ops->lookup(fs, p, name, &e.ino);
	} else {
		e.ino = fs_node_find(fs, parent, name);
		ret = e.ino && fs_node_visible(fs, e.ino) ? 0 : -ENOENT;
	}
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	ret = fs_stat(fs, e.ino, &e.attr);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	e.attr_timeout = e.entry_timeout = fs_timeout(fs_node_get(fs, e.ino));
	fuse_reply_entry(req, &e);
}

static void fs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct stat st;
	int ret;

	(void)fi;
	ret = fs_stat(fs, ino, &st);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, fs_timeout(fs_node_get(fs, ino)));
}

static void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                          struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_node *n = fs_node_get(fs, ino);
	const int times = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
	                  FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;

	(void)fi;
	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	/*
	 * Nothing here has a size or mode of its own to change.  The one
	 * exception: a shell's "> ctl" truncates to 0 when the kernel cannot
	 * pass O_TRUNC to open; that is harmless and must not fail.
	 */
	if (!(n->ops->truncate_ok && (to_set & FUSE_SET_ATTR_SIZE) && !attr->st_size &&
	      !(to_set & ~(FUSE_SET_ATTR_SIZE | times)))) {
		fuse_reply_err(req, EPERM);
		return;
	}
	fs_op_getattr(req, ino, NULL);
}

/*
 * Open handles that own something (a text snapshot, a vmcore header, a
 * hold of dirty logging), so that fs_unmount can let go of those whose
 * RELEASE never came: a session that ends while files are still open gets
 * none.  A handle is its node and fh: two opens of one file whose fh are
 * equal own the same kind of thing, so either entry serves.
 */
struct fs_handle {
	uint64_t fh;
	struct fs_node *n;
	struct fs_handle *next;
};

static void fs_handle_add(struct fs *fs, struct fs_node *n, uint64_t fh)
{
	struct fs_handle *h = malloc(sizeof(*h));

	if (!h)
		return; /* only costs a leak at exit */
	h->fh = fh;
	h->n = n;
	pthread_mutex_lock(&fs->handles_lock);
	h->next = fs->handles;
	fs->handles = h;
	pthread_mutex_unlock(&fs->handles_lock);
}

static void fs_handle_release(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi)
{
	struct fs_handle **pp, *h = NULL;

	pthread_mutex_lock(&fs->handles_lock);
	for (pp = &fs->handles; *pp; pp = &(*pp)->next) {
		if ((*pp)->fh == fi->fh && (*pp)->n == n) {
			h = *pp;
			*pp = h->next;
			break;
		}
	}
	pthread_mutex_unlock(&fs->handles_lock);
	free(h);
	n->ops->release(fs, n, fi);
}

static void fs_handles_release_all(struct fs *fs)
{
	while (fs->handles) {
		struct fs_handle *h = fs->handles;
		struct fuse_file_info fi = {.fh = h->fh};

		fs->handles = h->next;
		h->n->ops->release(fs, h->n, &fi);
		free(h);
	}
}

static void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_node *n = fs_node_get(fs, ino);
	const struct fs_kind_ops *ops;
	bool wr = (fi->flags & O_ACCMODE) != O_RDONLY;
	int ret;

	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	ops = n->ops;
	if (!ops->open) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	/* Root passes default_permissions: the mode bits are enforced here too. */
	if (wr && (!ops->writable || (ops->ram_mode && !fs->cfg.writable))) {
		fuse_reply_err(req, EACCES);
		return;
	}
	ret = ops->open(fs, n, fi);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	if (ops->release)
		fs_handle_add(fs, n, fi->fh);
	if (fuse_reply_open(req, fi) == -ENOENT && ops->release)
		fs_handle_release(fs, n, fi); /* the opener was interrupted and is gone */
}

static void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_node *n = fs_node_get(fs, ino);

	if (!n || !n->ops->read) {
		fuse_reply_err(req, n ? EISDIR : ENOENT);
		return;
	}
	n->ops->read(fs, n, req, size, off, fi);
}

static void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                        struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_node *n = fs_node_get(fs, ino);

	if (!n || !n->ops->write) {
		fuse_reply_err(req, n ? EACCES : ENOENT);
		return;
	}
	n->ops->write(fs, n, req, buf, size, off, fi);
}

static void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_node *n = fs_node_get(fs, ino);

	if (n && n->ops->release)
		fs_handle_release(fs, n, fi);
	fuse_reply_err(req, 0);
}

/* A file without holes of its own: data up to the end, whose virtual hole is the only one. */
static int fs_lseek_dense(struct fs *fs, struct fs_node *n, uint64_t off, int whence, uint64_t *out)
{
	const struct fs_kind_ops *ops = n->ops;
	uint64_t size = 0;
	int ret;

	if (ops->size) {
		ret = ops->size(fs, n, &size);
		if (ret)
			return ret;
	}
	if (off >= size)
		return -ENXIO;
	*out = whence == SEEK_DATA ? off : size;
	return 0;
}

static void fs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
                        struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_node *n = fs_node_get(fs, ino);
	uint64_t out = 0;
	int ret;

	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	/* Never ENOSYS: the kernel would stop asking for the whole mount. */
	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		ret = -EINVAL;
	else if (off < 0)
		ret = -ENXIO;
	else if (n->ops->lseek)
		ret = n->ops->lseek(fs, n, fi, (uint64_t)off, whence, &out);
	else
		ret = fs_lseek_dense(fs, n, (uint64_t)off, whence, &out);
	if (!ret && out > INT64_MAX)
		ret = -ENXIO;
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_lseek(req, (off_t)out);
}

static void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_node *n = fs_node_get(fs, ino);

	if (!n)
		fuse_reply_err(req, ENOENT);
	else if (!n->ops->dir)
		fuse_reply_err(req, ENOTDIR);
	else if ((fi->flags & O_ACCMODE) != O_RDONLY)
		fuse_reply_err(req, EISDIR);
	else
		fuse_reply_open(req, fi);
}

struct fs_dirbuf {
	fuse_req_t req;
	char *buf;
	size_t size, pos;
};

bool fs_dirbuf_add(struct fs_dirbuf *d, const char *name, fuse_ino_t ino, mode_t mode, off_t next)
{
	struct stat st = {.st_ino = ino, .st_mode = mode};
	size_t ent = fuse_add_direntry(d->req, d->buf + d->pos, d->size - d->pos, name, &st, next);

	if (ent > d->size - d->pos)
		return false;
	d->pos += ent;
	return true;
}

static void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                          struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_node *n = fs_node_get(fs, ino);
	struct fs_dirbuf d = {.req = req, .size = size};
	fuse_ino_t child;
	off_t idx;

	(void)fi;
	if (!n || !n->ops->dir) {
		fuse_reply_err(req, n ? ENOTDIR : ENOENT);
		return;
	}
	d.buf = malloc(size ? size : 1);
	if (!d.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* Entry i (0 ".", 1 "..", then the children) carries offset i + 1. */
	if ((off > 0 || fs_dirbuf_add(&d, ".", ino, S_IFDIR, 1)) &&
	    (off > 1 || fs_dirbuf_add(&d, "..", n->parent, S_IFDIR, 2))) {
		if (n->ops->list) {
			n->ops->list(fs, n, off, &d);
		} else {
			child = n->first_child;
			for (idx = 2; child; idx++, child = fs_node_get(fs, child)->next_sibling) {
				struct fs_node *c = fs_node_get(fs, child);

				if (idx < off || !fs_node_visible(fs, child))
					continue;
				if (!fs_dirbuf_add(&d, c->name, child, fs_mode(fs, c), idx + 1))
					break;
			}
		}
	}
	fuse_reply_buf(req, d.buf, d.pos);
	free(d.buf);
}

/* The tree's shape is fixed: nothing is created, removed or renamed. */
static void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                        dev_t rdev)
{
	(void)parent, (void)name, (void)mode, (void)rdev;
	fuse_reply_err(req, EPERM);
}

static void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	(void)parent, (void)name, (void)mode;
	fuse_reply_err(req, EPERM);
}

static void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent, (void)name;
	fuse_reply_err(req, EPERM);
}

static void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	(void)link, (void)parent, (void)name;
	fuse_reply_err(req, EPERM);
}

static void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                         const char *newname, unsigned int flags)
{
	(void)parent, (void)name, (void)newparent, (void)newname, (void)flags;
	fuse_reply_err(req, EPERM);
}

static void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino, (void)newparent, (void)newname;
	fuse_reply_err(req, EPERM);
}

static void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                         struct fuse_file_info *fi)
{
	(void)parent, (void)name, (void)mode, (void)fi;
	fuse_reply_err(req, EPERM);
}

static const struct fuse_lowlevel_ops fs_ops = {
        .init = fs_op_init,
        .lookup = fs_op_lookup,
        .getattr = fs_op_getattr,
        .setattr = fs_op_setattr,
        .open = fs_op_open,
        .read = fs_op_read,
        .write = fs_op_write,
        .release = fs_op_release,
        .opendir = fs_op_opendir,
        .readdir = fs_op_readdir,
        .mknod = fs_op_mknod,
        .mkdir = fs_op_mkdir,
        .unlink = fs_op_unlink,
        .rmdir = fs_op_unlink,
        .symlink = fs_op_symlink,
        .rename = fs_op_rename,
        .link = fs_op_link,
        .create = fs_op_create,
        .lseek = fs_op_lseek,
};

/* ---- mounting ---- */

int fs_check_mountpoint(const char *path, char *err, size_t errlen)
{
	struct dirent *de;
	struct statfs sfs;
	struct stat st;
	int ret = 0;
	DIR *d;

	if (stat(path, &st)) {
		ret = -errno;
		if (ret == -ENOENT)
			return errmsg(err, errlen, ret, "mountpoint %s does not exist", path);
		if (ret == -ENOTCONN)
			return errmsg(err, errlen, ret,
			              "mountpoint %s is a dead FUSE mount (run fusermount3 -u %s)",
			              path, path);
		return errmsg(err, errlen, ret, "mountpoint %s: %s", path, strerror(-ret));
	}
	if (!S_ISDIR(st.st_mode))
		return errmsg(err, errlen, -ENOTDIR, "mountpoint %s is not a directory", path);
	if (!statfs(path, &sfs) && sfs.f_type == FS_FUSE_SUPER_MAGIC)
		return errmsg(err, errlen, -EBUSY, "mountpoint %s is already a FUSE mount", path);
	d = opendir(path);
	if (!d)
		return errmsg(err, errlen, -errno, "mountpoint %s: %s", path, strerror(errno));
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			ret = errmsg(err, errlen, -ENOTEMPTY, "mountpoint %s is not empty", path);
			break;
		}
	}
	closedir(d);
	return ret;
}

/*
 * FUSE can only lower the kernel's readahead window below the bdi default
 * (128 KiB), so a cold sequential read arrives as 128 KiB READs.  Raising
 * the mount's bdi read_ahead_kb to FS_IO_MAX makes them 1 MiB: measured
 * here, cold `dd bs=1M` of pc.ram went from 2.4 to 4.3 GB/s.  Best effort:
 * only root may write it, and nothing depends on it.
 */
static void fs_set_readahead(const char *mountpoint)
{
	char real[PATH_MAX], line[PATH_MAX + 256], dev[32] = "", path[80], val[32];
	unsigned maj, min;
	FILE *f;
	int fd, n;

	/*
	 * The device comes from mountinfo, not stat(): our own mount cannot
	 * answer a GETATTR before the session loop runs.  Mount points with
	 * characters mountinfo escapes are simply not matched.
	 */
	if (!realpath(mountpoint, real) || !(f = fopen("/proc/self/mountinfo", "re")))
		return;
	while (fgets(line, sizeof(line), f)) {
		char mnt[PATH_MAX];

		if (sscanf(line, "%*s %*s %u:%u %*s %4095s", &maj, &min, mnt) == 3 &&
		    !strcmp(mnt, real))
			snprintf(dev, sizeof(dev), "%u:%u", maj, min); /* the last one is on top */
	}
	fclose(f);
	if (!dev[0])
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = snprintf(val, sizeof(val), "%u", FS_IO_MAX / 1024);
	if (write(fd, val, (size_t)n) < 0) {
		/* not root, or no such knob: the default stays */
	}
	close(fd);
}

/*
 * Killed (SIGKILL), we rely on fusermount3's auto_unmount, which wakes when
 * our end of its socket is released and unmounts only if the mount then
 * answers ENOTCONN, i.e. if /dev/fuse has been released already.  An
 * exiting process's files are released in the reverse order of its
 * descriptors (close_files queues them in fd order, task_work runs the
 * queue last-in first-out), and the socket's descriptor is above
 * /dev/fuse's: so the socket usually went first, and about one kill in
 * thirteen under load left a dead mount behind (test_faults.py).  A copy of
 * /dev/fuse above every descriptor we hold is closed last and so released
 * first.  Best effort: without a free descriptor up there, the race stays.
 */
static void fs_hold_fuse_last(struct fs *fs)
{
	struct rlimit rl;
	int top = 1023; /* a larger table costs memory for nothing */

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur <= (rlim_t)top)
		top = (int)rl.rlim_cur - 1;
	fs->fuse_last_fd = fcntl(fuse_session_fd(fs->se), F_DUPFD_CLOEXEC, top);
}

int fs_mount(struct vm *vm, struct dirty *dirty, const struct fs_config *cfg, struct fs **out,
             char *err, size_t errlen)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	const char *failed;
	char opts[256];
	struct fs *fs;
	int ret;

	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return errmsg(err, errlen, -ENOMEM, "out of memory");
	pthread_mutex_init(&fs->handles_lock, NULL);
	fs->fuse_last_fd = -1;
	fs->vm = vm;
	fs->dirty = dirty;
	fs->cfg = *cfg;
	fs->uid = getuid();
	fs->gid = getgid();
	clock_gettime(CLOCK_REALTIME, &fs->start);
	ret = pthread_rwlock_init(&fs->live_lock, NULL);
	if (ret) {
		free(fs);
		return errmsg(err, errlen, -ret, "pthread_rwlock_init: %s", strerror(ret));
	}
	fs->mountpoint = strdup(cfg->mountpoint);
	fs->cfg.mountpoint = fs->mountpoint;
	ret = fs_zeros_new(&fs->zeros);
	if (ret) {
		errmsg(err, errlen, 0, "the zero buffer: %s", strerror(-ret));
		goto err_lock;
	}
	ret = fs_tree_init(fs, &failed);
	if (ret) {
		errmsg(err, errlen, 0, "%s: %s", failed, strerror(-ret));
		goto err_zeros;
	}
	ret = fs->mountpoint ? fs_tree_build(fs) : -ENOMEM;
	if (ret) {
		errmsg(err, errlen, 0, "building the tree: %s", strerror(-ret));
		goto err_free;
	}

	/*
	 * auto_unmount: fusermount3 stays behind and unmounts should we die
	 * without unmounting (SIGKILL), so no dead mount is ever left.
	 */
	snprintf(opts, sizeof(opts),
	         "fsname=kvmfs,subtype=kvmfs,auto_unmount,default_permissions%s",
	         cfg->allow_other ? ",allow_other" : "");
	if (fuse_opt_add_arg(&args, "kvmfs") || fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, opts)) {
		ret = -ENOMEM;
		errmsg(err, errlen, 0, "out of memory");
		goto err_args;
	}
	fs->se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), fs);
	if (!fs->se) {
		ret = -EINVAL;
		errmsg(err, errlen, 0, "fuse_session_new failed (options: %s)", opts);
		goto err_args;
	}
	if (fuse_session_mount(fs->se, fs->mountpoint)) {
		ret = -EIO;
		errmsg(err, errlen, 0, "cannot mount FUSE on %s", fs->mountpoint);
		goto err_session;
	}
	fs->mounted = true;
	/* Not fatal: without it RAM files are served as before (ramblocks.c). */
	fs_pt_init(&fs->pt, fs->se);
	fs_hold_fuse_last(fs);
	fs_set_readahead(fs->mountpoint);
	fuse_opt_free_args(&args);
	/*
	 * The sweep calls the last listener added first: the kinds' (dirty/'s
	 * counts) before the cache's invalidations, the order it always had.
	 */
	if (dirty) {
		fs_cache_attach(fs, dirty);
		fs_tree_attach(fs, dirty);
	}
	*out = fs;
	return 0;

err_session:
	fuse_session_destroy(fs->se);
err_args:
	fuse_opt_free_args(&args);
err_free:
	fs_nodes_free(fs);
	fs_tree_exit(fs);
err_zeros:
	fs_zeros_free(fs->zeros);
err_lock:
	free(fs->mountpoint);
	pthread_rwlock_destroy(&fs->live_lock);
	free(fs);
	return ret;
}

/* Only there to interrupt the loop thread's wait (no SA_RESTART). */
static void fs_wake_handler(int sig)
{
	(void)sig;
}

static void *fs_loop_thread(void *arg)
{
	struct fuse_loop_config lc = {.clone_fd = 0, .max_idle_threads = 10};
	struct fs *fs = arg;
	sigset_t set;

	pthread_setname_np(pthread_self(), "fuse-loop");
	/* The one signal this thread takes: fs_unmount's wake-up. */
	sigemptyset(&set);
	sigaddset(&set, FS_WAKE_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	fs->loop_ret = fuse_session_loop_mt(fs->se, &lc);
	__atomic_store_n(&fs->loop_done, true, __ATOMIC_RELEASE);
	return NULL;
}

int fs_start(struct fs *fs)
{
	struct sigaction sa = {.sa_handler = fs_wake_handler};
	sigset_t set, old;
	int ret;

	sigaction(FS_WAKE_SIGNAL, &sa, NULL);
	/* Workers inherit the mask: only the loop thread itself takes the wake-up. */
	sigemptyset(&set);
	sigaddset(&set, FS_WAKE_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	ret = -pthread_create(&fs->loop_thread, NULL, fs_loop_thread, fs);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!ret)
		fs->loop_started = true;
	return ret;
}

bool fs_done(struct fs *fs)
{
	return __atomic_load_n(&fs->loop_done, __ATOMIC_ACQUIRE);
}

void fs_unmount(struct fs *fs)
{
	if (!fs)
		return;
	pthread_rwlock_wrlock(&fs->live_lock);
	fs->live = false;
	pthread_rwlock_unlock(&fs->live_lock);
	/*
	 * The session loop ends first, after everything that sends the kernel
	 * invalidations has stopped (main.c): an invalidation waits for page
	 * locks that readers hold until their READ is answered, so it must
	 * never outlive the threads that answer.  Ending it: the exit flag,
	 * then a signal to break the loop's wait; libfuse then cancels its
	 * workers - those blocked reading /dev/fuse; one answering a request
	 * finishes its answer first (it runs with cancellation disabled).
	 */
	if (fs->loop_started) {
		fuse_session_exit(fs->se);
		while (!fs_done(fs)) {
			pthread_kill(fs->loop_thread, FS_WAKE_SIGNAL);
			nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
		}
		pthread_join(fs->loop_thread, NULL);
	}
	/*
	 * Then the mount: libfuse closes its /dev/fuse descriptor and detaches
	 * the mount lazily, open files or not.  Not before the loop has ended:
	 * a worker still answering would write to a closed descriptor (libfuse
	 * prints "fuse: writing device: Bad file descriptor", or "reading" for
	 * one that loops back) - or to whatever file reused its number.  A
	 * READ that came in after the loop ended waits, unanswered, until the
	 * last /dev/fuse descriptor goes (fuse_last_fd, below), when the kernel
	 * fails it with ENOTCONN: by then the mount is already detached, so a
	 * reader sees the tree gone before its reads fail.  Does nothing if
	 * the mount already went away (fusermount3 -u).
	 */
	if (fs->mounted)
		fuse_session_unmount(fs->se);
	fuse_session_destroy(fs->se);
	if (fs->fuse_last_fd >= 0)
		close(fs->fuse_last_fd);
	/* Their holds of dirty logging too: the sweep has stopped but not ended (main.c). */
	fs_handles_release_all(fs);
	pthread_mutex_destroy(&fs->handles_lock);
	fs_nodes_free(fs);
	/* The sweep that fed the kinds has stopped (dirty_stop runs first). */
	fs_tree_exit(fs);
	fs_zeros_free(fs->zeros);
	fs_pt_exit(&fs->pt);
	free(fs->mountpoint);
	pthread_rwlock_destroy(&fs->live_lock);
	free(fs);
}

const char *fs_fuse_version(void)
{
	return fuse_pkgversion();
}
