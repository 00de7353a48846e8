/*
 * vmcore.c - MNT/vmcore: an ELF64 core of the guest (see vmcore.h), its
 * header built at open with the vCPUs' registers and the kernel found in
 * the guest (guestkernel.h) at that moment, its PT_LOAD bytes read from
 * guest memory at read time; direct_io.
 *
 * The ELF and the search are the model's (vmcore.c, guestkernel.c); this
 * file only picks the inputs - which VMCOREINFO, the last kernel found as
 * a hint - and hands the result to FUSE.  That hint is the kind's state
 * (struct fs_vmcore).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "inspect/dumpfile.h"
#include "inspect/guestkernel.h"
#include "inspect/vmcore.h"
#include "memory/phys.h"
#include "util/strbuf.h"
#include "vm.h"

#include "fs/internal.h"

/* Defined at the end; its state is found through it (fs_kind_priv). */
extern const struct fs_kind fs_vmcore_kind;

static struct address_space *fs_as(struct fs *fs)
{
	return &fs->vm->machine.as;
}

struct fs_vmcore {
	/* Guards kernel: the last guest kernel found, a hint for the next search. */
	pthread_mutex_t lock;
	struct guestkernel *kernel; /* NULL: none found yet */
};

static int fs_vmcore_init(struct fs *fs, void **priv)
{
	struct fs_vmcore *v = calloc(1, sizeof(*v));

	(void)fs;
	if (!v)
		return -ENOMEM;
	pthread_mutex_init(&v->lock, NULL);
	*priv = v;
	return 0;
}

static void fs_vmcore_exit(void *priv)
{
	struct fs_vmcore *v = priv;

	free(v->kernel);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

/*
 * The kernel the guest runs, through the first vCPU whose page tables map
 * one; the last one found makes the search cheap (guestkernel.h), and is
 * replaced by this one.  False: none.
 */
static bool fs_vmcore_kernel(struct fs *fs, const struct kvm_sregs *sregs, unsigned nr,
                             struct guestkernel *k)
{
	const struct guestkernel_mem mem = {phys_read_ram, fs_as(fs)};
	struct fs_vmcore *v = fs_kind_priv(fs, &fs_vmcore_kind);
	bool found = false;
	unsigned i;

	pthread_mutex_lock(&v->lock);
	for (i = 0; !found && i < nr; i++) {
		const struct kvm_sregs *s = &sregs[i];
		struct pagewalk_cpu cpu = {s->cr0, s->cr3, s->cr4, s->efer};

		found = !guestkernel_find(&cpu, &mem, v->kernel, k);
	}
	if (found) {
		if (!v->kernel)
			v->kernel = malloc(sizeof(*v->kernel));
		if (v->kernel)
			*v->kernel = *k;
	}
	pthread_mutex_unlock(&v->lock);
	return found;
}

/*
 * The VMCOREINFO note, by precedence: the one given (-vmcoreinfo), the
 * dump's own, the kernel's own in its memory, one derived from what was
 * found.  derived holds the text of the last kind.
 */
static void fs_vmcore_info_note(struct fs *fs, const struct guestkernel *k, struct strbuf *derived,
                                struct vmcore_info *info)
{
	const struct dump *d = fs->vm->dump;

	if (fs->cfg.vmcoreinfo) {
		info->vmcoreinfo = fs->cfg.vmcoreinfo;
		info->vmcoreinfo_len = fs->cfg.vmcoreinfo_len;
		info->vmcoreinfo_source = "file";
	} else if (d && d->vmcoreinfo) {
		info->vmcoreinfo = d->vmcoreinfo;
		info->vmcoreinfo_len = d->vmcoreinfo_len;
		info->vmcoreinfo_source = "dump";
	} else if (k && k->vmcoreinfo_len) {
		info->vmcoreinfo = k->vmcoreinfo;
		info->vmcoreinfo_len = k->vmcoreinfo_len;
		info->vmcoreinfo_source = "guest";
	} else if (k) {
		guestkernel_derive_vmcoreinfo(k, derived);
		if (derived->err || derived->len > VMCORE_NOTE_MAX)
			return;
		info->vmcoreinfo = derived->buf;
		info->vmcoreinfo_len = derived->len;
		info->vmcoreinfo_source = "derived";
	}
}

/*
 * The core as of now.  with_regs: fetch every vCPU's registers (exact when
 * stopped) and look for a kernel; without, the notes hold zeros and there
 * is no kernel - the layout, and so the size, is the same.  A vCPU whose
 * registers cannot be read gets zeros too.
 */
static int fs_vmcore_build(struct fs *fs, bool with_regs, struct vmcore **out)
{
	struct vm *vm = fs->vm;
	unsigned i, nr = vm_nr_cpus(vm);
	struct kvm_regs *regs = calloc(nr ? nr : 1, sizeof(*regs));
	struct kvm_sregs *sregs = calloc(nr ? nr : 1, sizeof(*sregs));
	struct guestkernel *k = NULL;
	struct strbuf derived = STRBUF_INIT;
	struct vmcore_info info = {
	        .machine = vm->machine.desc->name,
	        .ram_size = vm->machine.ram_size,
	        .nr_cpus = vm->dump ? nr : vm->opts.cpus,
	        .regs = regs,
	        .sregs = sregs,
	        .nr_regs = nr,
	};
	bool exact;
	int ret = -ENOMEM;

	if (!regs || !sregs)
		goto out;
	for (i = 0; with_regs && i < nr; i++)
		if (vm_cpu_state(vm, i, &regs[i], &sregs[i], &exact)) {
			memset(&regs[i], 0, sizeof(regs[i]));
			memset(&sregs[i], 0, sizeof(sregs[i]));
		}
	if (with_regs) {
		k = malloc(sizeof(*k));
		if (!k)
			goto out;
		if (fs_vmcore_kernel(fs, sregs, nr, k))
			info.kernel = k;
		fs_vmcore_info_note(fs, info.kernel, &derived, &info);
	}
	ret = vmcore_build(fs_as(fs), &info, out);
out:
	sb_free(&derived);
	free(k);
	free(regs);
	free(sregs);
	return ret;
}

/*
 * fi->fh: the core of one open.  A READ's reply points into its header,
 * and the kernel may send the RELEASE as soon as it has taken the reply's
 * bytes - before fuse_reply_iov() has returned to us (and ASan looks at
 * the iovec after the writev) - so each read holds a reference too.
 */
struct fs_vmcore_file {
	struct vmcore *vc;
	unsigned refs; /* atomic */
};

static void fs_vmcore_file_put(struct fs_vmcore_file *f)
{
	if (__atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL))
		return;
	vmcore_free(f->vc);
	free(f);
}

