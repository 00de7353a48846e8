/*
 * test_qemu_import.c - the importers of kvmfs -attach on QEMU 7.2's own
 * words (qemu_attach_texts.h: `info ramblock`, `info mtree`, `info mtree -f`
 * of -M pc and -M q35 with 6 GiB, below and above 4G): the ram list and the
 * region tree kvmfs builds from them render back to the same text
 * (ramblocks.txt, regions, flatview are these renderings), PAM's read-only
 * windows are learnt from the flat view, and texts that are not QEMU's, or
 * whose flat view the tree cannot give, are refused with a line.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "memory/memory.h"
#include "memory/ram.h"
#include "qemu/import.h"
#include "qemu_attach_texts.h"
#include "util/strbuf.h"

struct imported {
	struct ram_list rl;
	struct qemu_regions regions;
	struct address_space as;
	bool as_live;
};

/* qemu.c's qemu_import without QMP: 0 or the importer's error, its line in err. */
static int import(struct imported *im, const char *ramblock, const char *mtree, const char *flat,
                  char *err, size_t errlen)
{
	int ret;

	memset(im, 0, sizeof(*im));
	ram_list_init(&im->rl, RAM_BACKING_ANON);
	ret = qemu_import_ramblocks(&im->rl, ramblock, err, errlen);
	if (!ret)
		ret = qemu_import_mtree(&im->regions, &im->rl, mtree, flat, err, errlen);
	if (ret)
		return ret;
	ret = as_init(&im->as, "memory", im->regions.root);
	if (ret)
		return ret;
	im->as_live = true;
	return qemu_check_flatview(&im->as, flat, err, errlen);
}

static void release(struct imported *im)
{
	if (im->as_live)
		as_exit(&im->as);
	qemu_regions_free(&im->regions);
	ram_list_exit(&im->rl);
}

/* The n-th "\n\n"-separated section of text, copied (NULL past the last). */
static char *section(const char *text, unsigned n)
{
	const char *p = text, *e;

	while (n--) {
		p = strstr(p, "\n\n");
		if (!p)
			return NULL;
		p += 2;
	}
	if (!*p)
		return NULL;
	e = strstr(p, "\n\n");
	return strndup(p, e ? (size_t)(e - p) : strlen(p));
}

/* QEMU's tree of "memory": its own section, after the address-space lines sharing it. */
static char *qemu_memory_tree(const char *mtree)
{
	const char *p = strstr(mtree, "address-space: memory\n"), *e;
	struct strbuf sb = STRBUF_INIT;

	assert_non_null(p);
	p += strlen("address-space: memory\n");
	while (!strncmp(p, "address-space: ", 15))
		p = strchr(p, '\n') + 1;
	e = strstr(p, "\n\n");
	assert_non_null(e);
	sb_printf(&sb, "address-space: memory\n%.*s", (int)(e - p), p);
	return sb.buf;
}

/* The flat view of "memory" in `info mtree -f`, as kvmfs renders one (less the other ASes). */
static char *qemu_memory_flatview(const char *flat)
{
	const char *p = strstr(flat, " AS \"memory\", root: system\n"), *e;
	struct strbuf sb = STRBUF_INIT;

	assert_non_null(p);
	while (!strncmp(p, " AS ", 4))
		p = strchr(p, '\n') + 1;
	e = strstr(p, "\n\n");
	assert_non_null(e);
	sb_printf(&sb, "FlatView #0\n AS \"memory\", root: system\n%.*s\n\n", (int)(e - p), p);
	return sb.buf;
}

static void renders_back(const char *ramblock, const char *mtree, const char *flat,
                         unsigned want_sections)
{
	struct strbuf sb = STRBUF_INIT;
	struct imported im;
	char err[256] = "", *want, *got;
	unsigned i;

	if (import(&im, ramblock, mtree, flat, err, sizeof(err)))
		fail_msg("import refused: %s", err);

	/* ramblocks.txt is `info ramblock`, byte for byte. */
	ram_list_render(&im.rl, &sb);
	assert_non_null(sb.buf);
	assert_string_equal(sb.buf, ramblock);

	/* regions: the tree of "memory", then each aliased region's section, QEMU's own. */
	sb.len = 0;
	as_render_tree(&im.as, &sb);
	want = qemu_memory_tree(mtree);
	got = section(sb.buf, 0);
	assert_string_equal(got, want);
	free(got);
	free(want);
	for (i = 1; (got = section(sb.buf, i)); i++) {
		struct strbuf whole = STRBUF_INIT;

		assert_true(!strncmp(got, "memory-region: ", 15));
		sb_printf(&whole, "\n\n%s\n\n", got);
		if (!strstr(mtree, whole.buf))
			fail_msg("not one of QEMU's sections:\n%s", got);
		sb_free(&whole);
		free(got);
	}
	assert_int_equal(i - 1, want_sections);

	/* flatview: QEMU's flat view of "memory", line for line. */
	sb.len = 0;
	as_render_flatview(&im.as, NULL, &sb);
	want = qemu_memory_flatview(flat);
	assert_string_equal(sb.buf, want);
	free(want);

	sb_free(&sb);
	release(&im);
}

