/*
 * layout.c - layout.svg (see layout.h): the model gathered under its locks,
 * laid out as two columns of pieces, written as plain SVG - no script, no
 * external file or font, 7-bit ASCII.
 *
 * Ids are stable, for scripts (numbers lowercase hex without 0x, names as
 * layout_xml_id() writes them):
 *   gpa-<start>            a piece of the guest-physical column: a range or a hole
 *   band-<start>           the band from the range at <start> to the block bytes behind it
 *   via-<start>            its label: "direct", or the aliases it passes, outermost first
 *   block-<name>           a RAM block: outline, pieces and labels
 *   piece-<offset>-<name>  block <name>'s bytes from <offset> to its next cut
 *   free-<ram_addr>        ram_addr space no block holds
 *   slot-<id>              a KVM memslot
 *   mark-4g                the 4 GiB line
 */
#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inspect/layout_svg.h"
#include "kvm/kvm.h"
#include "memory/memory.h"
#include "util/compiler.h"
#include "util/strbuf.h"

#define LAYOUT_4G ((layout_u128)1 << 32)

/* Geometry, in px: labels | memslots | guest-physical | bands | blocks | labels. */
#define CANVAS_W      1200
#define TOP           104
#define MARGIN        20
#define LABEL_R       300 /* right edge of the guest-physical labels */
#define SLOT_X        310
#define SLOT_W        70
#define GPA_X         390
#define GPA_W         120
#define BLOCK_X       730
#define BLOCK_W       120
#define BLOCK_LABEL_X 862
#define BLOCK_GAP     10 /* between two blocks, so that each reads as one */
#define LINE          13 /* text line height */

/* ---- the pure parts: scale, sizes, names ---- */

unsigned layout_px(layout_u128 size, bool *cut)
{
	layout_u128 px = size / LAYOUT_BYTES_PER_PX;

	*cut = px > LAYOUT_MAX_PX;
	if (*cut)
		return LAYOUT_MAX_PX;
	return px < LAYOUT_MIN_PX ? LAYOUT_MIN_PX : (unsigned)px;
}

void layout_size_str(layout_u128 size, char *buf, size_t len)
{
	static const char *const unit[] = {"EiB", "PiB", "TiB", "GiB", "MiB", "KiB", "B"};
	size_t n = 0, i;

	if (len)
		buf[0] = '\0';
	if (!size) {
		snprintf(buf, len, "0 B");
		return;
	}
	for (i = 0; i < ARRAY_SIZE(unit); i++) {
		unsigned shift = 10 * (unsigned)(ARRAY_SIZE(unit) - 1 - i);
		/* 2^64 is 16 EiB: the top unit's count may need more than 10 bits. */
		unsigned long long v = (unsigned long long)(size >> shift);

		size -= (layout_u128)v << shift;
		if (v && n < len)
			n += (size_t)snprintf(buf + n, len - n, "%s%llu %s", n ? " " : "", v,
			                      unit[i]);
	}
}

void layout_xml_text(struct strbuf *sb, const char *s)
{
	static const char *const entity[256] = {
	        ['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;", ['"'] = "&quot;"};

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (entity[c])
			sb_printf(sb, "%s", entity[c]);
		else if (c < 0x20 || c == 0x7f || c == '\\')
			sb_printf(sb, "\\x%02x", c);
		else if (c >= 0x80)
			sb_printf(sb, "&#x%02x;", c);
		else
			sb_add(sb, s, 1);
	}
}

void layout_xml_id(struct strbuf *sb, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '-')
			sb_add(sb, s, 1);
		else
			sb_printf(sb, "_%02x", c);
	}
}

/* ---- columns: stacked pieces of an address space ---- */

struct piece {
	layout_u128 start, end; /* [start, end) in the column's space */
	double y, h;
	bool cut;
	enum layout_kind kind; /* guest-physical: what is there; blocks: the block's */
	int range;             /* guest-physical: index in the model, -1: a hole */
	int block;             /* ram_addr: index in the model, -1: free space */
	bool mapped;           /* ram_addr: some range shows these bytes */
	bool reserved;         /* ram_addr: past used_length, up to max_length */
};

