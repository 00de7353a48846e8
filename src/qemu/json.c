/*
 * json.c - a recursive-descent JSON reader (RFC 8259), for QMP's replies.
 *
 * Depth is bounded so that a hostile peer cannot exhaust the stack; numbers
 * keep their integer part only (QMP sends sizes and addresses as integers,
 * and a double would lose their low bits).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qemu/json.h"

#define JSON_MAX_DEPTH 64

struct json_in {
	const char *p, *end;
};

static void json_ws(struct json_in *in)
{
	while (in->p < in->end &&
	       (*in->p == ' ' || *in->p == '\t' || *in->p == '\n' || *in->p == '\r'))
		in->p++;
}

static bool json_lit(struct json_in *in, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(in->end - in->p) < n || memcmp(in->p, word, n))
		return false;
	in->p += n;
	return true;
}

static int json_hex4(struct json_in *in, unsigned *out)
{
	unsigned v = 0;
	int i;

	if (in->end - in->p < 4)
		return -EINVAL;
	for (i = 0; i < 4; i++) {
		char c = *in->p++;

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -EINVAL;
	}
	*out = v;
	return 0;
}

static size_t json_utf8(unsigned cp, char *o)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A string after its opening quote; the decoded text is never longer than the source. */
static int json_string(struct json_in *in, char **out, size_t *outlen)
{
	const char *start = in->p;
	char *s, *o;
	unsigned cp, lo;

	while (in->p < in->end && *in->p != '"')
		in->p += *in->p == '\\' && in->p + 1 < in->end ? 2 : 1;
	if (in->p >= in->end)
		return -EINVAL;
	s = malloc((size_t)(in->p - start) + 1);
	if (!s)
		return -ENOMEM;
	o = s;
	in->p = start;
	while (*in->p != '"') {
		char c = *in->p++;

		if ((unsigned char)c < 0x20)
			goto bad;
		if (c != '\\') {
			*o++ = c;
			continue;
		}
		c = *in->p++;
		switch (c) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '/': *o++ = '/'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u':
			if (json_hex4(in, &cp))
				goto bad;
			/* A surrogate pair is one code point; a lone half is kept as is. */
			if (cp >= 0xd800 && cp < 0xdc00 && in->end - in->p >= 6 &&
			    in->p[0] == '\\' && in->p[1] == 'u') {
				const char *save = in->p;

				in->p += 2;
				if (!json_hex4(in, &lo) && lo >= 0xdc00 && lo < 0xe000)
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				else
					in->p = save;
			}
			/* \uXXXX takes 6 source bytes and at most 4 decoded ones. */
			o += json_utf8(cp, o);
			break;
		default: goto bad;
		}
	}
	in->p++;
	*o = '\0';
	*out = s;
	*outlen = (size_t)(o - s);
	return 0;
bad:
	free(s);
	return -EINVAL;
}

static int json_number(struct json_in *in, struct json *j)
{
	bool neg = false, digits = false;
	uint64_t v = 0;

	if (in->p < in->end && *in->p == '-') {
		neg = true;
		in->p++;
	}
	while (in->p < in->end && *in->p >= '0' && *in->p <= '9') {
		uint64_t d = (uint64_t)(*in->p++ - '0');

		/* Past 64 bits a size or an address would wrap to a wrong one: refuse it. */
		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
		digits = true;
	}
	if (!digits)
		return -EINVAL;
	/* A fraction or an exponent is read and dropped: QMP never sends one we need. */
	if (in->p < in->end && *in->p == '.')
		for (in->p++; in->p < in->end && *in->p >= '0' && *in->p <= '9'; in->p++)
			;
	if (in->p < in->end && (*in->p == 'e' || *in->p == 'E')) {
		in->p++;
		if (in->p < in->end && (*in->p == '+' || *in->p == '-'))
			in->p++;
		for (; in->p < in->end && *in->p >= '0' && *in->p <= '9'; in->p++)
			;
	}
	j->type = JSON_NUMBER;
	j->unum = neg ? -v : v;
	j->num = (int64_t)j->unum;
	return 0;
}

static int json_value(struct json_in *in, struct json **out, int depth);

/* The elements of an array or the members of an object, after the bracket. */
static int json_items(struct json_in *in, struct json *j, char close, int depth)
{
	struct json **tail = &j->child;
	char *key = NULL;
	size_t keylen;
	int ret;

	json_ws(in);
	if (in->p < in->end && *in->p == close) {
		in->p++;
		return 0;
	}
	for (;;) {
		json_ws(in);
		if (close == '}') {
			if (in->p >= in->end || *in->p++ != '"')
				return -EINVAL;
			ret = json_string(in, &key, &keylen);
			if (ret)
				return ret;
			json_ws(in);
			if (in->p >= in->end || *in->p++ != ':') {
				free(key);
				return -EINVAL;
			}
		}
		ret = json_value(in, tail, depth + 1);
		if (ret) {
			free(key);
			return ret;
		}
		(*tail)->key = key;
		key = NULL;
		tail = &(*tail)->next;
		json_ws(in);
		if (in->p >= in->end)
			return -EINVAL;
		if (*in->p == close) {
			in->p++;
			return 0;
		}
		if (*in->p++ != ',')
			return -EINVAL;
	}
}

static int json_value(struct json_in *in, struct json **out, int depth)
{
	struct json *j;
	int ret = 0;

	if (depth > JSON_MAX_DEPTH)
		return -EINVAL;
	json_ws(in);
	if (in->p >= in->end)
		return -EINVAL;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	*out = j;
	switch (*in->p) {
	case '{':
		in->p++;
		j->type = JSON_OBJECT;
		ret = json_items(in, j, '}', depth);
		break;
	case '[':
		in->p++;
		j->type = JSON_ARRAY;
		ret = json_items(in, j, ']', depth);
		break;
	case '"':
		in->p++;
		j->type = JSON_STRING;
		ret = json_string(in, &j->str, &j->len);
		break;
	case 't':
	case 'f':
		j->type = JSON_BOOL;
		j->boolean = *in->p == 't';
		ret = json_lit(in, j->boolean ? "true" : "false") ? 0 : -EINVAL;
		break;
	case 'n': ret = json_lit(in, "null") ? 0 : -EINVAL; break;
	default: ret = json_number(in, j);
	}
	return ret;
}

int json_parse(const char *text, size_t len, struct json **out)
{
	struct json_in in = {text, text + len};
	struct json *j = NULL;
	int ret;

	ret = json_value(&in, &j, 0);
	json_ws(&in);
	if (!ret && in.p != in.end)
		ret = -EINVAL;
	if (ret) {
		json_free(j);
		return ret;
	}
	*out = j;
	return 0;
}

void json_free(struct json *j)
{
	while (j) {
		struct json *next = j->next;

		json_free(j->child);
		free(j->key);
		free(j->str);
		free(j);
		j = next;
	}
}

const struct json *json_get(const struct json *obj, const char *key)
{
	const struct json *m;

	if (!obj || obj->type != JSON_OBJECT)
		return NULL;
	for (m = obj->child; m; m = m->next)
		if (m->key && !strcmp(m->key, key))
			return m;
	return NULL;
}

const char *json_get_str(const struct json *obj, const char *key)
{
	const struct json *m = json_get(obj, key);

	return m && m->type == JSON_STRING ? m->str : NULL;
}

size_t json_array_len(const struct json *arr)
{
	const struct json *e;
	size_t n = 0;

	if (!arr || arr->type != JSON_ARRAY)
		return 0;
	for (e = arr->child; e; e = e->next)
		n++;
	return n;
}
