/*
 * linux.c - MNT/linux/: the Linux kernel the guest runs, as files, derived
 * from its own memory (inspect/linux_guest.h: kallsyms from its image,
 * struct layouts from its BTF):
 *
 *   MNT/linux/version         the banner, as /proc/version
 *   MNT/linux/kallsyms        "address type name", as /proc/kallsyms shows root
 *   MNT/linux/btf             the raw .BTF bytes (bpftool btf dump file ...)
 *   MNT/linux/dmesg           the printk ring buffer, as dmesg prints it
 *   MNT/linux/modules[.json]  as /proc/modules
 *   MNT/linux/tasks.json      every task (threads too)
 *   MNT/linux/tasks/<pid>/    per process, as /proc/<pid>/: comm, status,
 *                             cmdline, maps, maps.json, mem (the user address
 *                             space, offset = address, holes where unmapped,
 *                             read through the task's own page tables), and
 *                             task/<tid>/{comm,status} for each of its threads
 *   MNT/linux/errors          what the walks had to give up on, by kind
 *
 * The layout is /proc's: a directory per thread group, its threads under
 * task/ - `ls tasks` lists processes as ps does, and a script written for
 * /proc/<pid>/ reads the same names.  pid 0 (the idle tasks) is left out,
 * as /proc leaves it.
 *
 * linux/ exists when, at mount, a vCPU's page tables map a kernel with
 * kallsyms: a -dump of a booted guest.  The tree is fixed at mount
 * (inode.c), so the directories of tasks/ are the tasks of that moment;
 * every file's content is read from guest memory when it is opened.  A
 * kernel without BTF keeps version, kallsyms and errors - errors says why
 * the rest is missing, and so does one line on stderr at mount.
 *
 * The kind's state is the guest (struct fs_linux); nodes under linux/ have
 * arg = the file's kind (enum fs_linux_file) and, under tasks/, the pid in
 * arg's upper 32 bits.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inspect/linux_guest.h"
#include "inspect/linux_modules.h"
#include "inspect/linux_printk.h"
#include "inspect/linux_tasks.h"
#include "inspect/linux_vmas.h"
#include "memory/pagewalk.h"
#include "memory/phys.h"
#include "util/strbuf.h"
#include "vm.h"

#include "fs/internal.h"

/* Defined at the end; its state is found through it (fs_kind_priv). */
extern const struct fs_kind fs_linux_kind;

#define FS_LINUX_SEEK_STEPS 65536 /* walks one SEEK_DATA/SEEK_HOLE of mem may take */

struct fs_linux {
	/* Set up once, by exists() at build, and never changed: readers need no lock. */
	struct linux_guest *lg; /* NULL: no kernel found */
	struct linux_printk_layout printk;
	bool have_printk;
};

enum fs_linux_file {
	FS_LINUX_VERSION,
	FS_LINUX_KALLSYMS,
	FS_LINUX_BTF,
	FS_LINUX_DMESG,
	FS_LINUX_MODULES,
	FS_LINUX_MODULES_JSON,
	FS_LINUX_TASKS_JSON,
	FS_LINUX_ERRORS,
	/* Under tasks/<pid>/ (and task/<tid>/ for the first two). */
	FS_LINUX_COMM,
	FS_LINUX_STATUS,
	FS_LINUX_CMDLINE,
	FS_LINUX_MAPS,
	FS_LINUX_MAPS_JSON,
};

static struct fs_linux *fs_linux(struct fs *fs)
{
	return fs_kind_priv(fs, &fs_linux_kind);
}

static enum fs_linux_file fs_linux_file_of(const struct fs_node *n)
{
	return (enum fs_linux_file)(n->arg & 0xffffffff);
}

static int32_t fs_linux_pid_of(const struct fs_node *n)
{
	return (int32_t)(n->arg >> 32);
}

/* ---- rendering ---- */

