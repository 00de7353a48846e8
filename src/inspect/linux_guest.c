/*
 * linux_guest.c - a Linux kernel in guest memory, set up for reading (see
 * linux_guest.h): its address space, kallsyms, BTF and the members the
 * readers need.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inspect/linux_guest.h"
#include "util/compiler.h"
#include "util/errmsg.h"
#include "util/strbuf.h"

#define LG_PAGE GUESTKERNEL_PAGE

/* ---- the kernel's address space ---- */

static int lg_phys64(void *opaque, uint64_t gpa, uint64_t *val)
{
	const struct guestkernel_mem *mem = opaque;

	return mem->read(mem->opaque, gpa, val, sizeof(*val)) == sizeof(*val) ? 0 : -EFAULT;
}

/* va through cpu's tables: its physical address and the bytes left in its page. */
static bool lg_walk(const struct guestkernel_mem *phys, const struct pagewalk_cpu *cpu, uint64_t va,
                    uint64_t *pa, uint64_t *left)
{
	struct pagewalk_result r;

	pagewalk(cpu, va, lg_phys64, (void *)phys, &r);
	if (r.status != PW_OK)
		return false;
	*pa = r.pa;
	*left = r.span - (va & (r.span - 1));
	return true;
}

/*
 * Every read of a guest pointer is a page walk and a read of guest memory,
 * and each of those costs system calls on a dump (phys_read_ram asks the
 * file where its holes are): one render of tasks.json makes thousands.  So
 * each thread keeps, for one operation (linux_guest_begin to the next),
 * the kernel's translations it walked and the pages it read.  Within an
 * operation it sees every page as it first read it; the next starts afresh.
 */
#define LG_TLB   64
#define LG_PAGES 16

struct lg_cache {
	const struct linux_guest *lg;
	unsigned long gen;
	uint64_t tlb_va[LG_TLB], tlb_pa[LG_TLB]; /* page numbers + 1; 0: empty */
	uint64_t page_pa[LG_PAGES];              /* page number + 1; 0: empty */
	uint8_t page[LG_PAGES][LG_PAGE];
};

/* Each thread's cache, freed when the thread ends. */
static pthread_key_t lg_cache_key;
static pthread_once_t lg_cache_once = PTHREAD_ONCE_INIT;
static bool lg_cache_keyed;

static void lg_cache_key_init(void)
{
	lg_cache_keyed = !pthread_key_create(&lg_cache_key, free);
}

static struct lg_cache *lg_cache_of(const struct linux_guest *lg)
{
	unsigned long gen = __atomic_load_n(&lg->gen, __ATOMIC_RELAXED);
	struct lg_cache *c;

	pthread_once(&lg_cache_once, lg_cache_key_init);
	if (!lg_cache_keyed)
		return NULL;
	c = pthread_getspecific(lg_cache_key);
	if (!c) {
		/* One per thread, for the thread's life: FUSE's workers are few. */
		c = calloc(1, sizeof(*c));
		if (!c || pthread_setspecific(lg_cache_key, c)) {
			free(c);
			return NULL;
		}
	}
	if (c->lg != lg || c->gen != gen) {
		memset(c->tlb_va, 0, sizeof(c->tlb_va));
		memset(c->page_pa, 0, sizeof(c->page_pa));
		c->lg = lg;
		c->gen = gen;
	}
	return c;
}

void linux_guest_begin(struct linux_guest *lg)
{
	__atomic_add_fetch(&lg->gen, 1, __ATOMIC_RELAXED);
}

