/*
 * fs_phys.c - the guest-physical views of the tree:
 *
 *   MNT/phys     offset = guest-physical address, size = end of the highest
 *                RAM/ROM range; holes (no RAM/ROM there, or memory nobody
 *                touched) read as zeros and are reported by SEEK_DATA /
 *                SEEK_HOLE and st_blocks.  Cached, written and permitted
 *                exactly like the RAM files; a write starting in a hole
 *                fails with ENXIO and one running into a hole is short.
 *   MNT/vmcore   an ELF64 core (see vmcore.h), its header built at open with
 *                the vCPUs' registers of that moment, its PT_LOAD bytes read
 *                from guest memory at read time; direct_io.
 *
 * Layout, holes and ELF are the model's (phys.c, vmcore.c); this file only
 * hands their answers to FUSE.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "kvmfs/phys.h"
#include "kvmfs/vcpu.h"
#include "kvmfs/vm.h"
#include "kvmfs/vmcore.h"

#include "fs_internal.h"

static struct address_space *fs_as(struct fs *fs)
{
	return &fs->vm->machine.as;
}

/* ---- phys ---- */

static void fs_phys_read(struct fs *fs, struct fs_node *n, fuse_req_t req, size_t size, off_t off,
                         struct fuse_file_info *fi)
{
	char *buf;

	(void)n;
	(void)fi;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (!fs_clip((uint64_t)off, &size, phys_size(fs_as(fs)))) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	/* Copied: a read may span ranges of several blocks and holes. */
	buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	phys_read(fs_as(fs), (uint64_t)off, buf, size);
	fuse_reply_buf(req, buf, size);
	free(buf);
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

	(void)n;
	(void)fi;
	if (!fs_write_begin(fs, req, off, &size, phys_size(fs_as(fs))))
		return;
	done = phys_write(fs_as(fs), (uint64_t)off, buf, size);
	if (done < 0) {
		fuse_reply_err(req, (int)-done);
		return;
	}
	/* Other views of the same bytes (ramblocks/<idstr>, aliases in phys), then the reply. */
	w = (struct fs_phys_write){fs, {fs->phys_ino, (uint64_t)off, (uint64_t)done}};
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

const struct fs_kind_ops fs_phys_ops = {
        .open = fs_ram_open, /* the same cache and write rules as RAM files */
        .read = fs_phys_read,
        .write = fs_phys_write,
        .size = fs_phys_size,
        .resident = fs_phys_resident,
        .lseek = fs_phys_lseek,
        .writable = true,
        .ram_mode = true,
};

/* ---- vmcore ---- */

/*
 * The core as of now.  with_regs: fetch every vCPU's registers (exact when
 * stopped); without, the notes hold zeros - the layout, and so the size, is
 * the same.  A vCPU whose registers cannot be read gets zeros too.
 */
static int fs_vmcore_build(struct fs *fs, bool with_regs, struct vmcore **out)
{
	struct vm *vm = fs->vm;
	unsigned i, nr = vm->nr_vcpus;
	struct kvm_regs *regs = calloc(nr ? nr : 1, sizeof(*regs));
	struct kvm_sregs *sregs = calloc(nr ? nr : 1, sizeof(*sregs));
	struct vmcore_info info = {
	        .machine = vm->machine.desc->name,
	        .ram_size = vm->machine.ram_size,
	        .nr_cpus = vm->opts.cpus,
	        .regs = regs,
	        .sregs = sregs,
	        .nr_regs = nr,
	};
	bool exact;
	int ret = -ENOMEM;

	if (!regs || !sregs)
		goto out;
	for (i = 0; with_regs && i < nr; i++)
		if (vcpu_get_state(&vm->vcpus[i], &regs[i], &sregs[i], &exact)) {
			memset(&regs[i], 0, sizeof(regs[i]));
			memset(&sregs[i], 0, sizeof(sregs[i]));
		}
	ret = vmcore_build(fs_as(fs), &info, out);
out:
	free(regs);
	free(sregs);
	return ret;
}

static int fs_vmcore_open(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi)
{
	struct vmcore *vc;
	int ret;

	(void)n;
	ret = fs_vmcore_build(fs, true, &vc);
	if (ret)
		return ret;
	fi->fh = (uintptr_t)vc;
	/* Built per open and read from guest memory: no page cache. */
	fi->direct_io = 1;
	return 0;
}

static void fs_vmcore_read(struct fs *fs, struct fs_node *n, fuse_req_t req, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
	const struct vmcore *vc = (const struct vmcore *)(uintptr_t)fi->fh;
	char *buf;

	(void)n;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (size > FS_IO_MAX)
		size = FS_IO_MAX;
	if (!fs_clip((uint64_t)off, &size, vc->size)) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	vmcore_read(vc, fs_as(fs), (uint64_t)off, buf, size);
	fuse_reply_buf(req, buf, size);
	free(buf);
}

static void fs_vmcore_release(struct fuse_file_info *fi)
{
	vmcore_free((struct vmcore *)(uintptr_t)fi->fh);
}

static int fs_vmcore_size(struct fs *fs, struct fs_node *n, uint64_t *size)
{
	struct vmcore *vc;
	int ret;

	(void)n;
	ret = fs_vmcore_build(fs, false, &vc);
	if (ret)
		return ret;
	*size = vc->size;
	vmcore_free(vc);
	return 0;
}

static uint64_t fs_vmcore_resident(struct fs *fs, struct fs_node *n)
{
	struct vmcore *vc;
	uint64_t r;

	(void)n;
	if (fs_vmcore_build(fs, false, &vc))
		return 0;
	r = vmcore_resident(vc, fs_as(fs));
	vmcore_free(vc);
	return r;
}

static int fs_vmcore_lseek(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi,
                           uint64_t off, int whence, uint64_t *out)
{
	(void)n;
	return vmcore_seek((const struct vmcore *)(uintptr_t)fi->fh, fs_as(fs), off, whence, out);
}

const struct fs_kind_ops fs_vmcore_ops = {
        .open = fs_vmcore_open,
        .read = fs_vmcore_read,
        .release = fs_vmcore_release,
        .size = fs_vmcore_size,
        .resident = fs_vmcore_resident,
        .lseek = fs_vmcore_lseek,
        .dynamic = true,
};
