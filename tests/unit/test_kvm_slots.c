/*
 * test_kvm_slots.c - memslots from flat views: one per RAM/ROM range, ROM
 * read-only, I/O skipped, split at KVM's slot size limit; dirty logging
 * per block as the predicate says; and the diff that applies a new view.
 * Pure functions: no /dev/kvm needed.
 */
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kvm/kvm.h"
#include "memory/ram.h"

/* Big enough that the pointers computed below stay inside. */
static uint8_t host_a[0x600000], host_b[0x20000];
static struct ram_block ba = {.idstr = "a", .host = host_a};
static struct ram_block bb = {.idstr = "b", .host = host_b};
static struct memory_region ra = {.name = "a", .kind = MR_RAM, .block = &ba};
static struct memory_region rb = {.name = "b", .kind = MR_ROM, .block = &bb};
static struct memory_region io = {.name = "io", .kind = MR_IO};

/* Every block logs / the one block opaque points at logs. */
static bool log_all(void *opaque, const struct ram_block *b)
{
	(void)opaque;
	(void)b;
	return true;
}

static bool log_one(void *opaque, const struct ram_block *b)
{
	return b == opaque;
}

static void test_derive(void **state)
{
	struct flat_range r[] = {
	        {.start = 0, .size = 0xa0000, .mr = &ra, .offset = 0},
	        {.start = 0xa0000, .size = 0x20000, .mr = &io},
	        {.start = 0xc0000, .size = 0x20000, .mr = &rb, .offset = 0, .readonly = true},
	        {.start = 0x100000, .size = 0x500000, .mr = &ra, .offset = 0x100000},
	};
	struct flatview fv = {r, 4, 4};
	struct kvm_slot_desc *d;
	size_t n;

	(void)state;
	assert_int_equal(kvm_slots_derive(&fv, 0x200000, log_all, NULL, &d, &n), 0);
	/* 1 + 1 (ROM) + 3 pieces of at most 2 MiB; the I/O range gets none. */
	assert_int_equal(n, 5);
	assert_int_equal(d[0].gpa, 0);
	assert_int_equal(d[0].flags, KVM_MEM_LOG_DIRTY_PAGES);
	assert_int_equal(d[1].gpa, 0xc0000);
	assert_int_equal(d[1].flags, KVM_MEM_READONLY);
	assert_ptr_equal(d[1].host, host_b);
	assert_int_equal(d[2].gpa, 0x100000);
	assert_int_equal(d[2].size, 0x200000);
	assert_int_equal(d[3].gpa, 0x300000);
	assert_int_equal(d[3].offset, 0x300000);
	assert_ptr_equal(d[3].host, host_a + 0x300000);
	assert_int_equal(d[4].size, 0x100000);
	free(d);
	/* Logging nowhere (no predicate): no RAM slot logs, ROM stays read-only. */
	assert_int_equal(kvm_slots_derive(&fv, 0x200000, NULL, NULL, &d, &n), 0);
	assert_int_equal(d[0].flags, 0);
	assert_int_equal(d[1].flags, KVM_MEM_READONLY);
	free(d);
}

/*
 * Logging is per block: of two RAM blocks, only the one the predicate
 * names logs, in every slot of it (split, and an alias at another GPA);
 * the predicate for a ROM block is never honoured, nothing to log there.
 */
static void test_derive_logs_per_block(void **state)
{
	static uint8_t host_c[0x200000];
	static struct ram_block bc = {.idstr = "c", .host = host_c};
	static struct memory_region rc = {.name = "c", .kind = MR_RAM, .block = &bc};
	struct flat_range r[] = {
	        {.start = 0, .size = 0x300000, .mr = &ra, .offset = 0},
	        {.start = 0x400000, .size = 0x200000, .mr = &rc, .offset = 0},
	        {.start = 0x800000, .size = 0x20000, .mr = &rb, .offset = 0, .readonly = true},
	        {.start = 0x1000000, .size = 0x100000, .mr = &ra, .offset = 0x300000},
	};
	static const struct {
		struct ram_block *logged;
		uint32_t flags[5];
	} cases[] = {
	        /* a: its two pieces and its alias log; c does not. */
	        {&ba,
	         {KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_LOG_DIRTY_PAGES, 0, KVM_MEM_READONLY,
	          KVM_MEM_LOG_DIRTY_PAGES}},
	        /* c only. */
	        {&bc, {0, 0, KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY, 0}},
	        /* The ROM named: nothing logs, the ROM stays read-only. */
	        {&bb, {0, 0, 0, KVM_MEM_READONLY, 0}},
	        /* Nobody. */
	        {NULL, {0, 0, 0, KVM_MEM_READONLY, 0}},
	};
	struct flatview fv = {r, 4, 4};
	struct kvm_slot_desc *d;
	size_t n, c, i;

	(void)state;
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		assert_int_equal(kvm_slots_derive(&fv, 0x200000, log_one, cases[c].logged, &d, &n),
		                 0);
		/* a split in two at 2 MiB, c, the ROM, a's alias. */
		assert_int_equal(n, 5);
		for (i = 0; i < n; i++)
			assert_int_equal(d[i].flags, cases[c].flags[i]);
		assert_ptr_equal(d[4].block, &ba);
		free(d);
	}
}