/* The image's own pieces first (no walk), then the cache, then the page tables. */
static bool lg_translate(const struct linux_guest *lg, uint64_t va, uint64_t *pa, uint64_t *left)
{
	struct lg_cache *c;
	unsigned i, slot;

	for (i = 0; i < lg->k.nr_runs; i++) {
		const struct guestkernel_run *run = &lg->k.runs[i];

		if (va >= run->va && va - run->va < run->size) {
			*pa = run->pa + (va - run->va);
			*left = run->size - (va - run->va);
			return true;
		}
	}
	c = lg_cache_of(lg);
	slot = (unsigned)((va / LG_PAGE) % LG_TLB);
	if (c && c->tlb_va[slot] == va / LG_PAGE + 1) {
		*pa = (c->tlb_pa[slot] - 1) * LG_PAGE + va % LG_PAGE;
		*left = LG_PAGE - va % LG_PAGE;
		return true;
	}
	if (!lg_walk(&lg->phys, &lg->k.cpu, va, pa, left))
		return false;
	if (c) {
		c->tlb_va[slot] = va / LG_PAGE + 1;
		c->tlb_pa[slot] = *pa / LG_PAGE + 1;
	}
	return true;
}

/* len bytes at gpa, within one page, through the page cache. */
static size_t lg_phys_read(const struct guestkernel_mem *phys, const struct linux_guest *lg,
                           uint64_t gpa, void *buf, size_t len)
{
	struct lg_cache *c = lg_cache_of(lg);
	unsigned slot = (unsigned)((gpa / LG_PAGE) % LG_PAGES);

	if (!c)
		return phys->read(phys->opaque, gpa, buf, len);
	if (c->page_pa[slot] != gpa / LG_PAGE + 1) {
		if (phys->read(phys->opaque, gpa & ~(LG_PAGE - 1), c->page[slot], LG_PAGE) !=
		    LG_PAGE) {
			c->page_pa[slot] = 0;
			return phys->read(phys->opaque, gpa, buf, len);
		}
		c->page_pa[slot] = gpa / LG_PAGE + 1;
	}
	memcpy(buf, c->page[slot] + gpa % LG_PAGE, len);
	return len;
}

static size_t lg_read_via(const struct guestkernel_mem *phys, const struct linux_guest *lg,
                          const struct pagewalk_cpu *cpu, uint64_t va, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		uint64_t pa, left, n, got;

		if (!(cpu ? lg_walk(phys, cpu, va + done, &pa, &left)
		          : lg_translate(lg, va + done, &pa, &left)))
			break;
		n = MIN(left, (uint64_t)(len - done));
		n = MIN(n, LG_PAGE - pa % LG_PAGE);
		got = lg_phys_read(phys, lg, pa, (char *)buf + done, (size_t)n);
		done += (size_t)got;
		if (got < n)
			break;
	}
	return done;
}

static size_t lg_kread(void *opaque, uint64_t va, void *buf, size_t len)
{
	struct linux_guest *lg = opaque;

	return lg_read_via(&lg->phys, lg, NULL, va, buf, len);
}

bool linux_guest_virt_to_phys(const struct linux_guest *lg, uint64_t va, uint64_t *pa)
{
	uint64_t left;

	return lg_translate(lg, va, pa, &left);
}

void linux_guest_error(struct linux_guest *lg, enum linux_error e)
{
	__atomic_add_fetch(&lg->errors[e], 1, __ATOMIC_RELAXED);
}

bool linux_guest_read(struct linux_guest *lg, uint64_t va, void *buf, size_t len)
{
	if (linux_kmem_read(&lg->kmem, va, buf, len))
		return true;
	linux_guest_error(lg, LINUX_ERR_UNREADABLE);
	return false;
}

bool linux_guest_u64(struct linux_guest *lg, uint64_t va, uint64_t *v)
{
	return linux_guest_read(lg, va, v, sizeof(*v));
}

bool linux_guest_u32(struct linux_guest *lg, uint64_t va, uint32_t *v)
{
	return linux_guest_read(lg, va, v, sizeof(*v));
}

bool linux_guest_string(struct linux_guest *lg, uint64_t va, char *buf, size_t max)
{
	size_t got = lg->kmem.read(lg, va, buf, max - 1);

	buf[got] = '\0';
	if (memchr(buf, '\0', got) || got == max - 1)
		return true;
	linux_guest_error(lg, LINUX_ERR_UNREADABLE);
	return false;
}

/* ---- user address spaces ---- */

