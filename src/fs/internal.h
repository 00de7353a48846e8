/*
 * internal.h - what the files of the FUSE tree share: the node table, the
 * kinds of file and their per-node operations, and the helpers the kinds
 * call.  Not a public header: only the files of src/fs/ include it.
 *
 * Calls flow one way, top to bottom:
 *   session.c  the FUSE session: mount, loop, operations, open handles,
 *              attributes and access rules.  It knows no kind of file: it
 *              asks tree.c to set up, build, attach and tear down the tree,
 *              and reaches files only through each node's fs_kind_ops.
 *   tree.c     the fixed table of the tree (name, kind, mode, when it
 *              exists) and the render adapters of its text files; it runs
 *              each kind's hooks (struct fs_kind) and keeps their state.
 *   the kinds  ramblocks.c, phys.c, vmcore.c, dirty.c, vcpus.c, console.c,
 *              ctl.c, and snapshot.c's text kind: each brings its
 *              fs_kind (ops, init/attach/exit, build) and owns its state
 *              (fs_kind_priv) and what its nodes' priv/arg mean.
 *   the core   inode.c (the inode table and names), snapshot.c (rendered
 *              text), reply.c (replies of guest memory, the write checks)
 *              and cache.c (keeping the kernel's page cache true): the
 *              kinds call these, and they call no kind.
 */
#ifndef KVMFS_FS_INTERNAL_H
#define KVMFS_FS_INTERNAL_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 34
#endif

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

#include "fs/fs.h"
#include "fs/passthrough.h"
#include "kvm/dirty_sweep.h"

struct dirty;
struct strbuf;
struct ram_block;
struct vm;

/* Wakes the session loop so that it sees fuse_session_exit(). */
#define FS_WAKE_SIGNAL SIGUSR2
#define FS_IO_MAX      (1u << 20) /* max_write and readahead we ask the kernel for */
#define FS_ZEROS       (1u << 20) /* bytes of fs->zeros: the longest piece of a hole */

struct fs_kind_ops;

/*
 * A kind of file: one file of the fixed table, or a directory it fills.
 * Every hook may be NULL.  A kind's state lives for the whole session,
 * whether or not its file exists (tree.c's needs): the hooks run for every
 * kind the table names, once each, in the table's order (exit in reverse).
 */
struct fs_kind {
	const char *name; /* what a failed init names in the mount's error */
	/* The node of the fixed table; what it adds under it has ops of its own. */
	const struct fs_kind_ops *ops;
	/* Before the tree is built: the kind's state, for fs_kind_priv(). */
	int (*init)(struct fs *fs, void **priv);
	/* At build: whether its file is there at all (NULL: as the table's needs say). */
	bool (*exists)(struct fs *fs, void *priv);
	/* Once the node exists: fills a directory, or notes the inode. */
	int (*build)(struct fs *fs, fuse_ino_t ino);
	/* Mounted: start taking the dirty sweep's news of guest writes. */
	void (*attach)(void *priv, struct dirty *dirty);
	/* After the session has ended and the sweep has stopped. */
	void (*exit)(void *priv);
	/*
	 * The node of inode fs_dyn_ino(kind, key): the kind's own, made when
	 * first asked for and kept until exit (NULL: no such key).  For the
	 * entries of directories derived at read time (fs_kind_ops.lookup).
	 */
	struct fs_node *(*node)(struct fs *fs, void *priv, uint64_t key);
};

/*
 * Inode numbers from FS_INO_DYNAMIC up are no entries of the node table but
 * a kind's own: its place in tree.c's table in bits 56-62, its key (below
 * 2^56) in the rest.  fs_node_get hands them to the kind's node hook.
 */
#define FS_INO_DYNAMIC (1ULL << 63)
fuse_ino_t fs_dyn_ino(const struct fs_kind *kind, uint64_t key);
struct fs_node *fs_tree_dyn_node(struct fs *fs, fuse_ino_t ino);

/* A directory listing being filled: the session's, handed to fs_kind_ops.list. */
struct fs_dirbuf;
/*
 * One entry; next is the offset a READDIR resumes after it at (above 2:
 * "." and ".." take 1 and 2).  False: the reply is full, stop.
 */
bool fs_dirbuf_add(struct fs_dirbuf *d, const char *name, fuse_ino_t ino, mode_t mode, off_t next);

