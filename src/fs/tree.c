/*
 * tree.c - the fixed part of the tree: which files MNT/ holds, of which
 * kind, with which mode, and when they exist; the render adapters of its
 * text files; and the running of each kind's hooks (struct fs_kind).
 *
 *   MNT/ramblocks/<idstr>  the bytes of each RAM block         (ramblocks.c)
 *   MNT/ramblocks.json     `info ramblock` as JSON; ramblocks.txt as text
 *   MNT/regions[.json]     `info mtree` of the "memory" address space
 *   MNT/flatview[.json]    `info mtree -f`
 *   MNT/memslots[.json]    the KVM memslots               (all: snapshot.c)
 *   MNT/layout.svg         a picture of the ranges, blocks, aliases and memslots
 *   MNT/console            what the guest wrote to its serial port (console.c)
 *   MNT/ctl                read: the run state; write "stop" or "cont" (ctl.c)
 *   MNT/phys[.json]        guest-physical memory as one sparse file   (phys.c)
 *   MNT/vmcore             an ELF core of the guest, built on open    (vmcore.c)
 *   MNT/dirty/<idstr>[.bitmap]  pages the guest wrote since last read (dirty.c)
 *   MNT/vcpus/<n>/         registers, translate, vmem                 (vcpus.c)
 *   MNT/linux/             the guest's Linux kernel: tasks, dmesg, ... (linux.c)
 *
 * The session (session.c) calls fs_tree_init/build/attach/exit and so never
 * names a kind; adding one is its own file plus a row here (and its name
 * in the declaration above the table).  The renders only pick
 * which of the model's renderers a file shows: fs computes no layout.
 */
#include <errno.h>
#include <stdlib.h>

#include "fs/internal.h"
#include "inspect/layout_svg.h"
#include "kvm/kvm.h"
#include "memory/memory.h"
#include "memory/phys.h"
#include "memory/ram.h"
#include "util/compiler.h"
#include "util/strbuf.h"
#include "vm.h"

/* ---- the render adapters of the text files ---- */

static const char *fs_render_ram_io(void *fs, struct ram_block *rb)
{
	return fs_ram_io(fs, rb);
}

static void fs_render_ram_json(struct fs *fs, struct strbuf *sb)
{
	ram_list_render_json(&fs->vm->machine.ram, fs_render_ram_io, fs, sb);
}

static void fs_render_ram_txt(struct fs *fs, struct strbuf *sb)
{
	ram_list_render(&fs->vm->machine.ram, sb);
}

static void fs_render_regions(struct fs *fs, struct strbuf *sb)
{
	as_render_tree(&fs->vm->machine.as, sb);
}

static void fs_render_regions_json(struct fs *fs, struct strbuf *sb)
{
	as_render_tree_json(&fs->vm->machine.as, sb);
}

static void fs_render_flatview(struct fs *fs, struct strbuf *sb)
{
	/* QEMU marks the ranges its accelerator maps; only a real VM maps any. */
	as_render_flatview(&fs->vm->machine.as, vm_accel(fs->vm), sb);
}

static void fs_render_flatview_json(struct fs *fs, struct strbuf *sb)
{
	as_render_flatview_json(&fs->vm->machine.as, sb);
}

static void fs_render_memslots(struct fs *fs, struct strbuf *sb)
{
	kvm_slots_render(&fs->vm->kvm, sb);
}

static void fs_render_memslots_json(struct fs *fs, struct strbuf *sb)
{
	kvm_slots_render_json(&fs->vm->kvm, sb);
}

static void fs_render_phys_json(struct fs *fs, struct strbuf *sb)
{
	phys_render_json(&fs->vm->machine.as, sb);
}

static void fs_render_layout(struct fs *fs, struct strbuf *sb)
{
	layout_render(&fs->vm->machine.as, &fs->vm->machine.ram, &fs->vm->kvm, sb);
}