void linux_uspace_init(struct linux_uspace *u, struct linux_guest *lg, uint64_t pgd_pa)
{
	u->lg = lg;
	u->cpu = lg->k.cpu;
	u->cpu.cr3 = pgd_pa;
}

size_t linux_uspace_read(const struct linux_uspace *u, uint64_t va, void *buf, size_t len)
{
	return lg_read_via(&u->lg->phys, u->lg, &u->cpu, va, buf, len);
}

uint64_t linux_uspace_end(const struct linux_guest *lg)
{
	return 1ULL << (pagewalk_va_bits(&lg->k.cpu) - 1);
}

void linux_uspace_read_pieces(const struct linux_uspace *u, struct address_space *as, uint64_t va,
                              size_t len, as_piece_fn fn, void *opaque)
{
	phys_read_virt_pieces(as, &u->cpu, lg_phys64, (void *)&u->lg->phys, va, len, true, fn,
	                      opaque);
}

int linux_uspace_seek(const struct linux_uspace *u, uint64_t va, uint64_t end, bool want_mapped,
                      unsigned max_steps, uint64_t *out)
{
	return pagewalk_seek(&u->cpu, va, end, want_mapped, max_steps, lg_phys64,
	                     (void *)&u->lg->phys, out);
}

/* ---- the members the readers use ---- */

/*
 * One member: "struct.path", alternatives separated by '|' (a member renamed
 * between kernels: task_struct.__state was state before 5.14).
 */
struct lg_member {
	const char *type, *paths;
	size_t field; /* offsetof(struct linux_layout, ...) */
	bool optional;
};

#define LG_M(t, p, f)                                                                              \
	{                                                                                          \
		t, p, offsetof(struct linux_layout, f), false                                      \
	}
#define LG_OPT(t, p, f)                                                                            \
	{                                                                                          \
		t, p, offsetof(struct linux_layout, f), true                                       \
	}

static const struct lg_member lg_members[] = {
        LG_M("task_struct", "tasks", task_tasks),
        LG_M("task_struct", "pid", task_pid),
        LG_M("task_struct", "tgid", task_tgid),
        LG_M("task_struct", "comm", task_comm),
        LG_M("task_struct", "__state|state", task_state),
        LG_M("task_struct", "exit_state", task_exit_state),
        LG_M("task_struct", "flags", task_flags),
        LG_M("task_struct", "real_parent", task_real_parent),
        LG_M("task_struct", "mm", task_mm),
        LG_M("task_struct", "cred", task_cred),
        LG_M("task_struct", "signal", task_signal),
        LG_OPT("task_struct", "thread_node", task_thread_node),
        LG_OPT("task_struct", "thread_group", task_thread_group),
        LG_OPT("signal_struct", "thread_head", signal_thread_head),
        LG_M("signal_struct", "nr_threads", signal_nr_threads),
        LG_M("cred", "uid", cred_uid),
        LG_M("cred", "euid", cred_euid),
        LG_M("cred", "suid", cred_suid),
        LG_M("cred", "fsuid", cred_fsuid),
        LG_M("cred", "gid", cred_gid),
        LG_M("cred", "egid", cred_egid),
        LG_M("cred", "sgid", cred_sgid),
        LG_M("cred", "fsgid", cred_fsgid),
        LG_OPT("mm_struct", "mm_mt.ma_root", mm_mt_root),
        LG_OPT("mm_struct", "mmap", mm_mmap),
        LG_M("mm_struct", "pgd", mm_pgd),
        LG_M("mm_struct", "start_brk", mm_start_brk),
        LG_M("mm_struct", "brk", mm_brk),
        LG_M("mm_struct", "start_stack", mm_start_stack),
        LG_M("mm_struct", "arg_start", mm_arg_start),
        LG_M("mm_struct", "arg_end", mm_arg_end),
        LG_M("mm_struct", "total_vm", mm_total_vm),
        LG_OPT("mm_struct", "context.flags", mm_context_flags),
        LG_M("vm_area_struct", "vm_start", vma_start),
        LG_M("vm_area_struct", "vm_end", vma_end),
        LG_M("vm_area_struct", "vm_flags", vma_flags),
        LG_M("vm_area_struct", "vm_pgoff", vma_pgoff),
        LG_M("vm_area_struct", "vm_file", vma_file),
        LG_M("vm_area_struct", "vm_ops", vma_ops),
        LG_M("vm_area_struct", "vm_private_data", vma_private),
        LG_M("vm_area_struct", "vm_mm", vma_mm),
        LG_OPT("vm_area_struct", "vm_next", vma_next),
        LG_M("file", "f_path.dentry", file_dentry),
        LG_M("file", "f_path.mnt", file_mnt),
        LG_M("file", "f_inode", file_inode),
        LG_M("inode", "i_ino", inode_ino),
        LG_M("inode", "i_sb", inode_sb),
        LG_M("super_block", "s_dev", sb_dev),
        LG_M("dentry", "d_parent", dentry_parent),
        LG_M("dentry", "d_name.name", dentry_name),
        LG_M("dentry", "d_name.len", dentry_len),
        LG_M("mount", "mnt", mount_mnt),
        LG_M("mount", "mnt_parent", mount_parent),
        LG_M("mount", "mnt_mountpoint", mount_mountpoint),
        LG_M("vfsmount", "mnt_root", vfsmount_root),
        LG_M("vm_special_mapping", "name", special_name),
        LG_M("module", "list", module_list),
        LG_M("module", "name", module_name),
        LG_M("module", "state", module_state),
        LG_OPT("module", "refcnt", module_refcnt),
        LG_OPT("module", "core_layout.base", module_core_base),
        LG_OPT("module", "core_layout.size", module_core_size),
        LG_OPT("module", "init_layout.size", module_init_size),
};

