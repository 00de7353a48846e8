/*
 * mtree.c - the region tree of address space "memory" from QEMU's
 * `info mtree`, and its flat view checked against `info mtree -f`.
 *
 * A line of the tree is
 *
 *     <2 spaces a level>START-LAST (prio P, TYPE): NAME[ [disabled]]
 *     <2 spaces a level>START-LAST (prio P, TYPE): alias NAME @TARGET OFF-LAST[ [disabled]]
 *
 * START is absolute (the container's start plus the region's addr), TYPE
 * is "ram", "rom" or "i/o" (an alias shows its target's).  QEMU prints
 * subregions sorted by address, then higher priority first, and among
 * equals in its subregion list's order - which is all the flattening
 * needs of that order, so adding them back in reverse gives the same
 * list (mr_add_subregion_overlap puts the last added first among equal
 * priorities).  Alias targets outside the tree (pc.ram) are QEMU's
 * "memory-region: NAME" sections after the address spaces.
 *
 * "i/o" is both an MMIO region and a plain container; the text cannot
 * tell them apart, the flat view can: a region whose name QEMU's flat view
 * shows is an I/O leaf (with subregions, it fills what they leave, as
 * QEMU's `rtc` does), anything else of type i/o a container.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu/import.h"
#include "util/errmsg.h"
#include "util/strbuf.h"

#define QEMU_MAX_LEVEL    64
#define QEMU_MAX_READONLY 4096 /* read-only aliases learnt from the flat view, at most */

struct qemu_line {
	int level;
	uint64_t start, size;
	int prio;
	char type[8];
	bool disabled;
	char *name;   /* points into the line (NUL-terminated there) */
	char *target; /* alias: the target's name; NULL otherwise */
	uint64_t alias_offset;
};

/* One alias whose target is still to be found. */
struct qemu_pending {
	struct memory_region *alias;
	char *target;
};

struct qemu_mtree {
	char **lines;
	size_t nr_lines;
	struct ram_list *rl;
	struct qemu_regions *out;
	/* Names of the leaves of QEMU's flat view: which i/o regions are MMIO. */
	char **leaves;
	size_t nr_leaves;
	/* Every region of the "memory" tree, to resolve alias targets by name. */
	struct memory_region **tree;
	size_t nr_tree;
	struct qemu_pending *pending;
	size_t nr_pending;
	char *err;
	size_t errlen;
};

static int qemu_split_lines(const char *text, char **buf, char ***lines, size_t *nr)
{
	size_t n = 1, i = 0;
	char *p;

	*buf = strdup(text);
	if (!*buf)
		return -ENOMEM;
	for (p = *buf; *p; p++)
		n += *p == '\n';
	*lines = calloc(n, sizeof(**lines));
	if (!*lines) {
		free(*buf);
		return -ENOMEM;
	}
	for (p = *buf; p;) {
		char *nl = strchr(p, '\n');

		(*lines)[i++] = p;
		if (nl)
			*nl++ = '\0';
		p = nl;
	}
	/* The text's last newline makes no line of its own. */
	if (i && !*(*lines)[i - 1])
		i--;
	*nr = i;
	return 0;
}

/* Parse one line of a tree or a flat view in place; -EPROTO if it is not one. */
static int qemu_parse_line(char *s, struct qemu_line *l, bool flat)
{
	unsigned long long start, last;
	int indent = 0, n = 0;
	char *rest, *at;

	memset(l, 0, sizeof(*l));
	while (s[indent] == ' ')
		indent++;
	if (indent < 2 || indent % 2 ||
	    sscanf(s + indent, "%llx-%llx (prio %d, %7[^)]): %n", &start, &last, &l->prio, l->type,
	           &n) != 4 ||
	    !n)
		return -EPROTO;
	l->level = indent / 2;
	l->start = start;
	l->size = (uint64_t)(last - start + 1);
	if (!l->size)
		l->size = MR_SIZE_2_64; /* QEMU prints a 2^64 region as start-(start-1) */
	rest = s + indent + n;
	if (flat) {
		l->name = rest;
		return 0;
	}
	n = (int)strlen(rest);
	if (n >= 11 && !strcmp(rest + n - 11, " [disabled]")) {
		l->disabled = true;
		rest[n - 11] = '\0';
	}
	if (strncmp(rest, "alias ", 6)) {
		l->name = rest;
		return 0;
	}
	/* alias NAME @TARGET OFF-LAST: read from the end, names may hold spaces. */
	at = strrchr(rest, ' ');
	if (!at || sscanf(at + 1, "%llx-%llx", &start, &last) != 2)
		return -EPROTO;
	*at = '\0';
	l->alias_offset = start;
	at = strstr(rest + 6, " @");
	if (!at)
		return -EPROTO;
	*at = '\0';
	l->name = rest + 6;
	l->target = at + 2;
	return 0;
}

