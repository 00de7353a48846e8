/*
 * inode.c - the tree's inode table and the names in it.
 *
 * Inodes are fixed at mount time: 1 the root, then the fixed part of the
 * tree (tree.c), then the directories and files the kinds add (the RAM
 * blocks, the dirty/ views, the vCPUs): the ram list does not change at
 * runtime in this version.  Inode ino is nodes[ino - 1]; a directory keeps
 * its children as a list of inode numbers, in creation order.
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
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory/ram.h"

#include "fs/internal.h"

/* Directories have no operations of their own: session.c lists and looks them up. */
const struct fs_kind_ops fs_dir_ops = {.dir = true};

struct fs_node *fs_node_get(struct fs *fs, fuse_ino_t ino)
{
	if (ino >= FS_INO_DYNAMIC)
		return fs_tree_dyn_node(fs, ino);
	if (ino < FUSE_ROOT_ID || ino - FUSE_ROOT_ID >= fs->nr_nodes)
		return NULL;
	return &fs->nodes[ino - FUSE_ROOT_ID];
}

fuse_ino_t fs_node_ino(struct fs *fs, const struct fs_node *n)
{
	return FUSE_ROOT_ID + (fuse_ino_t)(n - fs->nodes);
}

fuse_ino_t fs_node_find(struct fs *fs, fuse_ino_t dir, const char *name)
{
	fuse_ino_t ino;

	for (ino = fs_node_get(fs, dir)->first_child; ino; ino = fs_node_get(fs, ino)->next_sibling)
		if (!strcmp(fs_node_get(fs, ino)->name, name))
			return ino;
	return 0;
}

int fs_node_add(struct fs *fs, fuse_ino_t parent, const char *name, const struct fs_kind_ops *ops,
                mode_t mode, fuse_ino_t *ino)
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
	*n = (struct fs_node){.ops = ops, .mode = mode, .parent = parent ? parent : FUSE_ROOT_ID};
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
	if (ops->dir)
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
		ino = fs_node_find(fs, *dir, enc);
		if (!ino) {
			ret = fs_node_add(fs, *dir, enc, &fs_dir_ops, 0555, &ino);
			if (ret)
				return ret;
		}
		*dir = ino;
		s = slash + 1;
	}
	*last = s;
	return 0;
}

/*
 * The file of rb under top, its name followed by suffix ("" or ".bitmap");
 * its priv is rb, which a kind may replace with its own.
 */
int fs_add_block(struct fs *fs, fuse_ino_t top, struct ram_block *rb, const char *suffix,
                 const struct fs_kind_ops *ops, fuse_ino_t *ino)
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
	i = strlen(enc) != base || fs_node_find(fs, dir, enc) ? 1 : 0;
	base = strlen(enc);
	for (; i; i++) {
		snprintf(enc + base, sizeof(enc) - base, "%%~%u", i);
		if (!fs_node_find(fs, dir, enc))
			break;
	}
	ret = fs_node_add(fs, dir, enc, ops, 0, ino);
	if (ret)
		return ret;
	fs_node_get(fs, *ino)->priv = rb;
	return 0;
}

void fs_nodes_free(struct fs *fs)
{
	size_t i;

	for (i = 0; i < fs->nr_nodes; i++) {
		free(fs->nodes[i].name);
		free(fs->nodes[i].cached);
	}
	free(fs->nodes);
	fs->nodes = NULL;
	fs->nr_nodes = fs->cap_nodes = 0;
}