/* The member's offset by the first of its alternative paths that exists. */
static int lg_member_find(const struct linux_btf *btf, const struct lg_member *m, uint64_t *off,
                          uint32_t *type)
{
	const char *p = m->paths;
	int id = linux_btf_find(btf, LINUX_BTF_STRUCT, m->type);

	if (id < 0)
		return -ENOENT;
	while (*p) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		struct linux_btf_member bm;
		char path[64];

		if (len < sizeof(path)) {
			memcpy(path, p, len);
			path[len] = '\0';
			if (!linux_btf_member(btf, (uint32_t)id, path, &bm)) {
				*off = bm.offset;
				*type = bm.type;
				return 0;
			}
		}
		p += len + (bar ? 1 : 0);
	}
	return -ENOENT;
}

static void lg_layout(struct linux_guest *lg)
{
	struct linux_layout *l = &lg->l;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(lg_members); i++) {
		const struct lg_member *m = &lg_members[i];
		uint64_t off = 0, size;
		uint32_t type;

		if (lg_member_find(&lg->btf, m, &off, &type)) {
			if (!m->optional && !lg->layout_err[0])
				snprintf(lg->layout_err, sizeof(lg->layout_err),
				         "the kernel's BTF has no %s.%s", m->type, m->paths);
			off = UINT64_MAX;
		} else if (m->field == offsetof(struct linux_layout, task_state)) {
			l->task_state_size =
			        !linux_btf_size(&lg->btf, type, &size) ? (unsigned)size : 4;
		} else if (m->field == offsetof(struct linux_layout, mm_context_flags)) {
			/* unsigned short before 6.4, unsigned long since (LAM's bits) */
			l->mm_context_flags_size =
			        !linux_btf_size(&lg->btf, type, &size) && size <= 8 ? (unsigned)size
			                                                            : 0;
		}
		*(uint64_t *)((char *)l + m->field) = off;
	}
	l->have_maple = l->mm_mt_root != UINT64_MAX;
	l->have_thread_node =
	        l->task_thread_node != UINT64_MAX && l->signal_thread_head != UINT64_MAX;
	l->have_module_layout = l->module_core_base != UINT64_MAX &&
	                        l->module_core_size != UINT64_MAX &&
	                        l->module_init_size != UINT64_MAX;
	l->have_module_refcnt = l->module_refcnt != UINT64_MAX;
	if (!lg->layout_err[0] && !l->have_maple && l->mm_mmap == UINT64_MAX)
		snprintf(lg->layout_err, sizeof(lg->layout_err),
		         "the kernel's BTF has neither mm_struct.mm_mt nor mm_struct.mmap");
	if (!lg->layout_err[0] && !l->have_thread_node && l->task_thread_group == UINT64_MAX)
		snprintf(lg->layout_err, sizeof(lg->layout_err),
		         "the kernel's BTF has neither task_struct.thread_node nor thread_group");
}

