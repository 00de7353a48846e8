/* strbuf.c - growable text buffer used by every renderer. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"

void sb_free(struct strbuf *sb)
{
	free(sb->buf);
	*sb = (struct strbuf)STRBUF_INIT;
}

static int sb_grow(struct strbuf *sb, size_t extra)
{
	size_t cap;
	char *p;

	if (sb->err)
		return sb->err;
	if (sb->len + extra + 1 <= sb->cap)
		return 0;
	cap = sb->cap ? sb->cap : 256;
	while (cap < sb->len + extra + 1)
		cap *= 2;
	p = realloc(sb->buf, cap);
	if (!p)
		return sb->err = -ENOMEM;
	sb->buf = p;
	sb->cap = cap;
	return 0;
}

void sb_add(struct strbuf *sb, const char *s, size_t n)
{
	if (sb_grow(sb, n))
		return;
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

void sb_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || sb_grow(sb, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

void sb_json_str(struct strbuf *sb, const char *s)
{
	sb_add(sb, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			sb_printf(sb, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f) /* bytes that need not be UTF-8 */
			sb_printf(sb, "\\u%04x", c);
		else
			sb_add(sb, s, 1);
	}
	sb_add(sb, "\"", 1);
}

void sb_name(struct strbuf *sb, const char *s, int width)
{
	size_t start = sb->len, len, pad;
	const char *p;

	for (p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= ' ' || c == 0x7f || c == '\\')
			sb_printf(sb, "\\x%02x", c);
		else
			sb_add(sb, p, 1);
	}
	if (sb->err)
		return;
	len = sb->len - start;
	pad = (size_t)(width < 0 ? -width : width);
	if (len >= pad)
		return;
	pad -= len;
	if (sb_grow(sb, pad))
		return;
	if (width > 0) /* right aligned: move the name behind the padding */
		memmove(sb->buf + start + pad, sb->buf + start, len);
	memset(width > 0 ? sb->buf + start : sb->buf + start + len, ' ', pad);
	sb->len += pad;
	sb->buf[sb->len] = '\0';
}
