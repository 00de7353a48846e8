/*
 * test_layout.c - the pc and q35 machines lay out memory exactly as QEMU 7.2
 * does: the RAM/ROM lines of the flat view and the pc.ram/pc.bios/pc.rom rows
 * of `info ramblock`, for every size in qemu_layouts.h (made from QEMU
 * itself by tools/qemu-layouts.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kvmfs/cmdline.h"
#include "kvmfs/machine.h"
#include "kvmfs/strbuf.h"
#include "qemu_layouts.h"

static void build(struct machine *m, const char *type, const char *size)
{
	struct machine_config mc = {.type = type, .cpus = 1, .backing = RAM_BACKING_MEMFD};
	char err[128];

	assert_int_equal(cmdline_parse_size(size, &mc.ram_size, err, sizeof(err)), 0);
	assert_int_equal(machine_init(m, &mc), 0);
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

	build(&m, q->machine, q->size);
	as_render_flatview(&m.as, accel, &sb);
	assert_int_equal(sb.err, 0);
	n = ram_rom_lines(sb.buf, lines, 16);
	for (i = 0; q->flatview[i]; i++) {
		assert_true(i < n);
		snprintf(want, sizeof(want), "%s%s%s", q->flatview[i], accel ? " " : "",
		         accel ? accel : "");
		if (strcmp(lines[i], want))
			fail_msg("-M %s -m %s line %zu:\n got  '%s'\n want '%s'", q->machine,
			         q->size, i, lines[i], want);
	}
	assert_int_equal(n, i);
	sb_free(&sb);
	machine_exit(&m);
}

static void test_flatview_equals_qemu(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(qemu_layouts) / sizeof(qemu_layouts[0]); i++) {
		check_flatview(&qemu_layouts[i], NULL);
		/* QEMU with KVM marks every range KVM maps; so do we. */
		check_flatview(&qemu_layouts[i], "KVM");
	}
}

static void test_ramblock_equals_qemu(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(qemu_layouts) / sizeof(qemu_layouts[0]); i++) {
		const struct qemu_layout *q = &qemu_layouts[i];
		struct strbuf sb = STRBUF_INIT;
		struct machine m;

		build(&m, q->machine, q->size);
		ram_list_render(&m.ram, &sb);
		assert_int_equal(sb.err, 0);
		assert_non_null(strstr(sb.buf, "              Block Name    PSize              "
		                               "Offset               Used              Total\n"));
		for (j = 0; j < 3; j++) {
			if (!strstr(sb.buf, q->ramblock[j]))
				fail_msg("-M %s -m %s: no row '%s' in\n%s", q->machine, q->size,
				         q->ramblock[j], sb.buf);
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
	struct strbuf sb = STRBUF_INIT;
	struct machine m;
	size_t i;

	(void)state;
	build(&m, "pc", "6G");
	as_render_tree(&m.as, &sb);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(sb.buf, want[i]))
			fail_msg("missing:\n%s\nin:\n%s", want[i], sb.buf);
	sb_free(&sb);
	machine_exit(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_flatview_equals_qemu),
	        cmocka_unit_test(test_ramblock_equals_qemu),
	        cmocka_unit_test(test_mtree_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
