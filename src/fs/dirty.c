/*
 * dirty.c - MNT/dirty/: what the guest wrote, per RAM block.
 *
 *   MNT/dirty/<idstr>          the 4 KiB pages the guest wrote since the
 *                              previous open of this file, counted while
 *                              the block's dirty logging was on: one line
 *                              per run, "<first>-<last> <pages>", offsets in
 *                              the block in hex, <pages> in decimal.
 *                              st_size is what an open would read now
 *                              (stat takes nothing away).
 *   MNT/dirty/<idstr>.bitmap   the same, raw: little-endian u64 words, bit
 *                              i = page i of the block (KVM's dirty-log
 *                              format)
 *
 * Logging costs the guest a fault per page it writes, so it is on only
 * while something holds the block: an open file of dirty/ (from open to
 * release), a cached file of the same bytes, or `dirty-log on` written to
 * ctl (ctl.c).  To count continuously, hold one open - `exec 3<
 * MNT/dirty/pc.ram` - or write `dirty-log on`, and open the file again
 * to read what was written since.  A write made while nothing held the
 * block is not seen.
 *
 * Per block rather than per memslot: slot ids change whenever the layout
 * does, a block's name does not, and it is how ramblocks/ names the same
 * bytes.  Names follow ramblocks/ ('/' makes directories, same encoding).
 * "Read" means opened for reading: each open turns logging on (if it was
 * not), takes the bits collected since the last open (after a sweep, so a
 * stopped guest reads exact) and starts collecting anew; the last release
 * sweeps once more before logging goes off, so the next open sees what was
 * written up to then.  Only the guest's writes count: writes through the
 * FS are not in KVM's dirty log.  ROM blocks have no entry.
 *
 * The kind's state is the per-block bitmaps (kvm/dirty_blocks.h), a
 * listener of the dirty sweep of its own; a file's node has priv = its
 * struct dirty_block, arg = which of the block's two readers it is.
 */
#include <errno.h>
#include <stdlib.h>

#include "kvm/dirty_blocks.h"
#include "util/compiler.h"
#include "util/strbuf.h"
#include "vm.h"

#include "fs/internal.h"

/* Defined at the end; its state is found through it (fs_kind_priv). */
extern const struct fs_kind fs_dirty_kind;

static struct dirty_block *fs_dirty_block(const struct fs_node *n)
{
	return n->priv;
}

static enum dirty_blocks_reader fs_dirty_reader(const struct fs_node *n)
{
	return (enum dirty_blocks_reader)n->arg;
}

static int fs_dirty_open(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi)
{
	struct dirty_block *b = fs_dirty_block(n);
	struct strbuf sb = STRBUF_INIT;
	uint64_t *bm;
	int ret;

	/* Held from before the take: nothing the guest writes from here on goes uncounted. */
	ret = fs_dirty_log_hold(fs, b->rb);
	if (ret)
		return ret;
	ret = dirty_blocks_take(fs_kind_priv(fs, &fs_dirty_kind), b, fs_dirty_reader(n), &bm);
	if (ret)
		goto err;
	if (fs_dirty_reader(n) == DIRTY_BLOCKS_BITMAP)
		sb_add(&sb, (const char *)bm, dirty_blocks_words(b) * sizeof(*bm));
	else
		dirty_blocks_render_ranges(bm, b->pages, &sb);
	free(bm);
	ret = fs_text_hand_out(&sb, fi);
	if (ret)
		goto err;
	return 0;
err:
	fs_dirty_log_drop(fs, b->rb);
	return ret;
}

static void fs_dirty_release(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi)
{
	fs_text_release(fs, n, fi);
	fs_dirty_log_drop(fs, fs_dirty_block(n)->rb);
}

static int fs_dirty_size(struct fs *fs, struct fs_node *n, uint64_t *size)
{
	struct dirty_block *b = fs_dirty_block(n);
	struct strbuf sb = STRBUF_INIT;
	uint64_t *bm;
	int ret;

	if (fs_dirty_reader(n) == DIRTY_BLOCKS_BITMAP) {
		*size = dirty_blocks_words(b) * 8;
		return 0;
	}
	/*
	 * The text an open would take now, rendered from a copy: stat agrees
	 * with what cat reads, as for the other text files, and consumes
	 * nothing (the next periodic sweep may still add to it).
	 */
	ret = dirty_blocks_peek(fs_kind_priv(fs, &fs_dirty_kind), b, DIRTY_BLOCKS_TEXT, &bm);
	if (ret)
		return ret;
	dirty_blocks_render_ranges(bm, b->pages, &sb);
	free(bm);
	ret = sb.err;
	*size = sb.len;
	sb_free(&sb);
	return ret;
}

static const struct fs_kind_ops fs_dirty_ops = {
        .open = fs_dirty_open,
        .read = fs_text_read,
        .release = fs_dirty_release,
        .size = fs_dirty_size,
        .dynamic = true,
};

static int fs_dirty_build(struct fs *fs, fuse_ino_t top)
{
	static const struct {
		const char *suffix;
		enum dirty_blocks_reader reader;
	} files[] = {
	        {"", DIRTY_BLOCKS_TEXT},
	        {".bitmap", DIRTY_BLOCKS_BITMAP},
	};
	struct dirty_blocks *dl = fs_kind_priv(fs, &fs_dirty_kind);
	const char *last;
	fuse_ino_t ino;
	size_t i, f;
	int ret = 0;

	/* Directories first, as for ramblocks/, so that files are the ones renamed. */
	for (i = 0; !ret && i < dl->nr; i++)
		ret = fs_add_dirs(fs, top, dl->blocks[i].rb->idstr, &ino, &last);
	for (i = 0; !ret && i < dl->nr; i++) {
		for (f = 0; !ret && f < ARRAY_SIZE(files); f++) {
			ret = fs_add_block(fs, top, dl->blocks[i].rb, files[f].suffix,
			                   &fs_dirty_ops, &ino);
			if (ret)
				break;
			fs_node_get(fs, ino)->priv = &dl->blocks[i];
			fs_node_get(fs, ino)->arg = files[f].reader;
			fs_node_get(fs, ino)->mode = 0444;
		}
	}
	return ret;
}

static int fs_dirty_init(struct fs *fs, void **priv)
{
	struct dirty_blocks *dl = calloc(1, sizeof(*dl));
	int ret;

	if (!dl)
		return -ENOMEM;
	ret = dirty_blocks_init(dl, &fs->vm->machine.ram);
	if (ret) {
		free(dl);
		return ret;
	}
	*priv = dl;
	return 0;
}

static void fs_dirty_attach(void *priv, struct dirty *dirty)
{
	dirty_blocks_attach(priv, dirty);
}

/* The sweep that fed it has stopped (dirty_stop runs before fs_unmount). */
static void fs_dirty_exit(void *priv)
{
	dirty_blocks_exit(priv);
	free(priv);
}

const struct fs_kind fs_dirty_kind = {
        .name = "dirty bitmaps",
        .ops = &fs_dir_ops,
        .init = fs_dirty_init,
        .build = fs_dirty_build,
        .attach = fs_dirty_attach,
        .exit = fs_dirty_exit,
};