static void test_diff(void **state)
{
	struct kvm_slot old[] = {
	        {0, {0, 0xa0000, host_a, &ba, 0, 0}},
	        {1, {0xc0000, 0x20000, host_b, &bb, 0, KVM_MEM_READONLY}},
	        {2, {0x100000, 0x100000, host_a + 0x100000, &ba, 0x100000, 0}},
	};
	struct kvm_slot_desc new[] = {
	        {0, 0xa0000, host_a, &ba, 0, 0},                               /* same */
	        {0xc0000, 0x20000, host_b, &bb, 0, 0},                         /* flags changed */
	        {0x100000, 0x200000, host_a + 0x100000, &ba, 0x100000, 0},     /* grown */
	        {0x100000000ULL, 0x1000, host_a + 0x300000, &ba, 0x300000, 0}, /* new */
	};
	bool keep[3], have[4];

	(void)state;
	kvm_slots_diff(old, 3, new, 4, keep, have);
	assert_true(keep[0]);
	assert_false(keep[1]);
	assert_false(keep[2]);
	assert_true(have[0]);
	assert_false(have[1]);
	assert_false(have[2]);
	assert_false(have[3]);
	/* Nothing changed: everything stays. */
	kvm_slots_diff(old, 1, new, 1, keep, have);
	assert_true(keep[0] && have[0]);
	/* A view emptied: every slot goes. */
	kvm_slots_diff(old, 3, new, 0, keep, have);
	assert_false(keep[0] || keep[1] || keep[2]);
}

/*
 * A 20 TiB range at 4G, derived with the limit kvm.c itself passes.  KVM
 * refuses a slot of more than KVM_MEM_MAX_NR_PAGES = 2^31 - 1 pages of 4 KiB
 * (include/linux/kvm_host.h); kvmfs also keeps every piece a whole number of
 * GiB so that 1 GiB pages stay aligned.  Written out here from those two
 * rules, not taken from kvm.h: pieces of 8 TiB - 1 GiB, the last one the rest.
 */
static void test_split_at_kvms_limit(void **state)
{
	const uint64_t kvm_max_pages = (1ULL << 31) - 1, gib = 1ULL << 30, tib = 1ULL << 40;
	const uint64_t piece = 8 * tib - gib, size = 20 * tib, start = 4 * gib;
	/* Never dereferenced: only the arithmetic on it is checked. */
	uint8_t *host = (uint8_t *)(uintptr_t)0x100000000000ULL;
	struct ram_block big = {.idstr = "pc.ram", .host = host};
	struct memory_region mr = {.name = "pc.ram", .kind = MR_RAM, .block = &big};
	struct flat_range r[] = {{.start = start, .size = size, .mr = &mr, .offset = 3 * gib}};
	struct flatview fv = {r, 1, 1};
	struct kvm_slot_desc *d;
	uint64_t next = start;
	size_t n, i;

	(void)state;
	assert_int_equal(kvm_slots_derive(&fv, KVM_SLOT_MAX_SIZE, log_all, NULL, &d, &n), 0);
	assert_int_equal(n, 3);
	for (i = 0; i < n; i++) {
		assert_true(d[i].size / 4096 <= kvm_max_pages);
		assert_int_equal(d[i].size, i + 1 < n ? piece : size - (n - 1) * piece);
		assert_int_equal(d[i].gpa % gib, 0);
		/* Contiguous, and each piece shows its own part of the block. */
		assert_int_equal(d[i].gpa, next);
		assert_int_equal(d[i].offset, 3 * gib + (next - start));
		assert_ptr_equal(d[i].host, host + d[i].offset);
		assert_ptr_equal(d[i].block, &big);
		next += d[i].size;
	}
	assert_int_equal(next, start + size);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_derive),
	        cmocka_unit_test(test_derive_logs_per_block),
	        cmocka_unit_test(test_diff),
	        cmocka_unit_test(test_split_at_kvms_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