static void fs_linux_render_tasks_json(struct linux_guest *lg, struct strbuf *sb)
{
	struct linux_task *t;
	size_t nr;

	if (linux_tasks_list(lg, &t, &nr)) {
		sb_printf(sb, "[]\n");
		return;
	}
	/* pid 0 is init_task, first: /proc does not show it. */
	linux_tasks_render_json(t + 1, nr ? nr - 1 : 0, sb);
	free(t);
}

static void fs_linux_render_modules(struct linux_guest *lg, struct strbuf *sb, bool json)
{
	struct linux_module *m;
	size_t nr;

	if (linux_modules_list(lg, &m, &nr)) {
		if (json)
			sb_printf(sb, "[]\n");
		return;
	}
	if (json)
		linux_modules_render_json(m, nr, sb);
	else
		linux_modules_render(m, nr, sb);
	free(m);
}

static void fs_linux_render_dmesg(struct fs_linux *fl, struct strbuf *sb)
{
	struct linux_printk_stats st;

	if (!fl->have_printk || !fl->lg->prb ||
	    linux_printk_render(&fl->lg->kmem, &fl->printk, fl->lg->prb, sb, &st))
		linux_guest_error(fl->lg, LINUX_ERR_UNREADABLE);
}

static void fs_linux_render_errors(struct linux_guest *lg, struct strbuf *sb)
{
	const char *why;

	linux_guest_render_errors(lg, sb);
	if (!linux_guest_has_types(lg, &why))
		sb_printf(sb, "missing %s: no btf, dmesg, modules or tasks\n", why);
}

/* A file of tasks/<pid>/: -ESRCH when the task is gone. */
static int fs_linux_render_task(struct linux_guest *lg, enum fs_linux_file f, int32_t pid,
                                uint64_t hint, struct strbuf *sb)
{
	struct linux_task t;
	struct linux_vma *v;
	size_t nr;
	int ret;

	if (linux_task_find(lg, pid, hint, &t))
		return -ESRCH;
	switch (f) {
	case FS_LINUX_COMM: sb_printf(sb, "%s\n", t.comm); return 0;
	case FS_LINUX_STATUS: linux_task_render_status(&t, sb); return 0;
	case FS_LINUX_CMDLINE: linux_task_render_cmdline(lg, &t, sb); return 0;
	default: break;
	}
	ret = linux_vmas_read(lg, t.mm, &v, &nr);
	if (ret)
		return ret;
	if (f == FS_LINUX_MAPS)
		linux_vmas_render(v, nr, sb);
	else
		linux_vmas_render_json(v, nr, sb);
	free(v);
	return 0;
}

static int fs_linux_render(struct fs *fs, struct fs_node *n, struct strbuf *sb)
{
	struct fs_linux *fl = fs_linux(fs);
	struct linux_guest *lg = fl->lg;
	enum fs_linux_file f = fs_linux_file_of(n);
	int ret = 0;

	linux_guest_begin(lg);
	switch (f) {
	case FS_LINUX_VERSION: linux_guest_render_version(lg, sb); break;
	case FS_LINUX_KALLSYMS: linux_kallsyms_render(&lg->ks, sb); break;
	case FS_LINUX_BTF: sb_add(sb, (const char *)lg->btf_data, lg->btf_len); break;
	case FS_LINUX_DMESG: fs_linux_render_dmesg(fl, sb); break;
	case FS_LINUX_MODULES:
	case FS_LINUX_MODULES_JSON:
		fs_linux_render_modules(lg, sb, f == FS_LINUX_MODULES_JSON);
		break;
	case FS_LINUX_TASKS_JSON: fs_linux_render_tasks_json(lg, sb); break;
	case FS_LINUX_ERRORS: fs_linux_render_errors(lg, sb); break;
	default:
		ret = fs_linux_render_task(lg, f, fs_linux_pid_of(n), (uint64_t)(uintptr_t)n->priv,
		                           sb);
	}
	return ret ? ret : sb->err;
}

static int fs_linux_text_open(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi)
{
	struct strbuf sb = STRBUF_INIT;
	int ret = fs_linux_render(fs, n, &sb);

	if (ret) {
		sb_free(&sb);
		return ret;
	}
	return fs_text_hand_out(&sb, fi);
}