struct column {
	struct piece *p;
	size_t nr, cap;
	double bottom;
	int err;
};

static struct piece *column_add(struct column *c, layout_u128 start, layout_u128 end, double gap)
{
	struct piece *p;

	if (c->err)
		return NULL;
	if (c->nr == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 16;

		p = realloc(c->p, cap * sizeof(*p));
		if (!p) {
			c->err = -ENOMEM;
			return NULL;
		}
		c->p = p;
		c->cap = cap;
	}
	p = &c->p[c->nr++];
	memset(p, 0, sizeof(*p));
	p->start = start;
	p->end = end;
	p->range = p->block = -1;
	p->y = c->bottom + gap;
	p->h = layout_px(end - start, &p->cut);
	c->bottom = p->y + p->h;
	return p;
}

/*
 * Where addr lies on a column: linear within its piece (a cut piece is
 * compressed evenly).  at_end: addr ends something, so a piece that ends
 * there holds it - the bottom of one block, not the top of the next.
 */
static double column_y(const struct column *c, layout_u128 addr, bool at_end)
{
	size_t i;

	for (i = 0; i < c->nr; i++) {
		const struct piece *p = &c->p[i];

		if (at_end ? addr > p->start && addr <= p->end : addr >= p->start && addr < p->end)
			return p->y +
			       p->h * (double)(addr - p->start) / (double)(p->end - p->start);
	}
	return c->nr ? c->p[c->nr - 1].y + c->p[c->nr - 1].h : TOP;
}

/* The guest-physical column: every range, and the holes between them split at 4G. */
static void column_gpa(struct column *c, const struct layout_model *m)
{
	layout_u128 pos = 0;
	struct piece *p;
	size_t i;

	c->bottom = TOP;
	for (i = 0; i < m->nr_ranges; i++) {
		const struct layout_range *r = &m->ranges[i];

		while (pos < r->start) {
			layout_u128 stop =
			        pos < LAYOUT_4G && r->start > LAYOUT_4G ? LAYOUT_4G : r->start;

			p = column_add(c, pos, stop, 0);
			if (p)
				p->kind = LAYOUT_HOLE;
			pos = stop;
		}
		p = column_add(c, r->start, (layout_u128)r->start + r->size, 0);
		if (p) {
			p->kind = r->kind;
			p->range = (int)i;
		}
		pos = (layout_u128)r->start + r->size;
	}
}

static int cmp_u128(const void *a, const void *b)
{
	layout_u128 x = *(const layout_u128 *)a, y = *(const layout_u128 *)b;

	return x < y ? -1 : x > y;
}

/*
 * One block's pieces: cut at 0, used_length, max_length and wherever a
 * range's bytes start or end in it, so that every band ends on a cut.
 */
static void column_block(struct column *c, const struct layout_model *m, int b, double gap)
{
	const struct layout_block *blk = &m->blocks[b];
	layout_u128 *cut;
	size_t n = 0, i, j;

	cut = malloc((2 * m->nr_ranges + 3) * sizeof(*cut));
	if (!cut) {
		c->err = -ENOMEM;
		return;
	}
	cut[n++] = 0;
	cut[n++] = blk->used_length;
	cut[n++] = blk->max_length;
	for (i = 0; i < m->nr_ranges; i++) {
		const struct layout_range *r = &m->ranges[i];

		if (r->block != b || r->offset >= blk->max_length)
			continue;
		cut[n++] = r->offset;
		cut[n++] = (layout_u128)r->offset + r->size < blk->max_length
		                   ? (layout_u128)r->offset + r->size
		                   : blk->max_length;
	}
	qsort(cut, n, sizeof(*cut), cmp_u128);
	for (i = 0; i + 1 < n; i++) {
		struct piece *p;

		if (cut[i] == cut[i + 1])
			continue;
		p = column_add(c, blk->offset + cut[i], blk->offset + cut[i + 1], gap);
		gap = 0;
		if (!p)
			break;
		p->block = b;
		p->kind = blk->readonly ? LAYOUT_ROM : LAYOUT_RAM;
		p->reserved = cut[i] >= blk->used_length;
		for (j = 0; j < m->nr_ranges && !p->mapped; j++) {
			const struct layout_range *r = &m->ranges[j];

			p->mapped = r->block == b && cut[i] >= r->offset &&
			            cut[i] - r->offset < (layout_u128)r->size;
		}
	}
	free(cut);
}

