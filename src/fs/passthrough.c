/*
 * passthrough.c - FUSE passthrough onto backing files (see passthrough.h).
 *
 * Two routes to the same bytes on /dev/fuse.  With libfuse 3.17 or later,
 * its API: FUSE_CAP_PASSTHROUGH at INIT, fuse_passthrough_open() and
 * fi->backing_id.  With Debian 12's 3.14, which has no such API, the
 * custom-io hooks libfuse has had since 3.13: the read hook sees the
 * kernel's INIT (did it offer passthrough?), the writev hook adds the
 * passthrough flag, INIT_EXT and a stack depth of 1 to the INIT reply
 * (fields 3.14 sends as zeros), and turns an OPEN reply whose handle
 * carries FS_PT_TAG into a passthrough onto the backing id the handle
 * holds.  Nothing else on the wire is touched.  The registration itself is
 * one ioctl on the session's fd, the same in both routes.
 *
 * FUSE_DIRECT_IO_ALLOW_MMAP rides on the same INIT reply: 3.17's
 * FUSE_CAP_DIRECT_IO_ALLOW_MMAP, or on 3.14 one more bit the writev hook
 * sets when the kernel's INIT offered it.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util/compiler.h"

#include "fs/internal.h"
#include "fs/passthrough.h"

#define FS_PT_HAVE_API (FUSE_VERSION >= FUSE_MAKE_VERSION(3, 17))

/*
 * The kernel's FUSE ABI, as far as this file needs it.  Debian 12's
 * <linux/fuse.h> predates passthrough (kernel 6.9), so the fields are
 * spelled out here; the layouts are fixed by the protocol.
 */
#define PT_OP_INIT            26
#define PT_INIT_EXT           (1u << 30) /* flags: flags2 is valid */
#define PT_FLAGS2_PASSTHROUGH (1u << 5)  /* FUSE_PASSTHROUGH is bit 37 of flags|flags2<<32 */
#define PT_FLAGS2_DIO_MMAP    (1u << 4)  /* FUSE_DIRECT_IO_ALLOW_MMAP, bit 36 */
#define PT_FOPEN_KEEP_CACHE   (1u << 1)
#define PT_FOPEN_PASSTHROUGH  (1u << 7)
/* Nothing stacks on kvmfs's files: the kernel counts kvmfs itself as 1. */
#define PT_STACK_DEPTH 1

struct pt_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
#define PT_IOC_BACKING_OPEN  _IOW(229, 1, struct pt_backing_map)
#define PT_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

struct pt_in_header {
	uint32_t len, opcode;
	uint64_t unique, nodeid;
	uint32_t uid, gid, pid;
	uint16_t total_extlen, padding;
};

struct pt_init_in {
	uint32_t major, minor, max_readahead, flags, flags2;
};

struct pt_out_header {
	uint32_t len;
	int32_t error;
	uint64_t unique;
};

struct pt_init_out {
	uint32_t major, minor, max_readahead, flags;
	uint16_t max_background, congestion_threshold;
	uint32_t max_write, time_gran;
	uint16_t max_pages, map_alignment;
	uint32_t flags2, max_stack_depth;
};

struct pt_open_out {
	uint64_t fh;
	uint32_t open_flags;
	int32_t backing_id; /* "padding" to libfuse 3.14 */
};

_Static_assert(sizeof(struct pt_in_header) == 40, "fuse_in_header");
_Static_assert(sizeof(struct pt_out_header) == 16, "fuse_out_header");
_Static_assert(offsetof(struct pt_init_out, max_stack_depth) == 36, "fuse_init_out");
_Static_assert(sizeof(struct pt_open_out) == 16, "fuse_open_out");
_Static_assert(sizeof(struct pt_init_out) <= FS_PT_PATCH_MAX, "patch buffer");

/*
 * A passthrough handle: the tag in the high half (never a user-space
 * pointer, which other files keep in fi->fh), the backing id in the low.
 */
#define FS_PT_TAG 0xfe7c0000u

static void pt_refuse(struct fs_passthrough *pt, int err)
{
	if (pt->state != FS_PT_OFF) {
		pt->state = FS_PT_OFF;
		pt->err = err;
	}
}

/*
 * Shared mappings of direct_io files, unless -o direct_io asked for every
 * file to be read from guest memory and none to be mapped shared.  pt is
 * the session's (fs_pt_conn_init is called only for it).
 */
