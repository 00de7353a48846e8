/*
 * fs.c - the FUSE tree: guest memory and the VM's model as files.
 *
 *   MNT/ramblocks/<idstr>  the bytes of each RAM block (st_size = used_length)
 *   MNT/ramblocks.json     `info ramblock` as JSON; ramblocks.txt as text
 *   MNT/regions[.json]     `info mtree` of the "memory" address space
 *   MNT/flatview[.json]    `info mtree -f`
 *   MNT/memslots[.json]    the KVM memslots
 *   MNT/console            everything the guest wrote to its serial port
 *   MNT/ctl                read: the run state; write "stop" or "cont"
 *   MNT/phys[.json]        guest-physical memory as one sparse file   (fs_phys.c)
 *   MNT/vmcore             an ELF core of the guest, built on open     (fs_phys.c)
 *   MNT/dirty/<idstr>[.bitmap]  pages the guest wrote since last read  (fs_dirty.c)
 *   MNT/vcpus/<n>/         registers, translate, vmem                  (fs_vcpu.c)
 *
 * RAM files are served from the page cache (keep_cache on open) and kept
 * true to the guest by the dirty-log sweep, which tells us which runs of a
 * block the guest wrote; we invalidate exactly those.  With -o direct_io
 * every read goes to guest memory instead (and shared mmap is refused by the
 * kernel with ENODEV).  Text and JSON files are rendered once at open(), so
 * that one open file is one consistent snapshot, and are direct_io so the
 * page cache never holds an old one.
 *
 * Writing RAM (write() or a shared writable mapping) needs --writable; it
 * then reaches ROM blocks too: only the guest is kept from writing a ROM
 * (KVM's read-only slot), not the host's owner.  RAM files never change
 * size: a write starting at or past the end fails with ENOSPC, one that
 * straddles it is short, O_APPEND writes therefore always fail with ENOSPC,
 * O_TRUNC and truncate() fail with EPERM.  Without --writable an open for
 * writing fails with EACCES (checked here too, since root passes
 * default_permissions).  Nothing can be created, removed or renamed (EPERM).
 *
 * Names: a RAM block's idstr may hold '/' (QEMU's "/rom@etc/acpi/tables",
 * "0000:00:02.0/vga.vram"); each '/' opens a directory and a leading '/' is
 * dropped.  Within a component '%', control bytes and DEL are written %XX
 * (lowercase hex); a component "." or ".." is written "%2e" or "%2e%2e" and
 * an empty one "%", so no name escapes the tree or hides another.  Should a
 * block's name still clash with a directory or another block (say "a" and
 * "a/b"), or be longer than NAME_MAX once encoded, the file gets the first
 * free suffix "%~1", "%~2", ...; directories are never renamed (two
 * directory names that differ only past NAME_MAX share one directory).
 *
 * Holes: guest memory nobody touched is a hole (SEEK_DATA/SEEK_HOLE answered
 * from the memfd behind each block, st_blocks its allocation), so sparse
 * copies take time proportional to what the guest used.  The same bytes
 * show in several files (ramblocks/<idstr>, phys at every GPA an alias maps
 * them): whatever writes them - the guest, seen by the dirty sweep, or a
 * write() through one file - invalidates the kernel's copy in all others.
 *
 * Inodes are fixed at mount time: 1 the root, then the static table below,
 * then the directories and files of the RAM blocks, the dirty/ views and
 * the vCPUs (the ram list does not change at runtime in this version).
 */
#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 34
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "kvmfs/console.h"
#include "kvmfs/dirty.h"
#include "kvmfs/fs.h"
#include "kvmfs/kvm.h"
#include "kvmfs/memory.h"
#include "kvmfs/phys.h"
#include "kvmfs/ram.h"
#include "kvmfs/strbuf.h"
#include "kvmfs/vm.h"

#include "fs_internal.h"

#define FS_FUSE_SUPER_MAGIC 0x65735546
#define FS_CTL_MAX          64 /* longest write `ctl` accepts */
/* Seconds the kernel may cache names and attributes that cannot change. */
#define FS_STATIC_TIMEOUT 1.0

/* ---- the fixed part of the tree ---- */

static void fs_render_ram_json(struct vm *vm, struct strbuf *sb)
{
	ram_list_render_json(&vm->machine.ram, sb);
}

static void fs_render_ram_txt(struct vm *vm, struct strbuf *sb)
{
	ram_list_render(&vm->machine.ram, sb);
}

static void fs_render_regions(struct vm *vm, struct strbuf *sb)
{
	as_render_tree(&vm->machine.as, sb);
}

static void fs_render_regions_json(struct vm *vm, struct strbuf *sb)
{
	as_render_tree_json(&vm->machine.as, sb);
}

static void fs_render_flatview(struct vm *vm, struct strbuf *sb)
{
	/* QEMU marks the ranges its accelerator maps; only a real VM maps any. */
	as_render_flatview(&vm->machine.as, vm->kvm.vm_fd >= 0 ? "KVM" : NULL, sb);
}

static void fs_render_flatview_json(struct vm *vm, struct strbuf *sb)
{
	as_render_flatview_json(&vm->machine.as, sb);
}

static void fs_render_memslots(struct vm *vm, struct strbuf *sb)
{
	kvm_slots_render(&vm->kvm, sb);
}

static void fs_render_memslots_json(struct vm *vm, struct strbuf *sb)
{
	kvm_slots_render_json(&vm->kvm, sb);
}

static void fs_render_phys_json(struct vm *vm, struct strbuf *sb)
{
	phys_render_json(&vm->machine.as, sb);
}

static void fs_render_ctl(struct vm *vm, struct strbuf *sb)
{
	char buf[1024];
	size_t len;

	vm_status(vm, buf, sizeof(buf));
	len = strlen(buf);
	sb_add(sb, buf, len);
	if (!len || buf[len - 1] != '\n')
		sb_add(sb, "\n", 1);
}

