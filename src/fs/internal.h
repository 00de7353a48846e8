/*
 * fs_internal.h - what the files of the FUSE tree share: the node table,
 * the per-kind operations, and the helpers the kinds call.  Not a public
 * header: only the files of src/fs/ include it.
 *
 * Calls flow one way.  fs.c (the FUSE session, its operations and the
 * fixed part of the tree) calls the kinds' builders and reaches their
 * files only through each node's ops; the kinds - fs_ram.c, fs_text.c,
 * fs_console.c, fs_ctl.c, fs_phys.c, fs_vmcore.c, fs_dirty.c, fs_vcpu.c -
 * call down into the shared helpers of fs_node.c (the inode table),
 * fs_text.c (rendered snapshots), fs_ram.c (the rules of files of guest
 * memory) and fs_inval.c (keeping the kernel's cache true), and never up.
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

#include "kvm/dirty_blocks.h"
#include "fs/fs.h"

struct dirty;
struct guestkernel;
struct strbuf;
struct ram_block;
struct vm;

/* Wakes the session loop so that it sees fuse_session_exit(). */
#define FS_WAKE_SIGNAL SIGUSR2
#define FS_IO_MAX      (1u << 20) /* max_write and readahead we ask the kernel for */
#define FS_ZEROS       (1u << 20) /* bytes of fs->zeros: the longest piece of a hole */

struct fs_kind_ops;

/* One entry of the fixed part of the tree (fs.c's table). */
struct fs_file {
	const char *name;
	const struct fs_kind_ops *ops;
	mode_t mode;
	/* fs_text_ops, fs_ctl_ops: the text of one snapshot. */
	void (*render)(struct vm *vm, struct strbuf *sb);
	/* Called once the node exists: fills a directory, or notes the inode. */
	int (*build)(struct fs *fs, fuse_ino_t ino);
	unsigned needs; /* enum fs_needs (fs.c): when the file exists */
};

struct fs_node {
	char *name; /* as shown, already encoded */
	const struct fs_kind_ops *ops;
	mode_t mode;
	fuse_ino_t parent;
	const struct fs_file *file;      /* an entry of the fixed table */
	struct ram_block *rb;            /* the block a RAM or dirty/ file shows */
	unsigned cpu;                    /* files under vcpus/<cpu>/ */
	const void *what;                /* vcpus/: which file of fs_vcpu.c's table */
	struct dirty_block *dlb;         /* dirty/ files ... */
	enum dirty_blocks_reader reader; /* ... and which of its two files */
	/* Directories: children in creation order, as inode numbers (0: none). */
	fuse_ino_t first_child, last_child, next_sibling;
	unsigned nr_subdirs;
	/*
	 * Files the kernel caches (RAM files, phys): one bit per 4 KiB page a
	 * READ or WRITE went through since the page's last invalidation - the
	 * pages the kernel may hold.  Atomic; see fs_inval.c.  NULL: unknown,
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
	fuse_ino_t phys_ino;
	/*
	 * FS_ZEROS bytes of zeros, read-only, that replies point at for holes
	 * (fs_reply_piece).  Real pages, not the kernel's zero page: the
	 * kernel takes a reply's pages with get_user_pages, whose fast path
	 * refuses the zero page (a special mapping): the slow path cost a
	 * fifth of the time of a hole read (O_DIRECT: ~5.5 GB/s, 7.5 without).
	 */
	const char *zeros;