static int fs_linux_text_size(struct fs *fs, struct fs_node *n, uint64_t *size)
{
	struct strbuf sb = STRBUF_INIT;
	int ret;

	/* The btf file is the blob itself: no need to copy it for its size. */
	if (fs_linux_file_of(n) == FS_LINUX_BTF) {
		*size = fs_linux(fs)->lg->btf_len;
		return 0;
	}
	ret = fs_linux_render(fs, n, &sb);
	*size = sb.len;
	sb_free(&sb);
	/* A task gone since the listing: an empty file, not a failed stat. */
	return ret == -ESRCH ? 0 : ret;
}

static const struct fs_kind_ops fs_linux_text_ops = {
        .open = fs_linux_text_open,
        .read = fs_text_read,
        .release = fs_text_release,
        .size = fs_linux_text_size,
        .dynamic = true,
};

/* ---- tasks/<pid>/mem ---- */

static int fs_linux_read_gpa(void *opaque, uint64_t gpa, uint64_t *val)
{
	return phys_read_ram(opaque, gpa, val, sizeof(*val)) == sizeof(*val) ? 0 : -EFAULT;
}

/* The task's page-table walker, and where its user half ends. */
static int fs_linux_uspace(struct fs *fs, struct fs_node *n, struct linux_uspace *u, uint64_t *end)
{
	struct linux_guest *lg = fs_linux(fs)->lg;
	struct linux_task t;

	*end = 1ULL << (pagewalk_va_bits(&lg->k.cpu) - 1);
	linux_guest_begin(lg);
	if (linux_task_find(lg, fs_linux_pid_of(n), (uint64_t)(uintptr_t)n->priv, &t))
		return -ESRCH;
	if (!linux_task_uspace(lg, &t, u))
		return -ENXIO; /* a kernel thread: no user memory */
	return 0;
}

static int fs_linux_mem_size(struct fs *fs, struct fs_node *n, uint64_t *size)
{
	*size = 1ULL << (pagewalk_va_bits(&fs_linux(fs)->lg->k.cpu) - 1);
	(void)n;
	return 0;
}

static int fs_linux_mem_open(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi)
{
	(void)fs;
	(void)n;
	/* The guest's pages change under it (a live guest): never cached. */
	fi->direct_io = 1;
	return 0;
}

static void fs_linux_mem_read(struct fs *fs, struct fs_node *n, fuse_req_t req, size_t size,
                              off_t off, struct fuse_file_info *fi)
{
	struct address_space *as = &fs->vm->machine.as;
	struct linux_uspace u;
	struct pagewalk_result r;
	struct fs_reply reply;
	uint64_t end;
	size_t done = 0;
	int ret;

	(void)fi;
	ret = fs_linux_uspace(fs, n, &u, &end);
	if (ret == -ENXIO) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (ret || off < 0) {
		fuse_reply_err(req, ret ? -ret : EINVAL);
		return;
	}
	if (size > FS_IO_MAX)
		size = FS_IO_MAX;
	if (!fs_clip((uint64_t)off, &size, end)) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	/* As vcpus/<n>/vmem: one walk per page or absent region, no copy of guest memory. */
	fs_reply_init(&reply, fs, size);
	while (done < size) {
		uint64_t pos = (uint64_t)off + done, len;

		pagewalk(&u.cpu, pos, fs_linux_read_gpa, as, &r);
		len = r.span - (pos & (r.span - 1));
		if (len > size - done)
			len = size - done;
		if (r.status == PW_OK && r.user)
			phys_read_pieces(as, r.pa, (size_t)len, fs_reply_piece, &reply);
		else
			fs_reply_piece(&reply, NULL, (size_t)len);
		done += (size_t)len;
	}
	fs_reply_send(&reply, req);
}

static uint64_t fs_linux_mem_resident(struct fs *fs, struct fs_node *n)
{
	(void)fs;
	(void)n;
	/* Unknown without walking everything; small, so that readers ask for holes. */
	return 4096;
}

