/*
 * test_layout_svg.c - layout.svg's pure parts: the scale (16 MiB a pixel,
 * 30 px at least, 240 px at most and then cut), exact sizes, names made safe
 * for XML text and ids; and the picture of a real pc 6G machine and of a
 * 1 TiB model, read back from the SVG: pieces stacked in address order at
 * the scale's heights, bands ending exactly on their range and block bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "inspect/layout_svg.h"
#include "kvm/kvm.h"
#include "machine/machine.h"
#include "util/compiler.h"
#include "util/strbuf.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define TiB (1ULL << 40)

/* The scale as layout.h states it, worked out by hand. */
static void test_px(void **state)
{
	static const struct {
		layout_u128 size;
		unsigned px;
		bool cut;
	} cases[] = {
	        {1, 30, false},
	        {128 * KiB, 30, false},
	        {30 * 16 * MiB, 30, false},
	        {31 * 16 * MiB, 31, false},
	        {31 * 16 * MiB + 15 * MiB, 31, false}, /* whole pixels, rounded down */
	        {GiB, 64, false},
	        {3 * GiB - MiB, 191, false},
	        {3 * GiB, 192, false},
	        {240 * 16 * MiB, 240, false},
	        {241 * 16 * MiB, 240, true},
	        {TiB - 3 * GiB, 240, true},
	        {(layout_u128)1 << 64, 240, true},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		bool cut;
		unsigned px = layout_px(cases[i].size, &cut);

		if (px != cases[i].px || cut != cases[i].cut)
			fail_msg("case %zu: %u px%s, want %u%s", i, px, cut ? " cut" : "",
			         cases[i].px, cases[i].cut ? " cut" : "");
	}
}

static void test_size_str(void **state)
{
	static const struct {
		layout_u128 size;
		const char *want;
	} cases[] = {
	        {0, "0 B"},
	        {1, "1 B"},
	        {128 * KiB, "128 KiB"},
	        {0xbff00000, "2 GiB 1023 MiB"},
	        {0x3ffc0000, "1023 MiB 768 KiB"},
	        {TiB - 3 * GiB, "1021 GiB"},
	        {4 * GiB + 1, "4 GiB 1 B"},
	        {(layout_u128)1 << 64, "16 EiB"},
	};
	char buf[96];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		layout_size_str(cases[i].size, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].want);
	}
}

