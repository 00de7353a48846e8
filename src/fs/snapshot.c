/*
 * snapshot.c - rendered files: the text kind, whose files are the text and
 * JSON views of the model (ramblocks.json, regions, flatview, memslots,
 * ...; each file's render() is its entry of tree.c's table), and the
 * snapshot machinery other kinds (ctl, dirty/, vcpus/) render into.
 *
 * A rendered file is rendered once at open(), so that one open file is one
 * consistent snapshot, and is direct_io so that the page cache never holds
 * an old one.  stat renders it once more for its size.
 *
 * The snapshot is reference counted: the open file holds one reference, and
 * every reply being sent from it holds another until fuse_reply_buf()
 * returns.  The kernel copies the reply and wakes the reader during that
 * writev(); the reader may close at once, and its RELEASE, answered on
 * another thread, must not free the bytes while the first thread still
 * looks at them (ASan checks writev's buffers after the call returns).
 */
#include <errno.h>
#include <stdlib.h>

#include "util/strbuf.h"

#include "fs/internal.h"

struct fs_snap {
	struct strbuf sb; /* never changed once handed out */
	unsigned refs;    /* atomic */
};

/* fi->fh of a rendered file; only translate files replace snap (under their lock). */
struct fs_text {
	struct fs_snap *snap;
};

static struct fs_snap *fs_snap_new(struct strbuf *sb)
{
	struct fs_snap *s = malloc(sizeof(*s));

	if (!s)
		return NULL;
	s->sb = *sb;
	s->refs = 1;
	return s;
}

static void fs_snap_put(struct fs_snap *s)
{
	if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL))
		return;
	sb_free(&s->sb);
	free(s);
}

static int fs_render(struct fs *fs, struct fs_node *n, struct strbuf *sb)
{
	n->file->render(fs, sb);
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
	struct fs_text *t;
	int ret = sb->err;

	t = ret ? NULL : malloc(sizeof(*t));
	if (t && !(t->snap = fs_snap_new(sb))) {
		free(t);
		t = NULL;
	}
	if (!t) {
		sb_free(sb);
		return ret ? ret : -ENOMEM;
	}
	fi->fh = (uintptr_t)t;
	fi->direct_io = 1;
	return 0;
}

int fs_text_replace(struct fuse_file_info *fi, struct strbuf *sb, pthread_mutex_t *lock)
{
	struct fs_text *t = (struct fs_text *)(uintptr_t)fi->fh;
	struct fs_snap *s = sb->err ? NULL : fs_snap_new(sb), *old;

	if (!s) {
		int ret = sb->err ? sb->err : -ENOMEM;

		sb_free(sb);
		return ret;
	}
	pthread_mutex_lock(lock);
	old = t->snap;
	t->snap = s;
	pthread_mutex_unlock(lock);
	/* A reply still being sent from the old text keeps it until it is done. */
	fs_snap_put(old);
	return 0;
}

static int fs_text_open(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi)
{
	struct strbuf sb = STRBUF_INIT;

	fs_render(fs, n, &sb);
	return fs_text_hand_out(&sb, fi);
}

void fs_text_read_locked(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi,
                         pthread_mutex_t *lock)
{
	struct fs_text *t = (struct fs_text *)(uintptr_t)fi->fh;
	struct fs_snap *s;
	const struct strbuf *sb;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	/*
	 * The kernel sends no RELEASE while this READ is pending, so the open
	 * file's reference keeps s alive until we take ours.
	 */
	if (lock)
		pthread_mutex_lock(lock);
	s = t->snap;
	__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
	if (lock)
		pthread_mutex_unlock(lock);
	sb = &s->sb;
	if ((uint64_t)off >= sb->len) {
		fuse_reply_buf(req, NULL, 0);
	} else {
		if (size > sb->len - (uint64_t)off)
			size = sb->len - (size_t)off;
		fuse_reply_buf(req, sb->buf + off, size);
	}
	fs_snap_put(s);
}

void fs_text_read(struct fs *fs, struct fs_node *n, fuse_req_t req, size_t size, off_t off,
                  struct fuse_file_info *fi)
{
	(void)fs;
	(void)n;
	fs_text_read_locked(req, size, off, fi, NULL);
}

void fs_text_release(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi)
{
	struct fs_text *t = (struct fs_text *)(uintptr_t)fi->fh;

	(void)fs;
	(void)n;
	fs_snap_put(t->snap);
	free(t);
}

static const struct fs_kind_ops fs_text_ops = {
        .open = fs_text_open,
        .read = fs_text_read,
        .release = fs_text_release,
        .size = fs_text_size,
        .dynamic = true,
};

const struct fs_kind fs_text_kind = {
        .name = "text",
        .ops = &fs_text_ops,
};
