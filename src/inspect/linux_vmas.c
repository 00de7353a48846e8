/*
 * linux_vmas.c - a task's VMAs and their names (see linux_vmas.h).
 *
 * The maple tree (lib/maple_tree.c, include/linux/maple_tree.h): an entry
 * that is a node has bit 1 set and bits 0 clear (xa_is_node), its type in
 * bits 3-6 and the node, 256 bytes aligned, in the rest.  Leaves
 * (maple_leaf_64) and range nodes (maple_range_64) hold 15 pivots at 8 and
 * 16 slots at 128, their used length in the metadata byte at 248 when the
 * last pivot is 0; allocation-range nodes (maple_arange_64, the mm's inner
 * nodes) 9 pivots at 8, 10 slots at 80, gaps at 160 and the metadata at
 * 240.  As ma_data_end().
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inspect/linux_vmas.h"
#include "util/strbuf.h"

#define MT_NODE_SIZE 256
#define MT_MAX_DEPTH 16 /* MAPLE_HEIGHT_MAX is 31; a 64-bit address space needs far fewer */

enum { MT_DENSE, MT_LEAF_64, MT_RANGE_64, MT_ARANGE_64 };

struct vma_walk {
	struct linux_guest *lg;
	uint64_t mm;
	struct linux_vma *v;
	size_t nr, cap;
	uint64_t last_end;
	uint64_t start_brk, brk, start_stack;
	int err;
};

static bool mt_is_node(uint64_t entry)
{
	return (entry & 3) == 2 && entry > 4096;
}

/* The file's path, as d_path() builds it: dentry names up to each mount's root, mount by mount. */
static void vma_path(struct linux_guest *lg, uint64_t dentry, uint64_t vfsmnt, char *out)
{
	const struct linux_layout *l = &lg->l;
	char buf[LINUX_PATH_MAX];
	size_t pos = sizeof(buf) - 1;
	uint64_t mount = vfsmnt - l->mount_mnt;
	unsigned steps;

	buf[pos] = '\0';
	for (steps = 0; steps < 256; steps++) {
		uint64_t root, parent, name;
		uint32_t len;
		char comp[256];

		if (!linux_guest_u64(lg, mount + l->mount_mnt + l->vfsmount_root, &root))
			break;
		if (dentry == root) {
			if (!linux_guest_u64(lg, mount + l->mount_parent, &parent) ||
			    parent == mount)
				break;
			if (!linux_guest_u64(lg, mount + l->mount_mountpoint, &dentry))
				break;
			mount = parent;
			continue;
		}
		if (!linux_guest_u64(lg, dentry + l->dentry_parent, &parent) || parent == dentry)
			break;
		if (!linux_guest_u64(lg, dentry + l->dentry_name, &name) ||
		    !linux_guest_u32(lg, dentry + l->dentry_len, &len))
			break;
		if (len >= sizeof(comp) || !linux_guest_read(lg, name, comp, len) || len + 1 > pos)
			break;
		pos -= len;
		memcpy(buf + pos, comp, len);
		buf[--pos] = '/';
		dentry = parent;
	}
	if (steps == 256)
		linux_guest_error(lg, LINUX_ERR_LOOP);
	strcpy(out, buf[pos] ? buf + pos : "/");
}

static void vma_name(struct vma_walk *w, uint64_t vma, struct linux_vma *v)
{
	struct linux_guest *lg = w->lg;
	const struct linux_layout *l = &lg->l;
	uint64_t file, ops, priv, name, inode, sb, dentry, mnt;
	uint32_t dev = 0;

	v->name[0] = '\0';
	if (!linux_guest_u64(lg, vma + l->vma_file, &file))
		return;
	if (file) {
		if (!linux_guest_u64(lg, file + l->file_inode, &inode) ||
		    !linux_guest_u64(lg, inode + l->inode_ino, &v->ino) ||
		    !linux_guest_u64(lg, inode + l->inode_sb, &sb) ||
		    !linux_guest_u32(lg, sb + l->sb_dev, &dev) ||
		    !linux_guest_u64(lg, file + l->file_dentry, &dentry) ||
		    !linux_guest_u64(lg, file + l->file_mnt, &mnt))
			return;
		v->dev = dev;
		v->offset <<= 12;
		vma_path(lg, dentry, mnt, v->name);
		return;
	}
	v->offset = 0;
	if (lg->special_mapping_vmops && linux_guest_u64(lg, vma + l->vma_ops, &ops) &&
	    ops == lg->special_mapping_vmops && linux_guest_u64(lg, vma + l->vma_private, &priv) &&
	    linux_guest_u64(lg, priv + l->special_name, &name) &&
	    linux_guest_string(lg, name, v->name, sizeof(v->name)))
		return;
	if (v->start <= w->brk && v->end >= w->start_brk)
		strcpy(v->name, "[heap]");
	else if (v->start <= w->start_stack && v->end >= w->start_stack)
		strcpy(v->name, "[stack]");
}