/* The ram_addr column: blocks by offset, and the free space between them. */
static void column_ram_addr(struct column *c, const struct layout_model *m)
{
	layout_u128 pos = 0;
	size_t i, j;
	int *order;

	c->bottom = TOP;
	order = malloc((m->nr_blocks + 1) * sizeof(*order));
	if (!order) {
		c->err = -ENOMEM;
		return;
	}
	/* By offset; a machine has a handful of blocks. */
	for (i = 0; i < m->nr_blocks; i++) {
		for (j = i; j > 0 && m->blocks[order[j - 1]].offset > m->blocks[i].offset; j--)
			order[j] = order[j - 1];
		order[j] = (int)i;
	}
	for (i = 0; i < m->nr_blocks; i++) {
		const struct layout_block *blk = &m->blocks[order[i]];
		double gap = i ? BLOCK_GAP : 0;

		if (blk->offset > pos) {
			struct piece *p = column_add(c, pos, blk->offset, gap);

			if (p)
				p->kind = LAYOUT_HOLE;
		}
		column_block(c, m, order[i], gap);
		if ((layout_u128)blk->offset + blk->max_length > pos)
			pos = (layout_u128)blk->offset + blk->max_length;
	}
	free(order);
}

/* ---- SVG ---- */

static const char *const kind_class[] = {
        [LAYOUT_HOLE] = "hole", [LAYOUT_RAM] = "ram", [LAYOUT_ROM] = "rom", [LAYOUT_IO] = "io"};
static const char *const kind_word[] = {
        [LAYOUT_HOLE] = "hole", [LAYOUT_RAM] = "RAM", [LAYOUT_ROM] = "ROM", [LAYOUT_IO] = "I/O"};