static void test_pc_6g(void **state)
{
	(void)state;
	/* memory-region sections: pc.ram (below and above 4G), pc.bios (isa-bios), pci (hole). */
	renders_back(pc_6g_ramblock, pc_6g_mtree, pc_6g_flat, 3);
}

static void test_q35_6g(void **state)
{
	(void)state;
	renders_back(q35_6g_ramblock, q35_6g_mtree, q35_6g_flat, 3);
}

/* What the import makes of pc's blocks: offsets and lengths are QEMU's, ROMs read-only. */
static void test_pc_blocks(void **state)
{
	struct imported im;
	struct ram_block *rb;
	char err[256] = "";
	unsigned seen = 0;

	(void)state;
	assert_int_equal(import(&im, pc_6g_ramblock, pc_6g_mtree, pc_6g_flat, err, sizeof(err)), 0);
	for (rb = im.rl.head; rb; rb = rb->next) {
		if (!strcmp(rb->idstr, "pc.ram")) {
			assert_true(rb->offset == 0 && rb->used_length == 6ULL << 30);
			assert_false(rb->flags & RAM_READONLY);
			seen |= 1;
		} else if (!strcmp(rb->idstr, "pc.bios")) {
			assert_true(rb->offset == 0x180000000ULL && rb->used_length == 0x40000);
			assert_true(rb->flags & RAM_READONLY);
			seen |= 2;
		} else if (!strcmp(rb->idstr, "/rom@etc/acpi/tables")) {
			/* Resizeable: used 128 KiB of 2 MiB. */
			assert_true(rb->used_length == 0x20000 && rb->max_length == 0x200000);
			assert_true(rb->flags & RAM_RESIZEABLE);
			seen |= 4;
		}
	}
	assert_int_equal(seen, 7);
	release(&im);
}

/* A copy of text with the first from after the first after replaced by to. */
static char *edit_after(const char *text, const char *after, const char *from, const char *to)
{
	const char *at = strstr(text, after);
	struct strbuf sb = STRBUF_INIT;

	assert_non_null(at);
	at = strstr(at, from);
	assert_non_null(at);
	sb_printf(&sb, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	return sb.buf;
}

static void refused(const char *ramblock, const char *mtree, const char *flat, const char *why)
{
	struct imported im;
	char err[512] = "";
	int ret = import(&im, ramblock, mtree, flat, err, sizeof(err));

	if (ret != -EPROTO || !strstr(err, why))
		fail_msg("want -EPROTO with \"%s\", got %d: %s", why, ret, err);
	assert_null(strchr(err, '\n'));
	release(&im);
}

/* One of QEMU's three texts (RAMBLOCK, MTREE, FLAT) with one edit, refused for why. */
enum qemu_text { RAMBLOCK, MTREE, FLAT };

static const struct {
	enum qemu_text text;
	const char *after, *from, *to, *why;
} bad_edits[] = {
        {RAMBLOCK, "", "4 KiB", "4 XiB", "row 2 unreadable"},
        {RAMBLOCK, "", "0x0000000180000000 0x0000000180000000", "0x0000000180000000 0x01800000zz",
         "row 2 unreadable"},
        /* A RAM region whose block QEMU did not list. */
        {RAMBLOCK, "", "pc.rom", "pc.rum", "region pc.rom (rom): no one RAM block"},
        /* Region types kvmfs does not model (pflash's romd). */
        {MTREE, "", "(prio 0, rom): pc.bios", "(prio 0, romd): pc.bios", "of type romd"},
        /* A tree line that is not one. */
        {MTREE, "", "(prio 0, ram): pc.ram", "(prio x, ram): pc.ram", "info mtree"},
        /* A flat view the tree does not give: QEMU's word is the truth, so no mount. */
        {FLAT, " AS \"memory\"", "(prio 1, rom): pc.rom", "(prio 1, ram): pc.rom", "differ"},
        {FLAT, "", " AS \"memory\", root: system", " AS \"mem\", root: system", "no flat view"},
        {MTREE, "", "address-space: memory\n", "address-space: nomemory\n",
         "no address space \"memory\""},
};

static void test_refused(void **state)
{
	size_t i;

	(void)state;
	refused("Block Name\n", pc_6g_mtree, pc_6g_flat, "not the table");
	refused("nothing like it\n", pc_6g_mtree, pc_6g_flat, "not the table");
	refused("              Block Name    PSize              Offset               Used"
	        "              Total\n",
	        pc_6g_mtree, pc_6g_flat, "no RAM blocks");
	for (i = 0; i < sizeof(bad_edits) / sizeof(bad_edits[0]); i++) {
		const char *texts[] = {pc_6g_ramblock, pc_6g_mtree, pc_6g_flat};
		char *t = edit_after(texts[bad_edits[i].text], bad_edits[i].after,
		                     bad_edits[i].from, bad_edits[i].to);

		texts[bad_edits[i].text] = t;
		refused(texts[RAMBLOCK], texts[MTREE], texts[FLAT], bad_edits[i].why);
		free(t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_pc_6g),
	        cmocka_unit_test(test_q35_6g),
	        cmocka_unit_test(test_pc_blocks),
	        cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
