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
 * linux/ is there once a vCPU's page tables map a kernel with kallsyms:
 * for a dump, if it did at mount; for a guest that runs (own or attached),
 * from the first look after the kernel has started (fs_linux_guest: a
 * search costs a walk of the image, so "none yet" is kept for a second,
 * and for ten while no vCPU's paging registers change).  Its fixed files
 * are in the node table from mount on, hidden until then (visible());
 * tasks/ and everything under it are derived when looked up or listed
 * (lookup(), list()), so they follow tasks coming and going: a pid that is
 * gone is ENOENT.  Every file's content is read from guest memory when it
 * is opened.  A kernel without BTF keeps version, kallsyms and errors -
 * errors says why the rest is missing, and so does one line on stderr when
 * the kernel is found.  -vmlinux FILE and -system-map FILE (read when the
 * kind starts: a file that cannot serve stops kvmfs there) stand in for a
 * kernel's missing BTF or kallsyms (inspect/linux_given.h); a kernel
 * without kallsyms and no -system-map has no linux/, and one line says so.
 *
 * The kind's state is the guest (struct fs_linux).  The fixed nodes under
 * linux/ have arg = the file's kind (enum fs_linux_file); the nodes under
 * tasks/ are the kind's own (fs_kind.node), their inode number made of
 * the file, the pid and the thread group (fs_linux_key), arg = the file's
 * kind with the pid in its upper 32 bits, priv = where the task was when
 * last looked up (linux_task_find's hint).
 */
#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inspect/linux_guest.h"
#include "inspect/linux_modules.h"
#include "inspect/linux_tasks.h"
#include "inspect/linux_vmas.h"
#include "memory/pagewalk.h"
#include "memory/phys.h"
#include "util/compiler.h"
#include "util/strbuf.h"
#include "vm.h"

#include "fs/internal.h"

/* Defined at the end; its state is found through it (fs_kind_priv). */
extern const struct fs_kind fs_linux_kind;

#define FS_LINUX_SEEK_STEPS 65536 /* walks one SEEK_DATA/SEEK_HOLE of mem may take */

#define FS_LINUX_RETRY_NS  1000000000ULL  /* "no kernel yet" is believed this long */
#define FS_LINUX_RESCAN_NS 10000000000ULL /* or this long while no paging register changes */

struct fs_linux {
	/*
	 * lg is published once (release), complete, and never changed after:
	 * readers load it (acquire) and need no lock.  lock guards the search
	 * and what it remembers of the last one.
	 */
	struct linux_guest *lg;   /* NULL: no kernel found (yet) */
	bool changes;             /* a guest that runs: look again later; a dump: once */
	struct linux_given given; /* -vmlinux, -system-map: read once, at start */
	bool told;                /* the line on what the kernel lacks is printed */
	pthread_mutex_t lock;
	bool searched;
	uint64_t next_try, scanned; /* CLOCK_MONOTONIC ns */
	uint64_t regs_sig;          /* the vCPUs' paging registers at the last scan */
	fuse_ino_t tasks_ino;
	/* nodes_lock guards nodes: the tsearch tree of the nodes under tasks/, by key. */
	pthread_mutex_t nodes_lock;
	void *nodes;
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
	FS_LINUX_TASKS, /* the directory */
	/* Under tasks/<pid>/. */
	FS_LINUX_COMM,
	FS_LINUX_STATUS,
	FS_LINUX_CMDLINE,
	FS_LINUX_MAPS,
	FS_LINUX_MAPS_JSON,
	FS_LINUX_MEM,
	FS_LINUX_PROC,    /* tasks/<pid>/ */
	FS_LINUX_TASKDIR, /* tasks/<pid>/task/ */
	FS_LINUX_THREAD,  /* tasks/<pid>/task/<tid>/ */
	FS_LINUX_T_COMM,  /* tasks/<pid>/task/<tid>/comm */
	FS_LINUX_T_STATUS,
	FS_LINUX_NR_FILES,
};

static struct fs_linux *fs_linux(struct fs *fs)
{
	return fs_kind_priv(fs, &fs_linux_kind);
}

/* The guest, once found; only nodes shown after that call it. */
static struct linux_guest *fs_linux_lg(struct fs *fs)
{
	return __atomic_load_n(&fs_linux(fs)->lg, __ATOMIC_ACQUIRE);
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
	case FS_LINUX_COMM:
	case FS_LINUX_T_COMM: sb_printf(sb, "%s\n", t.comm); return 0;
	case FS_LINUX_STATUS:
	case FS_LINUX_T_STATUS: linux_task_render_status(&t, sb); return 0;
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
	struct linux_guest *lg = fs_linux_lg(fs);
	enum fs_linux_file f = fs_linux_file_of(n);
	int ret = 0;

	if (!lg)
		return -ENOENT;
	linux_guest_begin(lg);
	switch (f) {
	case FS_LINUX_VERSION: linux_guest_render_version(lg, sb); break;
	case FS_LINUX_KALLSYMS: linux_kallsyms_render(&lg->ks, sb); break;
	case FS_LINUX_BTF: sb_add(sb, (const char *)lg->btf_data, lg->btf_len); break;
	case FS_LINUX_DMESG: linux_guest_render_dmesg(lg, sb); break;
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
		*size = fs_linux_lg(fs) ? fs_linux_lg(fs)->btf_len : 0;
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

/* The task's page-table walker, and where its user half ends. */
static int fs_linux_uspace(struct fs *fs, struct fs_node *n, struct linux_uspace *u, uint64_t *end)
{
	struct linux_guest *lg = fs_linux_lg(fs);
	struct linux_task t;

	*end = linux_uspace_end(lg);
	linux_guest_begin(lg);
	if (linux_task_find(lg, fs_linux_pid_of(n), (uint64_t)(uintptr_t)n->priv, &t))
		return -ESRCH;
	if (!linux_task_uspace(lg, &t, u))
		return -ENXIO; /* a kernel thread: no user memory */
	return 0;
}

static int fs_linux_mem_size(struct fs *fs, struct fs_node *n, uint64_t *size)
{
	*size = linux_uspace_end(fs_linux_lg(fs));
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
	struct fs_reply reply;
	uint64_t end;
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
	linux_uspace_read_pieces(&u, as, (uint64_t)off, size, fs_reply_piece, &reply);
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
	ret = linux_uspace_seek(&u, off, end, whence == SEEK_DATA, FS_LINUX_SEEK_STEPS, out);
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

/* ---- finding the kernel ---- */

static uint64_t fs_linux_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* A kernel through the first vCPU whose page tables map one: published in fl->lg. */
static void fs_linux_open(struct fs *fs, struct fs_linux *fl, const struct pagewalk_cpu *cpus,
                          unsigned nr)
{
	const struct guestkernel_mem mem = {phys_read_ram, &fs->vm->machine.as};
	struct linux_guest *lg = malloc(sizeof(*lg));
	char err[256];
	const char *why;
	unsigned i;

	if (!lg)
		return;
	for (i = 0; i < nr; i++) {
		int ret = cpus[i].cr0 ? linux_guest_open(lg, &cpus[i], &mem, &fl->given, err,
		                                         sizeof(err))
		                      : -ENOENT;

		if (!ret)
			break;
		/* A kernel, but no symbols for it: said once, what to give. */
		if (ret == -ENODATA && !fl->told) {
			fprintf(stderr, "kvmfs: linux/: %s\n", err);
			fl->told = true;
		}
	}
	if (i == nr) {
		free(lg);
		return;
	}
	if (!linux_guest_has_types(lg, &why))
		fprintf(stderr, "kvmfs: linux/: %s: only version, kallsyms and errors are shown\n",
		        why);
	__atomic_store_n(&fl->lg, lg, __ATOMIC_RELEASE);
}

/*
 * Look for the kernel, unless the last look is recent (a second), or was
 * made with the same paging registers on every vCPU and is not old (ten
 * seconds): a search walks the image and decodes kallsyms, which a stat of
 * the root must not cost each time.  Called with fl->lock held.
 */
static void fs_linux_search(struct fs *fs, struct fs_linux *fl)
{
	unsigned i, nr = vm_nr_cpus(fs->vm);
	uint64_t now = fs_linux_now(), sig = 14695981039346656037ULL;
	struct pagewalk_cpu *cpus;

	if (fl->searched && (!fl->changes || now < fl->next_try))
		return;
	fl->next_try = now + FS_LINUX_RETRY_NS;
	cpus = calloc(nr ? nr : 1, sizeof(*cpus));
	if (!cpus)
		return;
	for (i = 0; i < nr; i++) {
		struct kvm_regs regs;
		struct kvm_sregs s;
		bool exact;

		if (!vm_cpu_state(fs->vm, i, &regs, &s, &exact))
			cpus[i] = (struct pagewalk_cpu){s.cr0, s.cr3, s.cr4, s.efer};
		/* FNV-1a over the paging registers: equal if none moved. */
		sig = (sig ^ cpus[i].cr0 ^ cpus[i].cr3 * 31 ^ cpus[i].cr4 * 977 ^ cpus[i].efer) *
		      1099511628211ULL;
	}
	if (!fl->searched || sig != fl->regs_sig || now - fl->scanned >= FS_LINUX_RESCAN_NS) {
		fl->searched = true;
		fl->regs_sig = sig;
		fl->scanned = now;
		fs_linux_open(fs, fl, cpus, nr);
	}
	free(cpus);
}

/* The guest's kernel, or NULL while none is found. */
static struct linux_guest *fs_linux_guest(struct fs *fs)
{
	struct fs_linux *fl = fs_linux(fs);
	struct linux_guest *lg = __atomic_load_n(&fl->lg, __ATOMIC_ACQUIRE);

	if (lg || !fl->changes)
		return lg;
	pthread_mutex_lock(&fl->lock);
	if (!fl->lg)
		fs_linux_search(fs, fl);
	lg = fl->lg;
	pthread_mutex_unlock(&fl->lock);
	return lg;
}

/* ---- the nodes under tasks/, made when looked up ---- */

/* A node's key: the file, the pid (or tid) and its thread group; below 2^56. */
static uint64_t fs_linux_key(enum fs_linux_file f, int32_t pid, int32_t tgid)
{
	return (uint64_t)f | (uint64_t)(uint32_t)pid << 8 | (uint64_t)(uint32_t)tgid << 32;
}

struct fs_linux_dnode {
	uint64_t key;
	struct fs_node n;
};

static int fs_linux_dnode_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct fs_linux_dnode *)a)->key;
	uint64_t y = ((const struct fs_linux_dnode *)b)->key;

	return x < y ? -1 : x > y;
}

static const struct fs_kind_ops fs_linux_proc_ops, fs_linux_taskdir_ops, fs_linux_thread_ops;

/* What a node of file f is: its ops, mode and parent. */
static bool fs_linux_dnode_init(struct fs_linux *fl, enum fs_linux_file f, int32_t pid,
                                int32_t tgid, struct fs_node *n)
{
	fuse_ino_t proc = fs_dyn_ino(&fs_linux_kind, fs_linux_key(FS_LINUX_PROC, tgid, tgid));

	*n = (struct fs_node){.ops = &fs_linux_text_ops, .mode = 0444, .parent = proc};
	n->arg = (unsigned long)(uint32_t)pid << 32 | f;
	switch (f) {
	case FS_LINUX_COMM:
	case FS_LINUX_STATUS:
	case FS_LINUX_CMDLINE:
	case FS_LINUX_MAPS:
	case FS_LINUX_MAPS_JSON: return pid == tgid;
	case FS_LINUX_MEM:
		n->ops = &fs_linux_mem_ops;
		n->mode = 0400;
		return pid == tgid;
	case FS_LINUX_PROC:
		*n = (struct fs_node){.ops = &fs_linux_proc_ops,
		                      .mode = 0555,
		                      .parent = fl->tasks_ino,
		                      .nr_subdirs = 1,
		                      .arg = n->arg};
		return pid == tgid;
	case FS_LINUX_TASKDIR:
		*n = (struct fs_node){
		        .ops = &fs_linux_taskdir_ops, .mode = 0555, .parent = proc, .arg = n->arg};
		return pid == tgid;
	case FS_LINUX_THREAD:
		*n = (struct fs_node){
		        .ops = &fs_linux_thread_ops,
		        .mode = 0555,
		        .parent = fs_dyn_ino(&fs_linux_kind,
		                             fs_linux_key(FS_LINUX_TASKDIR, tgid, tgid)),
		        .arg = n->arg};
		return true;
	case FS_LINUX_T_COMM:
	case FS_LINUX_T_STATUS:
		n->parent = fs_dyn_ino(&fs_linux_kind, fs_linux_key(FS_LINUX_THREAD, pid, tgid));
		return true;
	default: return false;
	}
}

/* fs_kind.node: made on first ask, kept until exit (a few dozen bytes a file looked up). */
static struct fs_node *fs_linux_node(struct fs *fs, void *priv, uint64_t key)
{
	struct fs_linux *fl = priv;
	struct fs_linux_dnode want = {.key = key}, *d;
	enum fs_linux_file f = (enum fs_linux_file)(key & 0xff);
	int32_t pid = (int32_t)((key >> 8) & 0xffffff), tgid = (int32_t)(key >> 32);
	void **found;

	(void)fs;
	if (pid <= 0 || pid >= LINUX_PID_MAX || tgid <= 0 || tgid >= LINUX_PID_MAX ||
	    key != fs_linux_key(f, pid, tgid))
		return NULL;
	pthread_mutex_lock(&fl->nodes_lock);
	found = tfind(&want, &fl->nodes, fs_linux_dnode_cmp);
	d = found ? *found : NULL;
	if (!d) {
		d = malloc(sizeof(*d));
		if (d) {
			d->key = key;
			if (!fs_linux_dnode_init(fl, f, pid, tgid, &d->n) ||
			    !tsearch(d, &fl->nodes, fs_linux_dnode_cmp)) {
				free(d);
				d = NULL;
			}
		}
	}
	pthread_mutex_unlock(&fl->nodes_lock);
	return d ? &d->n : NULL;
}

/*
 * Where task pid was last seen, for a node of it not looked up before: its
 * directory's (tasks/<pid>/ or task/<tid>/), which a listing sets.
 * Without a hint a look walks the whole task list - for every file of
 * every task, that is quadratic in the tasks.
 */
static uint64_t fs_linux_hint(struct fs *fs, struct fs_node *n, int32_t pid, int32_t tgid)
{
	void *hint = __atomic_load_n(&n->priv, __ATOMIC_RELAXED);
	struct fs_node *dir;

	if (hint)
		return (uint64_t)(uintptr_t)hint;
	dir = fs_node_get(fs, fs_dyn_ino(&fs_linux_kind,
	                                 pid == tgid ? fs_linux_key(FS_LINUX_PROC, pid, tgid)
	                                             : fs_linux_key(FS_LINUX_THREAD, pid, tgid)));
	return dir ? (uint64_t)(uintptr_t)__atomic_load_n(&dir->priv, __ATOMIC_RELAXED) : 0;
}

/*
 * The node of file f of task pid (thread group tgid), if that task is
 * there now: its inode number, the task remembered as the next look's hint.
 */
static int fs_linux_entry(struct fs *fs, enum fs_linux_file f, int32_t pid, int32_t tgid,
                          fuse_ino_t *ino)
{
	struct linux_guest *lg = fs_linux_lg(fs);
	fuse_ino_t i = fs_dyn_ino(&fs_linux_kind, fs_linux_key(f, pid, tgid));
	struct fs_node *n = fs_node_get(fs, i);
	struct linux_task t;

	if (!lg || !n)
		return -ENOENT;
	linux_guest_begin(lg);
	if (linux_task_find(lg, pid, fs_linux_hint(fs, n, pid, tgid), &t) || t.tgid != tgid)
		return -ENOENT;
	__atomic_store_n(&n->priv, (void *)(uintptr_t)t.addr, __ATOMIC_RELAXED);
	*ino = i;
	return 0;
}

/* A decimal pid as /proc spells it (no sign, no leading zero), or -1. */
static int32_t fs_linux_parse_pid(const char *name)
{
	long v = 0;

	if (name[0] < '1' || name[0] > '9')
		return -1;
	for (; *name; name++) {
		if (*name < '0' || *name > '9' || (v = v * 10 + (*name - '0')) >= LINUX_PID_MAX)
			return -1;
	}
	return (int32_t)v;
}

/*
 * Entries for the tasks of the list now, in pid order, from offset off on
 * (an entry's offset is its pid + 3): thread group leaders (tgid 0), or
 * the threads of thread group tgid.
 */
static void fs_linux_list_tasks(struct fs *fs, int32_t tgid, off_t off, struct fs_dirbuf *d)
{
	struct linux_guest *lg = fs_linux_lg(fs);
	struct linux_task *t;
	size_t nr, i;
	char name[16];

	if (!lg)
		return;
	linux_guest_begin(lg);
	if (linux_tasks_select(lg, tgid, &t, &nr))
		return;
	for (i = 0; i < nr; i++) {
		enum fs_linux_file f = tgid ? FS_LINUX_THREAD : FS_LINUX_PROC;

		if ((off_t)t[i].pid + 3 <= off)
			continue;
		fuse_ino_t ino = fs_dyn_ino(&fs_linux_kind,
		                            fs_linux_key(f, t[i].pid, tgid ? tgid : t[i].pid));
		struct fs_node *dir = fs_node_get(fs, ino);

		/* The listing found it: where its files' first looks start (fs_linux_hint). */
		if (dir)
			__atomic_store_n(&dir->priv, (void *)(uintptr_t)t[i].addr,
			                 __ATOMIC_RELAXED);
		snprintf(name, sizeof(name), "%d", t[i].pid);
		if (!fs_dirbuf_add(d, name, ino, S_IFDIR, (off_t)t[i].pid + 3))
			break;
	}
	free(t);
}

/* tasks/ */
static int fs_linux_tasks_lookup(struct fs *fs, struct fs_node *dir, const char *name,
                                 fuse_ino_t *ino)
{
	int32_t pid = fs_linux_parse_pid(name);

	(void)dir;
	return pid < 0 ? -ENOENT : fs_linux_entry(fs, FS_LINUX_PROC, pid, pid, ino);
}

static void fs_linux_tasks_list(struct fs *fs, struct fs_node *dir, off_t off, struct fs_dirbuf *d)
{
	(void)dir;
	fs_linux_list_tasks(fs, 0, off, d);
}

/* The files of tasks/<pid>/ and of task/<tid>/. */
static const struct {
	const char *name;
	enum fs_linux_file f;
} fs_linux_proc_files[] =
        {
                {"comm", FS_LINUX_COMM},           {"status", FS_LINUX_STATUS},
                {"cmdline", FS_LINUX_CMDLINE},     {"maps", FS_LINUX_MAPS},
                {"maps.json", FS_LINUX_MAPS_JSON}, {"mem", FS_LINUX_MEM},
                {"task", FS_LINUX_TASKDIR},
},
  fs_linux_thread_files[] = {
          {"comm", FS_LINUX_T_COMM},
          {"status", FS_LINUX_T_STATUS},
};

static int fs_linux_files_lookup(struct fs *fs, struct fs_node *dir, const char *name,
                                 fuse_ino_t *ino)
{
	bool thread = fs_linux_file_of(dir) == FS_LINUX_THREAD;
	size_t i, nr = thread ? ARRAY_SIZE(fs_linux_thread_files) : ARRAY_SIZE(fs_linux_proc_files);
	int32_t pid = fs_linux_pid_of(dir);
	/* A thread's directory knows its group from its parent's key. */
	int32_t tgid = thread ? (int32_t)((dir->parent >> 8) & 0xffffff) : pid;

	for (i = 0; i < nr; i++) {
		const char *n =
		        thread ? fs_linux_thread_files[i].name : fs_linux_proc_files[i].name;

		if (!strcmp(n, name))
			return fs_linux_entry(
			        fs, thread ? fs_linux_thread_files[i].f : fs_linux_proc_files[i].f,
			        pid, tgid, ino);
	}
	return -ENOENT;
}

static void fs_linux_files_list(struct fs *fs, struct fs_node *dir, off_t off, struct fs_dirbuf *d)
{
	bool thread = fs_linux_file_of(dir) == FS_LINUX_THREAD;
	size_t i, nr = thread ? ARRAY_SIZE(fs_linux_thread_files) : ARRAY_SIZE(fs_linux_proc_files);
	int32_t pid = fs_linux_pid_of(dir);
	int32_t tgid = thread ? (int32_t)((dir->parent >> 8) & 0xffffff) : pid;

	(void)fs;
	for (i = 0; i < nr; i++) {
		enum fs_linux_file f =
		        thread ? fs_linux_thread_files[i].f : fs_linux_proc_files[i].f;
		const char *name =
		        thread ? fs_linux_thread_files[i].name : fs_linux_proc_files[i].name;

		if ((off_t)i + 3 <= off)
			continue;
		if (!fs_dirbuf_add(d, name, fs_dyn_ino(&fs_linux_kind, fs_linux_key(f, pid, tgid)),
		                   f == FS_LINUX_TASKDIR ? S_IFDIR : S_IFREG, (off_t)i + 3))
			break;
	}
}

/* tasks/<pid>/task/ */
static int fs_linux_taskdir_lookup(struct fs *fs, struct fs_node *dir, const char *name,
                                   fuse_ino_t *ino)
{
	int32_t tid = fs_linux_parse_pid(name);

	return tid < 0 ? -ENOENT
	               : fs_linux_entry(fs, FS_LINUX_THREAD, tid, fs_linux_pid_of(dir), ino);
}

static void fs_linux_taskdir_list(struct fs *fs, struct fs_node *dir, off_t off,
                                  struct fs_dirbuf *d)
{
	fs_linux_list_tasks(fs, fs_linux_pid_of(dir), off, d);
}

static const struct fs_kind_ops fs_linux_proc_ops =
                                        {
                                                .dir = true,
                                                .dynamic = true,
                                                .lookup = fs_linux_files_lookup,
                                                .list = fs_linux_files_list,
},
                                fs_linux_thread_ops =
                                        {
                                                .dir = true,
                                                .dynamic = true,
                                                .lookup = fs_linux_files_lookup,
                                                .list = fs_linux_files_list,
},
                                fs_linux_taskdir_ops = {
                                        .dir = true,
                                        .dynamic = true,
                                        .lookup = fs_linux_taskdir_lookup,
                                        .list = fs_linux_taskdir_list,
};

/* ---- linux/ and its fixed files ---- */

/* Whether file f needs the kernel's BTF. */
static bool fs_linux_typed(enum fs_linux_file f)
{
	return f != FS_LINUX_VERSION && f != FS_LINUX_KALLSYMS && f != FS_LINUX_ERRORS;
}

/* linux/ itself: there once a kernel is found. */
static bool fs_linux_top_visible(struct fs *fs, struct fs_node *n)
{
	(void)n;
	return fs_linux_guest(fs) != NULL;
}

/* Its files: those that need types only with BTF. */
static bool fs_linux_file_visible(struct fs *fs, struct fs_node *n)
{
	struct linux_guest *lg = fs_linux_lg(fs);
	const char *why;

	return lg && (!fs_linux_typed(fs_linux_file_of(n)) || linux_guest_has_types(lg, &why));
}

static const struct fs_kind_ops fs_linux_top_ops = {
        .dir = true,
        .visible = fs_linux_top_visible,
};

static const struct fs_kind_ops fs_linux_file_ops = {
        .open = fs_linux_text_open,
        .read = fs_text_read,
        .release = fs_text_release,
        .size = fs_linux_text_size,
        .dynamic = true,
        .visible = fs_linux_file_visible,
};

static const struct fs_kind_ops fs_linux_tasks_ops = {
        .dir = true,
        .dynamic = true,
        .visible = fs_linux_file_visible,
        .lookup = fs_linux_tasks_lookup,
        .list = fs_linux_tasks_list,
};

/* ---- the kind ---- */

static int fs_linux_init(struct fs *fs, void **priv)
{
	struct fs_linux *fl = calloc(1, sizeof(*fl));
	char err[512];
	int ret;

	if (!fl)
		return -ENOMEM;
	pthread_mutex_init(&fl->lock, NULL);
	pthread_mutex_init(&fl->nodes_lock, NULL);
	/* A dump never changes: looked at once.  A guest that runs, again and again. */
	fl->changes = !fs->vm->dump;
	ret = linux_given_load(&fl->given, fs->vm->opts.vmlinux, fs->vm->opts.system_map, err,
	                       sizeof(err));
	if (ret) {
		/* A file given that cannot serve: said now, and kvmfs does not start. */
		fprintf(stderr, "kvmfs: %s\n", err);
		pthread_mutex_destroy(&fl->nodes_lock);
		pthread_mutex_destroy(&fl->lock);
		free(fl);
		return ret;
	}
	*priv = fl;
	return 0;
}

static void fs_linux_exit(void *priv)
{
	struct fs_linux *fl = priv;

	tdestroy(fl->nodes, free);
	linux_given_free(&fl->given);
	if (fl->lg) {
		linux_guest_close(fl->lg);
		free(fl->lg);
	}
	pthread_mutex_destroy(&fl->nodes_lock);
	pthread_mutex_destroy(&fl->lock);
	free(fl);
}

static int fs_linux_build(struct fs *fs, fuse_ino_t top)
{
	static const struct {
		const char *name;
		enum fs_linux_file f;
	} files[] = {
	        {"version", FS_LINUX_VERSION},
	        {"kallsyms", FS_LINUX_KALLSYMS},
	        {"btf", FS_LINUX_BTF},
	        {"dmesg", FS_LINUX_DMESG},
	        {"modules", FS_LINUX_MODULES},
	        {"modules.json", FS_LINUX_MODULES_JSON},
	        {"tasks.json", FS_LINUX_TASKS_JSON},
	        {"errors", FS_LINUX_ERRORS},
	};
	struct fs_linux *fl = fs_linux(fs);
	fuse_ino_t ino;
	size_t i;
	int ret = 0;

	for (i = 0; !ret && i < ARRAY_SIZE(files); i++) {
		ret = fs_node_add(fs, top, files[i].name, &fs_linux_file_ops, 0444, &ino);
		if (!ret)
			fs_node_get(fs, ino)->arg = files[i].f;
	}
	if (!ret)
		ret = fs_node_add(fs, top, "tasks", &fs_linux_tasks_ops, 0555, &fl->tasks_ino);
	if (!ret)
		fs_node_get(fs, fl->tasks_ino)->arg = FS_LINUX_TASKS;
	/* The first look now: a dump's (and its stderr line) is made at mount. */
	pthread_mutex_lock(&fl->lock);
	fs_linux_search(fs, fl);
	pthread_mutex_unlock(&fl->lock);
	return ret;
}

const struct fs_kind fs_linux_kind = {
        .name = "linux",
        .ops = &fs_linux_top_ops,
        .init = fs_linux_init,
        .build = fs_linux_build,
        .exit = fs_linux_exit,
        .node = fs_linux_node,
};