static void svg_head(struct strbuf *sb, const struct layout_model *m, double height)
{
	char per_px[32], max[32];

	layout_size_str(LAYOUT_BYTES_PER_PX, per_px, sizeof(per_px));
	layout_size_str((layout_u128)LAYOUT_BYTES_PER_PX * LAYOUT_MAX_PX, max, sizeof(max));
	sb_printf(sb,
	          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%.0f\" "
	          "viewBox=\"0 0 %d %.0f\" font-family=\"monospace\" font-size=\"11\">\n"
	          "<title>layout.svg: address space \"",
	          CANVAS_W, height, CANVAS_W, height);
	layout_xml_text(sb, m->as_name);
	sb_printf(sb, "\" and its RAM blocks</title>\n");
	sb_printf(
	        sb,
	        "<style>\n"
	        "text{fill:#212529}.ram rect{fill:#a5d8ff}.rom rect{fill:#ffd8a8}\n"
	        ".io rect{fill:#d0bfff}.hole rect{fill:#e9ecef}rect.ram{fill:#a5d8ff}\n"
	        "rect.rom{fill:#ffd8a8}\n"
	        "rect{stroke:#343a40;stroke-width:1}\n"
	        ".unmapped{fill:url(#hatch)}.reserved{fill:#f8f9fa;stroke-dasharray:4 3}\n"
	        ".band path{stroke-width:.5;fill-opacity:.45}\n"
	        ".band.ram path{fill:#4dabf7;stroke:#1971c2}.band.rom "
	        "path{fill:#ff922b;stroke:#d9480f}\n"
	        ".slot rect{fill:#fff}.slot.log rect{fill:#b2f2bb}.slot.ro rect{fill:#ffc9c9}\n"
	        ".cut{fill:#fff;stroke:#343a40}.kind{fill:#495057}.head{font-weight:bold}\n"
	        ".off,.via{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}\n"
	        ".outline{fill:none;stroke-width:2}\n"
	        "</style>\n"
	        "<defs><pattern id=\"hatch\" width=\"6\" height=\"6\" "
	        "patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
	        "<rect width=\"6\" height=\"6\" fill=\"#fff\" stroke=\"none\"/>"
	        "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#adb5bd\" "
	        "stroke-width=\"3\"/></pattern></defs>\n"
	        "<rect id=\"background\" width=\"100%%\" height=\"100%%\" fill=\"#fff\" "
	        "stroke=\"none\"/>\n");
	sb_printf(sb,
	          "<text id=\"heading\" x=\"%d\" y=\"24\" font-size=\"15\" class=\"head\">"
	          "Guest-physical address space \"",
	          MARGIN);
	layout_xml_text(sb, m->as_name);
	sb_printf(sb, "\" and the RAM blocks behind it</text>\n");
	sb_printf(sb,
	          "<text id=\"scale\" x=\"%d\" y=\"44\">Not to scale: 1 px is %s, but no piece is "
	          "drawn less than %d px tall, and pieces over %s are cut to %d px (zigzag "
	          "break).</text>\n",
	          MARGIN, per_px, LAYOUT_MIN_PX, max, LAYOUT_MAX_PX);
	sb_printf(sb,
	          "<text id=\"legend\" x=\"%d\" y=\"60\">RAM blue, ROM orange, I/O purple, holes "
	          "grey; hatched: block bytes no range shows. A band joins each range to its "
	          "block bytes; memslots: ro read-only, log dirty logging.</text>\n",
	          MARGIN);
	sb_printf(sb,
	          "<g id=\"headings\" class=\"head\">"
	          "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">range, region, size</text>"
	          "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">memslots</text>"
	          "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">guest-physical</text>"
	          "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">ram_addr</text>"
	          "<text x=\"%d\" y=\"%d\">RAM block, size; ram_addr range</text></g>\n",
	          LABEL_R, TOP - 14, SLOT_X + SLOT_W / 2, TOP - 14, GPA_X + GPA_W / 2, TOP - 14,
	          BLOCK_X + BLOCK_W / 2, TOP - 14, BLOCK_LABEL_X, TOP - 14);
}

/* A zigzag break across a cut piece, at its middle. */
static void svg_cut(struct strbuf *sb, double x, double w, double ymid)
{
	const int n = 12;
	int k;

	sb_printf(sb, "<polygon class=\"cut\" points=\"");
	for (k = 0; k <= n; k++)
		sb_printf(sb, "%.1f,%.1f ", x + w * k / n, ymid - 2 - 3 * (k & 1));
	for (k = n; k >= 0; k--)
		sb_printf(sb, "%.1f,%.1f%s", x + w * k / n, ymid + 4 - 3 * (k & 1), k ? " " : "");
	sb_printf(sb, "\"/>");
}

static void svg_rect(struct strbuf *sb, const char *cls, double x, double y, double w, double h)
{
	sb_printf(sb, "<rect%s%s%s x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>",
	          cls ? " class=\"" : "", cls ? cls : "", cls ? "\"" : "", x, y, w, h);
}