	struct fuse_session *se;
	bool mounted;
	int fuse_last_fd; /* a copy of the session's /dev/fuse fd, see fs_hold_fuse_last() */
	struct dirty_listener dirty;
	struct dirty_blocks dirty_blocks;
	/* kernel_lock guards kernel: the last guest kernel vmcore found, a hint for the next. */
	pthread_mutex_t kernel_lock;
	struct guestkernel *kernel; /* NULL: none found yet */
	/* translate_lock guards translate_va[] and which snapshot an open translate file reads. */
	pthread_mutex_t translate_lock;
	uint64_t *translate_va; /* per vCPU: the last address written, ~0: none */
	/*
	 * live_lock guards live: true from the kernel's INIT until fs_unmount
	 * starts, the only time notifications may be sent on se.  Writers are
	 * the FUSE init handler and fs_unmount; the dirty thread reads it.
	 */
	pthread_rwlock_t live_lock;
	bool live;
	/* handles_lock guards handles: open files that own memory (see fs.c). */
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
	void (*release)(struct fuse_file_info *fi);
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
	/* Caches rb's bytes at their block offsets: guest writes invalidate it. */
	bool block_bytes;
	/* A shell's "> file" (truncate to 0 without O_TRUNC) is harmless here. */
	bool truncate_ok;
};

/* The kinds the fixed table of fs.c names; the others stay in their files. */
extern const struct fs_kind_ops fs_dir_ops, fs_text_ops, fs_console_ops, fs_ctl_ops, fs_phys_ops,
        fs_vmcore_ops;

/* ---- fs_node.c: the inode table ---- */
struct fs_node *fs_node_get(struct fs *fs, fuse_ino_t ino);
fuse_ino_t fs_node_ino(struct fs *fs, const struct fs_node *n);
fuse_ino_t fs_node_find(struct fs *fs, fuse_ino_t dir, const char *name);
/* Adds a node under parent (0: the root itself); *ino is its number. */
int fs_node_add(struct fs *fs, fuse_ino_t parent, const char *name, const struct fs_kind_ops *ops,
                mode_t mode, fuse_ino_t *ino);
void fs_nodes_free(struct fs *fs);
/* Directories for rb's idstr under top, then its file (name + suffix); see fs_node.c. */
int fs_add_dirs(struct fs *fs, fuse_ino_t top, const char *idstr, fuse_ino_t *dir,
                const char **last);
int fs_add_block(struct fs *fs, fuse_ino_t top, struct ram_block *rb, const char *suffix,
                 const struct fs_kind_ops *ops, fuse_ino_t *ino);

/* ---- builders of the directories and files the kinds own (fs.c calls them) ---- */
int fs_ram_build(struct fs *fs, fuse_ino_t top);
int fs_dirty_build(struct fs *fs, fuse_ino_t top);
int fs_vcpu_build(struct fs *fs, fuse_ino_t top);
int fs_phys_attach(struct fs *fs, fuse_ino_t ino);
int fs_vcpu_init(struct fs *fs);
void fs_vcpu_exit(struct fs *fs);
void fs_vmcore_init(struct fs *fs);
void fs_vmcore_exit(struct fs *fs);

/* ---- fs_ctl.c ---- */
void fs_ctl_render(struct vm *vm, struct strbuf *sb);

/* ---- fs_inval.c ---- */
/* Start receiving the dirty sweep's news of guest writes. */
void fs_inval_attach(struct fs *fs, struct dirty *dirty);
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
/*
 * A READ or WRITE of [off, off+len) of n is being answered: from now on the
 * kernel may cache those pages.  Called before guest memory is touched.
 */
void fs_cache_note(struct fs_node *n, uint64_t off, uint64_t len);

/*
 * ---- fs_text.c: rendered files, a reference-counted snapshot behind fi->fh,
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
/* Open and stat of a fixed-table file: its render() into a snapshot. */
int fs_text_open(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi);
int fs_text_size(struct fs *fs, struct fs_node *n, uint64_t *size);
void fs_text_read(struct fs *fs, struct fs_node *n, fuse_req_t req, size_t size, off_t off,
                  struct fuse_file_info *fi);
void fs_text_release(struct fuse_file_info *fi);

/* ---- fs_ram.c: the rules every file of guest memory follows ---- */
/* Opening a file of guest memory: no O_TRUNC, cache kept (or direct_io). */
int fs_ram_open(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi);

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