#define FS_RAMBLOCKS_DIR "ramblocks"
#define FS_DIRTY_DIR     "dirty"
#define FS_VCPUS_DIR     "vcpus"

static const struct fs_file fs_files[] = {
        {.name = FS_RAMBLOCKS_DIR, .kind = FS_DIR, .mode = 0555},
        {.name = "ramblocks.json", .kind = FS_TEXT, .mode = 0444, .render = fs_render_ram_json},
        {.name = "ramblocks.txt", .kind = FS_TEXT, .mode = 0444, .render = fs_render_ram_txt},
        {.name = "regions", .kind = FS_TEXT, .mode = 0444, .render = fs_render_regions},
        {.name = "regions.json", .kind = FS_TEXT, .mode = 0444, .render = fs_render_regions_json},
        {.name = "flatview", .kind = FS_TEXT, .mode = 0444, .render = fs_render_flatview},
        {.name = "flatview.json", .kind = FS_TEXT, .mode = 0444, .render = fs_render_flatview_json},
        {.name = "memslots", .kind = FS_TEXT, .mode = 0444, .render = fs_render_memslots},
        {.name = "memslots.json", .kind = FS_TEXT, .mode = 0444, .render = fs_render_memslots_json},
        {.name = "console", .kind = FS_CONSOLE, .mode = 0444},
        {.name = "ctl", .kind = FS_CTL, .mode = 0600, .render = fs_render_ctl},
        {.name = "phys", .kind = FS_PHYS},
        {.name = "phys.json", .kind = FS_TEXT, .mode = 0444, .render = fs_render_phys_json},
        {.name = "vmcore", .kind = FS_VMCORE, .mode = 0400},
        {.name = FS_DIRTY_DIR, .kind = FS_DIR, .mode = 0555},
        {.name = FS_VCPUS_DIR, .kind = FS_DIR, .mode = 0555},
};

#define FS_NR_FILES (sizeof(fs_files) / sizeof(fs_files[0]))

/* ---- building the inode table ---- */

struct fs_node *fs_node_get(struct fs *fs, fuse_ino_t ino)
{
	if (ino < FUSE_ROOT_ID || ino - FUSE_ROOT_ID >= fs->nr_nodes)
		return NULL;
	return &fs->nodes[ino - FUSE_ROOT_ID];
}

fuse_ino_t fs_node_ino(struct fs *fs, const struct fs_node *n)
{
	return FUSE_ROOT_ID + (fuse_ino_t)(n - fs->nodes);
}

static fuse_ino_t fs_find_child(struct fs *fs, fuse_ino_t dir, const char *name)
{
	fuse_ino_t ino;

	for (ino = fs_node_get(fs, dir)->first_child; ino; ino = fs_node_get(fs, ino)->next_sibling)
		if (!strcmp(fs_node_get(fs, ino)->name, name))
			return ino;
	return 0;
}