static int fs_linux_mem_lseek(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi,
                              uint64_t off, int whence, uint64_t *out)
{
	struct linux_uspace u;
	uint64_t end;
	int ret;

	(void)fi;
	ret = fs_linux_uspace(fs, n, &u, &end);
	if (ret == -ENXIO)
		return -ENXIO;
	if (ret)
		return ret;
	if (off >= end)
		return -ENXIO;
	ret = pagewalk_seek(&u.cpu, off, end, whence == SEEK_DATA, FS_LINUX_SEEK_STEPS,
	                    fs_linux_read_gpa, &fs->vm->machine.as, out);
	/* Too far to look: data is always a safe answer, so is the end for a hole. */
	if (ret == -EAGAIN)
		*out = whence == SEEK_DATA ? off : end;
	else if (ret == -ENXIO && whence == SEEK_HOLE)
		*out = end;
	else if (ret)
		return ret;
	return 0;
}

static const struct fs_kind_ops fs_linux_mem_ops = {
        .open = fs_linux_mem_open,
        .read = fs_linux_mem_read,
        .size = fs_linux_mem_size,
        .resident = fs_linux_mem_resident,
        .lseek = fs_linux_mem_lseek,
        .dynamic = true,
};

/* ---- the kind ---- */

static int fs_linux_init(struct fs *fs, void **priv)
{
	struct fs_linux *fl = calloc(1, sizeof(*fl));

	(void)fs;
	if (!fl)
		return -ENOMEM;
	*priv = fl;
	return 0;
}

static void fs_linux_exit(void *priv)
{
	struct fs_linux *fl = priv;

	if (fl->lg) {
		linux_guest_close(fl->lg);
		free(fl->lg);
	}
	free(fl);
}

/* A kernel through the first vCPU whose page tables map one. */
static bool fs_linux_exists(struct fs *fs, void *priv)
{
	struct fs_linux *fl = priv;
	const struct guestkernel_mem mem = {phys_read_ram, &fs->vm->machine.as};
	struct linux_guest *lg;
	unsigned i, nr = vm_nr_cpus(fs->vm);
	char err[256];
	const char *why;

	if (fl->lg)
		return true;
	lg = malloc(sizeof(*lg));
	if (!lg)
		return false;
	for (i = 0; i < nr; i++) {
		struct kvm_regs regs;
		struct kvm_sregs s;
		struct pagewalk_cpu cpu;
		bool exact;

		if (vm_cpu_state(fs->vm, i, &regs, &s, &exact))
			continue;
		cpu = (struct pagewalk_cpu){s.cr0, s.cr3, s.cr4, s.efer};
		if (!linux_guest_open(lg, &cpu, &mem, err, sizeof(err)))
			break;
	}
	if (i == nr) {
		free(lg);
		return false;
	}
	fl->lg = lg;
	if (lg->has_btf)
		fl->have_printk = !linux_printk_layout_btf(&lg->btf, &fl->printk);
	if (!linux_guest_has_types(lg, &why))
		fprintf(stderr, "kvmfs: linux/: %s: only version, kallsyms and errors are shown\n",
		        why);
	return true;
}

static int fs_linux_add(struct fs *fs, fuse_ino_t dir, const char *name,
                        const struct fs_kind_ops *ops, mode_t mode, enum fs_linux_file f,
                        const struct linux_task *t)
{
	struct fs_node *n;
	fuse_ino_t ino;
	int ret = fs_node_add(fs, dir, name, ops, mode, &ino);

	if (ret)
		return ret;
	n = fs_node_get(fs, ino);
	n->arg = ((unsigned long)(uint32_t)(t ? t->pid : 0) << 32) | f;
	/* Where the task was at mount: where to look for it first (linux_task_find). */
	n->priv = t ? (void *)(uintptr_t)t->addr : NULL;
	return 0;
}

