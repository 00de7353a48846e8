/*
 * strbuf.h - a growable text buffer for the renderers.
 *
 * Every text and JSON view of kvmfs is rendered into one of these and handed
 * out as a whole, so that a reader always sees one consistent snapshot.  An
 * allocation failure is remembered (err) instead of being checked at every
 * call; the owner checks it once at the end.
 */
#ifndef KVMFS_UTIL_STRBUF_H
#define KVMFS_UTIL_STRBUF_H

#include <stddef.h>

struct strbuf {
	char *buf;
	size_t len;
	size_t cap;
	int err; /* -ENOMEM once any append failed */
};

#define STRBUF_INIT                                                                                \
	{                                                                                          \
		NULL, 0, 0, 0                                                                      \
	}

void sb_free(struct strbuf *sb);
__attribute__((format(printf, 2, 3))) void sb_printf(struct strbuf *sb, const char *fmt, ...);
void sb_add(struct strbuf *sb, const char *s, size_t n);
/* Append s as a JSON string literal, quotes included. */
void sb_json_str(struct strbuf *sb, const char *s);
/*
 * Append a name to a text view, padded to |width| columns (negative: left
 * aligned).  Bytes that would break a whitespace-separated row - control
 * bytes, space, DEL and the backslash itself - are written \xNN, so that a
 * row stays one line and every name reads back exactly.
 */
void sb_name(struct strbuf *sb, const char *s, int width);

#endif