/* The kind's state init() made; NULL for a kind without init. */
void *fs_kind_priv(struct fs *fs, const struct fs_kind *kind);

/* One entry of the fixed part of the tree (tree.c's table). */
struct fs_file {
	const char *name;
	const struct fs_kind *kind;
	mode_t mode;
	/* The text kind: the text of one snapshot. */
	void (*render)(struct fs *fs, struct strbuf *sb);
	unsigned needs; /* enum fs_needs (tree.c): when the file exists */
};

struct fs_node {
	char *name; /* as shown, already encoded */
	const struct fs_kind_ops *ops;
	mode_t mode;
	fuse_ino_t parent;
	const struct fs_file *file; /* its entry of the fixed table; NULL: added by a kind */
	/*
	 * What the node shows, as the kind that added it says (see its file):
	 * fs_add_block sets priv to the block; block_bytes files keep it so.
	 */
	void *priv;
	unsigned long arg;
	/* Directories: children in creation order, as inode numbers (0: none). */
	fuse_ino_t first_child, last_child, next_sibling;
	unsigned nr_subdirs;
	/*
	 * Files the kernel caches (RAM files, phys): one bit per 4 KiB page a
	 * READ or WRITE went through since the page's last invalidation - the
	 * pages the kernel may hold.  Atomic; see cache.c.  NULL: unknown,
	 * every page may be cached.
	 */
	uint64_t *cached;
	uint64_t cached_pages;
};

struct fs {
	struct vm *vm;
	struct fs_config cfg;
	char *mountpoint;
	uid_t uid;
	gid_t gid;
	struct timespec start;

	/* nodes[ino - 1]; built in fs_mount and never changed after. */
	struct fs_node *nodes;
	size_t nr_nodes;
	size_t cap_nodes;
	/* Per entry of tree.c's table: its kind's state (set at the kind's first entry). */
	void **kind_priv;
	/*
	 * FS_ZEROS bytes of zeros, read-only, that replies point at for holes
	 * (reply.c).  Every file of guest memory replies with it, so the
	 * session holds it rather than any one kind.
	 */
	const char *zeros;
	/*
	 * cache.c's, shared by every view of guest memory: the listener that
	 * hears of the guest's writes, and the file that shows them at their
	 * guest-physical addresses (phys; 0: none), which every write must
	 * invalidate besides the block's own file.
	 */
	struct dirty_listener cache_listener;
	fuse_ino_t cache_gpa_ino;
	/* The sweep, whose dirty logging open files hold (fs_dirty_log_hold); NULL: none. */
	struct dirty *dirty;

	struct fuse_session *se;
	/* FUSE passthrough, negotiated per session (passthrough.c); RAM files use it. */
	struct fs_passthrough pt;
	bool mounted;
	int fuse_last_fd; /* a copy of the session's /dev/fuse fd, see fs_hold_fuse_last() */
	/*
	 * live_lock guards live: true from the kernel's INIT until fs_unmount
	 * starts, the only time notifications may be sent on se.  Writers are
	 * the FUSE init handler and fs_unmount; the dirty thread reads it.
	 */
	pthread_rwlock_t live_lock;
	bool live;
	/* handles_lock guards handles: open files that own memory (see session.c). */
	pthread_mutex_t handles_lock;
	struct fs_handle *handles;
	/* The session loop's thread (fs_start) and how it ended. */
	pthread_t loop_thread;
	bool loop_started;
	bool loop_done; /* atomic: set by the loop thread as it returns */
	int loop_ret;
};