/* Adds a node under parent (0: the root itself); *ino is its number. */
int fs_node_add(struct fs *fs, fuse_ino_t parent, const char *name, enum fs_kind kind, mode_t mode,
                fuse_ino_t *ino)
{
	struct fs_node *n, *p;

	if (fs->nr_nodes == fs->cap_nodes) {
		size_t cap = fs->cap_nodes ? 2 * fs->cap_nodes : 32;

		n = realloc(fs->nodes, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		fs->nodes = n;
		fs->cap_nodes = cap;
	}
	n = &fs->nodes[fs->nr_nodes];
	*n = (struct fs_node){.kind = kind, .mode = mode, .parent = parent ? parent : FUSE_ROOT_ID};
	n->name = strdup(name);
	if (!n->name)
		return -ENOMEM;
	*ino = FUSE_ROOT_ID + fs->nr_nodes++;
	if (!parent)
		return 0;
	p = fs_node_get(fs, parent);
	if (p->last_child)
		fs_node_get(fs, p->last_child)->next_sibling = *ino;
	else
		p->first_child = *ino;
	p->last_child = *ino;
	if (kind == FS_DIR)
		p->nr_subdirs++;
	return 0;
}

/*
 * Encode one idstr component (see the header comment).  out holds at least
 * 3 * len + 4 bytes; returns the encoded length.
 */
static size_t fs_encode_component(const char *s, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	if (!len) {
		out[o++] = '%';
	} else if ((len == 1 || len == 2) && !strncmp(s, "..", len)) {
		for (i = 0; i < len; i++)
			o += (size_t)sprintf(out + o, "%%2e");
	} else {
		for (i = 0; i < len; i++) {
			unsigned char c = (unsigned char)s[i];

			if (c < 0x20 || c == 0x7f || c == '%') {
				out[o++] = '%';
				out[o++] = hex[c >> 4];
				out[o++] = hex[c & 15];
			} else {
				out[o++] = (char)c;
			}
		}
	}
	out[o] = '\0';
	return o;
}

/* Cut an encoded name to at most max bytes without splitting a %XX. */
static void fs_name_cut(char *name, size_t max)
{
	size_t len = strlen(name);

	if (len <= max)
		return;
	len = max;
	if (len >= 1 && name[len - 1] == '%')
		len -= 1;
	else if (len >= 2 && name[len - 2] == '%')
		len -= 2;
	name[len] = '\0';
}

/* Directories for every component of idstr but the last; *dir the innermost. */
int fs_add_dirs(struct fs *fs, fuse_ino_t top, const char *idstr, fuse_ino_t *dir,
                const char **last)
{
	char enc[3 * RAM_IDSTR_MAX + 4];
	const char *s = idstr[0] == '/' ? idstr + 1 : idstr;
	const char *slash;
	fuse_ino_t ino;
	int ret;

	*dir = top;
	while ((slash = strchr(s, '/'))) {
		fs_encode_component(s, (size_t)(slash - s), enc);
		fs_name_cut(enc, NAME_MAX);
		ino = fs_find_child(fs, *dir, enc);
		if (!ino) {
			ret = fs_node_add(fs, *dir, enc, FS_DIR, 0555, &ino);
			if (ret)
				return ret;
		}
		*dir = ino;
		s = slash + 1;
	}
	*last = s;
	return 0;
}

/* The file of rb under top, its name followed by suffix ("" or ".bitmap"). */
int fs_add_block(struct fs *fs, fuse_ino_t top, struct ram_block *rb, const char *suffix,
                 enum fs_kind kind, fuse_ino_t *ino)
{
	char enc[3 * RAM_IDSTR_MAX + 48];
	const char *last;
	fuse_ino_t dir;
	size_t base;
	unsigned i;
	int ret;

	ret = fs_add_dirs(fs, top, rb->idstr, &dir, &last);
	if (ret)
		return ret;
	base = fs_encode_component(last, strlen(last), enc);
	strcat(enc, suffix);
	base += strlen(suffix);
	/* Room for the largest suffix we might need. */
	fs_name_cut(enc, NAME_MAX - 16);
	i = strlen(enc) != base || fs_find_child(fs, dir, enc) ? 1 : 0;
	base = strlen(enc);
	for (; i; i++) {
		snprintf(enc + base, sizeof(enc) - base, "%%~%u", i);
		if (!fs_find_child(fs, dir, enc))
			break;
	}
	ret = fs_node_add(fs, dir, enc, kind, 0, ino);
	if (ret)
		return ret;
	fs_node_get(fs, *ino)->rb = rb;
	return 0;
}

static int fs_build(struct fs *fs)
{
	struct ram_list *rl = &fs->vm->machine.ram;
	struct ram_block *rb;
	fuse_ino_t ino, top = 0, dirty_top = 0, vcpus_top = 0;
	size_t i;
	int ret;

	ret = fs_node_add(fs, 0, "", FS_DIR, 0555, &ino);
	for (i = 0; !ret && i < FS_NR_FILES; i++) {
		ret = fs_node_add(fs, FUSE_ROOT_ID, fs_files[i].name, fs_files[i].kind,
		                  fs_files[i].mode, &ino);
		if (ret)
			break;
		fs_node_get(fs, ino)->file = &fs_files[i];
		if (!strcmp(fs_files[i].name, FS_RAMBLOCKS_DIR))
			top = ino;
		else if (!strcmp(fs_files[i].name, FS_DIRTY_DIR))
			dirty_top = ino;
		else if (!strcmp(fs_files[i].name, FS_VCPUS_DIR))
			vcpus_top = ino;
		else if (fs_files[i].kind == FS_PHYS)
			fs->phys_ino = ino;
	}
	if (ret)
		return ret;

	/*
	 * Directories first, for every block, so that a block whose name a
	 * directory also needs is the one that gets renamed.
	 */
	pthread_mutex_lock(&rl->lock);
	for (rb = rl->head; !ret && rb; rb = rb->next) {
		const char *last;

		ret = fs_add_dirs(fs, top, rb->idstr, &ino, &last);
	}
	for (rb = rl->head; !ret && rb; rb = rb->next)
		ret = fs_add_block(fs, top, rb, "", FS_RAM, &ino);
	pthread_mutex_unlock(&rl->lock);
	if (!ret)
		ret = fs_dirty_build(fs, dirty_top);
	if (!ret)
		ret = fs_vcpu_build(fs, vcpus_top);
	return ret;
}

static void fs_free_nodes(struct fs *fs)
{
	size_t i;

	for (i = 0; i < fs->nr_nodes; i++)
		free(fs->nodes[i].name);
	free(fs->nodes);
	fs->nodes = NULL;
	fs->nr_nodes = fs->cap_nodes = 0;
}

/* ---- RAM files ---- */

static uint64_t fs_ram_length(struct fs *fs, struct ram_block *rb)
{
	struct ram_list *rl = &fs->vm->machine.ram;
	uint64_t len;

	pthread_mutex_lock(&rl->lock);
	len = rb->used_length;
	pthread_mutex_unlock(&rl->lock);
	return len;
}

static int fs_ram_size(struct fs *fs, struct fs_node *n, uint64_t *size)
{
	*size = fs_ram_length(fs, n->rb);
	return 0;
}

int fs_ram_open(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi)
{
	(void)n;
	if (fi->flags & O_TRUNC)
		return -EPERM;
	/* The dirty-log sweep keeps the cache right; do not drop it on open. */
	if (fs->cfg.direct_io)
		fi->direct_io = 1;
	else
		fi->keep_cache = 1;
	return 0;
}

static void fs_ram_read(struct fs *fs, struct fs_node *n, fuse_req_t req, size_t size, off_t off,
                        struct fuse_file_info *fi)
{
	uint64_t len = fs_ram_length(fs, n->rb);

	(void)fi;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if ((uint64_t)off >= len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > len - (uint64_t)off)
		size = (size_t)(len - (uint64_t)off);
	/* Straight from guest memory: libfuse writes it to /dev/fuse, no copy here. */
	fuse_reply_buf(req, (const char *)n->rb->host + off, size);
}

bool fs_clip(uint64_t off, size_t *len, uint64_t size)
{
	if (off >= size)
		return false;
	if (*len > size - off)
		*len = (size_t)(size - off);
	return true;
}

bool fs_write_begin(struct fs *fs, fuse_req_t req, off_t off, size_t *size, uint64_t file_size)
{
	if (!fs->cfg.writable) {
		fuse_reply_err(req, EROFS);
		return false;
	}
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return false;
	}
	if (!*size) {
		fuse_reply_write(req, 0);
		return false;
	}
	/* Files of guest memory never grow: a write at the end has no room. */
	if (!fs_clip((uint64_t)off, size, file_size)) {
		fuse_reply_err(req, ENOSPC);
		return false;
	}
	return true;
}

