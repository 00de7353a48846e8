/*
 * xml_check.h - a well-formedness checker for layout.svg in the renderer
 * fuzzer.
 *
 * It accepts the XML subset kvmfs writes and nothing looser: 7-bit ASCII
 * with no control byte but newline; an optional <?xml ...?> declaration;
 * one root element; start, end and empty-element tags that nest and match;
 * double-quoted attribute values, no attribute twice in a tag; character
 * data and attribute values without '<', with '&' only in &amp; &lt; &gt;
 * &quot; &apos; or a character reference; no comment, CDATA or doctype;
 * and every id attribute unique in the document.  The pytest side
 * (test_layout_svg.py) parses real output with xml.etree as well.
 */
#ifndef KVMFS_XML_CHECK_H
#define KVMFS_XML_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "util/compiler.h"

#define XC_MAX_DEPTH 32
#define XC_MAX_IDS   4096
#define XC_MAX_ATTRS 16

struct xml_check {
	const char *s;
	size_t len, pos;
	const char *ids[XC_MAX_IDS];
	size_t id_len[XC_MAX_IDS];
	size_t nr_ids;
};

static bool xc_name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

static bool xc_name_char(char c)
{
	return xc_name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

static bool xc_at(const struct xml_check *x, const char *w)
{
	size_t n = strlen(w);

	return x->len - x->pos >= n && !memcmp(x->s + x->pos, w, n);
}

static void xc_ws(struct xml_check *x)
{
	while (x->pos < x->len && strchr(" \t\n", x->s[x->pos]))
		x->pos++;
}

/* A name at pos: its length (0: none). */
static size_t xc_name(struct xml_check *x)
{
	size_t start = x->pos;

	if (x->pos >= x->len || !xc_name_start(x->s[x->pos]))
		return 0;
	while (x->pos < x->len && xc_name_char(x->s[x->pos]))
		x->pos++;
	return x->pos - start;
}

/* An entity or character reference at pos ('&'). */
static bool xc_ref(struct xml_check *x)
{
	static const char *const named[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
	size_t i, digits = 0;
	bool hex;

	for (i = 0; i < ARRAY_SIZE(named); i++)
		if (xc_at(x, named[i])) {
			x->pos += strlen(named[i]);
			return true;
		}
	if (!xc_at(x, "&#"))
		return false;
	x->pos += 2;
	hex = x->pos < x->len && x->s[x->pos] == 'x';
	x->pos += hex;
	while (x->pos < x->len && (strchr("0123456789", x->s[x->pos]) ||
	                           (hex && strchr("abcdefABCDEF", x->s[x->pos])))) {
		x->pos++;
		digits++;
	}
	if (!digits || digits > 6 || x->pos >= x->len || x->s[x->pos] != ';')
		return false;
	x->pos++;
	return true;
}

/* Character data (or an attribute value) up to stop: no '<', sound references. */
static bool xc_chars(struct xml_check *x, char stop)
{
	while (x->pos < x->len && x->s[x->pos] != stop) {
		char c = x->s[x->pos];

		if (c == '<' && stop != '<')
			return false;
		if (c == '&') {
			if (!xc_ref(x))
				return false;
			continue;
		}
		x->pos++;
	}
	return true;
}

static bool xc_note_id(struct xml_check *x, const char *v, size_t n)
{
	size_t i;

	for (i = 0; i < x->nr_ids; i++)
		if (x->id_len[i] == n && !memcmp(x->ids[i], v, n))
			return false; /* a duplicate id */
	if (x->nr_ids == XC_MAX_IDS)
		return false;
	x->ids[x->nr_ids] = v;
	x->id_len[x->nr_ids++] = n;
	return true;
}

/* A start tag after its '<' and name; *empty when it ends "/>". */
static bool xc_attrs(struct xml_check *x, bool *empty)
{
	const char *names[XC_MAX_ATTRS];
	size_t lens[XC_MAX_ATTRS], nr = 0, i;

	for (;;) {
		size_t at = x->pos, n, v;

		xc_ws(x);
		if (xc_at(x, "/>") || xc_at(x, ">")) {
			*empty = xc_at(x, "/>");
			x->pos += *empty ? 2 : 1;
			return true;
		}
		if (x->pos == at)
			return false; /* attributes are separated by whitespace */
		n = xc_name(x);
		if (!n || nr == XC_MAX_ATTRS)
			return false;
		for (i = 0; i < nr; i++)
			if (lens[i] == n && !memcmp(names[i], x->s + x->pos - n, n))
				return false;
		names[nr] = x->s + x->pos - n;
		lens[nr++] = n;
		if (!xc_at(x, "=\""))
			return false;
		x->pos += 2;
		v = x->pos;
		if (!xc_chars(x, '"') || x->pos >= x->len)
			return false;
		if (n == 2 && !memcmp(names[nr - 1], "id", 2) &&
		    !xc_note_id(x, x->s + v, x->pos - v))
			return false;
		x->pos++; /* the closing quote */
	}
}

static bool xml_check(const char *s, size_t len)
{
	struct xml_check x = {.s = s, .len = len};
	const char *open[XC_MAX_DEPTH];
	size_t open_len[XC_MAX_DEPTH], depth = 0, i;
	bool root_done = false;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80 || ((unsigned char)s[i] < 0x20 && s[i] != '\n'))
			return false;
	if (xc_at(&x, "<?xml ")) {
		const char *end = memmem(s, len, "?>", 2);

		if (!end)
			return false;
		x.pos = (size_t)(end - s) + 2;
	}
	for (;;) {
		const char *name;
		size_t n;
		bool empty;

		if (!depth) {
			xc_ws(&x);
			if (x.pos == len)
				return root_done;
			if (root_done || !xc_at(&x, "<"))
				return false;
		} else if (!xc_chars(&x, '<') || x.pos == len) {
			return false;
		}
		x.pos++; /* '<' */
		if (xc_at(&x, "/")) {
			x.pos++;
			n = xc_name(&x);
			if (!depth || n != open_len[depth - 1] ||
			    memcmp(open[depth - 1], s + x.pos - n, n) || !xc_at(&x, ">"))
				return false;
			x.pos++;
			if (!--depth)
				root_done = true;
			continue;
		}
		n = xc_name(&x);
		name = s + x.pos - n;
		if (!n || !xc_attrs(&x, &empty))
			return false;
		if (empty) {
			if (!depth)
				root_done = true;
			continue;
		}
		if (depth == XC_MAX_DEPTH)
			return false;
		open[depth] = name;
		open_len[depth++] = n;
	}
}

#endif
