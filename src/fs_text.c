/*
 * fs_text.c - rendered files: the text and JSON views of the model
 * (ramblocks.json, regions, flatview, memslots, ...), and the snapshot
 * machinery other kinds render into.
 *
 * A rendered file is rendered once at open(), so that one open file is one
 * consistent snapshot (its strbuf in fi->fh), and is direct_io so that the
 * page cache never holds an old one.  stat renders it once more for its
 * size.
 */
#include <errno.h>
#include <stdlib.h>

#include "kvmfs/strbuf.h"

#include "fs_internal.h"

static int fs_render(struct fs *fs, struct fs_node *n, struct strbuf *sb)
{
	n->file->render(fs->vm, sb);
	return sb->err;
}

int fs_text_size(struct fs *fs, struct fs_node *n, uint64_t *size)
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

int fs_text_open(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi)
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

const struct fs_kind_ops fs_text_ops = {
        .open = fs_text_open,
        .read = fs_text_read,
        .release = fs_text_release,
        .size = fs_text_size,
        .dynamic = true,
};