static bool qemu_is_leaf(const struct qemu_mtree *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->nr_leaves; i++)
		if (!strcmp(m->leaves[i], name))
			return true;
	return false;
}

/* The block of a RAM/ROM region: its own name, or a device's path ending in "/name". */
static struct ram_block *qemu_find_block(struct qemu_mtree *m, const char *name, uint64_t size)
{
	struct ram_block *rb, *found = NULL;
	size_t nlen = strlen(name);
	int nr = 0;

	for (rb = m->rl->head; rb; rb = rb->next) {
		size_t ilen = strlen(rb->idstr);

		if (strcmp(rb->idstr, name) && !(ilen > nlen && rb->idstr[ilen - nlen - 1] == '/' &&
		                                 !strcmp(rb->idstr + ilen - nlen, name)))
			continue;
		/* Two devices' blocks of one name: the size tells them apart, or nothing does. */
		if (nr && found->used_length == size && rb->used_length != size)
			continue;
		if (!nr || (found->used_length != size && rb->used_length == size)) {
			found = rb;
			nr = 1;
		} else {
			nr++;
		}
	}
	return nr == 1 ? found : NULL;
}

static int qemu_keep(void ***arr, size_t *nr, void *p)
{
	void **a = realloc(*arr, (*nr + 1) * sizeof(*a));

	if (!a)
		return -ENOMEM;
	a[(*nr)++] = p;
	*arr = a;
	return 0;
}

static struct memory_region *qemu_new_region(struct qemu_mtree *m, const struct qemu_line *l,
                                             bool has_children, int *ret)
{
	struct memory_region *mr = NULL;
	struct ram_block *rb;

	*ret = -ENOMEM;
	if (l->target) {
		struct qemu_pending *p = realloc(m->pending, (m->nr_pending + 1) * sizeof(*p));

		if (!p)
			return NULL;
		m->pending = p;
		mr = mr_new_alias(l->name, NULL, l->alias_offset, l->size);
		if (mr)
			m->pending[m->nr_pending++] = (struct qemu_pending){mr, l->target};
	} else if (!strcmp(l->type, "ram") || !strcmp(l->type, "rom")) {
		if (has_children) {
			*ret = errmsg(
			        m->err, m->errlen, -EPROTO,
			        "info mtree: RAM region %s has subregions, which kvmfs cannot "
			        "model",
			        l->name);
			return NULL;
		}
		rb = qemu_find_block(m, l->name, l->size);
		if (!rb) {
			*ret = errmsg(
			        m->err, m->errlen, -EPROTO,
			        "info mtree: region %s (%s): no one RAM block of that name in "
			        "info ramblock",
			        l->name, l->type);
			return NULL;
		}
		if (rb->mr) {
			*ret = errmsg(m->err, m->errlen, -EPROTO,
			              "info mtree: RAM block %s belongs to two regions", rb->idstr);
			return NULL;
		}
		if (!strcmp(l->type, "rom")) {
			rb->flags |= RAM_READONLY;
			mr = mr_new_rom(l->name, rb);
		} else {
			mr = mr_new_ram(l->name, rb);
		}
		if (mr)
			mr->size = l->size;
	} else if (!strcmp(l->type, "i/o")) {
		mr = qemu_is_leaf(m, l->name) ? mr_new_io(l->name, l->size, NULL, NULL)
		                              : mr_new_container(l->name, l->size);
	} else {
		*ret = errmsg(m->err, m->errlen, -EPROTO,
		              "info mtree: region %s is of type %s, which kvmfs does not model",
		              l->name, l->type);
		return NULL;
	}
	if (mr && l->disabled)
		mr_set_enabled(mr, false);
	if (mr)
		*ret = 0;
	return mr;
}