#define LG_GIVE_BTF "give -vmlinux FILE, the kernel's vmlinux with a .BTF section"

/* The .BTF section between __start_BTF and __stop_BTF, or -vmlinux's, parsed. */
static void lg_btf(struct linux_guest *lg, const struct linux_given *given)
{
	uint64_t start, stop;
	uint16_t magic;
	char why[128];

	if (given && given->btf) {
		lg->btf_data = malloc(given->btf_len);
		if (!lg->btf_data) {
			snprintf(lg->btf_err, sizeof(lg->btf_err), "BTF: out of memory");
			return;
		}
		memcpy(lg->btf_data, given->btf, given->btf_len);
		lg->btf_len = given->btf_len;
		if (linux_btf_parse(&lg->btf, lg->btf_data, lg->btf_len, why, sizeof(why))) {
			snprintf(lg->btf_err, sizeof(lg->btf_err), "-vmlinux %s: %s",
			         given->vmlinux, why);
			goto bad;
		}
		lg->has_btf = true;
		lg_layout(lg);
		return;
	}
	if (linux_kallsyms_lookup(&lg->ks, "__start_BTF", &start) ||
	    linux_kallsyms_lookup(&lg->ks, "__stop_BTF", &stop)) {
		snprintf(lg->btf_err, sizeof(lg->btf_err),
		         "the guest kernel has no BTF (no __start_BTF in its kallsyms: "
		         "CONFIG_DEBUG_INFO_BTF off): " LG_GIVE_BTF);
		return;
	}
	if (stop <= start || stop - start > LINUX_BTF_MAX) {
		snprintf(lg->btf_err, sizeof(lg->btf_err),
		         "the guest kernel's .BTF bounds are not believable (%#" PRIx64 "-%#" PRIx64
		         ")",
		         start, stop);
		return;
	}
	if (!linux_kmem_read(&lg->kmem, start, &magic, sizeof(magic)) || magic != LINUX_BTF_MAGIC) {
		snprintf(lg->btf_err, sizeof(lg->btf_err),
		         "the guest kernel has no BTF at __start_BTF %#" PRIx64
		         " (no 0xeb9f magic there): " LG_GIVE_BTF,
		         start);
		return;
	}
	lg->btf_len = (size_t)(stop - start);
	lg->btf_data = malloc(lg->btf_len);
	if (!lg->btf_data) {
		snprintf(lg->btf_err, sizeof(lg->btf_err), "BTF: out of memory");
		return;
	}
	if (!linux_kmem_read(&lg->kmem, start, lg->btf_data, lg->btf_len)) {
		snprintf(lg->btf_err, sizeof(lg->btf_err),
		         "the guest kernel's .BTF at %#" PRIx64 " is not all in memory", start);
		goto bad;
	}
	if (linux_btf_parse(&lg->btf, lg->btf_data, lg->btf_len, lg->btf_err, sizeof(lg->btf_err)))
		goto bad;
	lg->has_btf = true;
	lg_layout(lg);
	return;
bad:
	free(lg->btf_data);
	lg->btf_data = NULL;
	lg->btf_len = 0;
}

/*
 * What get_gate_vma() (arch/x86/entry/vsyscall/vsyscall_64.c) looks at.
 * CONFIG_COMPAT is known by kernel/compat.c's functions, built only with
 * it.  vsyscall_mode's NONE by its enum in BTF: it has been the last of
 * { EMULATE, NATIVE or XONLY, NONE } since 4.4, so 2 without it.
 */
