/*
 * vcpus.c - one directory per vCPU:
 *
 *   MNT/vcpus/<n>/regs, sregs        `info registers` as QEMU lays it out
 *   MNT/vcpus/<n>/regs.json, sregs.json   the same, with "exact"
 *   MNT/vcpus/<n>/translate          write a guest-virtual address; read its
 *                                    page walk (every entry, the physical
 *                                    address or the level where it faults)
 *   MNT/vcpus/<n>/completions        the emulation failures kvmfs finished
 *                                    for KVM, by kind: "int3 5", ...
 *   MNT/vcpus/<n>/vmem               the vCPU's virtual address space: offset
 *                                    = address with the sign-extension bits
 *                                    cleared (the low 48 bits, 57 with LA57),
 *                                    unmapped pages are holes
 *
 * Registers are exact while the VM is stopped and approximate while it runs
 * (KVM's copy from the vCPU's last exit; see vcpu_get_state); a dump's are
 * its notes' (dump.h).  translate and
 * vmem walk the page tables with the CR3/CR4/EFER of that moment, reading
 * guest memory as it is now.  The walk itself is pagewalk.c's.
 *
 * The kind's state is what each vCPU's translate file was last told
 * (struct fs_vcpus); every node under vcpus/<n>/ has priv = vCPU n's entry
 * there, and a register file arg = its row of fs_vcpu_files.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inspect/regs.h"
#include "kvm/emulate.h"
#include "kvm/vcpu.h"
#include "memory/pagewalk.h"
#include "memory/phys.h"
#include "util/compiler.h"
#include "util/strbuf.h"
#include "vm.h"

#include "fs/internal.h"
#include "fs/refused.h"

/* Defined at the end; its state is found through it (fs_kind_priv). */
extern const struct fs_kind fs_vcpus_kind;

#define FS_TRANSLATE_MAX   64    /* longest address text accepted */
#define FS_VMEM_SEEK_STEPS 65536 /* walks one SEEK_DATA/SEEK_HOLE may take */

/*
 * One vCPU's files' own state: the vCPU, the last address translate was
 * given (every 64-bit value is one, 0xffffffffffffffff too), and why its
 * last write was refused.
 */
struct fs_vcpu {
	unsigned cpu;
	bool have_va; /* an address was written */
	uint64_t translate_va;
	struct fs_refused refused;
};

struct fs_vcpus {
	/*
	 * Guards every cpus[].have_va, translate_va and refused, and which
	 * snapshot an open translate file reads.
	 */
	pthread_mutex_t lock;
	struct fs_vcpu cpus[];
};

static struct fs_vcpus *fs_vcpus(struct fs *fs)
{
	return fs_kind_priv(fs, &fs_vcpus_kind);
}

static struct fs_vcpu *fs_vcpu_node(const struct fs_node *n)
{
	return n->priv;
}

struct fs_vcpu_file {
	const char *name;
	void (*render)(const struct kvm_regs *r, const struct kvm_sregs *s, bool exact,
	               struct strbuf *sb);
};

static void fs_vcpu_regs(const struct kvm_regs *r, const struct kvm_sregs *s, bool exact,
                         struct strbuf *sb)
{
	(void)exact;
	regs_render(r, s, sb);
}

static void fs_vcpu_sregs(const struct kvm_regs *r, const struct kvm_sregs *s, bool exact,
                          struct strbuf *sb)
{
	(void)r;
	(void)exact;
	regs_render_sregs(s, sb);
}

static void fs_vcpu_regs_json(const struct kvm_regs *r, const struct kvm_sregs *s, bool exact,
                              struct strbuf *sb)
{
	(void)s;
	regs_render_json(r, exact, sb);
}

static void fs_vcpu_sregs_json(const struct kvm_regs *r, const struct kvm_sregs *s, bool exact,
                               struct strbuf *sb)
{
	(void)r;
	regs_render_sregs_json(s, exact, sb);
}

static const struct fs_vcpu_file fs_vcpu_files[] = {
        {"regs", fs_vcpu_regs},
        {"regs.json", fs_vcpu_regs_json},
        {"sregs", fs_vcpu_sregs},
        {"sregs.json", fs_vcpu_sregs_json},
};

#define FS_NR_VCPU_FILES (ARRAY_SIZE(fs_vcpu_files))

/* The paging state of n's vCPU now. */
static int fs_vcpu_paging(struct fs *fs, const struct fs_node *n, struct pagewalk_cpu *pc,
                          bool *exact)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	int ret = vm_cpu_state(fs->vm, fs_vcpu_node(n)->cpu, &r, &s, exact);

	if (ret)
		return ret;
	*pc = (struct pagewalk_cpu){.cr0 = s.cr0, .cr3 = s.cr3, .cr4 = s.cr4, .efer = s.efer};
	return 0;
}

