/*
 * refused.h - the last write a file refused, and why, read back from that
 * file.  A write can only fail with an errno; the reason is the file's
 * last line until a write to it succeeds:
 *
 *   $ echo bogus > MNT/ctl
 *   sh: echo: I/O error ... (EINVAL)
 *   $ cat MNT/ctl
 *   running
 *   refused: 'bogus': not a command; ctl takes stop, cont, dirty-log on, dirty-log off
 *
 * Kept per file of the mount, not per open file: `echo x > f; cat f` are
 * two opens by two processes, and the second must see what the first was
 * told.  Reading changes nothing; the next write that succeeds clears it.
 * The caller's lock guards it.
 */
#ifndef KVMFS_FS_REFUSED_H
#define KVMFS_FS_REFUSED_H

#include <stddef.h>

#include "util/strbuf.h"

#define FS_REFUSED_MAX  320 /* the whole line */
#define FS_REFUSED_SHOW 40  /* written bytes quoted, at most */

struct fs_refused {
	char line[FS_REFUSED_MAX]; /* "" when the last write succeeded */
};

/*
 * "refused: 'WHAT': why" - what the writer wrote (buf, size; one trailing
 * newline left out, bytes that are not printable ASCII shown as '?', at most
 * FS_REFUSED_SHOW of them), then the reason.
 */
__attribute__((format(printf, 4, 5))) void fs_refused_set(struct fs_refused *r, const char *buf,
                                                          size_t size, const char *fmt, ...);
void fs_refused_clear(struct fs_refused *r);
/* The line and its newline, if a write was refused. */
void fs_refused_render(const struct fs_refused *r, struct strbuf *sb);

#endif