/*
 * What a file needs to exist: a board's layout (a VM, or a raw image under
 * -dump), or a guest that runs (not a dump).  The model says which it has.
 */
enum fs_needs {
	FS_NEEDS_LAYOUT = 1 << 0,
	FS_NEEDS_LIVE = 1 << 1,
};

/* The kinds the table names, each defined in its own file: a new kind is its file and a row here.
 */
extern const struct fs_kind fs_ramblocks_kind, fs_text_kind, fs_console_kind, fs_ctl_kind,
        fs_phys_kind, fs_vmcore_kind, fs_dirty_kind, fs_vcpus_kind, fs_linux_kind;

static const struct fs_file fs_files[] = {
        {.name = "ramblocks", .kind = &fs_ramblocks_kind, .mode = 0555, .needs = FS_NEEDS_LAYOUT},
        {.name = "ramblocks.json",
         .kind = &fs_text_kind,
         .mode = 0444,
         .render = fs_render_ram_json,
         .needs = FS_NEEDS_LAYOUT},
        {.name = "ramblocks.txt",
         .kind = &fs_text_kind,
         .mode = 0444,
         .render = fs_render_ram_txt,
         .needs = FS_NEEDS_LAYOUT},
        {.name = "regions",
         .kind = &fs_text_kind,
         .mode = 0444,
         .render = fs_render_regions,
         .needs = FS_NEEDS_LAYOUT},
        {.name = "regions.json",
         .kind = &fs_text_kind,
         .mode = 0444,
         .render = fs_render_regions_json,
         .needs = FS_NEEDS_LAYOUT},
        {.name = "flatview",
         .kind = &fs_text_kind,
         .mode = 0444,
         .render = fs_render_flatview,
         .needs = FS_NEEDS_LAYOUT},
        {.name = "flatview.json",
         .kind = &fs_text_kind,
         .mode = 0444,
         .render = fs_render_flatview_json,
         .needs = FS_NEEDS_LAYOUT},
        {.name = "memslots",
         .kind = &fs_text_kind,
         .mode = 0444,
         .render = fs_render_memslots,
         .needs = FS_NEEDS_LAYOUT},
        {.name = "memslots.json",
         .kind = &fs_text_kind,
         .mode = 0444,
         .render = fs_render_memslots_json,
         .needs = FS_NEEDS_LAYOUT},
        {.name = "layout.svg",
         .kind = &fs_text_kind,
         .mode = 0444,
         .render = fs_render_layout,
         .needs = FS_NEEDS_LAYOUT},
        {.name = "console", .kind = &fs_console_kind, .mode = 0444, .needs = FS_NEEDS_LIVE},
        {.name = "ctl", .kind = &fs_ctl_kind, .mode = 0600},
        {.name = "phys", .kind = &fs_phys_kind},
        {.name = "phys.json", .kind = &fs_text_kind, .mode = 0444, .render = fs_render_phys_json},
        {.name = "vmcore", .kind = &fs_vmcore_kind, .mode = 0400},
        {.name = "dirty", .kind = &fs_dirty_kind, .mode = 0555, .needs = FS_NEEDS_LIVE},
        {.name = "vcpus", .kind = &fs_vcpus_kind, .mode = 0555},
        {.name = "linux", .kind = &fs_linux_kind, .mode = 0555},
};

#define FS_NR_FILES (ARRAY_SIZE(fs_files))

/* ---- the kinds' hooks ---- */

/*
 * Whether entry i is its kind's first: the one that runs the kind's hooks
 * and holds its state in fs->kind_priv[i].  Several entries share the
 * text kind, whose hooks are all NULL.
 */
static bool fs_kind_first(size_t i)
{
	size_t j;

	for (j = 0; j < i; j++)
		if (fs_files[j].kind == fs_files[i].kind)
			return false;
	return true;
}