static bool pt_want_direct_mmap(struct fs_passthrough *pt)
{
	return !container_of(pt, struct fs, pt)->cfg.direct_io;
}

bool fs_pt_wire_request(struct fs_passthrough *pt, const void *in, size_t len)
{
	struct pt_in_header h;
	struct pt_init_in init;

	if (len < sizeof(h) + sizeof(init))
		return false;
	memcpy(&h, in, sizeof(h));
	if (h.opcode != PT_OP_INIT)
		return false;
	memcpy(&init, (const char *)in + sizeof(h), sizeof(init));
	pthread_mutex_lock(&pt->lock);
	pt->init_unique = h.unique;
	pt->offered = (init.flags & PT_INIT_EXT) && (init.flags2 & PT_FLAGS2_PASSTHROUGH);
	pt->mmap_offered = (init.flags & PT_INIT_EXT) && (init.flags2 & PT_FLAGS2_DIO_MMAP);
	if (!pt->offered)
		pt_refuse(pt, -EOPNOTSUPP);
	pthread_mutex_unlock(&pt->lock);
	return true;
}

bool fs_pt_wire_reply(struct fs_passthrough *pt, struct iovec *iov, int count, void *buf)
{
	struct pt_out_header h;
	bool init, pass, mmap;

	if (count != 2 || iov[0].iov_len != sizeof(h) || iov[1].iov_len > FS_PT_PATCH_MAX)
		return false;
	memcpy(&h, iov[0].iov_base, sizeof(h));
	if (h.error || !h.unique)
		return false; /* errors and the kernel's notifications */
	pthread_mutex_lock(&pt->lock);
	init = h.unique == pt->init_unique && iov[1].iov_len >= sizeof(struct pt_init_out);
	pass = init && pt->offered;
	mmap = init && pt->mmap_offered && pt->mmap_wanted;
	if (mmap)
		pt->direct_mmap = true; /* the kernel takes an offered flag as it comes */
	pthread_mutex_unlock(&pt->lock);

	if (pass || mmap) {
		struct pt_init_out o;

		memcpy(buf, iov[1].iov_base, iov[1].iov_len);
		memcpy(&o, buf, sizeof(o));
		o.flags |= PT_INIT_EXT;
		if (pass) {
			o.flags2 |= PT_FLAGS2_PASSTHROUGH;
			o.max_stack_depth = PT_STACK_DEPTH;
		}
		if (mmap)
			o.flags2 |= PT_FLAGS2_DIO_MMAP;
		memcpy(buf, &o, sizeof(o));
		iov[1].iov_base = buf;
		return true;
	}
	if (iov[1].iov_len == sizeof(struct pt_open_out)) {
		struct pt_open_out o;

		memcpy(&o, iov[1].iov_base, sizeof(o));
		if (!fs_pt_is_handle(o.fh))
			return false;
		/* The kernel refuses KEEP_CACHE with a backing file (EIO). */
		o.open_flags = (o.open_flags & ~PT_FOPEN_KEEP_CACHE) | PT_FOPEN_PASSTHROUGH;
		o.backing_id = (int32_t)(uint32_t)o.fh;
		memcpy(buf, &o, sizeof(o));
		iov[1].iov_base = buf;
		return true;
	}
	return false;
}

#if !FS_PT_HAVE_API
/* libfuse hands the hooks the session's userdata: our struct fs. */
static ssize_t fs_pt_read(int fd, void *buf, size_t len, void *userdata)
{
	struct fs_passthrough *pt = &((struct fs *)userdata)->pt;
	ssize_t n = read(fd, buf, len);

	if (n > 0)
		fs_pt_wire_request(pt, buf, (size_t)n);
	return n;
}

static ssize_t fs_pt_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct fs_passthrough *pt = &((struct fs *)userdata)->pt;
	char buf[FS_PT_PATCH_MAX] __attribute__((aligned(8)));
	void *base = count == 2 ? iov[1].iov_base : NULL;
	ssize_t n;
	int e;

	fs_pt_wire_reply(pt, iov, count, buf);
	n = writev(fd, iov, count);
	e = errno;
	if (count == 2)
		iov[1].iov_base = base; /* libfuse's array, as it gave it */
	errno = e;
	return n;
}
#endif

