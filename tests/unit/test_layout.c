/*
 * test_layout.c - the pc and q35 machines lay out memory exactly as QEMU 7.2
 * does: the RAM/ROM lines of the flat view and the pc.ram/pc.bios/pc.rom rows
 * of `info ramblock`, for every size in qemu_layouts.h (made from QEMU
 * itself by tools/qemu-layouts.py), with QEMU's own 256 KiB BIOS and with
 * larger -bios files.
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

#include "cmdline.h"
#include "machine/machine.h"
#include "qemu_layouts.h"
#include "util/compiler.h"
#include "util/strbuf.h"

/* bios_kib: a -bios file of that many KiB (zeros; nothing runs), 0: the default pc.bios. */
static void build_bios(struct machine *m, const char *type, const char *size, unsigned bios_kib)
{
	struct machine_config mc = {.type = type, .cpus = 1, .backing = RAM_BACKING_MEMFD};
	void *bios = calloc(bios_kib ? bios_kib : 1, 1024);
	char err[128];

	assert_non_null(bios);
	mc.firmware = bios_kib ? bios : NULL;
	mc.firmware_size = (size_t)bios_kib << 10;
	assert_int_equal(cmdline_parse_size(size, &mc.ram_size, err, sizeof(err)), 0);
	assert_int_equal(machine_init(m, &mc), 0);
	free(bios);
}

static void build(struct machine *m, const char *type, const char *size)
{
	build_bios(m, type, size, 0);
}

/* Each of want[] appears, whole, in the machine's `info mtree` text. */
static void assert_mtree_has(struct machine *m, const char *const *want, size_t n)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	as_render_tree(&m->as, &sb);
	for (i = 0; i < n; i++)
		if (!strstr(sb.buf, want[i]))
			fail_msg("missing:\n%s\nin:\n%s", want[i], sb.buf);
	sb_free(&sb);
}

/* Lines of text that contain "ram)" or "rom)": the RAM and ROM ranges. */
static size_t ram_rom_lines(char *text, char **lines, size_t max)
{
	size_t n = 0;
	char *save, *l;

	for (l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if ((strstr(l, "ram)") || strstr(l, "rom)")) && n < max)
			lines[n++] = l;
	return n;
}

static void check_flatview(const struct qemu_layout *q, const char *accel)
{
	struct strbuf sb = STRBUF_INIT;
	struct machine m;
	char *lines[16], want[160];
	size_t n, i;

	build_bios(&m, q->machine, q->size, q->bios_kib);
	as_render_flatview(&m.as, accel, &sb);
	assert_int_equal(sb.err, 0);
	n = ram_rom_lines(sb.buf, lines, 16);
	for (i = 0; q->flatview[i]; i++) {
		assert_true(i < n);
		snprintf(want, sizeof(want), "%s%s%s", q->flatview[i], accel ? " " : "",
		         accel ? accel : "");
		if (strcmp(lines[i], want))
			fail_msg("-M %s -m %s -bios %u KiB line %zu:\n got  '%s'\n want '%s'",
			         q->machine, q->size, q->bios_kib, i, lines[i], want);
	}
	assert_int_equal(n, i);
	sb_free(&sb);
	machine_exit(&m);
}

static void test_flatview_equals_qemu(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(qemu_layouts); i++) {
		check_flatview(&qemu_layouts[i], NULL);
		/* QEMU with KVM marks every range KVM maps; so do we. */
		check_flatview(&qemu_layouts[i], "KVM");
	}
}

static void test_ramblock_equals_qemu(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(qemu_layouts); i++) {
		const struct qemu_layout *q = &qemu_layouts[i];
		struct strbuf sb = STRBUF_INIT;
		struct machine m;

		build_bios(&m, q->machine, q->size, q->bios_kib);
		ram_list_render(&m.ram, &sb);
		assert_int_equal(sb.err, 0);
		assert_non_null(strstr(sb.buf, "              Block Name    PSize              "
		                               "Offset               Used              Total\n"));
		for (j = 0; j < 3; j++) {
			if (!strstr(sb.buf, q->ramblock[j]))
				fail_msg("-M %s -m %s -bios %u KiB: no row '%s' in\n%s", q->machine,
				         q->size, q->bios_kib, q->ramblock[j], sb.buf);
		}
		sb_free(&sb);
		machine_exit(&m);
	}
}

/* The tree names and nests regions as QEMU's `info mtree` does. */
static void test_mtree_lines(void **state)
{
	static const char *const want[] = {
	        "address-space: memory\n"
	        "  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n"
	        "    0000000000000000-00000000bfffffff (prio 0, ram): alias ram-below-4g @pc.ram "
	        "0000000000000000-00000000bfffffff\n"
	        "    0000000000000000-ffffffffffffffff (prio -1, i/o): pci\n"
	        "      00000000000c0000-00000000000dffff (prio 1, rom): pc.rom\n"
	        "      00000000000e0000-00000000000fffff (prio 1, rom): alias isa-bios @pc.bios "
	        "0000000000020000-000000000003ffff\n"
	        "      00000000fffc0000-00000000ffffffff (prio 0, rom): pc.bios\n"
	        "    00000000000a0000-00000000000bffff (prio 1, i/o): alias smram-region @pci "
	        "00000000000a0000-00000000000bffff\n"
	        "    00000000000c0000-00000000000c3fff (prio 1, i/o): alias pam-pci @pci "
	        "00000000000c0000-00000000000c3fff\n",
	        "    00000000000f0000-00000000000fffff (prio 1, i/o): alias pam-pci @pci "
	        "00000000000f0000-00000000000fffff\n"
	        "    0000000100000000-00000001bfffffff (prio 0, ram): alias ram-above-4g @pc.ram "
	        "00000000c0000000-000000017fffffff\n"
	        "\n"
	        "memory-region: pc.ram\n"
	        "  0000000000000000-000000017fffffff (prio 0, ram): pc.ram\n"
	        "\n"
	        "memory-region: pc.bios\n"
	        "  00000000fffc0000-00000000ffffffff (prio 0, rom): pc.bios\n"
	        "\n"
	        "memory-region: pci\n"
	        "  0000000000000000-ffffffffffffffff (prio -1, i/o): pci\n",
	};
	struct machine m;

	(void)state;
	build(&m, "pc", "6G");
	assert_mtree_has(&m, want, ARRAY_SIZE(want));
	machine_exit(&m);
}