/*
 * Build the tree whose root is line first (level 1) and whose region lines
 * follow it; *end is the first line after them.  Regions of the "memory"
 * tree are remembered (tree) for alias targets.
 */
static int qemu_build(struct qemu_mtree *m, size_t first, bool is_tree, struct memory_region **root,
                      size_t *end)
{
	struct qemu_line *ls;
	struct memory_region **mrs;
	size_t n = 0, i;
	int ret = 0;

	while (first + n < m->nr_lines && m->lines[first + n][0] == ' ')
		n++;
	*end = first + n;
	if (!n)
		return errmsg(m->err, m->errlen, -EPROTO, "info mtree: a tree without regions");
	ls = calloc(n, sizeof(*ls));
	mrs = calloc(n, sizeof(*mrs));
	if (!ls || !mrs) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (qemu_parse_line(m->lines[first + i], &ls[i], false) ||
		    ls[i].level > QEMU_MAX_LEVEL || (i == 0) != (ls[i].level == 1) ||
		    (i && ls[i].level > ls[i - 1].level + 1)) {
			ret = errmsg(m->err, m->errlen, -EPROTO,
			             "info mtree: unreadable line \"%.80s\"", m->lines[first + i]);
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		bool kids = i + 1 < n && ls[i + 1].level > ls[i].level;

		mrs[i] = qemu_new_region(m, &ls[i], kids, &ret);
		if (!mrs[i])
			goto out;
		if (is_tree && (ret = qemu_keep((void ***)&m->tree, &m->nr_tree, mrs[i])))
			goto out;
	}
	/*
	 * Children go in last first: the subregion list then holds equal
	 * priorities in the order QEMU printed them.
	 */
	for (i = n; i-- > 1;) {
		size_t parent = i;

		while (ls[--parent].level >= ls[i].level)
			;
		ret = mr_add_subregion_overlap(mrs[parent], ls[i].start - ls[parent].start, mrs[i],
		                               ls[i].prio);
		if (ret)
			goto out;
	}
	mrs[0]->addr = ls[0].start;
	mrs[0]->priority = ls[0].prio;
	*root = mrs[0];
out:
	if (ret && mrs && mrs[0]) {
		/* Free whatever did not end up under the root. */
		for (i = n; i-- > 0;)
			if (mrs[i] && !mrs[i]->container)
				mr_free(mrs[i]);
	}
	free(ls);
	free(mrs);
	return ret;
}

/* The line after "<prefix><name>", or nr_lines. */
static size_t qemu_find_header(const struct qemu_mtree *m, const char *prefix, const char *name)
{
	size_t i, plen = strlen(prefix);

	for (i = 0; i < m->nr_lines; i++)
		if (!strncmp(m->lines[i], prefix, plen) && !strcmp(m->lines[i] + plen, name))
			return i + 1;
	return m->nr_lines;
}

static struct memory_region *qemu_find_target(struct qemu_mtree *m, const char *name, int *ret)
{
	struct memory_region *found = NULL, *root;
	size_t i, nr = 0, at, end;

