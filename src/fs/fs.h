/*
 * fs.h - the FUSE tree.  It renders what the VM's model holds (RAM blocks,
 * regions, flat view, memslots, console, run state) and computes no layout
 * itself.
 */
#ifndef KVMFS_FS_FS_H
#define KVMFS_FS_FS_H

#include <stdbool.h>
#include <stddef.h>

struct vm;
struct dirty;
struct fs;

struct fs_config {
	const char *mountpoint;
	bool writable;       /* RAM files accept write() and shared writable mmap */
	bool direct_io;      /* every read goes to guest memory; no shared mmap */
	bool no_passthrough; /* RAM files never pass through to their memfds */
	bool allow_other;    /* other users may enter the mount (mode bits still apply) */
	/* -vmcoreinfo FILE: the text of vmcore's VMCOREINFO note (NULL: the guest's or derived). */
	const char *vmcoreinfo;
	size_t vmcoreinfo_len;
};

/*
 * Check a mountpoint before anything is built: it must exist, be a
 * directory and be empty (and not already be a FUSE mount).
 */
int fs_check_mountpoint(const char *path, char *err, size_t errlen);
/* Mount the tree; the guest's writes reach it through dirty's listener. */
int fs_mount(struct vm *vm, struct dirty *dirty, const struct fs_config *cfg, struct fs **out,
             char *err, size_t errlen);
/* Serve requests in a thread of its own (and the workers it starts). */
int fs_start(struct fs *fs);
/* True once the session ended by itself (fusermount3 -u, or an error). */
bool fs_done(struct fs *fs);
/*
 * End the session, unmount and free.  Call it only after the dirty sweep
 * and the vCPUs have stopped: their invalidations need the session served.
 */
void fs_unmount(struct fs *fs);
/* The version of the libfuse kvmfs runs with (not the one it was built against). */
const char *fs_fuse_version(void);

#endif