static void lg_gate(struct linux_guest *lg)
{
	uint64_t va;

	if (linux_kallsyms_lookup(&lg->ks, "gate_vma", &lg->gate_vma) ||
	    linux_kallsyms_lookup(&lg->ks, "vsyscall_mode", &lg->vsyscall_mode))
		lg->gate_vma = lg->vsyscall_mode = 0;
	lg->compat = !linux_kallsyms_lookup(&lg->ks, "compat_get_bitmap", &va) ||
	             !linux_kallsyms_lookup(&lg->ks, "get_compat_sigset", &va);
	lg->vsyscall_none = 2;
	if (lg->has_btf)
		linux_btf_enum_value(&lg->btf, "EMULATE", "NONE", &lg->vsyscall_none);
}

/*
 * The kernel's own root, init_top_pgt (swapper_pg_dir), from its symbol,
 * for every walk of the kernel half: the root a vCPU held when the kernel
 * was found is some process's, which may exit and free it, or early in
 * boot early_top_pgt, which maps no more than the image.  The kernel half
 * of every root is init_top_pgt's.
 */
static void lg_kernel_root(struct linux_guest *lg)
{
	uint64_t va;
	unsigned i;

	if (linux_kallsyms_lookup(&lg->ks, "init_top_pgt", &va))
		return;
	for (i = 0; i < lg->k.nr_runs; i++) {
		const struct guestkernel_run *run = &lg->k.runs[i];

		if (va >= run->va && va - run->va < run->size) {
			lg->k.cpu.cr3 = run->pa + (va - run->va);
			return;
		}
	}
}

/*
 * -system-map's symbols, moved by where the kernel's _text really is, and
 * checked: linux_banner must be the banner there.
 */
static int lg_system_map(struct linux_guest *lg, const struct linux_given *given, char *err,
                         size_t errlen)
{
	const char *line = strstr(given->map, " T _text\n"), *p = line;
	char why[128], banner[16];
	uint64_t text = 0, va;
	int ret;

	while (p > given->map && p[-1] != '\n')
		p--;
	text = strtoull(p, NULL, 16);
	ret = linux_kallsyms_from_map(&lg->ks, given->map, lg->k.text_va - text, why, sizeof(why));
	if (ret)
		return errmsg(err, errlen, ret == -ENOMEM ? ret : -ENODATA, "-system-map %s: %s",
		              given->system_map, why);
	if (linux_kallsyms_lookup(&lg->ks, "linux_banner", &va) ||
	    !linux_kmem_read(&lg->kmem, va, banner, sizeof(banner)) ||
	    memcmp(banner, "Linux version ", 14)) {
		linux_kallsyms_free(&lg->ks);
		return errmsg(
		        err, errlen, -ENODATA,
		        "-system-map %s is not the guest kernel's: its linux_banner, moved by "
		        "_text's offset, is no 'Linux version' banner",
		        given->system_map);
	}
	return 0;
}