	*ret = 0;
	for (i = 0; i < m->nr_tree; i++) {
		if (!strcmp(m->tree[i]->name, name)) {
			found = m->tree[i];
			nr++;
		}
	}
	if (nr == 1)
		return found;
	if (nr > 1) {
		*ret = errmsg(m->err, m->errlen, -EPROTO,
		              "info mtree: alias target %s: %zu regions of that name", name, nr);
		return NULL;
	}
	for (i = 0; i < m->out->nr_extra; i++)
		if (!strcmp(m->out->extra[i]->name, name))
			return m->out->extra[i];
	at = qemu_find_header(m, "memory-region: ", name);
	if (at >= m->nr_lines) {
		*ret = errmsg(m->err, m->errlen, -EPROTO,
		              "info mtree: alias target %s: no memory-region section", name);
		return NULL;
	}
	*ret = qemu_build(m, at, false, &root, &end);
	if (*ret)
		return NULL;
	*ret = qemu_keep((void ***)&m->out->extra, &m->out->nr_extra, root);
	if (*ret) {
		mr_free(root);
		return NULL;
	}
	return root;
}

int qemu_flatview_lines(const char *flat, char **buf, char ***lines, size_t *nr)
{
	size_t n, i, first = 0, count = 0;
	bool inside = false;
	int ret = qemu_split_lines(flat, buf, lines, &n);

	if (ret)
		return ret;
	/* The FlatView block that lists AS "memory" among those it serves. */
	for (i = 0; i < n; i++) {
		char *l = (*lines)[i];

		if (!strncmp(l, "FlatView #", 10)) {
			if (inside)
				break;
		} else if (!strncmp(l, " AS \"memory\", root: ", 20)) {
			inside = true;
		} else if (inside && !strncmp(l, "  ", 2)) {
			size_t len = strlen(l);

			if (!count)
				first = i;
			if (len > 4 && !strcmp(l + len - 4, " KVM"))
				l[len - 4] = '\0';
			count++;
		} else if (inside && !*l && count) {
			break;
		}
	}
	if (!inside) {
		free(*lines);
		free(*buf);
		return -ENOENT;
	}
	memmove(*lines, *lines + first, count * sizeof(**lines));
	*nr = count;
	if (count == 1 && !strcmp((*lines)[0], "  No rendered FlatView"))
		*nr = 0;
	return 0;
}

int qemu_import_mtree(struct qemu_regions *out, struct ram_list *rl, const char *mtree,
                      const char *flat, char *err, size_t errlen)
{
	struct qemu_mtree m = {.rl = rl, .out = out, .err = err, .errlen = errlen};
	char *mbuf = NULL, *fbuf = NULL, **flines = NULL;
	size_t nflat = 0, i, at, end;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = qemu_flatview_lines(flat, &fbuf, &flines, &nflat);
	if (ret) {
		errmsg(err, errlen, ret == -ENOENT ? -EPROTO : ret, "info mtree -f: %s",
		       ret == -ENOENT ? "no flat view of AS \"memory\"" : strerror(-ret));
		return ret == -ENOENT ? -EPROTO : ret;
	}
	m.leaves = calloc(nflat + 1, sizeof(*m.leaves));
	if (!m.leaves) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < nflat; i++) {
		struct qemu_line l;
		char *at_sign;

		if (qemu_parse_line(flines[i], &l, true))
			continue;
		at_sign = strstr(l.name, " @");
		if (at_sign)
			*at_sign = '\0';
		m.leaves[m.nr_leaves++] = l.name;
	}
	ret = qemu_split_lines(mtree, &mbuf, &m.lines, &m.nr_lines);
	if (ret)
		goto out;
	at = qemu_find_header(&m, "address-space: ", "memory");
	/* Address spaces sharing a root are listed together before it. */
	while (at < m.nr_lines && !strncmp(m.lines[at], "address-space: ", 15))
		at++;
	if (at >= m.nr_lines) {
		ret = errmsg(err, errlen, -EPROTO, "info mtree: no address space \"memory\"");
		goto out;
	}
	ret = qemu_build(&m, at, true, &out->root, &end);
	/* Targets are resolved once the whole tree is known; sections add pending aliases. */
	for (i = 0; !ret && i < m.nr_pending; i++) {
		struct memory_region *t = qemu_find_target(&m, m.pending[i].target, &ret);

		if (t)
			m.pending[i].alias->alias = t;
	}
	if (!ret && out->root->kind != MR_CONTAINER && out->root->kind != MR_IO)
		ret = errmsg(err, errlen, -EPROTO,
		             "info mtree: the root of \"memory\" is no container");