static void svg_gpa_piece(struct strbuf *sb, const struct layout_model *m, const struct piece *p)
{
	const struct layout_range *r = p->range >= 0 ? &m->ranges[p->range] : NULL;
	double mid = p->y + p->h / 2;
	char size[64];

	layout_size_str(p->end - p->start, size, sizeof(size));
	sb_printf(sb, "<g id=\"gpa-%llx\" class=\"%s\">", (unsigned long long)p->start,
	          kind_class[p->kind]);
	svg_rect(sb, NULL, GPA_X, p->y, GPA_W, p->h);
	if (p->cut)
		svg_cut(sb, GPA_X, GPA_W, mid);
	sb_printf(sb, "<text class=\"kind\" x=\"%d\" y=\"%.1f\" text-anchor=\"middle\">%s</text>",
	          GPA_X + GPA_W / 2, mid + (p->cut ? -8 : 4), kind_word[p->kind]);
	sb_printf(sb,
	          "<text class=\"addr\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">0x%016llx-0x%016llx"
	          "</text>",
	          LABEL_R, mid - 2, (unsigned long long)p->start, (unsigned long long)(p->end - 1));
	sb_printf(sb,
	          "<text class=\"what\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\"><tspan "
	          "class=\"name\">",
	          LABEL_R, mid - 2 + LINE);
	layout_xml_text(sb, r ? r->region : "hole");
	sb_printf(sb, "</tspan>");
	if (r && r->offset)
		sb_printf(sb, " @0x%llx", (unsigned long long)r->offset);
	sb_printf(sb, ", <tspan class=\"size\">%s</tspan></text></g>\n", size);
}

static void svg_mark_4g(struct strbuf *sb, const struct column *gpa)
{
	const struct piece *last = gpa->nr ? &gpa->p[gpa->nr - 1] : NULL;
	double y;

	if (!last || last->end < LAYOUT_4G)
		return;
	y = column_y(gpa, LAYOUT_4G, true);
	sb_printf(sb,
	          "<g id=\"mark-4g\"><line x1=\"8\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
	          "stroke=\"#c92a2a\" stroke-width=\"1.5\" stroke-dasharray=\"6 3\"/>"
	          "<text x=\"8\" y=\"%.1f\" fill=\"#c92a2a\">4 GiB</text></g>\n",
	          y, GPA_X + GPA_W, y, y - 3);
}

static void svg_slots(struct strbuf *sb, const struct layout_model *m, const struct column *gpa)
{
	size_t i;

	sb_printf(sb, "<g id=\"slots\">\n");
	for (i = 0; i < m->nr_slots; i++) {
		const struct layout_slot *s = &m->slots[i];
		double y0 = column_y(gpa, s->gpa, false);
		double y1 = column_y(gpa, (layout_u128)s->gpa + s->size, true);
		const char *flags = s->readonly ? "ro" : s->dirty_log ? "log" : "-";
		const char *cls = s->readonly ? "ro" : s->dirty_log ? "log" : "plain";
		double mid = (y0 + y1) / 2;

		sb_printf(sb, "<g id=\"slot-%d\" class=\"slot %s\">", s->id, cls);
		svg_rect(sb, NULL, SLOT_X + 4, y0 + 1, SLOT_W - 8, y1 - y0 > 2 ? y1 - y0 - 2 : 0);
		sb_printf(
		        sb,
		        "<text x=\"%d\" y=\"%.1f\" text-anchor=\"middle\">slot %d</text>"
		        "<text class=\"flags\" x=\"%d\" y=\"%.1f\" text-anchor=\"middle\">%s</text>"
		        "</g>\n",
		        SLOT_X + SLOT_W / 2, mid - 2, s->id, SLOT_X + SLOT_W / 2, mid - 2 + LINE,
		        flags);
	}
	sb_printf(sb, "</g>\n");
}

/* The range a guest-physical piece shows, when a band joins it to a block. */
static const struct layout_range *band_range(const struct layout_model *m, const struct piece *p)
{
	const struct layout_range *r = p->range >= 0 ? &m->ranges[p->range] : NULL;

	return r && r->block >= 0 && r->kind != LAYOUT_IO ? r : NULL;
}

static void svg_via(struct strbuf *sb, const struct layout_range *r)
{
	size_t k;

	if (!r->nr_aliases)
		sb_printf(sb, "direct");
	for (k = 0; k < r->nr_aliases && k < LAYOUT_MAX_ALIASES; k++) {
		sb_printf(sb, "%s", k ? " &#x2192; " : "via ");
		layout_xml_text(sb, r->aliases[k]);
	}
	if (r->nr_aliases > LAYOUT_MAX_ALIASES)
		sb_printf(sb, " &#x2192; ...");
}