static void fs_ram_write(struct fs *fs, struct fs_node *n, fuse_req_t req, const char *buf,
                         size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	if (!fs_write_begin(fs, req, off, &size, fs_ram_length(fs, n->rb)))
		return;
	/*
	 * Races with the guest's own accesses exactly as a DMA would.  This
	 * file's cache already holds the bytes; the other views of them drop
	 * theirs before the writer hears back.
	 */
	memcpy(n->rb->host + off, buf, size);
	fs_invalidate_bytes(fs, n->rb, (uint64_t)off, size,
	                    &(struct fs_skip){fs_node_ino(fs, n), (uint64_t)off, size});
	fuse_reply_write(req, size);
}

static uint64_t fs_ram_resident(struct fs *fs, struct fs_node *n)
{
	(void)fs;
	return phys_block_resident(n->rb);
}

static int fs_ram_lseek(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi, uint64_t off,
                        int whence, uint64_t *out)
{
	(void)fs;
	(void)fi;
	return phys_block_seek(n->rb, off, whence, out);
}

/* ---- rendered files: a strbuf in fi->fh ---- */

static int fs_render(struct fs *fs, struct fs_node *n, struct strbuf *sb)
{
	n->file->render(fs->vm, sb);
	return sb->err;
}

static int fs_text_size(struct fs *fs, struct fs_node *n, uint64_t *size)
{
	struct strbuf sb = STRBUF_INIT;
	int ret = fs_render(fs, n, &sb);

	*size = sb.len;
	sb_free(&sb);
	return ret;
}

/* Hand a rendered snapshot to the open file (or free it on error); direct_io. */
int fs_text_hand_out(struct strbuf *sb, struct fuse_file_info *fi)
{
	struct strbuf *copy;
	int ret = sb->err;

	copy = ret ? NULL : malloc(sizeof(*copy));
	if (!copy) {
		sb_free(sb);
		return ret ? ret : -ENOMEM;
	}
	*copy = *sb;
	fi->fh = (uintptr_t)copy;
	fi->direct_io = 1;
	return 0;
}

static int fs_text_open(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi)
{
	struct strbuf sb = STRBUF_INIT;

	fs_render(fs, n, &sb);
	return fs_text_hand_out(&sb, fi);
}

void fs_text_read(struct fs *fs, struct fs_node *n, fuse_req_t req, size_t size, off_t off,
                  struct fuse_file_info *fi)
{
	struct strbuf *sb = (struct strbuf *)(uintptr_t)fi->fh;

	(void)fs;
	(void)n;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if ((uint64_t)off >= sb->len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > sb->len - (uint64_t)off)
		size = sb->len - (size_t)off;
	fuse_reply_buf(req, sb->buf + off, size);
}

void fs_text_release(struct fuse_file_info *fi)
{
	struct strbuf *sb = (struct strbuf *)(uintptr_t)fi->fh;

	sb_free(sb);
	free(sb);
}

/* ---- console ---- */

static int fs_console_size(struct fs *fs, struct fs_node *n, uint64_t *size)
{
	(void)n;
	*size = console_size(&fs->vm->console);
	return 0;
}

static int fs_console_open(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi)
{
	(void)fs;
	(void)n;
	/* It grows behind the kernel's back: every read must come here. */
	fi->direct_io = 1;
	return 0;
}

static void fs_console_read(struct fs *fs, struct fs_node *n, fuse_req_t req, size_t size,
                            off_t off, struct fuse_file_info *fi)
{
	char *buf;

	(void)n;
	(void)fi;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (size > FS_IO_MAX)
		size = FS_IO_MAX;
	buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size = console_read(&fs->vm->console, (uint64_t)off, buf, size);
	fuse_reply_buf(req, buf, size);
	free(buf);
}

/* ---- ctl ---- */

static const struct {
	const char *word;
	int (*run)(struct vm *vm);
} fs_ctl_cmds[] = {
        {"stop", vm_stop},
        {"cont", vm_cont},
};

static void fs_ctl_write(struct fs *fs, struct fs_node *n, fuse_req_t req, const char *buf,
                         size_t size, off_t off, struct fuse_file_info *fi)
{
	size_t len = size, i;
	int ret;

	(void)n;
	(void)fi;
	(void)off; /* every write is one command, wherever it lands */
	if (len && buf[len - 1] == '\n')
		len--;
	if (!len || size > FS_CTL_MAX) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	for (i = 0; i < sizeof(fs_ctl_cmds) / sizeof(fs_ctl_cmds[0]); i++) {
		if (strlen(fs_ctl_cmds[i].word) != len || memcmp(fs_ctl_cmds[i].word, buf, len))
			continue;
		ret = fs_ctl_cmds[i].run(fs->vm);
		if (ret < 0)
			fuse_reply_err(req, -ret);
		else
			fuse_reply_write(req, size);
		return;
	}
	fuse_reply_err(req, EINVAL);
}

static const struct fs_kind_ops fs_dir_ops = {0};

static const struct fs_kind_ops fs_ram_ops = {
        .open = fs_ram_open,
        .read = fs_ram_read,
        .write = fs_ram_write,
        .size = fs_ram_size,
        .resident = fs_ram_resident,
        .lseek = fs_ram_lseek,
        .writable = true,
        .ram_mode = true,
};

static const struct fs_kind_ops fs_text_ops = {
        .open = fs_text_open,
        .read = fs_text_read,
        .release = fs_text_release,
        .size = fs_text_size,
        .dynamic = true,
};

static const struct fs_kind_ops fs_console_ops = {
        .open = fs_console_open,
        .read = fs_console_read,
        .size = fs_console_size,
        .dynamic = true,
};

static const struct fs_kind_ops fs_ctl_ops = {
        .open = fs_text_open,
        .read = fs_text_read,
        .write = fs_ctl_write,
        .release = fs_text_release,
        .size = fs_text_size,
        .dynamic = true,
        .writable = true,
};

