/*
 * passthrough.h - FUSE passthrough: a file of the tree whose reads, writes
 * and mappings the kernel sends straight to a backing file (a RAM block's
 * memfd), never to kvmfs.  The FUSE file then *is* guest memory: read at
 * the memfd's own speed, no page cache of its own, and a shared mapping
 * that is the guest's page.
 *
 * The kernel (6.9+, CONFIG_FUSE_PASSTHROUGH) offers it at INIT; a backing
 * file is registered once with FUSE_DEV_IOC_BACKING_OPEN, which needs
 * CAP_SYS_ADMIN in the initial user namespace, and each OPEN reply names
 * it.  libfuse 3.17 has an API for that; Debian 12's 3.14 has none, so
 * there this module installs libfuse's custom-io hooks (3.13+) and adds the
 * two fields 3.14 does not know to the INIT and OPEN replies on their way
 * to /dev/fuse: the same bytes 3.17 sends.
 *
 * Whatever refuses it - a kernel without it, no privilege - the caller
 * serves the file the ordinary way; fs_pt_why() says why, once.
 *
 * The same INIT reply also asks for FUSE_DIRECT_IO_ALLOW_MMAP (Linux 6.6+;
 * 3.17's FUSE_CAP_DIRECT_IO_ALLOW_MMAP, unknown to 3.14) where the kernel
 * offers it: a direct_io file may then be mapped shared, its mapping filled
 * through READs into the page cache as a cached file's.  phys uses it to
 * read without a page cache (fs_pt_direct_mmap).  Not with -o direct_io,
 * whose files stay unmappable as documented.
 */
#ifndef KVMFS_FS_PASSTHROUGH_H
#define KVMFS_FS_PASSTHROUGH_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 34
#endif

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct fs_passthrough {
	pthread_mutex_t lock; /* guards state, err and the INIT bookkeeping */
	struct fuse_session *se;
	enum {
		FS_PT_UNKNOWN, /* no INIT yet, or nothing registered yet */
		FS_PT_ON,      /* the kernel offered it and a registration succeeded */
		FS_PT_OFF,     /* refused: err says why */
	} state;
	int err;              /* -errno of the refusal (-EOPNOTSUPP: the kernel did not offer it) */
	bool offered;         /* the kernel's INIT offered FUSE_PASSTHROUGH */
	bool hooked;          /* 3.14: the custom-io hooks are installed */
	bool mmap_offered;    /* the kernel's INIT offered FUSE_DIRECT_IO_ALLOW_MMAP */
	bool mmap_wanted;     /* kvmfs asks for it (fs_pt_conn_init: not with -o direct_io) */
	bool direct_mmap;     /* ...and the INIT reply took it: direct_io files map shared */
	uint64_t init_unique; /* 3.14: the INIT request whose reply gets the flag */
};

/* Before the session loop starts; se is mounted.  -errno: the hooks could not be installed. */
int fs_pt_init(struct fs_passthrough *pt, struct fuse_session *se);
void fs_pt_exit(struct fs_passthrough *pt);
/* From the FUSE init handler: ask for passthrough where the kernel offers it. */
void fs_pt_conn_init(struct fs_passthrough *pt, struct fuse_conn_info *conn);

/*
 * Register fd as a backing file (from a request's handler: the connection
 * is up).  The id (> 0) is kept by the caller and given to every open of
 * the file; -errno when passthrough is off, the first refusal deciding
 * for all.
 */
int fs_pt_register(struct fs_passthrough *pt, int fd);
/* Make the OPEN reply of fi a passthrough onto backing id. */
void fs_pt_open(struct fs_passthrough *pt, struct fuse_file_info *fi, int id);
/* True when fi's handle was set by fs_pt_open (its release has nothing of kvmfs's to free). */
bool fs_pt_is_handle(uint64_t fh);

/*
 * True once the connection has FUSE_DIRECT_IO_ALLOW_MMAP: a direct_io file
 * can be mapped shared (without it mmap fails with ENODEV).  Settled at
 * INIT, before any open.
 */
bool fs_pt_direct_mmap(struct fs_passthrough *pt);

/* Why passthrough is off, for the one stderr line and ramblocks.json; NULL when it is not. */
const char *fs_pt_why(const struct fs_passthrough *pt);

/*
 * The wire, exported for the unit test: the INIT request offered it
 * (in: the request's bytes), and the patch of one reply (out: the iov
 * libfuse sends, count entries; patched copies go to *buf, which must
 * hold FS_PT_PATCH_MAX bytes).  Both return true when they acted.
 */
#define FS_PT_PATCH_MAX 128
bool fs_pt_wire_request(struct fs_passthrough *pt, const void *in, size_t len);
bool fs_pt_wire_reply(struct fs_passthrough *pt, struct iovec *iov, int count, void *buf);

#endif