/* One VMA pointer from the tree or the list: checked, named, appended. */
static void vma_add(struct vma_walk *w, uint64_t vma)
{
	struct linux_guest *lg = w->lg;
	const struct linux_layout *l = &lg->l;
	struct linux_vma *v;
	uint64_t mm;

	if (w->err)
		return;
	if (w->nr == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 64;

		if (cap > LINUX_VMAS_MAX) {
			linux_guest_error(lg, LINUX_ERR_LOOP);
			w->err = -E2BIG;
			return;
		}
		v = realloc(w->v, cap * sizeof(*v));
		if (!v) {
			w->err = -ENOMEM;
			return;
		}
		w->v = v;
		w->cap = cap;
	}
	v = &w->v[w->nr];
	memset(v, 0, offsetof(struct linux_vma, name) + 1);
	if (!linux_guest_u64(lg, vma + l->vma_start, &v->start) ||
	    !linux_guest_u64(lg, vma + l->vma_end, &v->end) ||
	    !linux_guest_u64(lg, vma + l->vma_flags, &v->flags) ||
	    !linux_guest_u64(lg, vma + l->vma_pgoff, &v->offset) ||
	    !linux_guest_u64(lg, vma + l->vma_mm, &mm))
		return;
	if (mm != w->mm || v->start >= v->end || v->start < w->last_end) {
		linux_guest_error(lg, LINUX_ERR_INVALID);
		return;
	}
	vma_name(w, vma, v);
	w->last_end = v->end;
	w->nr++;
}

/* One node of the maple tree and everything under it; max: the node's last index. */
static void mt_walk(struct vma_walk *w, uint64_t entry, uint64_t max, unsigned depth)
{
	uint64_t node[MT_NODE_SIZE / 8];
	unsigned type = (entry >> 3) & 0xf, npiv, nslots, slot0, meta, end, i;
	const uint8_t *bytes = (const uint8_t *)node;

	if (depth > MT_MAX_DEPTH) {
		linux_guest_error(w->lg, LINUX_ERR_LOOP);
		return;
	}
	if (!linux_guest_read(w->lg, entry & ~(uint64_t)(MT_NODE_SIZE - 1), node, sizeof(node)))
		return;
	switch (type) {
	case MT_LEAF_64:
	case MT_RANGE_64: npiv = 15, nslots = 16, slot0 = 16, meta = 248; break;
	case MT_ARANGE_64: npiv = 9, nslots = 10, slot0 = 10, meta = 240; break;
	default: linux_guest_error(w->lg, LINUX_ERR_INVALID); return;
	}
	/* ma_data_end(): the last slot in use. */
	if (type == MT_ARANGE_64 || !node[npiv])
		end = bytes[meta];
	else if (node[npiv] == max)
		end = npiv - 1;
	else
		end = npiv;
	if (end >= nslots) {
		linux_guest_error(w->lg, LINUX_ERR_INVALID);
		return;
	}
	for (i = 0; i <= end && !w->err; i++) {
		uint64_t slot = node[slot0 + i];

		if (!slot)
			continue;
		if (type == MT_LEAF_64) {
			/* Reserved values (XA_ZERO_ENTRY while forking) are no VMAs. */
			if (!(slot & 7))
				vma_add(w, slot);
		} else if (mt_is_node(slot)) {
			mt_walk(w, slot, i < npiv && i < end ? node[1 + i] : max, depth + 1);
		} else {
			linux_guest_error(w->lg, LINUX_ERR_INVALID);
		}
	}
}

/*
 * The gate area after the VMAs, as /proc's m_next() adds it: when
 * get_gate_vma(mm) would return it (vsyscall_mode is not NONE and, with
 * CONFIG_COMPAT, the mm has MM_CONTEXT_HAS_VSYSCALL, bit 1 of
 * context.flags), with gate_vma's own range and flags (VM_EXEC alone when
 * map_vsyscall() set XONLY).  Its name is gate_vma_ops's.
 */
#define LINUX_MM_CONTEXT_HAS_VSYSCALL 0x2

