/*
 * linux_kallsyms.c - find and decode the kernel's compressed symbol table
 * (see linux_kallsyms.h for the layout and how each table is recognised).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "inspect/guestkernel.h"
#include "inspect/linux_kallsyms.h"
#include "util/bytes.h"
#include "util/compiler.h"
#include "util/errmsg.h"
#include "util/strbuf.h"

#define KS_CHUNK (1u << 20)
#define KS_ANCHOR                                                                                  \
	"0\0"                                                                                      \
	"1\0"                                                                                      \
	"2\0"                                                                                      \
	"3\0"                                                                                      \
	"4\0"                                                                                      \
	"5\0"                                                                                      \
	"6\0"                                                                                      \
	"7\0"                                                                                      \
	"8\0"                                                                                      \
	"9"
#define KS_ANCHOR_LEN 20 /* with the last NUL */
#define KS_TOKENS     256
#define KS_TOK_BACK   4096        /* bytes before the anchor the tokens 0..0x2f may take */
#define KS_TOK_FWD    8192        /* and after it, token_index included */
#define KS_WINDOW     (24u << 20) /* how far before token_table names may start */
#define KS_MAX_ENTRY  300         /* the longest compressed name, in bytes, for bounds */
#define KS_NAME_MAX   1024        /* an expanded name longer than this is cut */
#define KS_MIN_SYMS   1024

/* What the shape search found, before decoding. */
struct ks_tables {
	uint64_t token_table, token_index;
	const uint8_t *tokens; /* KS_TOKENS strings, token_off[] into it */
	uint16_t token_off[KS_TOKENS];
	uint32_t nr;
	const uint8_t *names; /* entries, in the window */
	uint64_t relative_base;
	const uint8_t *offsets; /* nr s32 */
	bool absolute_percpu;
};

static uint64_t ks_round8(uint64_t v)
{
	return (v + 7) & ~7ULL;
}

/* One name entry at p (below end): its token count and header length; false: malformed. */
static bool ks_entry(const uint8_t *p, const uint8_t *end, uint32_t *len, uint32_t *hdr)
{
	if (p >= end)
		return false;
	*len = p[0];
	*hdr = 1;
	if (p[0] & 0x80) {
		if (p + 1 >= end)
			return false;
		*len = (p[0] & 0x7fu) | ((uint32_t)p[1] << 7);
		*hdr = 2;
	}
	return *len && *len <= KS_MAX_ENTRY && (uint64_t)(end - p) >= *hdr + *len;
}

/*
 * token_table from the anchor at va (the token of '0', number 0x30): walk
 * back 48 strings, forward 256, and check token_index against them.
 */
static bool ks_tokens(const struct linux_kmem *mem, uint64_t va, uint8_t *win, struct ks_tables *t)
{
	uint64_t start = va - KS_TOK_BACK;
	size_t pos = KS_TOK_BACK, i;
	uint8_t idx[2 * KS_TOKENS];
	size_t end;

	if (!linux_kmem_read(mem, start, win, KS_TOK_BACK + KS_TOK_FWD))
		return false;
	for (i = 0; i < '0'; i++) {
		/* pos is a token's start: the byte before ends the previous one. */
		if (pos < 2 || win[pos - 1])
			return false;
		pos -= 2;
		while (pos && win[pos - 1])
			pos--;
		if (!win[pos])
			return false;
	}
	t->token_table = start + pos;
	t->tokens = win + pos;
	end = pos;
	for (i = 0; i < KS_TOKENS; i++) {
		size_t s = end;

		while (end < KS_TOK_BACK + KS_TOK_FWD && win[end])
			end++;
		if (end == s || end == KS_TOK_BACK + KS_TOK_FWD || end - pos > 0xffff)
			return false;
		t->token_off[i] = (uint16_t)(s - pos);
		end++;
	}
	t->token_index = ks_round8(start + end);
	if (t->token_index + sizeof(idx) > start + KS_TOK_BACK + KS_TOK_FWD)
		return false;
	memcpy(idx, win + (t->token_index - start), sizeof(idx));
	for (i = 0; i < KS_TOKENS; i++)
		if (le16(idx + 2 * i) != t->token_off[i])
			return false;
	return true;
}

/*
 * num_syms at p (window offset) for markers at m: every 256th entry starts
 * where its marker says, and the last ends within the padding before m.
 */
static bool ks_names_at(const uint8_t *w, size_t p, size_t m, uint32_t nr_markers,
                        struct ks_tables *t)
{
	uint32_t n = le32(w + p), i, len, hdr;
	const uint8_t *names = w + p + 8, *q = names, *end = w + m;