/* Bands first, then their labels, so that no band covers another's label. */
static void svg_bands(struct strbuf *sb, const struct layout_model *m, const struct column *gpa,
                      const struct column *ram)
{
	const double x0 = GPA_X + GPA_W, x1 = BLOCK_X, xm = (x0 + x1) / 2;
	const struct layout_range *r;
	size_t i;

	sb_printf(sb, "<g id=\"bands\">\n");
	for (i = 0; i < gpa->nr; i++) {
		const struct piece *p = &gpa->p[i];
		layout_u128 at;
		double b0, b1;

		r = band_range(m, p);
		if (!r)
			continue;
		at = (layout_u128)m->blocks[r->block].offset + r->offset;
		b0 = column_y(ram, at, false);
		b1 = column_y(ram, at + r->size, true);
		sb_printf(sb, "<g id=\"band-%llx\" class=\"band %s\"><title>",
		          (unsigned long long)r->start, kind_class[r->kind]);
		svg_via(sb, r);
		sb_printf(
		        sb,
		        "</title><path d=\"M %.1f %.1f C %.1f %.1f %.1f %.1f %.1f %.1f L %.1f %.1f "
		        "C %.1f %.1f %.1f %.1f %.1f %.1f Z\"/></g>\n",
		        x0, p->y, xm, p->y, xm, b0, x1, b0, x1, b1, xm, b1, xm, p->y + p->h, x0,
		        p->y + p->h);
	}
	sb_printf(sb, "</g>\n<g id=\"vias\">\n");
	for (i = 0; i < gpa->nr; i++) {
		const struct piece *p = &gpa->p[i];

		r = band_range(m, p);
		if (!r)
			continue;
		sb_printf(sb, "<text id=\"via-%llx\" class=\"via\" x=\"%.1f\" y=\"%.1f\">",
		          (unsigned long long)r->start, x0 + 8, p->y + p->h / 2 + 4);
		svg_via(sb, r);
		sb_printf(sb, "</text>\n");
	}
	sb_printf(sb, "</g>\n");
}

static bool block_mapped(const struct layout_model *m, int b)
{
	size_t i;

	for (i = 0; i < m->nr_ranges; i++)
		if (m->ranges[i].block == b)
			return true;
	return false;
}

/* One block: its pieces (ram->p[from, to)), the outline around them, its labels. */
static void svg_block(struct strbuf *sb, const struct layout_model *m, const struct column *ram,
                      size_t from, size_t to)
{
	const struct piece *first = &ram->p[from], *last = &ram->p[to - 1];
	const struct layout_block *blk = &m->blocks[first->block];
	char size[64], reserved[64];
	size_t i;

	layout_size_str(blk->used_length, size, sizeof(size));
	sb_printf(sb, "<g id=\"block-");
	layout_xml_id(sb, blk->idstr);
	sb_printf(sb, "\" class=\"block%s\">", blk->readonly ? " readonly" : "");
	for (i = from; i < to; i++) {
		const struct piece *p = &ram->p[i];

		sb_printf(sb, "<rect id=\"piece-%llx-",
		          (unsigned long long)(p->start - blk->offset));
		layout_xml_id(sb, blk->idstr);
		sb_printf(
		        sb,
		        "\" class=\"piece %s\" x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\"/>",
		        p->reserved ? "reserved"
		        : p->mapped ? kind_class[p->kind]
		                    : "unmapped",
		        BLOCK_X, p->y, BLOCK_W, p->h);
		if (p->cut)
			svg_cut(sb, BLOCK_X, BLOCK_W, p->y + p->h / 2);
		/* Where the piece starts in the block, beside the block's own labels. */
		if (i > from)
			sb_printf(sb,
			          "<text class=\"kind off\" x=\"%d\" y=\"%.1f\" "
			          "text-anchor=\"middle\">+0x%llx</text>",
			          BLOCK_X + BLOCK_W / 2, p->y + LINE,
			          (unsigned long long)(p->start - blk->offset));
	}
	svg_rect(sb, "outline", BLOCK_X, first->y, BLOCK_W, last->y + last->h - first->y);
	sb_printf(sb, "<text class=\"what\" x=\"%d\" y=\"%.1f\"><tspan class=\"name\">",
	          BLOCK_LABEL_X, first->y + LINE);
	layout_xml_text(sb, blk->idstr);
	sb_printf(sb, "</tspan>, <tspan class=\"size\">%s</tspan>, %s", size,
	          blk->readonly ? "rom" : "ram");
	if (!block_mapped(m, first->block))
		sb_printf(sb, ", mapped nowhere");
	if (blk->max_length > blk->used_length) {
		layout_size_str(blk->max_length - blk->used_length, reserved, sizeof(reserved));
		sb_printf(sb, ", %s more reserved", reserved);
	}
	sb_printf(sb,
	          "</text><text class=\"addr\" x=\"%d\" y=\"%.1f\">ram_addr 0x%016llx-0x%016llx"
	          "</text></g>\n",
	          BLOCK_LABEL_X, first->y + 2 * LINE, (unsigned long long)blk->offset,
	          (unsigned long long)(blk->offset + blk->used_length - 1));
}