static struct fs_vmcore_file *fs_vmcore_file(const struct fuse_file_info *fi)
{
	return (struct fs_vmcore_file *)(uintptr_t)fi->fh;
}

static int fs_vmcore_open(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi)
{
	struct fs_vmcore_file *f = malloc(sizeof(*f));
	int ret;

	(void)n;
	if (!f)
		return -ENOMEM;
	ret = fs_vmcore_build(fs, true, &f->vc);
	if (ret) {
		free(f);
		return ret;
	}
	f->refs = 1;
	fi->fh = (uintptr_t)f;
	/* Built per open and read from guest memory: no page cache. */
	fi->direct_io = 1;
	return 0;
}

static void fs_vmcore_read(struct fs *fs, struct fs_node *n, fuse_req_t req, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
	struct fs_vmcore_file *f = fs_vmcore_file(fi);
	const struct vmcore *vc = f->vc;
	struct fs_reply r;

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
	/* No RELEASE comes while this READ is pending: taking a reference is safe. */
	__atomic_add_fetch(&f->refs, 1, __ATOMIC_RELAXED);
	/* The header from the open file, guest memory where it lies, holes as zeros. */
	fs_reply_init(&r, fs, size);
	vmcore_read_pieces(vc, fs_as(fs), (uint64_t)off, size, fs_reply_piece, &r);
	fs_reply_send(&r, req);
	fs_vmcore_file_put(f);
}

static void fs_vmcore_release(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi)
{
	(void)fs;
	(void)n;
	fs_vmcore_file_put(fs_vmcore_file(fi));
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
	return vmcore_seek(fs_vmcore_file(fi)->vc, fs_as(fs), off, whence, out);
}

static const struct fs_kind_ops fs_vmcore_ops = {
        .open = fs_vmcore_open,
        .read = fs_vmcore_read,
        .release = fs_vmcore_release,
        .size = fs_vmcore_size,
        .resident = fs_vmcore_resident,
        .lseek = fs_vmcore_lseek,
        .dynamic = true,
};

const struct fs_kind fs_vmcore_kind = {
        .name = "vmcore",
        .ops = &fs_vmcore_ops,
        .init = fs_vmcore_init,
        .exit = fs_vmcore_exit,
};