out:
	if (ret == -ENOMEM)
		errmsg(err, errlen, ret, "info mtree: %s", strerror(ENOMEM));
	if (ret)
		qemu_regions_free(out);
	free(m.pending);
	free(m.tree);
	free(m.lines);
	free(mbuf);
	free(m.leaves);
	free(flines);
	free(fbuf);
	return ret;
}

void qemu_regions_free(struct qemu_regions *r)
{
	/* Aliases only point at their targets: any order frees each region once. */
	while (r->nr_extra)
		mr_free(r->extra[--r->nr_extra]);
	free(r->extra);
	r->extra = NULL;
	mr_free(r->root);
	r->root = NULL;
}

/* Make the first range QEMU calls "rom" and kvmfs "ram" read-only; true if one was. */
static bool qemu_learn_readonly(struct address_space *as, char **flines, size_t nflat)
{
	size_t i;

	for (i = 0; i < nflat; i++) {
		struct qemu_line l;
		uint64_t addr;
		char copy[512];

		snprintf(copy, sizeof(copy), "%s", flines[i]);
		if (qemu_parse_line(copy, &l, true) || strcmp(l.type, "rom"))
			continue;
		for (addr = l.start; addr - l.start < l.size;) {
			const struct flat_range *fr = flatview_lookup(as->fv, addr);
			struct memory_region *aliases[QEMU_MAX_LEVEL], *leaf;
			size_t nr = 0;
			uint64_t off;

			if (!fr)
				break;
			if (fr->mr->kind == MR_RAM && !fr->readonly) {
				leaf = mr_resolve(as->root, addr, &off, aliases, QEMU_MAX_LEVEL,
				                  &nr);
				if (!leaf)
					return false;
				if (nr && nr <= QEMU_MAX_LEVEL)
					aliases[nr - 1]->readonly = true;
				else
					leaf->readonly = true;
				return true;
			}
			if (fr->start + fr->size <= addr || fr->start + fr->size == 0)
				break;
			addr = fr->start + fr->size;
		}
	}
	return false;
}

int qemu_check_flatview(struct address_space *as, const char *flat, char *err, size_t errlen)
{
	char *fbuf = NULL, **flines = NULL;
	struct strbuf sb = STRBUF_INIT;
	size_t nflat = 0, i, learnt = 0;
	int ret = qemu_flatview_lines(flat, &fbuf, &flines, &nflat);

	if (ret)
		return errmsg(err, errlen, -EPROTO, "info mtree -f: no flat view of AS \"memory\"");
	for (;;) {
		ret = as_commit(as);
		if (ret) {
			errmsg(err, errlen, ret, "flattening QEMU's regions: %s", strerror(-ret));
			goto out;
		}
		if (learnt >= QEMU_MAX_READONLY || !qemu_learn_readonly(as, flines, nflat))
			break;
		learnt++;
	}
	for (i = 0; i < as->fv->nr || i < nflat; i++) {
		const char *ours;

		sb.len = 0;
		if (i < as->fv->nr)
			flatview_render_range(&as->fv->ranges[i], NULL, &sb);
		if (sb.err) {
			ret = errmsg(err, errlen, -ENOMEM, "flat view: %s", strerror(ENOMEM));
			goto out;
		}
		if (sb.len)
			sb.buf[--sb.len] = '\0'; /* the newline */
		ours = i < as->fv->nr ? sb.buf : "(nothing)";
		if (i >= nflat || strcmp(ours, flines[i])) {
			ret = errmsg(
			        err, errlen, -EPROTO,
			        "QEMU's flat view and the one rebuilt from its region tree differ: "
			        "QEMU \"%s\", kvmfs \"%s\"",
			        i < nflat ? flines[i] + 2 : "(nothing)",
			        ours + 2 * (i < as->fv->nr));
			goto out;
		}
	}
	ret = 0;
out:
	sb_free(&sb);
	free(flines);
	free(fbuf);
	return ret;
}