/* What each kind of node does; a NULL entry answers the request as noted. */
struct fs_kind_ops {
	/* After the access checks; sets fi flags and fi->fh. */
	int (*open)(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi);
	void (*read)(struct fs *fs, struct fs_node *n, fuse_req_t req, size_t size, off_t off,
	             struct fuse_file_info *fi);
	/* NULL: EACCES, the file was not opened for writing. */
	void (*write)(struct fs *fs, struct fs_node *n, fuse_req_t req, const char *buf,
	              size_t size, off_t off, struct fuse_file_info *fi);
	/* The file is closed (or the session ends with it open): free what fi->fh owns. */
	void (*release)(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi);
	/* st_size; -errno when it cannot be computed. */
	int (*size)(struct fs *fs, struct fs_node *n, uint64_t *size);
	/* Host bytes behind the file, for st_blocks; NULL: as many as st_size. */
	uint64_t (*resident)(struct fs *fs, struct fs_node *n);
	/* SEEK_DATA/SEEK_HOLE (off >= 0); NULL: no holes but the end of the file. */
	int (*lseek)(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi, uint64_t off,
	             int whence, uint64_t *out);
	bool dir;        /* a directory: no open, read or write */
	bool dynamic;    /* attributes change: the kernel must not cache them */
	bool live_mtime; /* changes whenever the guest does: mtime is now */
	bool writable;   /* open for writing allowed (RAM-like: only with --writable) */
	bool ram_mode;   /* guest memory: mode 0400, 0600 with --writable */
	/* Caches the bytes of priv (a ram_block) at their block offsets: guest writes invalidate
	 * it. */
	bool block_bytes;
	/* A shell's "> file" (truncate to 0 without O_TRUNC) is harmless here. */
	bool truncate_ok;
	/*
	 * A node of the table that is there only at times (NULL: always):
	 * false hides it from lookup and listing.  Must be cheap.
	 */
	bool (*visible)(struct fs *fs, struct fs_node *n);
	/*
	 * Directories whose entries are derived when asked, not kept in the
	 * table: the inode of name (-ENOENT: none), and the listing from
	 * offset off on (entries whose next is above off).
	 */
	int (*lookup)(struct fs *fs, struct fs_node *dir, const char *name, fuse_ino_t *ino);
	void (*list)(struct fs *fs, struct fs_node *dir, off_t off, struct fs_dirbuf *d);
};

/* Directories: listed and looked up by the session, nothing of their own (inode.c). */
extern const struct fs_kind_ops fs_dir_ops;

/* ---- tree.c: the fixed table, for the session ---- */
/* Every kind's init; on failure *failed names the kind and nothing is left set up. */
int fs_tree_init(struct fs *fs, const char **failed);
/* The root, the table's files that exist, and what their kinds build under them. */
int fs_tree_build(struct fs *fs);
void fs_tree_attach(struct fs *fs, struct dirty *dirty);
void fs_tree_exit(struct fs *fs);

/* ---- inode.c: the inode table ---- */
struct fs_node *fs_node_get(struct fs *fs, fuse_ino_t ino);
fuse_ino_t fs_node_ino(struct fs *fs, const struct fs_node *n);
fuse_ino_t fs_node_find(struct fs *fs, fuse_ino_t dir, const char *name);
/* Adds a node under parent (0: the root itself); *ino is its number. */
int fs_node_add(struct fs *fs, fuse_ino_t parent, const char *name, const struct fs_kind_ops *ops,
                mode_t mode, fuse_ino_t *ino);
void fs_nodes_free(struct fs *fs);
/* Directories for rb's idstr under top, then its file (name + suffix); see inode.c. */
int fs_add_dirs(struct fs *fs, fuse_ino_t top, const char *idstr, fuse_ino_t *dir,
                const char **last);
int fs_add_block(struct fs *fs, fuse_ino_t top, struct ram_block *rb, const char *suffix,
                 const struct fs_kind_ops *ops, fuse_ino_t *ino);

/* ---- cache.c ---- */
/*
 * Start receiving the dirty sweep's news of guest writes, and of blocks
 * whose logging stopped (their cached pages are dropped then).
 */
void fs_cache_attach(struct fs *fs, struct dirty *dirty);
/*
 * Dirty logging of rb (NULL: every RAM block) for an open file that needs
 * to hear of the guest's writes: its cache must be kept true (a cached RAM
 * file, phys), or it counts them (dirty/).  Hold it in open, before any
 * read is answered, and drop it in release; -errno when KVM refuses.
 */
int fs_dirty_log_hold(struct fs *fs, struct ram_block *rb);
void fs_dirty_log_drop(struct fs *fs, struct ram_block *rb);
/* fi->fh of an open cached file of guest memory that holds dirty logging. */
#define FS_FH_LOG_HELD 1
/*
 * Drop the kernel's cached copies of [off, off+len) of rb in every file that
 * shows it (ramblocks/<idstr>, and phys at each GPA mapping it), except
 * within [skip_off, skip_off+skip_len) of inode skip_ino: the range a write
 * is going through, whose pages the kernel holds locked and right.  A write
 * calls it before replying, so that its writer's next read of any view
 * sees the bytes; other ranges' and inodes' pages are never locked by it.
 */