/* Page-table reads go to guest RAM; anything else is not a table. */
static int fs_vcpu_read_gpa(void *opaque, uint64_t gpa, uint64_t *val)
{
	return as_read(opaque, gpa, val, sizeof(*val), false) == sizeof(*val) ? 0 : -EFAULT;
}

/* ---- regs, sregs and their JSON ---- */

static int fs_vcpu_render(struct fs *fs, struct fs_node *n, struct strbuf *sb)
{
	const struct fs_vcpu_file *f = &fs_vcpu_files[n->arg];
	struct kvm_regs r;
	struct kvm_sregs s;
	bool exact;
	int ret;

	ret = vm_cpu_state(fs->vm, fs_vcpu_node(n)->cpu, &r, &s, &exact);
	if (ret)
		return ret;
	f->render(&r, &s, exact, sb);
	return sb->err;
}

static int fs_vcpu_text_open(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi)
{
	struct strbuf sb = STRBUF_INIT;
	int ret = fs_vcpu_render(fs, n, &sb);

	if (ret) {
		sb_free(&sb);
		return ret;
	}
	return fs_text_hand_out(&sb, fi);
}

static int fs_vcpu_text_size(struct fs *fs, struct fs_node *n, uint64_t *size)
{
	struct strbuf sb = STRBUF_INIT;
	int ret = fs_vcpu_render(fs, n, &sb);

	*size = sb.len;
	sb_free(&sb);
	return ret;
}

static const struct fs_kind_ops fs_vcpu_text_ops = {
        .open = fs_vcpu_text_open,
        .read = fs_text_read,
        .release = fs_text_release,
        .size = fs_vcpu_text_size,
        .dynamic = true,
};

/* ---- translate ---- */

static void fs_translate_render(struct fs *fs, struct fs_node *n, struct strbuf *sb)
{
	struct fs_vcpu *v = fs_vcpu_node(n);
	struct fs_refused refused;
	struct pagewalk_result r;
	struct pagewalk_cpu pc;
	bool exact, have_va;
	uint64_t va;
	int ret;

	pthread_mutex_lock(&fs_vcpus(fs)->lock);
	have_va = v->have_va;
	va = v->translate_va;
	refused = v->refused;
	pthread_mutex_unlock(&fs_vcpus(fs)->lock);
	if (!have_va) {
		sb_printf(sb,
		          "write a guest-virtual address here (hex 0x... or decimal), then read\n");
	} else if ((ret = fs_vcpu_paging(fs, n, &pc, &exact))) {
		sb_printf(sb, "va 0x%016" PRIx64 "\nregisters unreadable: %s\n", va,
		          strerror(-ret));
	} else {
		sb_printf(sb,
		          "cr0 0x%" PRIx64 " cr3 0x%" PRIx64 " cr4 0x%" PRIx64 " efer 0x%" PRIx64
		          "%s\n",
		          pc.cr0, pc.cr3, pc.cr4, pc.efer,
		          exact ? "" : " (approximate: the VM is running)");
		pagewalk(&pc, va, fs_vcpu_read_gpa, &fs->vm->machine.as, &r);
		pagewalk_render(&r, sb);
	}
	/* Last, as in ctl: what the file says stays first. */
	fs_refused_render(&refused, sb);
}

static int fs_translate_open(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi)
{
	struct strbuf sb = STRBUF_INIT;

	fs_translate_render(fs, n, &sb);
	return fs_text_hand_out(&sb, fi);
}

static void fs_translate_read(struct fs *fs, struct fs_node *n, fuse_req_t req, size_t size,
                              off_t off, struct fuse_file_info *fi)
{
	(void)n;
	/* A write on the same open file may be replacing the text. */
	fs_text_read_locked(req, size, off, fi, &fs_vcpus(fs)->lock);
}

/*
 * The address a write gives, or why it gives none (into why, for the
 * refused line): -EINVAL.  strtoull alone would take "-1" as 2^64 - 1 and
 * "1 2" as 1.
 */
static int fs_translate_parse(const char *buf, size_t size, uint64_t *va, char *why, size_t len)
{
	char addr[FS_TRANSLATE_MAX + 1], *end;
	size_t n = size;

	while (n && isspace((unsigned char)buf[n - 1]))
		n--;
	while (n && isspace((unsigned char)*buf)) {
		buf++;
		n--;
	}
	if (n > FS_TRANSLATE_MAX) {
		snprintf(why, len, "a write of %zu bytes; an address is at most %d characters",
		         size, FS_TRANSLATE_MAX);
		return -EINVAL;
	}
	memcpy(addr, buf, n);
	addr[n] = '\0';
	errno = 0;
	*va = strtoull(addr, &end, 0);
	if (n && addr[0] == '-') {
		snprintf(why, len,
		         "a negative number; write the address itself (0xffffffff81000000)");
		return -EINVAL;
	}
	if (n && !*end && errno == ERANGE) {
		snprintf(why, len, "more than 64 bits; the largest address is 0xffffffffffffffff");
		return -EINVAL;
	}
	if (!n || *end || errno || !isdigit((unsigned char)addr[0])) {
		snprintf(why, len, "not an address; write one, hex 0x... or decimal");
		return -EINVAL;
	}
	return 0;
}

