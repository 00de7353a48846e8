/*
 * ctl.c - MNT/ctl: read the run state (a snapshot rendered at open, as
 * QEMU's `info status` names it, plus the diagnostic after a failure);
 * write one command per write(): "stop" or "cont", a trailing newline
 * allowed.  Anything else is EINVAL; a command the VM refuses returns its
 * error (cont of a dead guest: EPERM).
 */
#include <errno.h>
#include <string.h>

#include "util/compiler.h"
#include "util/strbuf.h"
#include "vm.h"

#include "fs/internal.h"

#define FS_CTL_MAX 64 /* longest write `ctl` accepts */

static void fs_ctl_render(struct vm *vm, struct strbuf *sb)
{
	char buf[1024];
	size_t len;

	vm_status(vm, buf, sizeof(buf));
	len = strlen(buf);
	sb_add(sb, buf, len);
	if (!len || buf[len - 1] != '\n')
		sb_add(sb, "\n", 1);
}

/* A snapshot per open, like every rendered file (snapshot.c). */
static int fs_ctl_open(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi)
{
	struct strbuf sb = STRBUF_INIT;

	(void)n;
	fs_ctl_render(fs->vm, &sb);
	return fs_text_hand_out(&sb, fi);
}

static int fs_ctl_size(struct fs *fs, struct fs_node *n, uint64_t *size)
{
	struct strbuf sb = STRBUF_INIT;
	int ret;

	(void)n;
	fs_ctl_render(fs->vm, &sb);
	ret = sb.err;
	*size = sb.len;
	sb_free(&sb);
	return ret;
}

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
	for (i = 0; i < ARRAY_SIZE(fs_ctl_cmds); i++) {
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

static const struct fs_kind_ops fs_ctl_ops = {
        .open = fs_ctl_open,
        .read = fs_text_read,
        .write = fs_ctl_write,
        .release = fs_text_release,
        .size = fs_ctl_size,
        .dynamic = true,
        .live_mtime = true,
        .writable = true,
        .truncate_ok = true,
};

const struct fs_kind fs_ctl_kind = {
        .name = "ctl",
        .ops = &fs_ctl_ops,
};