struct fs_skip {
	fuse_ino_t ino;
	uint64_t off, len;
};
void fs_invalidate_bytes(struct fs *fs, struct ram_block *rb, uint64_t off, uint64_t len,
                         const struct fs_skip *skip);
/* Keep track of the pages of n (size bytes) the kernel may cache. */
int fs_cache_track(struct fs_node *n, uint64_t size);
/* The same for the file that shows guest memory at its GPAs (size bytes). */
int fs_cache_track_gpa(struct fs *fs, fuse_ino_t ino, uint64_t size);
/*
 * A READ or WRITE of [off, off+len) of n is being answered: from now on the
 * kernel may cache those pages.  Called before guest memory is touched.
 */
void fs_cache_note(struct fs_node *n, uint64_t off, uint64_t len);

/*
 * ---- snapshot.c: rendered files, a reference-counted snapshot behind fi->fh,
 * read and freed by these ----
 */
int fs_text_hand_out(struct strbuf *sb, struct fuse_file_info *fi);
/*
 * The open file reads sb from now on (it takes sb's buffer); a reply still
 * being sent from the old snapshot finishes first.  lock guards the swap
 * against fs_text_read_locked with the same lock.
 */
int fs_text_replace(struct fuse_file_info *fi, struct strbuf *sb, pthread_mutex_t *lock);
/* fs_text_read for a file whose snapshot fs_text_replace may swap under lock. */
void fs_text_read_locked(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi,
                         pthread_mutex_t *lock);
void fs_text_read(struct fs *fs, struct fs_node *n, fuse_req_t req, size_t size, off_t off,
                  struct fuse_file_info *fi);
void fs_text_release(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi);

/* ---- ramblocks.c: the rules of opening a file of guest memory (phys shares them) ---- */
/* No O_TRUNC, cache kept (or direct_io). */
int fs_ram_open(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi);
/*
 * How ramblocks/<idstr> of rb is served: "passthrough", "cached" or
 * "direct" (-o direct_io); an attached QEMU's block read from its process
 * "process", one that could not be verified (and has no file) "unverified".
 * Decides it if no open has yet.
 */
const char *fs_ram_io(struct fs *fs, struct ram_block *rb);

/* ---- reply.c: replies of guest memory and the checks of writes into it ---- */
/* The session's FS_ZEROS bytes of zeros (fs->zeros), and their end. */
int fs_zeros_new(const char **zeros);
void fs_zeros_free(const char *zeros);

/*
 * A READ's reply gathered from the pieces a model walk hands out (an
 * as_piece_fn): guest memory goes to /dev/fuse straight from where it lies,
 * holes from fs->zeros, so neither is copied here and no page of guest
 * memory that nobody populated is touched.  Past FS_REPLY_IOV pieces (more
 * than a 1 MiB read of alternating pages makes) the rest is copied into one
 * buffer.
 */
#define FS_REPLY_IOV 1000 /* below writev's 1024, with libfuse's header */
struct fs_reply {
	const char *zeros;
	size_t size, len; /* bytes wanted, bytes gathered */
	int nr;
	char *tail; /* the last iov's buffer once the array is full */
	int err;
	bool strict; /* what the walk left out is an error (EIO), not zeros */
	struct iovec iov[FS_REPLY_IOV];
};
void fs_reply_init(struct fs_reply *r, struct fs *fs, size_t size);
int fs_reply_piece(void *opaque, const void *bytes, size_t len);
/* Sends what was gathered (zeros for whatever is missing) and frees it. */
void fs_reply_send(struct fs_reply *r, fuse_req_t req);

/* Clip [off, off+*len) to a file of size bytes; false when nothing is left. */
bool fs_clip(uint64_t off, size_t *len, uint64_t size);
/*
 * The checks every write into guest memory makes: --writable, a sane
 * offset, a non-empty request that starts inside the file (clipped to it).
 * False when it already replied.
 */
bool fs_write_begin(struct fs *fs, fuse_req_t req, off_t off, size_t *size, uint64_t file_size);

#endif