	if (le32(w + p + 4) || n <= (nr_markers - 1) * 256u || n > nr_markers * 256u)
		return false;
	for (i = 0; i < n; i++) {
		if (!(i % 256) && le32(w + m + 4 * (i / 256)) != (uint64_t)(q - names))
			return false;
		if (!ks_entry(q, end, &len, &hdr))
			return false;
		q += hdr + len;
	}
	if (ks_round8((uint64_t)(q - w)) != m)
		return false;
	t->nr = n;
	t->names = names;
	return true;
}

/* Addresses come out sorted (kallsyms is sorted by address) under the chosen rule. */
static bool ks_sorted(const uint8_t *off, uint32_t n, uint64_t base, bool abs_percpu)
{
	uint64_t prev = 0, a;
	uint32_t i;

	for (i = 0; i < n; i++) {
		int32_t o = (int32_t)le32(off + 4 * i);

		if (abs_percpu)
			a = o >= 0 ? (uint64_t)o : base - 1 - (uint64_t)(int64_t)o;
		else
			a = base + (uint32_t)o;
		if (a < prev)
			return false;
		prev = a;
	}
	return true;
}

static bool ks_offsets_ok(struct ks_tables *t, const uint8_t *off, uint64_t base)
{
	if (base < 0xffff800000000000ULL)
		return false;
	t->relative_base = base;
	t->offsets = off;
	if (ks_sorted(off, t->nr, base, true)) {
		t->absolute_percpu = true;
		return true;
	}
	t->absolute_percpu = false;
	return ks_sorted(off, t->nr, base, false);
}

/*
 * The offsets: before num_syms (up to 6.3; p is num_syms' window offset)
 * or after token_index (6.4 on, read into *after).
 */
static bool ks_offsets(const struct linux_kmem *mem, const uint8_t *w, size_t p,
                       struct ks_tables *t, uint8_t **after)
{
	uint64_t size = ks_round8(4ULL * t->nr), va;
	uint8_t *buf;

	if (p >= 8 + size && ks_offsets_ok(t, w + p - 8 - size, le64(w + p - 8)))
		return true;
	va = ks_round8(t->token_index + 2 * KS_TOKENS);
	buf = malloc(size + 8);
	if (!buf)
		return false;
	if (linux_kmem_read(mem, va, buf, size + 8) && ks_offsets_ok(t, buf, le64(buf + size))) {
		*after = buf;
		return true;
	}
	free(buf);
	return false;
}

/* markers at window offset m: how many look like markers (from 0, increasing). */
static uint32_t ks_markers(const uint8_t *w, size_t m, size_t wlen)
{
	uint32_t n = 1, prev = 0;

	if (le32(w + m))
		return 0;
	while (m + 4 * (n + 1) <= wlen) {
		uint32_t v = le32(w + m + 4 * n);

		if (v <= prev + 256 || v - prev > 256 * KS_MAX_ENTRY)
			break;
		prev = v;
		n++;
	}
	return n;
}

/* names, markers, num_syms and offsets in the window w (wlen bytes, ending at token_table). */
static bool ks_tables_before(const struct linux_kmem *mem, const uint8_t *w, size_t wlen,
                             struct ks_tables *t, uint8_t **after)
{
	size_t m;

	for (m = wlen & ~(size_t)7; m >= 8; m -= 8) {
		uint32_t count = ks_markers(w, m - 8, wlen), guess;
		size_t mk = m - 8;

		if (count < KS_MIN_SYMS / 256)
			continue;
		/* Whatever follows the markers may look like one or two more. */
		for (guess = count; guess + 2 >= count && guess >= 2; guess--) {
			uint32_t last = le32(w + mk + 4 * (guess - 1));
			size_t p, lo, hi;

			if (mk < (size_t)last + 16)
				continue;
			hi = (mk - last - 16) & ~(size_t)7;
			lo = hi > 256u * (KS_MAX_ENTRY + 2) ? hi - 256u * (KS_MAX_ENTRY + 2) : 0;
			for (p = hi + 8; p >= lo + 8; p -= 8)
				if (ks_names_at(w, p - 8, mk, guess, t) &&
				    ks_offsets(mem, w, p - 8, t, after))
					return true;
		}
	}
	return false;
}