static void fs_translate_write(struct fs *fs, struct fs_node *n, fuse_req_t req, const char *buf,
                               size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs_vcpu *v = fs_vcpu_node(n);
	struct strbuf sb = STRBUF_INIT;
	char why[FS_REFUSED_MAX];
	uint64_t va;
	int err, ret;

	(void)off; /* every write is one address, wherever it lands */
	err = fs_translate_parse(buf, size, &va, why, sizeof(why));
	pthread_mutex_lock(&fs_vcpus(fs)->lock);
	if (err) {
		/* The walk written before stays; the file says why this one was refused. */
		fs_refused_set(&v->refused, buf, size, "%s", why);
	} else {
		v->have_va = true;
		v->translate_va = va;
		fs_refused_clear(&v->refused);
	}
	pthread_mutex_unlock(&fs_vcpus(fs)->lock);
	/* This open file reads the new walk too (python's "r+" write-then-read). */
	fs_translate_render(fs, n, &sb);
	ret = fs_text_replace(fi, &sb, &fs_vcpus(fs)->lock);
	if (err || ret)
		fuse_reply_err(req, err ? -err : -ret);
	else
		fuse_reply_write(req, size);
}

static int fs_translate_size(struct fs *fs, struct fs_node *n, uint64_t *size)
{
	struct strbuf sb = STRBUF_INIT;

	fs_translate_render(fs, n, &sb);
	*size = sb.len;
	sb_free(&sb);
	return 0;
}

static const struct fs_kind_ops fs_translate_ops = {
        .open = fs_translate_open,
        .read = fs_translate_read,
        .write = fs_translate_write,
        .release = fs_text_release,
        .size = fs_translate_size,
        .dynamic = true,
        .writable = true,
};

/* ---- completions ---- */

/* A running VM's vCPU (a dump has no completions: nothing ever ran). */
static struct vcpu *fs_vcpu(struct fs *fs, const struct fs_node *n)
{
	return &fs->vm->vcpus[fs_vcpu_node(n)->cpu];
}

static void fs_completions_render(struct fs *fs, struct fs_node *n, struct strbuf *sb)
{
	uint64_t counts[EMU_NR_KINDS];
	unsigned k;

	for (k = 0; k < EMU_NR_KINDS; k++)
		counts[k] = __atomic_load_n(&fs_vcpu(fs, n)->completions[k], __ATOMIC_RELAXED);
	emu_render_counts(counts, sb);
}

static int fs_completions_open(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi)
{
	struct strbuf sb = STRBUF_INIT;

	fs_completions_render(fs, n, &sb);
	return fs_text_hand_out(&sb, fi);
}

static int fs_completions_size(struct fs *fs, struct fs_node *n, uint64_t *size)
{
	struct strbuf sb = STRBUF_INIT;

	fs_completions_render(fs, n, &sb);
	*size = sb.len;
	sb_free(&sb);
	return 0;
}

static const struct fs_kind_ops fs_completions_ops = {
        .open = fs_completions_open,
        .read = fs_text_read,
        .release = fs_text_release,
        .size = fs_completions_size,
        .dynamic = true,
};

/* ---- vmem ---- */

static uint64_t fs_vmem_size_of(const struct pagewalk_cpu *pc)
{
	return 1ULL << pagewalk_va_bits(pc);
}

static int fs_vmem_size(struct fs *fs, struct fs_node *n, uint64_t *size)
{
	struct pagewalk_cpu pc;
	bool exact;

	/* Registers unreadable: assume 4-level long mode, the common case. */
	*size = fs_vcpu_paging(fs, n, &pc, &exact) ? 1ULL << 48 : fs_vmem_size_of(&pc);
	return 0;
}

static int fs_vmem_open(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi)
{
	(void)fs;
	(void)n;
	/* Translations change under the kernel's feet: no page cache. */
	fi->direct_io = 1;
	return 0;
}

static void fs_vmem_read(struct fs *fs, struct fs_node *n, fuse_req_t req, size_t size, off_t off,
                         struct fuse_file_info *fi)
{
	struct address_space *as = &fs->vm->machine.as;
	struct pagewalk_cpu pc;
	struct fs_reply reply;
	uint64_t end;
	bool exact;
	int ret;

