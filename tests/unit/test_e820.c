/*
 * test_e820.c - the e820 table Linux gets equals the flat view's RAM: for pc
 * and q35 at sizes below and above their RAM splits, every usable entry is
 * writable RAM of the flat view, every RAM byte outside the board's
 * reserved windows is usable, and the ranges are the ones written out below
 * (from QEMU's layouts, src/machine/pc.h).  Low RAM ends at
 * 0x9fc00, where SeaBIOS (and so every QEMU guest) has its 1 KiB EBDA.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "boot/e820.h"
#include "cmdline.h"
#include "machine/machine.h"
#include "util/compiler.h"
#include "util/strbuf.h"

#define G (1ULL << 30)
#define M (1ULL << 20)

/* Linux's values (arch/x86/include/asm/e820/types.h), not e820.h's enum:
 * a wrong number there must fail here. */
#define LINUX_E820_RAM      1
#define LINUX_E820_RESERVED 2

struct range {
	uint64_t start, end; /* [start, end) */
};

struct e820_case {
	const char *machine;
	const char *size;
	struct range usable[3];
};

static const struct e820_case cases[] = {
        {"pc", "2M", {{0, 0x9fc00}, {M, 2 * M}}},
        {"pc", "128M", {{0, 0x9fc00}, {M, 128 * M}}},
        {"pc", "3G", {{0, 0x9fc00}, {M, 3 * G}}},
        {"pc", "3583M", {{0, 0x9fc00}, {M, 3583 * M}}},
        {"pc", "3584M", {{0, 0x9fc00}, {M, 0xc0000000}, {4 * G, 4 * G + 512 * M}}},
        {"pc", "6G", {{0, 0x9fc00}, {M, 0xc0000000}, {4 * G, 7 * G}}},
        {"pc", "16G", {{0, 0x9fc00}, {M, 0xc0000000}, {4 * G, 17 * G}}},
        {"q35", "128M", {{0, 0x9fc00}, {M, 128 * M}}},
        {"q35", "2G", {{0, 0x9fc00}, {M, 2 * G}}},
        {"q35", "2815M", {{0, 0x9fc00}, {M, 2815 * M}}},
        {"q35", "2816M", {{0, 0x9fc00}, {M, 2 * G}, {4 * G, 4 * G + 768 * M}}},
        {"q35", "6G", {{0, 0x9fc00}, {M, 2 * G}, {4 * G, 8 * G}}},
        {"q35", "16G", {{0, 0x9fc00}, {M, 2 * G}, {4 * G, 18 * G}}},
};

static void build(struct machine *m, const char *type, const char *size)
{
	struct machine_config mc = {.type = type, .cpus = 1, .backing = RAM_BACKING_ANON};
	char err[128];

	assert_int_equal(cmdline_parse_size(size, &mc.ram_size, err, sizeof(err)), 0);
	assert_int_equal(machine_init(m, &mc), 0);
}

/*
 * What must be reserved whatever the flat view maps there, written out
 * here rather than taken from e820.c: SeaBIOS's 1 KiB EBDA at 639 KiB and
 * the legacy hole up to 1 MiB; and the pages QEMU gives KVM for its
 * identity map (0xfeffc000) and real-mode TSS (0xfeffd000, 3 pages).
 */
static const struct range reserved[] = {
        {0x9fc00, 0x100000},
        {0xfeffc000, 0xff000000},
};

static bool in_window(uint64_t a)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(reserved); i++)
		if (a >= reserved[i].start && a < reserved[i].end)
			return true;
	return false;
}

static uint32_t type_at(const struct e820_table *t, uint64_t a)
{
	size_t i;

	for (i = 0; i < t->nr; i++)
		if (a >= t->entries[i].addr && a - t->entries[i].addr < t->entries[i].size)
			return t->entries[i].type;
	return 0;
}