static int ks_decode(struct linux_kallsyms *ks, const struct ks_tables *t)
{
	const uint8_t *q = t->names;
	size_t cap = (size_t)t->nr * 24, used = 0;
	char name[KS_NAME_MAX + 1];
	uint32_t i, j, len, hdr;

	ks->addr = malloc(t->nr * sizeof(*ks->addr));
	ks->type = malloc(t->nr);
	ks->name = malloc(t->nr * sizeof(*ks->name));
	ks->names = malloc(cap);
	if (!ks->addr || !ks->type || !ks->name || !ks->names)
		return -ENOMEM;
	for (i = 0; i < t->nr; i++) {
		int32_t o = (int32_t)le32(t->offsets + 4 * i);
		size_t n = 0;

		if (t->absolute_percpu)
			ks->addr[i] =
			        o >= 0 ? (uint64_t)o : t->relative_base - 1 - (uint64_t)(int64_t)o;
		else
			ks->addr[i] = t->relative_base + (uint32_t)o;
		/* Checked whole by ks_names_at: every entry is in bounds. */
		len = q[0];
		hdr = 1;
		if (q[0] & 0x80) {
			len = (q[0] & 0x7fu) | ((uint32_t)q[1] << 7);
			hdr = 2;
		}
		for (j = 0; j < len; j++) {
			const char *tok = (const char *)t->tokens + t->token_off[q[hdr + j]];

			while (*tok && n < KS_NAME_MAX)
				name[n++] = *tok++;
		}
		name[n] = '\0';
		q += hdr + len;
		ks->type[i] = n ? name[0] : '?';
		if (used + n + 1 > cap) {
			char *p;

			cap = 2 * cap + n + 1;
			p = realloc(ks->names, cap);
			if (!p)
				return -ENOMEM;
			ks->names = p;
		}
		ks->name[i] = (uint32_t)used;
		memcpy(ks->names + used, n ? name + 1 : name, n ? n : 1);
		used += n ? n : 1;
	}
	ks->nr = t->nr;
	return 0;
}

static const struct linux_kallsyms *ks_sort_ctx;

static int ks_cmp_name(const void *a, const void *b)
{
	const struct linux_kallsyms *ks = ks_sort_ctx;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	int c = strcmp(ks->names + ks->name[x], ks->names + ks->name[y]);

	return c ? c : (x > y) - (x < y);
}

static int ks_index(struct linux_kallsyms *ks)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	uint32_t i;

	ks->by_name = malloc(ks->nr * sizeof(*ks->by_name));
	if (!ks->by_name)
		return -ENOMEM;
	for (i = 0; i < ks->nr; i++)
		ks->by_name[i] = i;
	/* qsort has no context argument: one sort at a time. */
	pthread_mutex_lock(&lock);
	ks_sort_ctx = ks;
	qsort(ks->by_name, ks->nr, sizeof(*ks->by_name), ks_cmp_name);
	pthread_mutex_unlock(&lock);
	return 0;
}

/* The anchor at va, inside range r: the whole search from it. */
static int ks_try(struct linux_kallsyms *ks, const struct linux_kmem *mem,
                  const struct linux_kallsyms_range *r, uint64_t va)
{
	uint8_t *tokwin = malloc(KS_TOK_BACK + KS_TOK_FWD), *w = NULL, *after = NULL;
	struct ks_tables t;
	uint64_t wstart;
	size_t wlen;
	int ret = -ENOENT;

	memset(&t, 0, sizeof(t));
	if (!tokwin)
		return -ENOMEM;
	if (va < r->va + KS_TOK_BACK || !ks_tokens(mem, va, tokwin, &t))
		goto out;
	wstart = t.token_table - r->va > KS_WINDOW ? t.token_table - KS_WINDOW : r->va;
	wlen = (size_t)(t.token_table - wstart);
	/* Aligned like the tables, so that window offsets keep their alignment. */
	wstart += (8 - (wstart & 7)) & 7;
	wlen = (size_t)(t.token_table - wstart);
	w = malloc(wlen ? wlen : 1);
	ret = -ENOMEM;
	if (!w)
		goto out;
	ret = -ENOENT;
	if (!linux_kmem_read(mem, wstart, w, wlen) || !ks_tables_before(mem, w, wlen, &t, &after))
		goto out;
	ks->token_table = t.token_table;
	ret = ks_decode(ks, &t);
	if (!ret)
		ret = ks_index(ks);
out:
	free(after);
	free(w);
	free(tokwin);
	return ret;
}

int linux_kallsyms_find(struct linux_kallsyms *ks, const struct linux_kmem *mem,
                        const struct linux_kallsyms_range *ranges, unsigned nr_ranges, char *err,
                        size_t errlen)
{
	uint8_t *buf = malloc(KS_CHUNK + KS_ANCHOR_LEN);
	unsigned i;
	int ret = -ENOENT;

	memset(ks, 0, sizeof(*ks));
	if (!buf)
		return errmsg(err, errlen, -ENOMEM, "kallsyms: out of memory");
	for (i = 0; ret == -ENOENT && i < nr_ranges; i++) {
		const struct linux_kallsyms_range *r = &ranges[i];
		uint64_t off;

		for (off = 0; ret == -ENOENT && off < r->size; off += KS_CHUNK) {
			size_t len = (size_t)MIN((uint64_t)KS_CHUNK + KS_ANCHOR_LEN, r->size - off);
			const uint8_t *p = buf, *end = buf + len;

			if (!linux_kmem_read(mem, r->va + off, buf, len))
				continue;
			while (ret == -ENOENT &&
			       (p = memmem(p, (size_t)(end - p), KS_ANCHOR, KS_ANCHOR_LEN))) {
				/* The '0' token follows the NUL that ends '/'. */
				if (p > buf && !p[-1])
					ret = ks_try(ks, mem, r, r->va + off + (uint64_t)(p - buf));
				if (ret == -ENOENT)
					linux_kallsyms_free(ks);
				p++;
			}
		}
	}
	free(buf);
	if (ret == -ENOMEM)
		linux_kallsyms_free(ks);
	if (ret)
		return errmsg(err, errlen, ret,
		              ret == -ENOENT ? "no kallsyms tables in the kernel image "
		                               "(CONFIG_KALLSYMS off?)"
		                             : "kallsyms: out of memory");
	return 0;
}