int linux_guest_open(struct linux_guest *lg, const struct pagewalk_cpu *cpu,
                     const struct guestkernel_mem *phys, const struct linux_given *given, char *err,
                     size_t errlen)
{
	struct linux_kallsyms_range ranges[GUESTKERNEL_MAX_RUNS];
	unsigned i, n = 0;
	int ret;

	memset(lg, 0, sizeof(*lg));
	lg->phys = *phys;
	lg->kmem = (struct linux_kmem){lg_kread, lg};
	if (guestkernel_find(cpu, phys, NULL, &lg->k))
		return errmsg(err, errlen, -ENOENT,
		              "no Linux kernel mapped by the vCPU's page tables");
	if (given && given->map) {
		ret = lg_system_map(lg, given, err, errlen);
		if (ret)
			return ret;
		goto symbols;
	}
	/*
	 * The tables are data: the image's pieces that are not code - once
	 * boot has ended (mark_rodata_ro).  Until then the image is mapped
	 * executable in large pieces, and the search goes through all of it.
	 */
	for (i = 0; i < lg->k.nr_runs; i++)
		if (!lg->k.runs[i].exec)
			ranges[n++] =
			        (struct linux_kallsyms_range){lg->k.runs[i].va, lg->k.runs[i].size};
	ret = n ? linux_kallsyms_find(&lg->ks, &lg->kmem, ranges, n, err, errlen) : -ENOENT;
	if (ret == -ENOENT) {
		for (i = n = 0; i < lg->k.nr_runs; i++)
			ranges[n++] =
			        (struct linux_kallsyms_range){lg->k.runs[i].va, lg->k.runs[i].size};
		ret = linux_kallsyms_find(&lg->ks, &lg->kmem, ranges, n, err, errlen);
	}
	if (ret == -ENOENT)
		return errmsg(err, errlen, -ENODATA,
		              "the guest kernel %s has no kallsyms (CONFIG_KALLSYMS off?): give "
		              "-system-map FILE, its System.map",
		              lg->k.release);
	if (ret)
		return ret;
symbols:
	linux_kallsyms_lookup(&lg->ks, "init_task", &lg->init_task);
	linux_kallsyms_lookup(&lg->ks, "modules", &lg->modules);
	linux_kallsyms_lookup(&lg->ks, "special_mapping_vmops", &lg->special_mapping_vmops);
	linux_kallsyms_lookup(&lg->ks, "prb", &lg->prb_ptr);
	lg_kernel_root(lg);
	lg_btf(lg, given);
	if (lg->has_btf)
		lg->has_printk = !linux_printk_layout_btf(&lg->btf, &lg->printk);
	lg_gate(lg);
	return 0;
}

void linux_guest_render_dmesg(struct linux_guest *lg, struct strbuf *sb)
{
	struct linux_printk_stats st;
	uint64_t prb;

	/* prb moves from the static ring to a larger one early in boot: read it now. */
	if (!lg->has_printk || !lg->prb_ptr || !linux_guest_u64(lg, lg->prb_ptr, &prb) ||
	    linux_printk_render(&lg->kmem, &lg->printk, prb, sb, &st))
		linux_guest_error(lg, LINUX_ERR_UNREADABLE);
}

void linux_guest_close(struct linux_guest *lg)
{
	linux_btf_free(&lg->btf);
	free(lg->btf_data);
	linux_kallsyms_free(&lg->ks);
	memset(lg, 0, sizeof(*lg));
}

bool linux_guest_has_types(const struct linux_guest *lg, const char **why)
{
	if (!lg->has_btf) {
		*why = lg->btf_err;
		return false;
	}
	if (lg->layout_err[0]) {
		*why = lg->layout_err;
		return false;
	}
	return true;
}

void linux_guest_render_errors(struct linux_guest *lg, struct strbuf *sb)
{
	static const char *const names[LINUX_ERR_NR] = {
	        [LINUX_ERR_UNREADABLE] = "unreadable",
	        [LINUX_ERR_LOOP] = "loop",
	        [LINUX_ERR_INVALID] = "invalid",
	};
	unsigned i;

	for (i = 0; i < LINUX_ERR_NR; i++)
		sb_printf(sb, "%s %lu\n", names[i],
		          __atomic_load_n(&lg->errors[i], __ATOMIC_RELAXED));
}

void linux_guest_render_version(struct linux_guest *lg, struct strbuf *sb)
{
	char banner[512];
	uint64_t va;
	size_t n;

	/*
	 * linux_banner itself: the image holds other strings that start the
	 * same way (guestkernel's banner_gpa may be one, good for the release
	 * only).
	 */
	if (!linux_kallsyms_lookup(&lg->ks, "linux_banner", &va))
		n = lg->kmem.read(lg, va, banner, sizeof(banner) - 1);
	else
		n = lg->phys.read(lg->phys.opaque, lg->k.banner_gpa, banner, sizeof(banner) - 1);
	banner[n] = '\0';
	n = strcspn(banner, "\n");
	sb_add(sb, banner, n);
	sb_add(sb, "\n", 1);
}