/*
 * The aliases behind each range, as QEMU's `info mtree` above nests them:
 * pc.bios below 1 MiB through pam-pci (onto "pci") and then isa-bios.
 */
static void test_resolve_names_the_aliases(void **state)
{
	static const struct {
		uint64_t gpa;
		const char *leaf;
		uint64_t offset;
		const char *aliases[3];
	} cases[] = {
	        {0x0, "pc.ram", 0x0, {"ram-below-4g"}},
	        {0xa0000, "pc.ram", 0xa0000, {"ram-below-4g"}},
	        {0xc0000, "pc.rom", 0x0, {"pam-pci"}},
	        {0xe0000, "pc.bios", 0x20000, {"pam-pci", "isa-bios"}},
	        {0x100000, "pc.ram", 0x100000, {"ram-below-4g"}},
	        {0xc0000000, NULL, 0, {NULL}},
	        {0xfffc0000, "pc.bios", 0x0, {NULL}},
	        {0x100000000, "pc.ram", 0xc0000000, {"ram-above-4g"}},
	        {0x1c0000000, NULL, 0, {NULL}},
	};
	struct memory_region *path[4], *leaf;
	struct machine m;
	size_t i, k, nr;
	uint64_t off;

	(void)state;
	build(&m, "pc", "6G");
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		leaf = mr_resolve(m.as.root, cases[i].gpa, &off, path, 4, &nr);
		if (!cases[i].leaf) {
			assert_null(leaf);
			continue;
		}
		assert_non_null(leaf);
		assert_string_equal(leaf->name, cases[i].leaf);
		assert_int_equal(off, cases[i].offset);
		for (k = 0; k < 3 && cases[i].aliases[k]; k++)
			assert_string_equal(path[k]->name, cases[i].aliases[k]);
		assert_int_equal(nr, k);
	}
	machine_exit(&m);
}

/*
 * A 1 MiB -bios, as QEMU 7.2's `info mtree` shows it (-M pc -m 1G -bios of 1 MiB):
 * pc.bios whole below 4G, isa-bios its last 128 KiB.
 */
static void test_bios_mtree_lines(void **state)
{
	static const char *const want[] = {
	        "      00000000000e0000-00000000000fffff (prio 1, rom): alias isa-bios @pc.bios "
	        "00000000000e0000-00000000000fffff\n",
	        "      00000000fff00000-00000000ffffffff (prio 0, rom): pc.bios\n",
	        "memory-region: pc.bios\n"
	        "  00000000fff00000-00000000ffffffff (prio 0, rom): pc.bios\n",
	};
	struct machine m;

	(void)state;
	build_bios(&m, "pc", "1G", 1024);
	assert_mtree_has(&m, want, ARRAY_SIZE(want));
	machine_exit(&m);
}

/*
 * QEMU refuses a BIOS that is not a whole number of 64 KiB ("could not load
 * PC BIOS" for 300 KiB); kvmfs too, and one that would reach KVM's pages
 * below 0xff000000.  Up to 256 KiB any size goes at the top of pc.bios.
 */
static void test_bios_sizes(void **state)
{
	static const struct {
		size_t size;
		int ret;
		uint64_t block;
	} cases[] = {
	        {1, 0, 0x40000},       {0x40000, 0, 0x40000},     {300 << 10, -EINVAL, 0},
	        {0x50000, 0, 0x50000}, {0x1000000, 0, 0x1000000}, {0x1010000, -EINVAL, 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct machine_config mc = {.type = "pc", .ram_size = 64 << 20, .cpus = 1};
		void *fw = calloc(1, cases[i].size);
		struct machine m;
		int ret;

		assert_non_null(fw);
		mc.firmware = fw;
		mc.firmware_size = cases[i].size;
		ret = machine_init(&m, &mc);
		if (ret != cases[i].ret)
			fail_msg("-bios of %zu bytes: %d, want %d", cases[i].size, ret,
			         cases[i].ret);
		if (!ret) {
			assert_int_equal(m.bios_block->used_length, cases[i].block);
			/* The reset vector: the firmware's last 16 bytes end at 4G. */
			assert_non_null(flatview_lookup(m.as.fv, 0xfffffff0));
			assert_ptr_equal(flatview_lookup(m.as.fv, 0xfffffff0)->mr->block,
			                 m.bios_block);
			machine_exit(&m);
		}
		free(fw);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_flatview_equals_qemu),
	        cmocka_unit_test(test_ramblock_equals_qemu),
	        cmocka_unit_test(test_mtree_lines),
	        cmocka_unit_test(test_resolve_names_the_aliases),
	        cmocka_unit_test(test_bios_mtree_lines),
	        cmocka_unit_test(test_bios_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