int linux_kallsyms_from_map(struct linux_kallsyms *ks, const char *text, uint64_t delta, char *err,
                            size_t errlen)
{
	size_t cap = 0, used = 0, ncap = 0, line = 0;
	const char *p = text;

	memset(ks, 0, sizeof(*ks));
	while (*p) {
		const char *eol = strchrnul(p, '\n'), *name;
		uint64_t addr = 0;
		size_t len, digits = 0;
		char type;

		line++;
		for (; digits < 16 && isxdigit((unsigned char)p[digits]); digits++)
			addr = addr << 4 |
			       (uint64_t)(isdigit((unsigned char)p[digits])
			                          ? p[digits] - '0'
			                          : (tolower((unsigned char)p[digits]) - 'a' + 10));
		name = p + digits + 3;
		if (!digits || name > eol || p[digits] != ' ' || p[digits + 2] != ' ' ||
		    !isgraph((unsigned char)p[digits + 1]) || name == eol)
			goto bad;
		type = p[digits + 1];
		len = (size_t)(eol - name);
		if (len > KS_NAME_MAX)
			goto bad;
		if (ks->nr == cap) {
			uint64_t *a;
			char *t;
			uint32_t *n;

			cap = cap ? 2 * cap : 65536;
			a = realloc(ks->addr, cap * sizeof(*a));
			if (a)
				ks->addr = a;
			t = a ? realloc(ks->type, cap) : NULL;
			if (t)
				ks->type = t;
			n = t ? realloc(ks->name, cap * sizeof(*n)) : NULL;
			if (!n)
				goto nomem;
			ks->name = n;
		}
		if (used + len + 1 > ncap) {
			char *q;

			ncap = 2 * ncap + len + 1 + (1u << 20);
			q = realloc(ks->names, ncap);
			if (!q)
				goto nomem;
			ks->names = q;
		}
		ks->addr[ks->nr] = addr >= GUESTKERNEL_START_KERNEL_MAP ? addr + delta : addr;
		ks->type[ks->nr] = type;
		ks->name[ks->nr] = (uint32_t)used;
		memcpy(ks->names + used, name, len);
		ks->names[used + len] = '\0';
		used += len + 1;
		ks->nr++;
		p = *eol ? eol + 1 : eol;
	}
	if (!ks->nr) {
		linux_kallsyms_free(ks);
		return errmsg(err, errlen, -EINVAL, "no symbols in it");
	}
	if (ks_index(ks))
		goto nomem;
	return 0;
bad:
	linux_kallsyms_free(ks);
	return errmsg(err, errlen, -EINVAL, "line %zu is not 'ADDRESS TYPE NAME'", line);
nomem:
	linux_kallsyms_free(ks);
	return errmsg(err, errlen, -ENOMEM, "out of memory");
}

void linux_kallsyms_free(struct linux_kallsyms *ks)
{
	free(ks->addr);
	free(ks->type);
	free(ks->name);
	free(ks->names);
	free(ks->by_name);
	memset(ks, 0, sizeof(*ks));
}

int linux_kallsyms_lookup(const struct linux_kallsyms *ks, const char *name, uint64_t *addr)
{
	size_t lo = 0, hi = ks->nr;

	/* The first of equal names: the lowest symbol number, as the sort breaks ties. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(ks->names + ks->name[ks->by_name[mid]], name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == ks->nr || strcmp(ks->names + ks->name[ks->by_name[lo]], name))
		return -ENOENT;
	*addr = ks->addr[ks->by_name[lo]];
	return 0;
}

void linux_kallsyms_render(const struct linux_kallsyms *ks, struct strbuf *sb)
{
	uint32_t i;

	for (i = 0; i < ks->nr; i++)
		sb_printf(sb, "%016" PRIx64 " %c %s\n", ks->addr[i], ks->type[i],
		          ks->names + ks->name[i]);
}