static const struct fs_kind_ops *const fs_kinds[FS_NR_KINDS] = {
        [FS_DIR] = &fs_dir_ops,
        [FS_RAM] = &fs_ram_ops,
        [FS_TEXT] = &fs_text_ops,
        [FS_CONSOLE] = &fs_console_ops,
        [FS_CTL] = &fs_ctl_ops,
        [FS_PHYS] = &fs_phys_ops,
        [FS_VMCORE] = &fs_vmcore_ops,
        [FS_VCPU_TEXT] = &fs_vcpu_text_ops,
        [FS_TRANSLATE] = &fs_translate_ops,
        [FS_VMEM] = &fs_vmem_ops,
        [FS_DIRTY] = &fs_dirty_ops,
};

/* ---- attributes ---- */

static mode_t fs_mode(struct fs *fs, const struct fs_node *n)
{
	if (n->kind == FS_DIR)
		return S_IFDIR | n->mode;
	if (fs_kinds[n->kind]->ram_mode)
		return S_IFREG | (fs->cfg.writable ? 0600 : 0400);
	return S_IFREG | n->mode;
}

static int fs_stat(struct fs *fs, fuse_ino_t ino, struct stat *st)
{
	struct fs_node *n = fs_node_get(fs, ino);
	const struct fs_kind_ops *ops;
	uint64_t size = 0;
	int ret;

	if (!n)
		return -ENOENT;
	ops = fs_kinds[n->kind];
	if (ops->size) {
		ret = ops->size(fs, n, &size);
		if (ret)
			return ret;
	}
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = fs_mode(fs, n);
	st->st_nlink = n->kind == FS_DIR ? 2 + n->nr_subdirs : 1;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_size = size > INT64_MAX ? INT64_MAX : (off_t)size;
	st->st_blksize = 4096;
	/* Sparse files: coreutils asks for holes only when st_blocks is below st_size. */
	st->st_blocks = (blkcnt_t)(((ops->resident ? ops->resident(fs, n) : size) + 511) / 512);
	if (ops->dynamic && n->kind != FS_TEXT) {
		/* console and ctl change whenever the guest does. */
		clock_gettime(CLOCK_REALTIME, &st->st_mtim);
	} else {
		st->st_mtim = fs->start;
	}
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
	return 0;
}

static double fs_timeout(const struct fs_node *n)
{
	return fs_kinds[n->kind]->dynamic ? 0.0 : FS_STATIC_TIMEOUT;
}

/* ---- invalidation ---- */

/* Drop the kernel's cached copy of [off, off+len) of inode ino. */
static void fs_notify_inval(struct fs *fs, fuse_ino_t ino, uint64_t off, uint64_t len)
{
	if (off > INT64_MAX)
		return;
	if (len > (uint64_t)INT64_MAX - off)
		len = (uint64_t)INT64_MAX - off;
	pthread_rwlock_rdlock(&fs->live_lock);
	/* -ENOENT: the kernel holds no inode for it, so nothing cached. */
	if (fs->live)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, (off_t)off, (off_t)len);
	pthread_rwlock_unlock(&fs->live_lock);
}

struct fs_inval {
	struct fs *fs;
	const struct fs_skip *skip;
};

/* Invalidate [off, off+len) of ino but for the part skip covers. */
static void fs_notify_except(struct fs *fs, fuse_ino_t ino, uint64_t off, uint64_t len,
                             const struct fs_skip *skip)
{
	uint64_t end = off + len, s_end;

	if (!skip || skip->ino != ino || skip->off >= end || skip->off + skip->len <= off) {
		fs_notify_inval(fs, ino, off, len);
		return;
	}
	s_end = skip->off + skip->len;
	if (off < skip->off)
		fs_notify_inval(fs, ino, off, skip->off - off);
	if (s_end < end)
		fs_notify_inval(fs, ino, s_end, end - s_end);
}

static void fs_inval_phys(void *opaque, struct ram_block *rb, uint64_t offset, uint64_t gpa,
                          uint64_t len)
{
	struct fs_inval *iv = opaque;

	(void)rb;
	(void)offset;
	fs_notify_except(iv->fs, iv->fs->phys_ino, gpa, len, iv->skip);
}

/*
 * Called by the dirty sweep for what the guest wrote and after every write
 * through the FS; any other writer of guest memory that bypasses both must
 * call it too.
 */
void fs_invalidate_bytes(struct fs *fs, struct ram_block *rb, uint64_t off, uint64_t len,
                         const struct fs_skip *skip)
{
	struct fs_inval iv = {fs, skip};
	size_t i;

	for (i = 0; i < fs->nr_nodes; i++) {
		if (fs->nodes[i].kind != FS_RAM || fs->nodes[i].rb != rb)
			continue;
		fs_notify_except(fs, FUSE_ROOT_ID + i, off, len, skip);
		break;
	}
	/* The same bytes at every GPA that maps them: aliases included. */
	phys_block_to_gpa(&fs->vm->machine.as, rb, off, len, fs_inval_phys, &iv);
}

static void fs_dirty(struct dirty_listener *l, struct ram_block *rb, uint64_t offset, uint64_t len)
{
	struct fs *fs = (struct fs *)((char *)l - offsetof(struct fs, dirty));

	fs_invalidate_bytes(fs, rb, offset, len, NULL);
}

/* ---- FUSE operations ---- */

static void fs_op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs *fs = userdata;

	conn->max_write = FS_IO_MAX;
	conn->max_readahead = FS_IO_MAX;
	/* fuse_reply_buf from guest memory measured faster than splicing. */
	conn->want &=
	        ~(unsigned)(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
	/* O_TRUNC reaches open() instead of a setattr, so ctl sees a plain open. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* The sizes of RAM files never change: only explicit invalidation. */
	conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;

	pthread_rwlock_wrlock(&fs->live_lock);
	fs->live = true;
	pthread_rwlock_unlock(&fs->live_lock);
}

static void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_node *p = fs_node_get(fs, parent);
	struct fuse_entry_param e;
	int ret;

	if (!p) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (p->kind != FS_DIR) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.ino = fs_find_child(fs, parent, name);
	if (!e.ino) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	ret = fs_stat(fs, e.ino, &e.attr);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	e.attr_timeout = e.entry_timeout = fs_timeout(fs_node_get(fs, e.ino));
	fuse_reply_entry(req, &e);
}

