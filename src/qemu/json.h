/*
 * json.h - a small JSON reader, enough for QMP's replies: a text becomes a
 * tree of values that the caller walks and frees whole.
 *
 * QMP speaks JSON objects one per line; the attach code reads only a few
 * keys of them (the greeting's version, "return", "error", the text of a
 * human-monitor-command), so values are kept as parsed and looked up by
 * key, without a schema.
 */
#ifndef KVMFS_QEMU_JSON_H
#define KVMFS_QEMU_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum json_type {
	JSON_NULL,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

struct json {
	enum json_type type;
	char *key;     /* a member of an object: its name; NULL otherwise */
	char *str;     /* JSON_STRING: the text, NUL-terminated (a \u0000 ends it early) */
	size_t len;    /* JSON_STRING: bytes in str, a \u0000 included */
	bool boolean;  /* JSON_BOOL */
	int64_t num;   /* JSON_NUMBER: the integer part (QMP numbers are integers) */
	uint64_t unum; /* JSON_NUMBER: the same read as unsigned, for values past INT64_MAX */
	struct json *child, *next; /* JSON_ARRAY, JSON_OBJECT: the first element; siblings */
};

/*
 * Parse exactly one value from text[0, len) (surrounding white space
 * allowed).  -EINVAL for anything that is not JSON, -ENOMEM; *out is the
 * tree, for json_free.
 */
int json_parse(const char *text, size_t len, struct json **out);
void json_free(struct json *j);

/* The member key of object obj, or NULL (also when obj is not an object). */
const struct json *json_get(const struct json *obj, const char *key);
/* Its string, or NULL when absent or not a string. */
const char *json_get_str(const struct json *obj, const char *key);
/* Elements of an array (0 when not an array). */
size_t json_array_len(const struct json *arr);

#endif
