/*
 * fuzz_render.c - libFuzzer harness for every renderer: the block table,
 * the region tree, the flat view and the memslots, each as text and JSON,
 * and layout.svg.
 *
 * A random machine - RAM blocks with arbitrary names (any byte but NUL),
 * a random region tree over them (region_tree.h) with arbitrary region
 * names, committed through kvm_init_none()'s memslot listener - is
 * rendered, and then:
 *   - every JSON view is strict JSON (json_check.h), and every block and
 *     region name it should carry decodes back exactly;
 *   - every text view is lines of whitespace-separated fields; the rows of
 *     ramblocks.txt, flatview and memslots parse back to the blocks, ranges
 *     and slots they show, names unescaped (\xNN) to the exact bytes;
 *     every row of the mtree names a region of the tree;
 *   - layout.svg is well-formed XML in 7-bit ASCII with unique ids
 *     (xml_check.h), names every block, escaped as this file escapes them
 *     on its own, and has a band for every RAM/ROM range.
 *
 *   make fuzz-build && build-fuzz/fuzz_render tests/fuzz/corpus/fuzz_render
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "inspect/layout_svg.h"
#include "json_check.h"
#include "kvm/kvm.h"
#include "region_tree.h"
#include "util/strbuf.h"
#include "xml_check.h"

#define MAX_BLOCKS 5

struct names {
	const char *want[RT_MAX + MAX_BLOCKS + 2];
	bool seen[RT_MAX + MAX_BLOCKS + 2];
	unsigned nr;
};

static void saw_string(void *opaque, const char *s, size_t len)
{
	struct names *n = opaque;
	unsigned i;

	for (i = 0; i < n->nr; i++)
		if (strlen(n->want[i]) == len && !memcmp(n->want[i], s, len))
			n->seen[i] = true;
}

/* Strict JSON, carrying every name in want. */
static void check_json(const struct strbuf *sb, struct names *n)
{
	unsigned i;

	if (sb->err || !json_check(sb->buf, sb->len, saw_string, n))
		abort();
	for (i = 0; i < n->nr; i++)
		if (!n->seen[i])
			abort();
	memset(n->seen, 0, sizeof(n->seen));
}

/* Undo sb_name(): \xNN to the byte. */
static void unescape(const char *s, char *out)
{
	while (*s) {
		unsigned v;

		if (s[0] == '\\' && s[1] == 'x' && sscanf(s + 2, "%2x", &v) == 1) {
			*out++ = (char)v;
			s += 4;
		} else {
			*out++ = *s++;
		}
	}
	*out = '\0';
}

/* Next line of a text view, NUL-terminated in place; NULL at the end. */
static char *next_line(char **pos)
{
	char *l = *pos, *nl;

	if (!*l)
		return NULL;
	nl = strchr(l, '\n');
	if (!nl)
		abort(); /* every view ends its last line */
	*nl = '\0';
	*pos = nl + 1;
	for (nl = l; *nl; nl++)
		if ((unsigned char)*nl < 0x20 || *nl == 0x7f)
			abort(); /* a name leaked a control byte */
	return l;
}

static void check_ramblocks_txt(struct strbuf *sb, struct ram_list *rl)
{
	char *pos = sb->buf, *l, name[4 * RAM_IDSTR_MAX + 1], raw[4 * RAM_IDSTR_MAX + 1], unit[8];
	unsigned long long ps, off, used, total;
	struct ram_block *rb = rl->head;

	next_line(&pos); /* the header */
	while ((l = next_line(&pos))) {
		if (!rb || sscanf(l, "%1020s %llu %7s 0x%llx 0x%llx 0x%llx", raw, &ps, unit, &off,
		                  &used, &total) != 6)
			abort();
		unescape(raw, name);
		if (strcmp(name, rb->idstr) || off != rb->offset || used != rb->used_length ||
		    total != rb->max_length)
			abort();
		rb = rb->next;
	}
	if (rb)
		abort();
}