static void fs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct stat st;
	int ret;

	(void)fi;
	ret = fs_stat(fs, ino, &st);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, fs_timeout(fs_node_get(fs, ino)));
}

static void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                          struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_node *n = fs_node_get(fs, ino);
	const int times = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
	                  FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;

	(void)fi;
	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	/*
	 * Nothing here has a size or mode of its own to change.  The one
	 * exception: a shell's "> ctl" truncates to 0 when the kernel cannot
	 * pass O_TRUNC to open; that is harmless and must not fail.
	 */
	if (!(n->kind == FS_CTL && (to_set & FUSE_SET_ATTR_SIZE) && !attr->st_size &&
	      !(to_set & ~(FUSE_SET_ATTR_SIZE | times)))) {
		fuse_reply_err(req, EPERM);
		return;
	}
	fs_op_getattr(req, ino, NULL);
}

/*
 * Open handles that own something (a text snapshot, a vmcore header), so
 * that fs_unmount can free those whose RELEASE never came: a session that
 * ends while files are still open gets none.
 */
struct fs_handle {
	uint64_t fh;
	const struct fs_kind_ops *ops;
	struct fs_handle *next;
};

static void fs_handle_add(struct fs *fs, const struct fs_kind_ops *ops, uint64_t fh)
{
	struct fs_handle *h = malloc(sizeof(*h));

	if (!h)
		return; /* only costs a leak at exit */
	h->fh = fh;
	h->ops = ops;
	pthread_mutex_lock(&fs->handles_lock);
	h->next = fs->handles;
	fs->handles = h;
	pthread_mutex_unlock(&fs->handles_lock);
}

static void fs_handle_release(struct fs *fs, const struct fs_kind_ops *ops,
                              struct fuse_file_info *fi)
{
	struct fs_handle **pp, *h = NULL;

	pthread_mutex_lock(&fs->handles_lock);
	for (pp = &fs->handles; *pp; pp = &(*pp)->next) {
		if ((*pp)->fh == fi->fh) {
			h = *pp;
			*pp = h->next;
			break;
		}
	}
	pthread_mutex_unlock(&fs->handles_lock);
	free(h);
	ops->release(fi);
}

static void fs_handles_release_all(struct fs *fs)
{
	while (fs->handles) {
		struct fs_handle *h = fs->handles;
		struct fuse_file_info fi = {.fh = h->fh};

		fs->handles = h->next;
		h->ops->release(&fi);
		free(h);
	}
}

static void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_node *n = fs_node_get(fs, ino);
	const struct fs_kind_ops *ops;
	bool wr = (fi->flags & O_ACCMODE) != O_RDONLY;
	int ret;

	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	ops = fs_kinds[n->kind];
	if (!ops->open) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	/* Root passes default_permissions: the mode bits are enforced here too. */
	if (wr && (!ops->writable || (ops->ram_mode && !fs->cfg.writable))) {
		fuse_reply_err(req, EACCES);
		return;
	}
	ret = ops->open(fs, n, fi);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	if (ops->release)
		fs_handle_add(fs, ops, fi->fh);
	if (fuse_reply_open(req, fi) == -ENOENT && ops->release)
		fs_handle_release(fs, ops, fi); /* the opener was interrupted and is gone */
}

static void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_node *n = fs_node_get(fs, ino);

	if (!n || !fs_kinds[n->kind]->read) {
		fuse_reply_err(req, n ? EISDIR : ENOENT);
		return;
	}
	fs_kinds[n->kind]->read(fs, n, req, size, off, fi);
}

static void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                        struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_node *n = fs_node_get(fs, ino);

	if (!n || !fs_kinds[n->kind]->write) {
		fuse_reply_err(req, n ? EACCES : ENOENT);
		return;
	}
	fs_kinds[n->kind]->write(fs, n, req, buf, size, off, fi);
}

static void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_node *n = fs_node_get(fs, ino);

	if (n && fs_kinds[n->kind]->release)
		fs_handle_release(fs, fs_kinds[n->kind], fi);
	fuse_reply_err(req, 0);
}

/* A file without holes of its own: data up to the end, whose virtual hole is the only one. */
static int fs_lseek_dense(struct fs *fs, struct fs_node *n, uint64_t off, int whence, uint64_t *out)
{
	const struct fs_kind_ops *ops = fs_kinds[n->kind];
	uint64_t size = 0;
	int ret;

	if (ops->size) {
		ret = ops->size(fs, n, &size);
		if (ret)
			return ret;
	}
	if (off >= size)
		return -ENXIO;
	*out = whence == SEEK_DATA ? off : size;
	return 0;
}

static void fs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
                        struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_node *n = fs_node_get(fs, ino);
	uint64_t out = 0;
	int ret;

	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	/* Never ENOSYS: the kernel would stop asking for the whole mount. */
	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		ret = -EINVAL;
	else if (off < 0)
		ret = -ENXIO;
	else if (fs_kinds[n->kind]->lseek)
		ret = fs_kinds[n->kind]->lseek(fs, n, fi, (uint64_t)off, whence, &out);
	else
		ret = fs_lseek_dense(fs, n, (uint64_t)off, whence, &out);
	if (!ret && out > INT64_MAX)
		ret = -ENXIO;
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_lseek(req, (off_t)out);
}

static void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_node *n = fs_node_get(fs, ino);

	if (!n)
		fuse_reply_err(req, ENOENT);
	else if (n->kind != FS_DIR)
		fuse_reply_err(req, ENOTDIR);
	else if ((fi->flags & O_ACCMODE) != O_RDONLY)
		fuse_reply_err(req, EISDIR);
	else
		fuse_reply_open(req, fi);
}

