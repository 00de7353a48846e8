/*
 * ramlist.c - the ram list from QEMU's `info ramblock`:
 *
 *               Block Name    PSize              Offset               Used              Total
 *                   pc.ram    4 KiB  0x0000000000000000 0x0000000040000000 0x0000000040000000
 *
 * A name is right-aligned in 24 columns (longer ones push the row right),
 * so a row is read from its end: three hex numbers, the page size as
 * "N unit", and the name before them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu/import.h"
#include "util/errmsg.h"

static int qemu_page_size(const char *num, const char *unit, uint64_t *out)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB"};
	char *end;
	unsigned long long v = strtoull(num, &end, 10);
	unsigned i;

	if (*end || !v)
		return -EINVAL;
	for (i = 0; i < 4; i++) {
		if (!strcmp(unit, units[i])) {
			*out = (uint64_t)v << (10 * i);
			return 0;
		}
	}
	return -EINVAL;
}

/* Split a row into at most max words; the first word keeps its place in the line. */
static size_t qemu_words(char *line, char **w, size_t max)
{
	size_t n = 0;
	char *p = line;

	while (*p && n < max) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		w[n++] = p;
		while (*p && *p != ' ')
			p++;
		if (*p)
			*p++ = '\0';
	}
	return n;
}

static int qemu_hex(const char *s, uint64_t *out)
{
	char *end;

	if (strncmp(s, "0x", 2))
		return -EINVAL;
	*out = strtoull(s + 2, &end, 16);
	return *end || end == s + 2 ? -EINVAL : 0;
}

int qemu_import_ramblocks(struct ram_list *rl, const char *text, char *err, size_t errlen)
{
	char *copy = strdup(text), *line, *save = NULL;
	unsigned nr = 0;
	int ret = 0;

	if (!copy)
		return errmsg(err, errlen, -ENOMEM, "info ramblock: %s", strerror(ENOMEM));
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		uint64_t ps, off, used, total;
		struct ram_block *rb;
		char *w[64], *name;
		size_t n, len;

		if (!nr++) {
			if (!strstr(line, "Block Name") || !strstr(line, "Total")) {
				ret = errmsg(
				        err, errlen, -EPROTO,
				        "info ramblock: not the table QEMU 7 prints (\"%.60s\")",
				        line);
				break;
			}
			continue;
		}
		/* The name may hold spaces: only the last five words are fields. */
		len = strlen(line);
		n = qemu_words(line, w, 64);
		if (n < 6 || qemu_page_size(w[n - 5], w[n - 4], &ps) || qemu_hex(w[n - 3], &off) ||
		    qemu_hex(w[n - 2], &used) || qemu_hex(w[n - 1], &total)) {
			ret = errmsg(err, errlen, -EPROTO, "info ramblock: row %u unreadable", nr);
			break;
		}
		/* The words of the name were split at spaces: join them again. */
		name = w[0];
		for (char *p = name; p < w[n - 6] && p < line + len; p++)
			if (!*p)
				*p = ' ';
		ret = ram_block_add(rl, name, off, used, total, ps,
		                    used != total ? RAM_RESIZEABLE : 0, &rb);
		if (ret) {
			errmsg(err, errlen, ret, "info ramblock: block %s: %s", name,
			       ret == -EEXIST ? "listed twice" : strerror(-ret));
			break;
		}
	}
	if (!ret && nr < 2)
		ret = errmsg(err, errlen, -EPROTO, "info ramblock: no RAM blocks");
	free(copy);
	return ret;
}
