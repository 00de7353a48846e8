/*
 * json_check.h - a strict JSON (RFC 8259) checker for the renderer fuzzer.
 *
 * Calling python's json module per input would cost a fork and exec per run;
 * this checker is as strict as json.loads on bytes (one value, nothing
 * after it but whitespace; no control bytes in strings; only the standard
 * escapes; numbers in JSON's grammar) and stricter in one respect kvmfs
 * promises: the text is 7-bit ASCII.  Every string it reads is decoded and
 * handed to a callback, so a harness can check that names read back exact.
 * The pytest side (test_badinput.py) json.loads every .json of a real mount.
 */
#ifndef KVMFS_JSON_CHECK_H
#define KVMFS_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct json_check {
	const char *s;
	size_t len, pos;
	int depth;
	/* Each decoded string (keys too); bytes from \u00XX escapes included. */
	void (*string)(void *opaque, const char *s, size_t len);
	void *opaque;
	char buf[4096];
};

static bool jc_value(struct json_check *j);

static void jc_ws(struct json_check *j)
{
	while (j->pos < j->len && strchr(" \t\n\r", j->s[j->pos]) && j->s[j->pos])
		j->pos++;
}

static bool jc_lit(struct json_check *j, const char *w)
{
	size_t n = strlen(w);

	if (j->len - j->pos < n || memcmp(j->s + j->pos, w, n))
		return false;
	j->pos += n;
	return true;
}

static int jc_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool jc_string(struct json_check *j)
{
	size_t n = 0;

	if (!jc_lit(j, "\""))
		return false;
	for (;;) {
		unsigned char c;

		if (j->pos >= j->len)
			return false;
		c = (unsigned char)j->s[j->pos++];
		if (c == '"')
			break;
		if (c < 0x20 || c >= 0x80)
			return false;
		if (c == '\\') {
			if (j->pos >= j->len)
				return false;
			c = (unsigned char)j->s[j->pos++];
			if (c == 'u') {
				unsigned v = 0;
				int k, h;

				for (k = 0; k < 4; k++) {
					if (j->pos >= j->len || (h = jc_hex(j->s[j->pos++])) < 0)
						return false;
					v = v * 16 + (unsigned)h;
				}
				/* kvmfs escapes single bytes only: anything else is not its output.
				 */
				if (v > 0xff)
					return false;
				c = (unsigned char)v;
			} else if (strchr("\"\\/", c) && c) {
				/* itself */
			} else if (c == 'n' || c == 't' || c == 'r' || c == 'b' || c == 'f') {
				c = (unsigned char)(c == 'n'   ? '\n'
				                    : c == 't' ? '\t'
				                    : c == 'r' ? '\r'
				                    : c == 'b' ? '\b'
				                               : '\f');
			} else {
				return false;
			}
		}
		if (n < sizeof(j->buf))
			j->buf[n] = (char)c;
		n++;
	}
	if (j->string)
		j->string(j->opaque, j->buf, n < sizeof(j->buf) ? n : sizeof(j->buf));
	return true;
}

static bool jc_digits(struct json_check *j)
{
	size_t start = j->pos;

	while (j->pos < j->len && j->s[j->pos] >= '0' && j->s[j->pos] <= '9')
		j->pos++;
	return j->pos > start;
}

static bool jc_number(struct json_check *j)
{
	if (j->pos < j->len && j->s[j->pos] == '-')
		j->pos++;
	if (j->pos < j->len && j->s[j->pos] == '0')
		j->pos++;
	else if (!jc_digits(j))
		return false;
	if (j->pos < j->len && j->s[j->pos] == '.') {
		j->pos++;
		if (!jc_digits(j))
			return false;
	}
	if (j->pos < j->len && (j->s[j->pos] == 'e' || j->s[j->pos] == 'E')) {
		j->pos++;
		if (j->pos < j->len && (j->s[j->pos] == '+' || j->s[j->pos] == '-'))
			j->pos++;
		if (!jc_digits(j))
			return false;
	}
	return true;
}

/* Members of an object (keys first) or elements of an array. */
static bool jc_container(struct json_check *j, char close, bool object)
{
	bool first = true;

	if (++j->depth > 200)
		return false;
	for (;;) {
		jc_ws(j);
		if (j->pos < j->len && j->s[j->pos] == close && first) {
			j->pos++;
			break;
		}
		if (object) {
			if (!jc_string(j))
				return false;
			jc_ws(j);
			if (!jc_lit(j, ":"))
				return false;
		}
		if (!jc_value(j))
			return false;
		jc_ws(j);
		first = false;
		if (jc_lit(j, ","))
			continue;
		if (j->pos < j->len && j->s[j->pos] == close) {
			j->pos++;
			break;
		}
		return false;
	}
	j->depth--;
	return true;
}

static bool jc_value(struct json_check *j)
{
	char c;

	jc_ws(j);
	if (j->pos >= j->len)
		return false;
	c = j->s[j->pos];
	if (c == '{') {
		j->pos++;
		return jc_container(j, '}', true);
	}
	if (c == '[') {
		j->pos++;
		return jc_container(j, ']', false);
	}
	if (c == '"')
		return jc_string(j);
	if (c == '-' || (c >= '0' && c <= '9'))
		return jc_number(j);
	return jc_lit(j, "true") || jc_lit(j, "false") || jc_lit(j, "null");
}

/* True when s[0, len) is exactly one JSON value, surrounded by whitespace only. */
static inline bool json_check(const char *s, size_t len,
                              void (*string)(void *opaque, const char *s, size_t len), void *opaque)
{
	struct json_check *j = calloc(1, sizeof(*j));
	bool ok;

	if (!j)
		return false;
	*j = (struct json_check){.s = s, .len = len, .string = string, .opaque = opaque};
	ok = jc_value(j);
	jc_ws(j);
	ok = ok && j->pos == len;
	free(j);
	return ok;
}

#endif
