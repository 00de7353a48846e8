/*
 * fs_internal.h - what the files of the FUSE tree share: the node table,
 * the per-kind operations, and the helpers the kinds call.  fs.c owns the
 * tree, the FUSE operations and the RAM/text/console/ctl kinds;
 * fs_phys.c the guest-physical views (phys, vmcore), fs_vcpu.c the vcpus/
 * directory, fs_dirty.c the dirty/ directory.  Not a public header: only
 * src/fs*.c include it.
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
#include <time.h>

#include "kvmfs/dirtylog.h"
#include "kvmfs/fs.h"

struct strbuf;
struct ram_block;
struct vm;

/* Wakes the session loop so that it sees fuse_session_exit(). */
#define FS_WAKE_SIGNAL SIGUSR2
#define FS_IO_MAX (1u << 20) /* max_write and readahead we ask the kernel for */

enum fs_kind {
	FS_DIR,
	FS_RAM,
	FS_TEXT,      /* rendered at open */
	FS_CONSOLE,   /* grows; read live */
	FS_CTL,       /* rendered at open, commands written */
	FS_PHYS,      /* guest-physical address space */
	FS_VMCORE,    /* ELF core, header built at open */
	FS_VCPU_TEXT, /* a vCPU's registers, rendered at open */
	FS_TRANSLATE, /* write a virtual address, read its page walk */
	FS_VMEM,      /* a vCPU's virtual address space */
	FS_DIRTY,     /* what the guest wrote since the last read */
	FS_NR_KINDS,
};

/* One entry of the fixed part of the tree. */
struct fs_file {
	const char *name;
	enum fs_kind kind;
	mode_t mode;
	void (*render)(struct vm *vm, struct strbuf *sb);
};

struct fs_node {
	char *name; /* as shown, already encoded */
	enum fs_kind kind;
	mode_t mode;
	fuse_ino_t parent;
	const struct fs_file *file;  /* FS_TEXT, FS_CTL */
	struct ram_block *rb;        /* FS_RAM */
	unsigned cpu;                /* FS_VCPU_TEXT, FS_TRANSLATE, FS_VMEM */
	const void *what;            /* FS_VCPU_TEXT: which file of fs_vcpu.c's table */
	struct dirtylog_block *dlb;  /* FS_DIRTY ... */
	enum dirtylog_reader reader; /* ... and which of its two files */
	/* FS_DIR: children in creation order, as inode numbers (0: none). */
	fuse_ino_t first_child, last_child, next_sibling;
	unsigned nr_subdirs;
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

	struct fuse_session *se;
	bool mounted;
	struct dirty_listener dirty;
	struct dirtylog dirtylog;
	/* translate_lock guards translate_va[] and the text of open translate files. */
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
	bool dynamic;  /* attributes change: the kernel must not cache them */
	bool writable; /* open for writing allowed (RAM-like: only with --writable) */
	bool ram_mode; /* guest memory: mode 0400, 0600 with --writable */
};

extern const struct fs_kind_ops fs_phys_ops, fs_vmcore_ops, fs_vcpu_text_ops, fs_translate_ops,
        fs_vmem_ops, fs_dirty_ops;

struct fs_node *fs_node_get(struct fs *fs, fuse_ino_t ino);
fuse_ino_t fs_node_ino(struct fs *fs, const struct fs_node *n);
int fs_node_add(struct fs *fs, fuse_ino_t parent, const char *name, enum fs_kind kind, mode_t mode,
                fuse_ino_t *ino);
/* Directories for rb's idstr under top, then its file (name + suffix); see fs.c. */
int fs_add_dirs(struct fs *fs, fuse_ino_t top, const char *idstr, fuse_ino_t *dir,
                const char **last);
int fs_add_block(struct fs *fs, fuse_ino_t top, struct ram_block *rb, const char *suffix,
                 enum fs_kind kind, fuse_ino_t *ino);

/* Builders of the directories the other files own. */
int fs_vcpu_build(struct fs *fs, fuse_ino_t top);
int fs_dirty_build(struct fs *fs, fuse_ino_t top);
int fs_vcpu_init(struct fs *fs);
void fs_vcpu_exit(struct fs *fs);

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

/* Rendered files: a strbuf in fi->fh, read and freed by these. */
int fs_text_hand_out(struct strbuf *sb, struct fuse_file_info *fi);
void fs_text_read(struct fs *fs, struct fs_node *n, fuse_req_t req, size_t size, off_t off,
                  struct fuse_file_info *fi);
void fs_text_release(struct fuse_file_info *fi);

/* Opening a file of guest memory: no O_TRUNC, cache kept (or direct_io). */
int fs_ram_open(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi);

/* Clip [off, off+*len) to a file of size bytes; false when nothing is left. */
bool fs_clip(uint64_t off, size_t *len, uint64_t size);
/*
 * The checks every write into guest memory makes: --writable, a sane
 * offset, a non-empty request that starts inside the file (clipped to it).
 * False when it already replied.
 */
bool fs_write_begin(struct fs *fs, fuse_req_t req, off_t off, size_t *size, uint64_t file_size);

#endif
