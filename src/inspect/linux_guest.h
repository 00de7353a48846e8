/*
 * linux_guest.h - a running Linux kernel read from outside, with nothing but
 * its own memory: the kernel found through a vCPU's page tables
 * (guestkernel.h), its virtual address space, its symbols (kallsyms, from
 * its image) and its types (BTF, from its .BTF section, found through the
 * symbols __start_BTF and __stop_BTF).  The structure members the readers
 * of tasks, maps and modules use are looked up once, here, in one table
 * (struct linux_layout); the printk reader's is kept here too (linux_printk.h).
 * Where the kernel lacks them, what the user gave stands in
 * (linux_given.h): a System.map's symbols, a vmlinux's .BTF.
 *
 * A kernel without BTF still has its version and symbols: open succeeds
 * with has_btf false and btf_err saying why, and the readers that need
 * types refuse.  Every walk over guest pointers is bounded and counts
 * what it had to give up on in errors, which a reader of the files sees.
 */
#ifndef KVMFS_INSPECT_LINUX_GUEST_H
#define KVMFS_INSPECT_LINUX_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inspect/guestkernel.h"
#include "inspect/linux_btf.h"
#include "inspect/linux_given.h"
#include "inspect/linux_kallsyms.h"
#include "inspect/linux_kmem.h"
#include "inspect/linux_printk.h"
#include "memory/phys.h"

struct strbuf;

#define LINUX_BTF_MAX (64u << 20) /* a .BTF larger than this is not believed */

/* Every member kvmfs reads, as byte offsets (0 and have_* false where optional and absent). */
struct linux_layout {
	uint64_t task_tasks, task_pid, task_tgid, task_comm, task_state, task_exit_state;
	uint64_t task_flags, task_real_parent, task_mm, task_cred, task_signal;
	uint64_t task_thread_node, task_thread_group;
	unsigned task_state_size;
	bool have_thread_node;
	uint64_t signal_thread_head, signal_nr_threads;
	uint64_t cred_uid, cred_euid, cred_suid, cred_fsuid, cred_gid, cred_egid, cred_sgid,
	        cred_fsgid;
	uint64_t mm_mt_root, mm_mmap, mm_pgd, mm_start_brk, mm_brk, mm_start_stack;
	uint64_t mm_arg_start, mm_arg_end, mm_total_vm;
	uint64_t mm_context_flags; /* x86's mm->context.flags (MM_CONTEXT_HAS_VSYSCALL) */
	unsigned mm_context_flags_size;
	bool have_maple; /* 6.1+: mm->mm_mt; before: the mm->mmap list */
	uint64_t vma_start, vma_end, vma_flags, vma_pgoff, vma_file, vma_ops, vma_private, vma_mm,
	        vma_next;
	uint64_t file_dentry, file_mnt, file_inode;
	uint64_t inode_ino, inode_sb, sb_dev;
	uint64_t dentry_parent, dentry_name, dentry_len;
	uint64_t mount_mnt, mount_parent, mount_mountpoint, vfsmount_root;
	uint64_t special_name;
	uint64_t module_list, module_name, module_state, module_refcnt;
	uint64_t module_core_base, module_core_size, module_init_size;
	bool have_module_layout, have_module_refcnt;
};

/* What a walk gave up on; each a counter, read as linux/errors. */
enum linux_error {
	LINUX_ERR_UNREADABLE, /* a pointer into nothing */
	LINUX_ERR_LOOP,       /* a list or tree longer than any real one: cut */
	LINUX_ERR_INVALID,    /* a structure that fails its checks (a task exiting mid-walk) */
	LINUX_ERR_NR,
};

struct linux_guest {
	struct guestkernel k;
	struct guestkernel_mem phys;
	struct linux_kmem kmem; /* the kernel's address space (opaque: this) */
	struct linux_kallsyms ks;
	uint8_t *btf_data;
	size_t btf_len;
	struct linux_btf btf;
	bool has_btf;
	char btf_err[192]; /* why has_btf is false */
	struct linux_layout l;
	char layout_err[160]; /* non-empty: a member the readers need is missing */
	uint64_t init_task, modules, special_mapping_vmops;
	/*
	 * The vsyscall page, as get_gate_vma() decides whether an mm has it:
	 * gate_vma and vsyscall_mode by their symbols (0: absent), the value
	 * of NONE (from BTF), and whether the kernel has CONFIG_COMPAT (then
	 * the mm must also have MM_CONTEXT_HAS_VSYSCALL).
	 */
	uint64_t gate_vma, vsyscall_mode;
	int64_t vsyscall_none;
	bool compat;
	uint64_t prb_ptr;                  /* &prb: which ring it points at changes early in boot */
	struct linux_printk_layout printk; /* from BTF; valid when has_printk */
	bool has_printk;
	unsigned long errors[LINUX_ERR_NR]; /* atomic */
	unsigned long gen;                  /* atomic: linux_guest_begin's count */
};