static void test_xml_names(void **state)
{
	static const struct {
		const char *name, *text, *id;
	} cases[] = {
	        {"pc.ram", "pc.ram", "pc.ram"},
	        {"a<b&c>\"d", "a&lt;b&amp;c&gt;&quot;d", "a_3cb_26c_3e_22d"},
	        {"\x01\\\x7f\xe9", "\\x01\\x5c\\x7f&#xe9;", "_01_5c_7f_e9"},
	        {"../a b_%", "../a b_%", ".._2fa_20b_5f_25"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct strbuf t = STRBUF_INIT, id = STRBUF_INIT;

		layout_xml_text(&t, cases[i].name);
		layout_xml_id(&id, cases[i].name);
		assert_string_equal(t.buf, cases[i].text);
		assert_string_equal(id.buf, cases[i].id);
		sb_free(&t);
		sb_free(&id);
	}
}

/* ---- reading the picture back ---- */

/* The value of attribute attr of the first element at or after the one with this id. */
static double attr_after(const char *svg, const char *id, const char *attr)
{
	char key[128], pat[32];
	const char *p;
	double v;

	snprintf(key, sizeof(key), "id=\"%s\"", id);
	p = strstr(svg, key);
	if (!p)
		fail_msg("no element with id \"%s\"", id);
	snprintf(pat, sizeof(pat), " %s=\"", attr);
	p = strstr(p, pat);
	if (!p || sscanf(p + strlen(pat), "%lf", &v) != 1)
		fail_msg("no %s after id \"%s\"", attr, id);
	return v;
}

/* The numbers of a band's path: M x0 y0 C ... x1 b0 L x1 b1 C ... x0 y1 Z. */
static void band_ends(const char *svg, const char *id, double *y0, double *y1, double *b0,
                      double *b1)
{
	char key[128];
	double n[16];
	const char *p;

	snprintf(key, sizeof(key), "id=\"%s\"", id);
	p = strstr(svg, key);
	if (!p)
		fail_msg("no band \"%s\"", id);
	p = strstr(p, " d=\"");
	assert_non_null(p);
	if (sscanf(p,
	           " d=\"M %lf %lf C %lf %lf %lf %lf %lf %lf L %lf %lf C %lf %lf %lf %lf %lf "
	           "%lf Z",
	           &n[0], &n[1], &n[2], &n[3], &n[4], &n[5], &n[6], &n[7], &n[8], &n[9], &n[10],
	           &n[11], &n[12], &n[13], &n[14], &n[15]) != 16)
		fail_msg("band \"%s\": path does not parse", id);
	*y0 = n[1];
	*b0 = n[7];
	*b1 = n[9];
	*y1 = n[15];
}

/* Whether the group with this id (up to its first "</g>") holds needle. */
static bool group_has(const char *svg, const char *id, const char *needle)
{
	char key[128];
	const char *p, *end, *hit;

	snprintf(key, sizeof(key), "id=\"%s\"", id);
	p = strstr(svg, key);
	if (!p)
		fail_msg("no group \"%s\"", id);
	end = strstr(p, "</g>");
	hit = strstr(p, needle);
	return hit && end && hit < end;
}

static void render_machine(const char *type, const char *size, struct strbuf *sb)
{
	struct machine_config mc = {.type = type, .cpus = 1, .backing = RAM_BACKING_ANON};
	struct machine m;
	struct kvm kvm;

	mc.ram_size = strtoull(size, NULL, 0);
	assert_int_equal(machine_init(&m, &mc), 0);
	assert_int_equal(kvm_init_none(&kvm, &m.as), 0);
	layout_render(&m.as, &m.ram, &kvm, sb);
	assert_int_equal(sb->err, 0);
	kvm_exit(&kvm);
	machine_exit(&m);
}

/*
 * pc 6G as QEMU lays it out (README, qemu_layouts.h): the guest-physical
 * pieces in address order, each as tall as the scale says, one under the
 * other; each band from its range's rect to the block piece at its offset.
 */
static void test_pc_6g(void **state)
{
	static const struct {
		const char *id;
		double h;
	} gpa[] = {
	        {"gpa-0", 30},          /* pc.ram 768 KiB */
	        {"gpa-c0000", 30},      /* pc.rom 128 KiB */
	        {"gpa-e0000", 30},      /* isa-bios 128 KiB */
	        {"gpa-100000", 191},    /* 3 GiB - 1 MiB */
	        {"gpa-c0000000", 63},   /* hole to 0xfffc0000: 1 GiB - 256 KiB */
	        {"gpa-fffc0000", 30},   /* pc.bios 256 KiB */
	        {"gpa-100000000", 192}, /* 3 GiB */
	};
	static const struct {
		const char *band, *piece_top, *piece_bottom;
	} bands[] = {
	        {"band-0", "piece-0-pc.ram", "piece-0-pc.ram"},
	        {"band-c0000", "piece-0-pc.rom", "piece-0-pc.rom"},
	        {"band-e0000", "piece-20000-pc.bios", "piece-20000-pc.bios"},
	        {"band-100000", "piece-100000-pc.ram", "piece-100000-pc.ram"},
	        {"band-fffc0000", "piece-0-pc.bios", "piece-20000-pc.bios"},
	        {"band-100000000", "piece-c0000000-pc.ram", "piece-c0000000-pc.ram"},
	};
	struct strbuf sb = STRBUF_INIT;
	double y = 0, h, y0, y1, b0, b1;
	size_t i;

	(void)state;
	render_machine("pc", "0x180000000", &sb);
	for (i = 0; i < ARRAY_SIZE(gpa); i++) {
		double top = attr_after(sb.buf, gpa[i].id, "y");

		h = attr_after(sb.buf, gpa[i].id, "height");
		if (i && top != y)
			fail_msg("%s starts at %.1f, the piece above ends at %.1f", gpa[i].id, top,
			         y);
		if (h != gpa[i].h)
			fail_msg("%s is %.1f px tall, want %.1f", gpa[i].id, h, gpa[i].h);
		y = top + h;
	}
	for (i = 0; i < ARRAY_SIZE(bands); i++) {
		char gid[32];

		band_ends(sb.buf, bands[i].band, &y0, &y1, &b0, &b1);
		snprintf(gid, sizeof(gid), "gpa-%s", bands[i].band + 5);
		assert_true(y0 == attr_after(sb.buf, gid, "y"));
		assert_true(y1 == y0 + attr_after(sb.buf, gid, "height"));
		assert_true(b0 == attr_after(sb.buf, bands[i].piece_top, "y"));
		assert_true(b1 == attr_after(sb.buf, bands[i].piece_bottom, "y") +
		                          attr_after(sb.buf, bands[i].piece_bottom, "height"));
	}
	/* The aliases each range is seen through, as QEMU's info mtree nests them. */
	assert_non_null(strstr(sb.buf, ">via ram-below-4g</text>"));
	assert_non_null(strstr(sb.buf, ">via pam-pci &#x2192; isa-bios</text>"));
	assert_non_null(strstr(sb.buf, ">via ram-above-4g</text>"));
	/* pc.bios at 4G - 256 KiB sits in "pci" with no alias between. */
	assert_non_null(strstr(sb.buf, "id=\"via-fffc0000\""));
	assert_int_equal(
	        strncmp(strchr(strstr(sb.buf, "id=\"via-fffc0000\""), '>'), ">direct</text>", 14),
	        0);
	/* Bytes of pc.ram no range shows: behind pc.rom and isa-bios. */
	assert_non_null(strstr(sb.buf, "id=\"piece-c0000-pc.ram\" class=\"piece unmapped\""));
	/* -accel none derives the slots without dirty logging: ROM ro, RAM "-". */
	assert_non_null(strstr(sb.buf, "id=\"slot-4\" class=\"slot ro\""));
	assert_non_null(strstr(sb.buf, "id=\"slot-5\" class=\"slot plain\""));
	assert_non_null(strstr(sb.buf, "id=\"mark-4g\""));
	sb_free(&sb);
}

/* 1 TiB of RAM above 4G and a 128 KiB ROM: both visible, the big one cut. */
static void test_1t_is_cut_and_small_is_visible(void **state)
{
	static const struct layout_block blocks[] = {
	        {.idstr = "ram", .offset = 0, .used_length = TiB, .max_length = TiB},
	        {.idstr = "rom",
	         .offset = TiB,
	         .used_length = 128 * KiB,
	         .max_length = 128 * KiB,
	         .readonly = true},
	};
	static const struct layout_range ranges[] = {
	        {.start = 0, .size = 3 * GiB, .kind = LAYOUT_RAM, .region = "ram", .block = 0},
	        {.start = 4 * GiB - 128 * KiB,
	         .size = 128 * KiB,
	         .kind = LAYOUT_ROM,
	         .region = "rom",
	         .block = 1},
	        {.start = 4 * GiB,
	         .size = TiB - 3 * GiB,
	         .kind = LAYOUT_RAM,
	         .region = "ram",
	         .block = 0,
	         .offset = 3 * GiB},
	};
	const struct layout_model m = {"memory", ranges, 3, blocks, 2, NULL, 0};
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	layout_render_svg(&m, &sb);
	assert_int_equal(sb.err, 0);
	assert_true(attr_after(sb.buf, "gpa-fffe0000", "height") == LAYOUT_MIN_PX);
	assert_true(attr_after(sb.buf, "gpa-100000000", "height") == LAYOUT_MAX_PX);
	assert_true(attr_after(sb.buf, "piece-c0000000-ram", "height") == LAYOUT_MAX_PX);
	/* The cut piece carries its zigzag; the short ones do not. */
	assert_true(group_has(sb.buf, "gpa-100000000", "class=\"cut\""));
	assert_false(group_has(sb.buf, "gpa-fffe0000", "class=\"cut\""));
	assert_false(group_has(sb.buf, "gpa-0", "class=\"cut\""));
	assert_non_null(strstr(sb.buf, "<tspan class=\"size\">1021 GiB</tspan>"));
	assert_non_null(strstr(sb.buf, "Not to scale"));
	sb_free(&sb);
}

/* Names that are not XML: escaped in text, encoded in ids, ids unique. */
static void test_hostile_names(void **state)
{
	static const struct layout_block blocks[] = {
	        {.idstr = "a<b&c\x01\xff", .offset = 0, .used_length = MiB, .max_length = MiB},
	        {.idstr = "a_3cb", .offset = 4 * MiB, .used_length = MiB, .max_length = 2 * MiB},
	};
	const struct layout_model m = {"memory", NULL, 0, blocks, 2, NULL, 0};
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	layout_render_svg(&m, &sb);
	assert_int_equal(sb.err, 0);
	assert_non_null(strstr(sb.buf, "<tspan class=\"name\">a&lt;b&amp;c\\x01&#xff;</tspan>"));
	assert_non_null(strstr(sb.buf, "id=\"block-a_3cb_26c_01_ff\""));
	assert_non_null(strstr(sb.buf, "id=\"block-a_5f3cb\""));
	/* Free ram_addr space between them, and the second one's reserved tail. */
	assert_non_null(strstr(sb.buf, "id=\"free-100000\""));
	assert_non_null(strstr(sb.buf, "id=\"piece-100000-a_5f3cb\" class=\"piece reserved\""));
	assert_non_null(strstr(sb.buf, "1 MiB more reserved"));
	assert_non_null(strstr(sb.buf, "mapped nowhere"));
	sb_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_px),
	        cmocka_unit_test(test_size_str),
	        cmocka_unit_test(test_xml_names),
	        cmocka_unit_test(test_pc_6g),
	        cmocka_unit_test(test_1t_is_cut_and_small_is_visible),
	        cmocka_unit_test(test_hostile_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