static void vma_gate(struct vma_walk *w)
{
	struct linux_guest *lg = w->lg;
	const struct linux_layout *l = &lg->l;
	struct linux_vma *v;
	uint64_t flags = 0, start, end, vmflags;
	uint32_t mode;

	if (w->err || !lg->gate_vma || !linux_guest_u32(lg, lg->vsyscall_mode, &mode) ||
	    (int64_t)mode == lg->vsyscall_none)
		return;
	if (lg->compat &&
	    (!l->mm_context_flags_size ||
	     !linux_guest_read(lg, w->mm + l->mm_context_flags, &flags, l->mm_context_flags_size) ||
	     !(flags & LINUX_MM_CONTEXT_HAS_VSYSCALL)))
		return;
	if (!linux_guest_u64(lg, lg->gate_vma + l->vma_start, &start) ||
	    !linux_guest_u64(lg, lg->gate_vma + l->vma_end, &end) ||
	    !linux_guest_u64(lg, lg->gate_vma + l->vma_flags, &vmflags))
		return;
	if (start >= end || start < w->last_end) {
		linux_guest_error(lg, LINUX_ERR_INVALID);
		return;
	}
	if (w->nr == w->cap) {
		v = realloc(w->v, (w->cap + 1) * sizeof(*v));
		if (!v) {
			w->err = -ENOMEM;
			return;
		}
		w->v = v;
		w->cap++;
	}
	v = &w->v[w->nr++];
	memset(v, 0, sizeof(*v));
	v->start = start;
	v->end = end;
	v->flags = vmflags;
	strcpy(v->name, "[vsyscall]");
}

int linux_vmas_read(struct linux_guest *lg, uint64_t mm, struct linux_vma **out, size_t *nr)
{
	const struct linux_layout *l = &lg->l;
	struct vma_walk w = {.lg = lg, .mm = mm};
	uint64_t root, vma;
	const char *why;
	unsigned n;

	*out = NULL;
	*nr = 0;
	if (!linux_guest_has_types(lg, &why))
		return -ENOTSUP;
	if (!mm)
		return 0;
	if (!linux_guest_u64(lg, mm + l->mm_start_brk, &w.start_brk) ||
	    !linux_guest_u64(lg, mm + l->mm_brk, &w.brk) ||
	    !linux_guest_u64(lg, mm + l->mm_start_stack, &w.start_stack))
		return -EFAULT;
	if (l->have_maple) {
		if (!linux_guest_u64(lg, mm + l->mm_mt_root, &root))
			return -EFAULT;
		if (mt_is_node(root))
			mt_walk(&w, root, UINT64_MAX, 0);
		else if (root && !(root & 7))
			vma_add(&w, root); /* a tree of one entry holds it in the root */
	} else if (linux_guest_u64(lg, mm + l->mm_mmap, &vma)) {
		for (n = 0; vma && !w.err && n < LINUX_VMAS_MAX; n++) {
			vma_add(&w, vma);
			if (!linux_guest_u64(lg, vma + l->vma_next, &vma))
				break;
		}
	}
	vma_gate(&w);
	if (w.err == -ENOMEM) {
		free(w.v);
		return -ENOMEM;
	}
	*out = w.v;
	*nr = w.nr;
	return 0;
}

static void vma_perms(const struct linux_vma *v, char *p)
{
	p[0] = v->flags & LINUX_VM_READ ? 'r' : '-';
	p[1] = v->flags & LINUX_VM_WRITE ? 'w' : '-';
	p[2] = v->flags & LINUX_VM_EXEC ? 'x' : '-';
	p[3] = v->flags & LINUX_VM_MAYSHARE ? 's' : 'p';
	p[4] = '\0';
}

void linux_vmas_render(const struct linux_vma *v, size_t nr, struct strbuf *sb)
{
	size_t i;

	for (i = 0; i < nr; i++) {
		char perms[5], line[160];
		int n;

		vma_perms(&v[i], perms);
		n = snprintf(line, sizeof(line),
		             "%08" PRIx64 "-%08" PRIx64 " %s %08" PRIx64 " %02x:%02x %" PRIu64 " ",
		             v[i].start, v[i].end, perms, v[i].offset, v[i].dev >> 20,
		             v[i].dev & 0xfffff, v[i].ino);
		sb_add(sb, line, (size_t)n);
		/* show_map_vma(): a name is padded to column 73, after the space. */
		if (v[i].name[0])
			sb_printf(sb, "%*s%s", n < 73 ? 73 - n : 0, "", v[i].name);
		sb_add(sb, "\n", 1);
	}
}

void linux_vmas_render_json(const struct linux_vma *v, size_t nr, struct strbuf *sb)
{
	size_t i;

	sb_printf(sb, "[");
	for (i = 0; i < nr; i++) {
		char perms[5];

		vma_perms(&v[i], perms);
		sb_printf(sb,
		          "%s\n  {\"start\": %" PRIu64 ", \"end\": %" PRIu64
		          ", \"perms\": \"%s\", \"offset\": %" PRIu64
		          ", \"dev\": \"%02x:%02x\", \"inode\": %" PRIu64 ", \"path\": ",
		          i ? "," : "", v[i].start, v[i].end, perms, v[i].offset, v[i].dev >> 20,
		          v[i].dev & 0xfffff, v[i].ino);
		sb_json_str(sb, v[i].name);
		sb_printf(sb, "}");
	}
	sb_printf(sb, "%s]\n", nr ? "\n" : "");
}