/* Every flat range, probed at its edges and every MiB: the two views agree. */
static void check_against_flatview(const struct e820_case *c, struct machine *m,
                                   const struct e820_table *t)
{
	const struct flatview *fv = m->as.fv;
	size_t i;

	for (i = 0; i < fv->nr; i++) {
		const struct flat_range *fr = &fv->ranges[i];
		bool ram = fr->mr->kind == MR_RAM && !fr->readonly;
		uint64_t a;

		uint64_t last = fr->start + fr->size - 1;

		for (a = fr->start;; a = ((a | (M - 1)) + 1 > last ? last : (a | (M - 1)) + 1)) {
			uint32_t want = in_window(a)             ? LINUX_E820_RESERVED
			                : !flat_range_is_ram(fr) ? 0
			                : ram                    ? LINUX_E820_RAM
			                                         : LINUX_E820_RESERVED;

			if (type_at(t, a) != want)
				fail_msg("-M %s -m %s: 0x%llx (%s) is e820 type %u, want %u",
				         c->machine, c->size, (unsigned long long)a, fr->mr->name,
				         type_at(t, a), want);
			if (a == last)
				break;
		}
	}
	/* And nothing is usable that the flat view does not map as RAM. */
	for (i = 0; i < t->nr; i++) {
		const struct e820_entry *e = &t->entries[i];
		const struct flat_range *lo = flatview_lookup(fv, e->addr),
		                        *hi = flatview_lookup(fv, e->addr + e->size - 1);

		if (e->type != LINUX_E820_RAM)
			continue;
		assert_non_null(lo);
		assert_non_null(hi);
		assert_int_equal(lo->mr->kind, MR_RAM);
		assert_int_equal(hi->mr->kind, MR_RAM);
	}
}

static void test_usable_equals_flatview_ram(void **state)
{
	size_t i, j, n;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct e820_case *c = &cases[i];
		struct e820_table t;
		struct machine m;

		build(&m, c->machine, c->size);
		assert_int_equal(e820_build_pc(&m.as, &t), 0);
		for (j = n = 0; j < t.nr; j++) {
			if (t.entries[j].type != LINUX_E820_RAM)
				continue;
			if (n >= 3 || t.entries[j].addr != c->usable[n].start ||
			    t.entries[j].addr + t.entries[j].size != c->usable[n].end)
				fail_msg("-M %s -m %s: usable entry %zu is 0x%llx+0x%llx",
				         c->machine, c->size, n,
				         (unsigned long long)t.entries[j].addr,
				         (unsigned long long)t.entries[j].size);
			n++;
		}
		for (j = n; j < 3; j++)
			assert_int_equal(c->usable[j].end, 0);
		check_against_flatview(c, &m, &t);
		machine_exit(&m);
	}
}

/* One whole table, as Linux prints it. */
static void test_pc_6g_table(void **state)
{
	static const char want[] =
	        "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\n"
	        "BIOS-e820: [mem 0x000000000009fc00-0x00000000000fffff] reserved\n"
	        "BIOS-e820: [mem 0x0000000000100000-0x00000000bfffffff] usable\n"
	        "BIOS-e820: [mem 0x00000000feffc000-0x00000000feffffff] reserved\n"
	        "BIOS-e820: [mem 0x00000000fffc0000-0x00000000ffffffff] reserved\n"
	        "BIOS-e820: [mem 0x0000000100000000-0x00000001bfffffff] usable\n";
	struct strbuf sb = STRBUF_INIT;
	struct e820_table t;
	struct machine m;

	(void)state;
	build(&m, "pc", "6G");
	assert_int_equal(e820_build_pc(&m.as, &t), 0);
	e820_render(&t, &sb);
	assert_int_equal(sb.err, 0);
	assert_string_equal(sb.buf, want);
	sb_free(&sb);
	machine_exit(&m);
}

/* Without windows the table is the flat view alone: the hole's RAM is usable. */
static void test_no_windows(void **state)
{
	struct e820_table t;
	struct machine m;

	(void)state;
	build(&m, "q35", "128M");
	assert_int_equal(e820_build(m.as.fv, NULL, 0, &t), 0);
	assert_int_equal(t.nr, 4);
	assert_int_equal(t.entries[0].addr, 0);
	assert_int_equal(t.entries[0].size, 0xc0000);
	assert_int_equal(t.entries[0].type, LINUX_E820_RAM);
	assert_int_equal(t.entries[1].addr, 0xc0000); /* pc.rom and isa-bios, merged */
	assert_int_equal(t.entries[1].size, 0x40000);
	assert_int_equal(t.entries[1].type, LINUX_E820_RESERVED);
	assert_int_equal(t.entries[2].addr, M);
	assert_int_equal(t.entries[2].size, 127 * M);
	assert_int_equal(t.entries[3].type, LINUX_E820_RESERVED);
	machine_exit(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_usable_equals_flatview_ram),
	        cmocka_unit_test(test_pc_6g_table),
	        cmocka_unit_test(test_no_windows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