static void svg_blocks(struct strbuf *sb, const struct layout_model *m, const struct column *ram)
{
	size_t i = 0, j;

	sb_printf(sb, "<g id=\"blocks\">\n");
	while (i < ram->nr) {
		const struct piece *p = &ram->p[i];
		char size[64];

		if (p->block < 0) {
			layout_size_str(p->end - p->start, size, sizeof(size));
			sb_printf(sb, "<g id=\"free-%llx\" class=\"free\">",
			          (unsigned long long)p->start);
			svg_rect(sb, "unmapped", BLOCK_X, p->y, BLOCK_W, p->h);
			sb_printf(sb, "<text x=\"%d\" y=\"%.1f\">unused ram_addr, %s</text></g>\n",
			          BLOCK_LABEL_X, p->y + p->h / 2 + 4, size);
			i++;
			continue;
		}
		for (j = i + 1; j < ram->nr && ram->p[j].block == p->block; j++)
			;
		svg_block(sb, m, ram, i, j);
		i = j;
	}
	sb_printf(sb, "</g>\n");
}

void layout_render_svg(const struct layout_model *m, struct strbuf *sb)
{
	struct column gpa = {0}, ram = {0};
	double height;
	size_t i;

	column_gpa(&gpa, m);
	column_ram_addr(&ram, m);
	if (gpa.err || ram.err) {
		sb->err = -ENOMEM;
		goto out;
	}
	height = (gpa.bottom > ram.bottom ? gpa.bottom : ram.bottom) + MARGIN;
	svg_head(sb, m, height);
	sb_printf(sb, "<g id=\"gpa\">\n");
	for (i = 0; i < gpa.nr; i++)
		svg_gpa_piece(sb, m, &gpa.p[i]);
	if (!gpa.nr)
		sb_printf(sb, "<text x=\"%d\" y=\"%d\">no guest-physical ranges</text>\n", GPA_X,
		          TOP + LINE);
	svg_mark_4g(sb, &gpa);
	sb_printf(sb, "</g>\n");
	svg_slots(sb, m, &gpa);
	svg_bands(sb, m, &gpa, &ram);
	svg_blocks(sb, m, &ram);
	sb_printf(sb, "</svg>\n");
out:
	free(gpa.p);
	free(ram.p);
}

/* ---- gathering the model ---- */

/* The blocks, copied under the list lock; rbs[i] is blocks[i]'s block. */
static int layout_gather_blocks(struct ram_list *rl, struct layout_block **blocks,
                                const struct ram_block ***rbs, size_t *nr)
{
	struct ram_block *rb;
	size_t n = 0;

	pthread_mutex_lock(&rl->lock);
	for (rb = rl->head; rb; rb = rb->next)
		n++;
	*blocks = calloc(n + 1, sizeof(**blocks));
	*rbs = calloc(n + 1, sizeof(**rbs));
	for (n = 0, rb = rl->head; *blocks && *rbs && rb; rb = rb->next, n++) {
		struct layout_block *b = &(*blocks)[n];

		memcpy(b->idstr, rb->idstr, sizeof(b->idstr));
		b->offset = rb->offset;
		b->used_length = rb->used_length;
		b->max_length = rb->max_length;
		b->readonly = rb->flags & RAM_READONLY;
		(*rbs)[n] = rb;
	}
	pthread_mutex_unlock(&rl->lock);
	*nr = n;
	return *blocks && *rbs ? 0 : -ENOMEM;
}

