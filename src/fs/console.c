/*
 * console.c - MNT/console: everything the guest wrote to its serial
 * port.  It grows behind the kernel's back (tail -f works), so it is
 * direct_io and its size and mtime are asked for anew every time.
 */
#include <errno.h>
#include <stdlib.h>

#include "hw/console.h"
#include "vm.h"

#include "fs/internal.h"

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

static const struct fs_kind_ops fs_console_ops = {
        .open = fs_console_open,
        .read = fs_console_read,
        .size = fs_console_size,
        .dynamic = true,
        .live_mtime = true,
};

const struct fs_kind fs_console_kind = {
        .name = "console",
        .ops = &fs_console_ops,
};