static void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                          struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_node *n = fs_node_get(fs, ino);
	struct stat st = {0};
	fuse_ino_t child;
	size_t pos = 0, ent;
	off_t idx;
	char *buf;

	(void)fi;
	if (!n || n->kind != FS_DIR) {
		fuse_reply_err(req, n ? ENOTDIR : ENOENT);
		return;
	}
	buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* Entry i (0 ".", 1 "..", then the children) carries offset i + 1. */
	child = n->first_child;
	for (idx = 0; off >= 0; idx++) {
		const char *name;
		fuse_ino_t eino;

		if (idx == 0) {
			name = ".";
			eino = ino;
		} else if (idx == 1) {
			name = "..";
			eino = n->parent;
		} else if (child) {
			name = fs_node_get(fs, child)->name;
			eino = child;
			child = fs_node_get(fs, child)->next_sibling;
		} else {
			break;
		}
		if (idx < off)
			continue;
		st.st_ino = eino;
		st.st_mode = fs_mode(fs, fs_node_get(fs, eino));
		ent = fuse_add_direntry(req, buf + pos, size - pos, name, &st, idx + 1);
		if (ent > size - pos)
			break;
		pos += ent;
	}
	fuse_reply_buf(req, buf, pos);
	free(buf);
}

/* The tree's shape is fixed: nothing is created, removed or renamed. */
static void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                        dev_t rdev)
{
	(void)parent, (void)name, (void)mode, (void)rdev;
	fuse_reply_err(req, EPERM);
}

static void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	(void)parent, (void)name, (void)mode;
	fuse_reply_err(req, EPERM);
}

static void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent, (void)name;
	fuse_reply_err(req, EPERM);
}

static void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	(void)link, (void)parent, (void)name;
	fuse_reply_err(req, EPERM);
}

static void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                         const char *newname, unsigned int flags)
{
	(void)parent, (void)name, (void)newparent, (void)newname, (void)flags;
	fuse_reply_err(req, EPERM);
}

static void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino, (void)newparent, (void)newname;
	fuse_reply_err(req, EPERM);
}

static void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                         struct fuse_file_info *fi)
{
	(void)parent, (void)name, (void)mode, (void)fi;
	fuse_reply_err(req, EPERM);
}

static const struct fuse_lowlevel_ops fs_ops = {
        .init = fs_op_init,
        .lookup = fs_op_lookup,
        .getattr = fs_op_getattr,
        .setattr = fs_op_setattr,
        .open = fs_op_open,
        .read = fs_op_read,
        .write = fs_op_write,
        .release = fs_op_release,
        .opendir = fs_op_opendir,
        .readdir = fs_op_readdir,
        .mknod = fs_op_mknod,
        .mkdir = fs_op_mkdir,
        .unlink = fs_op_unlink,
        .rmdir = fs_op_unlink,
        .symlink = fs_op_symlink,
        .rename = fs_op_rename,
        .link = fs_op_link,
        .create = fs_op_create,
        .lseek = fs_op_lseek,
};

/* ---- mounting ---- */

int fs_check_mountpoint(const char *path, char *err, size_t errlen)
{
	struct dirent *de;
	struct statfs sfs;
	struct stat st;
	int ret = 0;
	DIR *d;

	if (stat(path, &st)) {
		ret = -errno;
		if (ret == -ENOENT)
			snprintf(err, errlen, "mountpoint %s does not exist", path);
		else if (ret == -ENOTCONN)
			snprintf(err, errlen,
			         "mountpoint %s is a dead FUSE mount (run fusermount3 -u %s)", path,
			         path);
		else
			snprintf(err, errlen, "mountpoint %s: %s", path, strerror(-ret));
		return ret;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "mountpoint %s is not a directory", path);
		return -ENOTDIR;
	}
	if (!statfs(path, &sfs) && sfs.f_type == FS_FUSE_SUPER_MAGIC) {
		snprintf(err, errlen, "mountpoint %s is already a FUSE mount", path);
		return -EBUSY;
	}
	d = opendir(path);
	if (!d) {
		ret = -errno;
		snprintf(err, errlen, "mountpoint %s: %s", path, strerror(-ret));
		return ret;
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			snprintf(err, errlen, "mountpoint %s is not empty", path);
			ret = -ENOTEMPTY;
			break;
		}
	}
	closedir(d);
	return ret;
}

/*
 * FUSE can only lower the kernel's readahead window below the bdi default
 * (128 KiB), so a cold sequential read arrives as 128 KiB READs.  Raising
 * the mount's bdi read_ahead_kb to FS_IO_MAX makes them 1 MiB: measured
 * here, cold `dd bs=1M` of pc.ram went from 2.4 to 4.3 GB/s.  Best effort:
 * only root may write it, and nothing depends on it.
 */
static void fs_set_readahead(const char *mountpoint)
{
	char real[PATH_MAX], line[PATH_MAX + 256], dev[32] = "", path[80], val[32];
	unsigned maj, min;
	FILE *f;
	int fd, n;

	/*
	 * The device comes from mountinfo, not stat(): our own mount cannot
	 * answer a GETATTR before the session loop runs.  Mount points with
	 * characters mountinfo escapes are simply not matched.
	 */
	if (!realpath(mountpoint, real) || !(f = fopen("/proc/self/mountinfo", "re")))
		return;
	while (fgets(line, sizeof(line), f)) {
		char mnt[PATH_MAX];

		if (sscanf(line, "%*s %*s %u:%u %*s %4095s", &maj, &min, mnt) == 3 &&
		    !strcmp(mnt, real))
			snprintf(dev, sizeof(dev), "%u:%u", maj, min); /* the last one is on top */
	}
	fclose(f);
	if (!dev[0])
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = snprintf(val, sizeof(val), "%u", FS_IO_MAX / 1024);
	if (write(fd, val, (size_t)n) < 0) {
		/* not root, or no such knob: the default stays */
	}
	close(fd);
}