/* The ranges of the flat view, with the aliases behind each; the read lock held. */
static int layout_gather_ranges(struct address_space *as, const struct ram_block **rbs,
                                size_t nr_blocks, struct layout_range **out)
{
	struct memory_region *aliases[LAYOUT_MAX_ALIASES];
	struct layout_range *ranges;
	size_t i, k;

	ranges = calloc(as->fv->nr + 1, sizeof(*ranges));
	if (!ranges)
		return -ENOMEM;
	for (i = 0; i < as->fv->nr; i++) {
		const struct flat_range *fr = &as->fv->ranges[i];
		struct layout_range *r = &ranges[i];
		uint64_t off;
		size_t nr;

		r->start = fr->start;
		r->size = fr->size;
		r->kind = !flat_range_is_ram(fr) ? LAYOUT_IO
		          : fr->readonly         ? LAYOUT_ROM
		                                 : LAYOUT_RAM;
		r->region = fr->mr->name;
		r->offset = fr->offset;
		r->block = -1;
		for (k = 0; fr->mr->block && k < nr_blocks; k++)
			if (rbs[k] == fr->mr->block)
				r->block = (int)k;
		/* The same rules found the range; a different answer would be a bug, not a label.
		 */
		if (mr_resolve(as->root, fr->start, &off, aliases, LAYOUT_MAX_ALIASES, &nr) !=
		    fr->mr)
			nr = 0;
		for (k = 0; k < nr && k < LAYOUT_MAX_ALIASES; k++)
			r->aliases[k] = aliases[k]->name;
		r->nr_aliases = nr;
	}
	*out = ranges;
	return 0;
}

/* The memslots; the address space's read lock guards the table. */
static int layout_gather_slots(struct kvm *kvm, struct layout_slot **out, size_t *nr)
{
	size_t n = kvm ? kvm->table.nr : 0, i;

	*out = calloc(n + 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const struct kvm_slot *s = &kvm->table.slots[i];

		(*out)[i] = (struct layout_slot){
		        .id = s->id,
		        .gpa = s->d.gpa,
		        .size = s->d.size,
		        .readonly = s->d.flags & KVM_MEM_READONLY,
		        .dirty_log = s->d.flags & KVM_MEM_LOG_DIRTY_PAGES,
		};
	}
	*nr = n;
	return 0;
}

void layout_render(struct address_space *as, struct ram_list *rl, struct kvm *kvm,
                   struct strbuf *sb)
{
	struct layout_model m = {.as_name = as->name};
	struct layout_block *blocks = NULL;
	const struct ram_block **rbs = NULL;
	struct layout_range *ranges = NULL;
	struct layout_slot *slots = NULL;
	int ret;

	/* The list lock is never held with the address space's: take them in turn. */
	ret = layout_gather_blocks(rl, &blocks, &rbs, &m.nr_blocks);
	if (ret)
		goto out;
	m.blocks = blocks;
	pthread_rwlock_rdlock(&as->lock);
	ret = layout_gather_ranges(as, rbs, m.nr_blocks, &ranges);
	if (!ret)
		ret = layout_gather_slots(kvm, &slots, &m.nr_slots);
	if (!ret) {
		m.ranges = ranges;
		m.nr_ranges = as->fv->nr;
		m.slots = slots;
		/* Region names belong to the tree: render before letting go. */
		layout_render_svg(&m, sb);
	}
	pthread_rwlock_unlock(&as->lock);
out:
	if (ret)
		sb->err = ret;
	free(blocks);
	free(rbs);
	free(ranges);
	free(slots);
}
