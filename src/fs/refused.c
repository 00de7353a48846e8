/*
 * refused.c - the last refused write of a file, as a line it reads back
 * (refused.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fs/refused.h"

void fs_refused_set(struct fs_refused *r, const char *buf, size_t size, const char *fmt, ...)
{
	char what[FS_REFUSED_SHOW + 4];
	size_t i, n = size, w;
	va_list ap;
	int len;

	if (n && buf[n - 1] == '\n')
		n--;
	/* A writer's bytes may be anything: the line stays one line of text. */
	for (i = 0; i < n && i < FS_REFUSED_SHOW; i++)
		what[i] = buf[i] >= 0x20 && buf[i] < 0x7f ? buf[i] : '?';
	w = i;
	if (n > FS_REFUSED_SHOW) {
		memcpy(what + w, "...", 3);
		w += 3;
	}
	what[w] = '\0';
	len = snprintf(r->line, sizeof(r->line), "refused: '%s': ", what);
	if (len < 0 || (size_t)len >= sizeof(r->line))
		return;
	va_start(ap, fmt);
	vsnprintf(r->line + len, sizeof(r->line) - (size_t)len, fmt, ap);
	va_end(ap);
}

void fs_refused_clear(struct fs_refused *r)
{
	r->line[0] = '\0';
}

void fs_refused_render(const struct fs_refused *r, struct strbuf *sb)
{
	if (r->line[0])
		sb_printf(sb, "%s\n", r->line);
}