static void check_flatview_txt(struct strbuf *sb, const struct flatview *fv)
{
	char *pos = sb->buf, *l, raw[64 * 4 + 1], name[64 * 4 + 1], type[8];
	unsigned long long start, last;
	size_t i = 0;
	int prio, n;

	next_line(&pos), next_line(&pos), next_line(&pos); /* FlatView, AS, Root */
	while ((l = next_line(&pos)) && *l) {
		const struct flat_range *fr;

		if (!strcmp(l, "  No rendered FlatView") && !fv->nr)
			continue;
		if (i >= fv->nr)
			abort();
		fr = &fv->ranges[i];
		if (sscanf(l, " %llx-%llx (prio %d, %7[^)]): %256s%n", &start, &last, &prio, type,
		           raw, &n) != 5) {
			fprintf(stderr, "flatview line does not parse: '%s'\n", l);
			abort();
		}
		unescape(raw, name);
		if (start != fr->start || last != fr->start + fr->size - 1 ||
		    prio != fr->mr->priority || strcmp(name, fr->mr->name)) {
			fprintf(stderr, "flatview line '%s' is not range %zu (0x%llx+0x%llx %s)\n",
			        l, i, (unsigned long long)fr->start, (unsigned long long)fr->size,
			        fr->mr->name);
			abort();
		}
		i++;
	}
	if (i != fv->nr)
		abort();
}

static void check_memslots_txt(struct strbuf *sb, const struct kvm_slot_table *t)
{
	char *pos = sb->buf, *l, raw[4 * RAM_IDSTR_MAX + 1], name[4 * RAM_IDSTR_MAX + 1], fl[8];
	unsigned long long gpa, size, host, off;
	size_t i = 0;
	int id;

	next_line(&pos);
	while ((l = next_line(&pos))) {
		const struct kvm_slot *s;

		if (i >= t->nr)
			abort();
		s = &t->slots[i];
		if (sscanf(l, "%d %7s 0x%llx 0x%llx 0x%llx %1020s 0x%llx", &id, fl, &gpa, &size,
		           &host, raw, &off) != 7)
			abort();
		unescape(raw, name);
		if (id != s->id || gpa != s->d.gpa || size != s->d.size || off != s->d.offset ||
		    strcmp(name, s->d.block->idstr))
			abort();
		i++;
	}
	if (i != t->nr)
		abort();
}

/* Every region row of `info mtree` names a region of the tree. */
static void check_mtree_txt(struct strbuf *sb, const struct region_tree *t)
{
	char *pos = sb->buf, *l, *p, name[64 * 4 + 1], raw[64 * 4 + 1];
	unsigned i;

	while ((l = next_line(&pos))) {
		if (!*l || !strcmp(l, "address-space: memory"))
			continue;
		if (!strncmp(l, "memory-region: ", 15)) {
			p = l + 15;
		} else {
			p = strstr(l, "): ");
			if (!p)
				abort();
			p += 3;
			/*
			 * QEMU's format is ambiguous for a region named "alias":
			 * take the word after "alias " when it names a region.
			 */
			if (!strncmp(p, "alias ", 6) && sscanf(p + 6, "%256s", raw) == 1) {
				unescape(raw, name);
				for (i = 0; i < t->nr; i++)
					if (!strcmp(t->all[i]->name, name))
						break;
				if (i < t->nr)
					continue;
			}
		}
		if (sscanf(p, "%256s", raw) != 1)
			abort();
		unescape(raw, name);
		for (i = 0; i < t->nr; i++)
			if (!strcmp(t->all[i]->name, name))
				break;
		if (i == t->nr) {
			fprintf(stderr, "mtree row names no region: '%s'\n", l);
			abort();
		}
	}
}

/* A name as layout.svg must write it in text: entities, \xNN, &#xNN;. */
static void svg_name(const char *s, char *out)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '&')
			out += sprintf(out, "&amp;");
		else if (c == '<')
			out += sprintf(out, "&lt;");
		else if (c == '>')
			out += sprintf(out, "&gt;");
		else if (c == '"')
			out += sprintf(out, "&quot;");
		else if (c < 0x20 || c == 0x7f || c == '\\')
			out += sprintf(out, "\\x%02x", c);
		else if (c >= 0x80)
			out += sprintf(out, "&#x%02x;", c);
		else
			*out++ = (char)c;
	}
	*out = '\0';
}