int fs_mount(struct vm *vm, struct dirty *dirty, const struct fs_config *cfg, struct fs **out,
             char *err, size_t errlen)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	char opts[256];
	struct fs *fs;
	int ret;

	fs = calloc(1, sizeof(*fs));
	if (!fs) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&fs->handles_lock, NULL);
	fs->vm = vm;
	fs->cfg = *cfg;
	fs->uid = getuid();
	fs->gid = getgid();
	clock_gettime(CLOCK_REALTIME, &fs->start);
	fs->dirty.dirty = fs_dirty;
	ret = pthread_rwlock_init(&fs->live_lock, NULL);
	if (ret) {
		free(fs);
		snprintf(err, errlen, "pthread_rwlock_init: %s", strerror(ret));
		return -ret;
	}
	fs->mountpoint = strdup(cfg->mountpoint);
	fs->cfg.mountpoint = fs->mountpoint;
	ret = dirtylog_init(&fs->dirtylog, &vm->machine.ram);
	if (ret) {
		snprintf(err, errlen, "dirty bitmaps: %s", strerror(-ret));
		goto err_lock;
	}
	ret = fs_vcpu_init(fs);
	if (ret) {
		snprintf(err, errlen, "vcpus: %s", strerror(-ret));
		goto err_dirtylog;
	}
	ret = fs->mountpoint ? fs_build(fs) : -ENOMEM;
	if (ret) {
		snprintf(err, errlen, "building the tree: %s", strerror(-ret));
		goto err_free;
	}

	/*
	 * auto_unmount: fusermount3 stays behind and unmounts should we die
	 * without unmounting (SIGKILL), so no dead mount is ever left.
	 */
	snprintf(opts, sizeof(opts),
	         "fsname=kvmfs,subtype=kvmfs,auto_unmount,default_permissions%s",
	         cfg->allow_other ? ",allow_other" : "");
	if (fuse_opt_add_arg(&args, "kvmfs") || fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, opts)) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto err_args;
	}
	fs->se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), fs);
	if (!fs->se) {
		ret = -EINVAL;
		snprintf(err, errlen, "fuse_session_new failed (options: %s)", opts);
		goto err_args;
	}
	if (fuse_session_mount(fs->se, fs->mountpoint)) {
		ret = -EIO;
		snprintf(err, errlen, "cannot mount FUSE on %s", fs->mountpoint);
		goto err_session;
	}
	fs->mounted = true;
	fs_set_readahead(fs->mountpoint);
	fuse_opt_free_args(&args);
	if (dirty) {
		dirty_add_listener(dirty, &fs->dirty);
		dirtylog_attach(&fs->dirtylog, dirty);
	}
	*out = fs;
	return 0;

err_session:
	fuse_session_destroy(fs->se);
err_args:
	fuse_opt_free_args(&args);
err_free:
	fs_free_nodes(fs);
	fs_vcpu_exit(fs);
err_dirtylog:
	dirtylog_exit(&fs->dirtylog);
err_lock:
	free(fs->mountpoint);
	pthread_rwlock_destroy(&fs->live_lock);
	free(fs);
	return ret;
}

/* Only there to interrupt the loop thread's wait (no SA_RESTART). */
static void fs_wake_handler(int sig)
{
	(void)sig;
}

static void *fs_loop_thread(void *arg)
{
	struct fuse_loop_config lc = {.clone_fd = 0, .max_idle_threads = 10};
	struct fs *fs = arg;
	sigset_t set;

	pthread_setname_np(pthread_self(), "fuse-loop");
	/* The one signal this thread takes: fs_unmount's wake-up. */
	sigemptyset(&set);
	sigaddset(&set, FS_WAKE_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	fs->loop_ret = fuse_session_loop_mt(fs->se, &lc);
	__atomic_store_n(&fs->loop_done, true, __ATOMIC_RELEASE);
	return NULL;
}

int fs_start(struct fs *fs)
{
	struct sigaction sa = {.sa_handler = fs_wake_handler};
	sigset_t set, old;
	int ret;

	sigaction(FS_WAKE_SIGNAL, &sa, NULL);
	/* Workers inherit the mask: only the loop thread itself takes the wake-up. */
	sigemptyset(&set);
	sigaddset(&set, FS_WAKE_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	ret = -pthread_create(&fs->loop_thread, NULL, fs_loop_thread, fs);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!ret)
		fs->loop_started = true;
	return ret;
}

bool fs_done(struct fs *fs)
{
	return __atomic_load_n(&fs->loop_done, __ATOMIC_ACQUIRE);
}

void fs_unmount(struct fs *fs)
{
	if (!fs)
		return;
	pthread_rwlock_wrlock(&fs->live_lock);
	fs->live = false;
	pthread_rwlock_unlock(&fs->live_lock);
	/*
	 * The session loop ends last, after everything that sends the kernel
	 * invalidations has stopped: an invalidation waits for page locks that
	 * readers hold until their READ is answered, so it must never outlive
	 * the threads that answer.  Ending it: the exit flag, then a signal to
	 * break the loop's wait; libfuse then cancels its workers.
	 */
	if (fs->loop_started) {
		fuse_session_exit(fs->se);
		while (!fs_done(fs)) {
			pthread_kill(fs->loop_thread, FS_WAKE_SIGNAL);
			nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
		}
		pthread_join(fs->loop_thread, NULL);
	}
	/* Does nothing if the mount already went away (fusermount3 -u). */
	if (fs->mounted)
		fuse_session_unmount(fs->se);
	fuse_session_destroy(fs->se);
	fs_handles_release_all(fs);
	pthread_mutex_destroy(&fs->handles_lock);
	fs_free_nodes(fs);
	fs_vcpu_exit(fs);
	/* The sweep that fed it has ended (dirty_exit runs first). */
	dirtylog_exit(&fs->dirtylog);
	free(fs->mountpoint);
	pthread_rwlock_destroy(&fs->live_lock);
	free(fs);
}

const char *fs_fuse_version(void)
{
	return fuse_pkgversion();
}