void *fs_kind_priv(struct fs *fs, const struct fs_kind *kind)
{
	size_t i;

	for (i = 0; i < FS_NR_FILES; i++)
		if (fs_files[i].kind == kind)
			return fs->kind_priv[i];
	return NULL;
}

/* Every kind's state, whether or not its file exists: the hooks need not ask. */
int fs_tree_init(struct fs *fs, const char **failed)
{
	const struct fs_kind *kind;
	size_t i;
	int ret;

	fs->kind_priv = calloc(FS_NR_FILES, sizeof(*fs->kind_priv));
	if (!fs->kind_priv) {
		*failed = "the tree";
		return -ENOMEM;
	}
	for (i = 0; i < FS_NR_FILES; i++) {
		kind = fs_files[i].kind;
		if (!kind->init || !fs_kind_first(i))
			continue;
		ret = kind->init(fs, &fs->kind_priv[i]);
		if (ret) {
			*failed = kind->name;
			goto err;
		}
	}
	return 0;

err:
	while (i--)
		if (fs_files[i].kind->exit && fs_kind_first(i))
			fs_files[i].kind->exit(fs->kind_priv[i]);
	free(fs->kind_priv);
	fs->kind_priv = NULL;
	return ret;
}

void fs_tree_attach(struct fs *fs, struct dirty *dirty)
{
	size_t i;

	for (i = 0; i < FS_NR_FILES; i++)
		if (fs_files[i].kind->attach && fs_kind_first(i))
			fs_files[i].kind->attach(fs->kind_priv[i], dirty);
}

/* In the reverse of init's order; the nodes, which point into the states, are gone. */
void fs_tree_exit(struct fs *fs)
{
	size_t i = FS_NR_FILES;

	if (!fs->kind_priv)
		return;
	while (i--)
		if (fs_files[i].kind->exit && fs_kind_first(i))
			fs_files[i].kind->exit(fs->kind_priv[i]);
	free(fs->kind_priv);
	fs->kind_priv = NULL;
}

/* ---- inodes a kind makes when asked (internal.h) ---- */

fuse_ino_t fs_dyn_ino(const struct fs_kind *kind, uint64_t key)
{
	size_t i;

	for (i = 0; i < FS_NR_FILES; i++)
		if (fs_files[i].kind == kind)
			break;
	return FS_INO_DYNAMIC | (uint64_t)i << 56 | (key & ((1ULL << 56) - 1));
}

struct fs_node *fs_tree_dyn_node(struct fs *fs, fuse_ino_t ino)
{
	size_t i = (size_t)((ino >> 56) & 0x7f);

	if (i >= FS_NR_FILES || !fs->kind_priv || !fs_files[i].kind->node)
		return NULL;
	return fs_files[i].kind->node(fs, fs->kind_priv[i], ino & ((1ULL << 56) - 1));
}

/* ---- building the tree ---- */

static bool fs_file_exists(struct fs *fs, const struct fs_file *f)
{
	return (!(f->needs & FS_NEEDS_LAYOUT) || vm_has_layout(fs->vm)) &&
	       (!(f->needs & FS_NEEDS_LIVE) || vm_is_live(fs->vm)) &&
	       (!f->kind->exists || f->kind->exists(fs, fs_kind_priv(fs, f->kind)));
}

int fs_tree_build(struct fs *fs)
{
	const struct fs_file *f;
	fuse_ino_t ino;
	size_t i;
	int ret;

	ret = fs_node_add(fs, 0, "", &fs_dir_ops, 0555, &ino);
	for (i = 0; !ret && i < FS_NR_FILES; i++) {
		f = &fs_files[i];
		if (!fs_file_exists(fs, f))
			continue;
		ret = fs_node_add(fs, FUSE_ROOT_ID, f->name, f->kind->ops, f->mode, &ino);
		if (ret)
			break;
		fs_node_get(fs, ino)->file = f;
		if (f->kind->build)
			ret = f->kind->build(fs, ino);
	}
	return ret;
}