static void check_layout_svg(const struct strbuf *sb, struct ram_list *rl,
                             const struct flatview *fv)
{
	char want[8 * RAM_IDSTR_MAX + 64];
	struct ram_block *rb;
	size_t i;

	if (sb->err || !xml_check(sb->buf, sb->len)) {
		fprintf(stderr, "layout.svg is not well-formed:\n%s\n", sb->buf);
		abort();
	}
	for (rb = rl->head; rb; rb = rb->next) {
		strcpy(want, "<tspan class=\"name\">");
		svg_name(rb->idstr, want + strlen(want));
		strcat(want, "</tspan>");
		if (!strstr(sb->buf, want)) {
			fprintf(stderr, "layout.svg does not name block '%s' as %s\n", rb->idstr,
			        want);
			abort();
		}
	}
	for (i = 0; i < fv->nr; i++) {
		if (!flat_range_is_ram(&fv->ranges[i]) || !fv->ranges[i].mr->block)
			continue;
		snprintf(want, sizeof(want), "id=\"band-%" PRIx64 "\"", fv->ranges[i].start);
		if (!strstr(sb->buf, want))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct ram_block *blocks[MAX_BLOCKS];
	struct strbuf sb = STRBUF_INIT;
	struct names names = {.nr = 0};
	unsigned nr_blocks = 0, want, i;
	struct address_space as;
	struct region_tree t;
	struct ram_list rl;
	struct kvm kvm;
	struct memory_region *root;
	bool have_slots;

	ram_list_init(&rl, RAM_BACKING_ANON);
	want = 1 + fuzz_below(&in, MAX_BLOCKS);
	for (i = 0; i < want; i++) {
		char id[24];
		unsigned len = fuzz_below(&in, sizeof(id)), k;
		unsigned flags = fuzz_below(&in, 4) & (RAM_READONLY | RAM_RESIZEABLE);

		for (k = 0; k < len; k++)
			id[k] = (char)(fuzz_u8(&in) ?: '/');
		id[len] = '\0';
		if (!len)
			snprintf(id, sizeof(id), "b%u", i);
		if (ram_block_alloc(&rl, id, RT_BLOCK_SIZE, 2 * RT_BLOCK_SIZE, flags,
		                    &blocks[nr_blocks]) == 0)
			nr_blocks++;
	}
	if (!nr_blocks)
		abort(); /* "b0" always fits */
	root = rt_build(&t, &in, blocks, nr_blocks, true);
	if (as_init(&as, "memory", root) || as_commit(&as))
		abort();
	/* More ranges than the 32 slots -accel none offers: no memslot views then. */
	have_slots = kvm_init_none(&kvm, &as) == 0;

	ram_list_render(&rl, &sb);
	check_ramblocks_txt(&sb, &rl);
	sb_free(&sb);
	for (i = 0; i < nr_blocks; i++)
		names.want[names.nr++] = blocks[i]->idstr;
	ram_list_render_json(&rl, NULL, NULL, &sb);
	check_json(&sb, &names);
	sb_free(&sb);

	names.nr = 0;
	for (i = 0; i < t.nr; i++)
		names.want[names.nr++] = t.all[i]->name;
	as_render_tree_json(&as, &sb);
	check_json(&sb, &names);
	sb_free(&sb);
	as_render_tree(&as, &sb);
	check_mtree_txt(&sb, &t);
	sb_free(&sb);

	names.nr = 0;
	for (i = 0; i < as.fv->nr && names.nr < RT_MAX; i++)
		names.want[names.nr++] = as.fv->ranges[i].mr->name;
	as_render_flatview_json(&as, &sb);
	check_json(&sb, &names);
	sb_free(&sb);
	as_render_flatview(&as, fuzz_u8(&in) & 1 ? "KVM" : NULL, &sb);
	check_flatview_txt(&sb, as.fv);
	sb_free(&sb);

	if (have_slots) {
		names.nr = 0;
		for (i = 0; i < kvm.table.nr && names.nr < RT_MAX; i++)
			names.want[names.nr++] = kvm.table.slots[i].d.block->idstr;
		kvm_slots_render_json(&kvm, &sb);
		check_json(&sb, &names);
		sb_free(&sb);
		kvm_slots_render(&kvm, &sb);
		check_memslots_txt(&sb, &kvm.table);
		sb_free(&sb);
	}
	layout_render(&as, &rl, have_slots ? &kvm : NULL, &sb);
	check_layout_svg(&sb, &rl, as.fv);
	sb_free(&sb);

	kvm_exit(&kvm);
	as_exit(&as);
	mr_free(root);
	ram_list_exit(&rl);
	return 0;
}