/*
 * Find the kernel through cpu and read its symbols and types: its own, or
 * given's (NULL: nothing given) where given has them - -system-map's
 * symbols, moved by the offset of the kernel's _text, instead of its
 * kallsyms; -vmlinux's BTF instead of its .BTF.  0 with lg set up; -ENOENT
 * when no Linux kernel is mapped; -ENODATA when one is but it has no
 * kallsyms and no System.map is given, or the one given is not its (err
 * says what is missing and what to give); -ENOMEM.
 */
int linux_guest_open(struct linux_guest *lg, const struct pagewalk_cpu *cpu,
                     const struct guestkernel_mem *phys, const struct linux_given *given, char *err,
                     size_t errlen);
void linux_guest_close(struct linux_guest *lg);

/* Whether the readers of tasks, maps and modules can run; if not, *why (one line). */
bool linux_guest_has_types(const struct linux_guest *lg, const char **why);

/*
 * One operation (a file's render) starts: reads from now on may reuse what
 * this thread translated and read within it, but nothing from before.
 */
void linux_guest_begin(struct linux_guest *lg);

void linux_guest_error(struct linux_guest *lg, enum linux_error e);
/* "unreadable N\nloop N\ninvalid N\n" */
void linux_guest_render_errors(struct linux_guest *lg, struct strbuf *sb);
/* The kernel log as dmesg prints it; what cannot be read is counted (LINUX_ERR_UNREADABLE). */
void linux_guest_render_dmesg(struct linux_guest *lg, struct strbuf *sb);
/* The banner, as /proc/version shows it (one line). */
void linux_guest_render_version(struct linux_guest *lg, struct strbuf *sb);

/* Kernel reads that count a failure as LINUX_ERR_UNREADABLE. */
bool linux_guest_read(struct linux_guest *lg, uint64_t va, void *buf, size_t len);
bool linux_guest_u64(struct linux_guest *lg, uint64_t va, uint64_t *v);
bool linux_guest_u32(struct linux_guest *lg, uint64_t va, uint32_t *v);
/* A NUL-terminated string at va, at most max-1 bytes: false if unreadable. */
bool linux_guest_string(struct linux_guest *lg, uint64_t va, char *buf, size_t max);

/*
 * A user address space: the page tables at pgd_pa (mm->pgd's physical
 * address) walked with the kernel's paging mode.
 */
struct linux_uspace {
	struct linux_guest *lg;
	struct pagewalk_cpu cpu;
};
void linux_uspace_init(struct linux_uspace *u, struct linux_guest *lg, uint64_t pgd_pa);
/* The kernel-virtual pgd of an mm in the direct map: its physical address, or false. */
bool linux_guest_virt_to_phys(const struct linux_guest *lg, uint64_t va, uint64_t *pa);
/* Copy [va, va+len): bytes before the first unmapped one. */
size_t linux_uspace_read(const struct linux_uspace *u, uint64_t va, void *buf, size_t len);
/* Where every user address space ends: the lower half of the kernel's paging mode. */
uint64_t linux_uspace_end(const struct linux_guest *lg);
/* [va, va+len) of the task's user address space as pieces from as (phys_read_virt_pieces). */
void linux_uspace_read_pieces(const struct linux_uspace *u, struct address_space *as, uint64_t va,
                              size_t len, as_piece_fn fn, void *opaque);
/*
 * The next mapped (want_mapped) or unmapped user address at or after va
 * below end, as pagewalk_seek(): -ENXIO none, -EAGAIN after max_steps walks.
 */
int linux_uspace_seek(const struct linux_uspace *u, uint64_t va, uint64_t end, bool want_mapped,
                      unsigned max_steps, uint64_t *out);

#endif
