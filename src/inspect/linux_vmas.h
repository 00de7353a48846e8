/*
 * linux_vmas.h - a task's memory mappings, as /proc/PID/maps shows them:
 * the VMAs of its mm - from the maple tree mm->mm_mt (6.1 and later) or the
 * mm->mmap list before it - each with its range, rights, file offset, the
 * file's device and inode, and a name: the file's path (its dentry chain
 * up through the mounts), [heap], [stack], or a special mapping's own
 * ([vdso], [vvar]) - and last, as /proc adds it, the gate area
 * ([vsyscall]), which is no VMA of the mm, where get_gate_vma() has it.
 *
 * The tree walk is bounded in depth and entries, and every VMA is checked
 * (its vm_mm is the mm, start below end, after the previous one); one that
 * fails is skipped and counted.
 */
#ifndef KVMFS_INSPECT_LINUX_VMAS_H
#define KVMFS_INSPECT_LINUX_VMAS_H

#include <stddef.h>
#include <stdint.h>

#include "inspect/linux_guest.h"

#define LINUX_VMAS_MAX    (1u << 18) /* max_map_count is 65530 by default */
#define LINUX_PATH_MAX    4096
#define LINUX_VM_READ     0x1
#define LINUX_VM_WRITE    0x2
#define LINUX_VM_EXEC     0x4
#define LINUX_VM_MAYSHARE 0x80

struct linux_vma {
	uint64_t start, end, flags, offset, ino;
	uint32_t dev; /* the kernel's dev_t: major << 20 | minor */
	char name[LINUX_PATH_MAX];
};

/* The VMAs of mm, in address order; *out malloc'd.  0 or -errno. */
int linux_vmas_read(struct linux_guest *lg, uint64_t mm, struct linux_vma **out, size_t *nr);
/* /proc/PID/maps lines. */
void linux_vmas_render(const struct linux_vma *v, size_t nr, struct strbuf *sb);
/* The same as a JSON array. */
void linux_vmas_render_json(const struct linux_vma *v, size_t nr, struct strbuf *sb);

#endif