	(void)fi;
	ret = fs_vcpu_paging(fs, n, &pc, &exact);
	if (ret || off < 0) {
		fuse_reply_err(req, ret ? -ret : EINVAL);
		return;
	}
	end = fs_vmem_size_of(&pc);
	if ((uint64_t)off >= end) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > FS_IO_MAX)
		size = FS_IO_MAX;
	if (size > end - (uint64_t)off)
		size = (size_t)(end - (uint64_t)off);
	/*
	 * One walk per page (or per absent region); mapped bytes from guest
	 * memory, without populating it (the walk's own reads of page tables
	 * do not either: as_read).
	 */
	fs_reply_init(&reply, fs, size);
	phys_read_virt_pieces(as, &pc, fs_vcpu_read_gpa, as, (uint64_t)off, size, false,
	                      fs_reply_piece, &reply);
	fs_reply_send(&reply, req);
}

static uint64_t fs_vmem_resident(struct fs *fs, struct fs_node *n)
{
	(void)fs;
	(void)n;
	/* Unknown without walking everything; small, so readers ask for holes. */
	return 4096;
}

static int fs_vmem_lseek(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi, uint64_t off,
                         int whence, uint64_t *out)
{
	struct pagewalk_cpu pc;
	uint64_t end;
	bool exact;
	int ret;

	(void)fi;
	ret = fs_vcpu_paging(fs, n, &pc, &exact);
	if (ret)
		return ret;
	end = fs_vmem_size_of(&pc);
	if (off >= end)
		return -ENXIO;
	ret = pagewalk_seek(&pc, off, end, whence == SEEK_DATA, FS_VMEM_SEEK_STEPS,
	                    fs_vcpu_read_gpa, &fs->vm->machine.as, out);
	/* Too far to look: data is always a safe answer, so is the end for a hole. */
	if (ret == -EAGAIN)
		*out = whence == SEEK_DATA ? off : end;
	else if (ret == -ENXIO && whence == SEEK_HOLE)
		*out = end;
	else if (ret)
		return ret;
	return 0;
}

static const struct fs_kind_ops fs_vmem_ops = {
        .open = fs_vmem_open,
        .read = fs_vmem_read,
        .size = fs_vmem_size,
        .resident = fs_vmem_resident,
        .lseek = fs_vmem_lseek,
        .dynamic = true,
};

/* ---- the vcpus/ directory ---- */

static int fs_vcpu_add(struct fs *fs, fuse_ino_t dir, unsigned cpu, const char *name,
                       const struct fs_kind_ops *ops, mode_t mode, unsigned long file)
{
	fuse_ino_t ino;
	int ret = fs_node_add(fs, dir, name, ops, mode, &ino);

	if (ret)
		return ret;
	fs_node_get(fs, ino)->priv = &fs_vcpus(fs)->cpus[cpu];
	fs_node_get(fs, ino)->arg = file;
	return 0;
}

static int fs_vcpu_build(struct fs *fs, fuse_ino_t top)
{
	char name[16];
	fuse_ino_t dir;
	unsigned i;
	size_t f;
	int ret = 0;

	for (i = 0; !ret && i < vm_nr_cpus(fs->vm); i++) {
		snprintf(name, sizeof(name), "%u", i);
		ret = fs_node_add(fs, top, name, &fs_dir_ops, 0555, &dir);
		for (f = 0; !ret && f < FS_NR_VCPU_FILES; f++)
			ret = fs_vcpu_add(fs, dir, i, fs_vcpu_files[f].name, &fs_vcpu_text_ops,
			                  0444, f);
		if (!ret)
			ret = fs_vcpu_add(fs, dir, i, "translate", &fs_translate_ops, 0600, 0);
		if (!ret)
			ret = fs_vcpu_add(fs, dir, i, "vmem", &fs_vmem_ops, 0400, 0);
		if (!ret && vm_is_live(fs->vm))
			ret = fs_vcpu_add(fs, dir, i, "completions", &fs_completions_ops, 0444, 0);
	}
	return ret;
}

static int fs_vcpu_init(struct fs *fs, void **priv)
{
	unsigned i, nr = vm_nr_cpus(fs->vm);
	struct fs_vcpus *v = malloc(sizeof(*v) + (nr ? nr : 1) * sizeof(v->cpus[0]));

	if (!v)
		return -ENOMEM;
	for (i = 0; i < nr; i++)
		v->cpus[i] = (struct fs_vcpu){.cpu = i};
	pthread_mutex_init(&v->lock, NULL);
	*priv = v;
	return 0;
}

static void fs_vcpu_exit(void *priv)
{
	struct fs_vcpus *v = priv;

	pthread_mutex_destroy(&v->lock);
	free(v);
}

const struct fs_kind fs_vcpus_kind = {
        .name = "vcpus",
        .ops = &fs_dir_ops,
        .init = fs_vcpu_init,
        .build = fs_vcpu_build,
        .exit = fs_vcpu_exit,
};