/* tasks/<pid>/ of a thread group leader t, with task/<tid>/ for its threads. */
static int fs_linux_add_process(struct fs *fs, fuse_ino_t tasks, const struct linux_task *t,
                                size_t nr)
{
	static const struct {
		const char *name;
		enum fs_linux_file f;
	} files[] = {
	        {"comm", FS_LINUX_COMM},           {"status", FS_LINUX_STATUS},
	        {"cmdline", FS_LINUX_CMDLINE},     {"maps", FS_LINUX_MAPS},
	        {"maps.json", FS_LINUX_MAPS_JSON},
	};
	fuse_ino_t dir, task, tdir;
	char name[16];
	size_t i, j;
	int ret;

	snprintf(name, sizeof(name), "%d", t[0].pid);
	ret = fs_node_add(fs, tasks, name, &fs_dir_ops, 0555, &dir);
	for (i = 0; !ret && i < sizeof(files) / sizeof(files[0]); i++)
		ret = fs_linux_add(fs, dir, files[i].name, &fs_linux_text_ops, 0444, files[i].f,
		                   &t[0]);
	if (!ret)
		ret = fs_linux_add(fs, dir, "mem", &fs_linux_mem_ops, 0400, 0, &t[0]);
	if (!ret)
		ret = fs_node_add(fs, dir, "task", &fs_dir_ops, 0555, &task);
	for (j = 0; !ret && j < nr; j++) {
		snprintf(name, sizeof(name), "%d", t[j].pid);
		ret = fs_node_add(fs, task, name, &fs_dir_ops, 0555, &tdir);
		if (!ret)
			ret = fs_linux_add(fs, tdir, "comm", &fs_linux_text_ops, 0444,
			                   FS_LINUX_COMM, &t[j]);
		if (!ret)
			ret = fs_linux_add(fs, tdir, "status", &fs_linux_text_ops, 0444,
			                   FS_LINUX_STATUS, &t[j]);
	}
	return ret;
}

static int fs_linux_add_tasks(struct fs *fs, struct linux_guest *lg, fuse_ino_t top)
{
	struct linux_task *t;
	fuse_ino_t tasks;
	size_t nr, i, j;
	int ret;

	ret = fs_node_add(fs, top, "tasks", &fs_dir_ops, 0555, &tasks);
	if (ret)
		return ret;
	if (linux_tasks_list(lg, &t, &nr))
		return 0;
	/* Each leader is followed by its other threads (linux_tasks_list). */
	for (i = 0; !ret && i < nr; i = j) {
		for (j = i + 1; j < nr && t[j].tgid == t[i].tgid && t[j].pid != t[j].tgid; j++)
			;
		if (t[i].pid)
			ret = fs_linux_add_process(fs, tasks, &t[i], j - i);
	}
	free(t);
	return ret;
}

static int fs_linux_build(struct fs *fs, fuse_ino_t top)
{
	static const struct {
		const char *name;
		enum fs_linux_file f;
		bool typed; /* needs BTF */
	} files[] = {
	        {"version", FS_LINUX_VERSION, false},
	        {"kallsyms", FS_LINUX_KALLSYMS, false},
	        {"btf", FS_LINUX_BTF, true},
	        {"dmesg", FS_LINUX_DMESG, true},
	        {"modules", FS_LINUX_MODULES, true},
	        {"modules.json", FS_LINUX_MODULES_JSON, true},
	        {"tasks.json", FS_LINUX_TASKS_JSON, true},
	        {"errors", FS_LINUX_ERRORS, false},
	};
	struct linux_guest *lg = fs_linux(fs)->lg;
	const char *why;
	bool typed = linux_guest_has_types(lg, &why);
	size_t i;
	int ret = 0;

	for (i = 0; !ret && i < sizeof(files) / sizeof(files[0]); i++)
		if (typed || !files[i].typed)
			ret = fs_linux_add(fs, top, files[i].name, &fs_linux_text_ops, 0444,
			                   files[i].f, NULL);
	if (!ret && typed)
		ret = fs_linux_add_tasks(fs, lg, top);
	return ret;
}

const struct fs_kind fs_linux_kind = {
        .name = "linux",
        .ops = &fs_dir_ops,
        .init = fs_linux_init,
        .exists = fs_linux_exists,
        .build = fs_linux_build,
        .exit = fs_linux_exit,
};