int fs_pt_init(struct fs_passthrough *pt, struct fuse_session *se)
{
	memset(pt, 0, sizeof(*pt));
	pthread_mutex_init(&pt->lock, NULL);
	pt->se = se;
#if !FS_PT_HAVE_API
	{
		static const struct fuse_custom_io io = {.read = fs_pt_read,
		                                         .writev = fs_pt_writev};
		int ret = fuse_session_custom_io(se, &io, fuse_session_fd(se));

		if (ret) {
			pt_refuse(pt, ret < 0 ? ret : -EIO);
			return pt->err;
		}
		pt->hooked = true;
	}
#endif
	return 0;
}

void fs_pt_exit(struct fs_passthrough *pt)
{
	pthread_mutex_destroy(&pt->lock);
}

void fs_pt_conn_init(struct fs_passthrough *pt, struct fuse_conn_info *conn)
{
	pthread_mutex_lock(&pt->lock);
	pt->mmap_wanted = pt_want_direct_mmap(pt);
#if FS_PT_HAVE_API
	pt->offered = conn->capable & FUSE_CAP_PASSTHROUGH;
	if (pt->offered)
		conn->want |= FUSE_CAP_PASSTHROUGH;
	else
		pt_refuse(pt, -EOPNOTSUPP);
#ifdef FUSE_CAP_DIRECT_IO_ALLOW_MMAP
	pt->mmap_offered = conn->capable & FUSE_CAP_DIRECT_IO_ALLOW_MMAP;
	if (pt->mmap_offered && pt->mmap_wanted) {
		conn->want |= FUSE_CAP_DIRECT_IO_ALLOW_MMAP;
		pt->direct_mmap = true;
	}
#endif
#else
	(void)conn; /* the hooks saw the INIT request and will patch its reply */
#endif
	pthread_mutex_unlock(&pt->lock);
}

int fs_pt_register(struct fs_passthrough *pt, int fd)
{
	struct pt_backing_map map = {.fd = fd};
	int id = 0, ret;

	pthread_mutex_lock(&pt->lock);
	ret = pt->state == FS_PT_OFF ? pt->err : !pt->offered ? -EOPNOTSUPP : 0;
	if (!ret) {
		/*
		 * libfuse 3.17's fuse_passthrough_open() is this ioctl, but it
		 * wants a request and logs its failures itself; kvmfs also
		 * decides when a listing asks (ramblocks.json), and says why
		 * in its own words.
		 */
		id = ioctl(fuse_session_fd(pt->se), PT_IOC_BACKING_OPEN, &map);
		ret = id > 0 ? 0 : id < 0 ? -errno : -EPROTO;
	}
	/*
	 * The first refusal decides for every file: the reasons (no
	 * CAP_SYS_ADMIN, a kernel without passthrough) hold for all, and a
	 * file's inode must never be open both ways (the kernel says EIO).
	 */
	if (ret)
		pt_refuse(pt, ret);
	else
		pt->state = FS_PT_ON;
	pthread_mutex_unlock(&pt->lock);
	return ret ? ret : id;
}

void fs_pt_open(struct fs_passthrough *pt, struct fuse_file_info *fi, int id)
{
	(void)pt;
	fi->keep_cache = 0;
	fi->direct_io = 0;
	fi->fh = (uint64_t)FS_PT_TAG << 32 | (uint32_t)id;
#if FS_PT_HAVE_API
	fi->backing_id = id;
#endif
}

bool fs_pt_is_handle(uint64_t fh)
{
	return (fh >> 32) == FS_PT_TAG;
}

bool fs_pt_direct_mmap(struct fs_passthrough *pt)
{
	bool on;

	pthread_mutex_lock(&pt->lock);
	on = pt->direct_mmap;
	pthread_mutex_unlock(&pt->lock);
	return on;
}

const char *fs_pt_why(const struct fs_passthrough *pt)
{
	if (pt->state != FS_PT_OFF)
		return NULL;
	switch (pt->err) {
	case -EOPNOTSUPP:
		return "the kernel does not offer FUSE passthrough (Linux 6.9+, "
		       "CONFIG_FUSE_PASSTHROUGH)";
	case -EPERM:
		return "registering a backing file needs CAP_SYS_ADMIN in the initial user "
		       "namespace";
	default: return strerror(-pt->err);
	}
}
