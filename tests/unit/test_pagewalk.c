/*
 * test_pagewalk.c - x86-64 page walks over hand-built page tables: 4 KiB,
 * 2 MiB and 1 GiB pages, an absent entry at every level, a table outside
 * RAM, the U/S, R/W and NX rights of a path, 5-level paging, non-canonical
 * addresses, paging off; and the scan that vmem's SEEK_DATA/SEEK_HOLE use.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "memory/pagewalk.h"
#include "util/compiler.h"
#include "util/strbuf.h"

/* Guest-physical memory: 64 pages from 0; anything above reads as a hole. */
#define MEM_SIZE (64 * 4096)
static uint64_t mem[MEM_SIZE / 8];

static int mem_read(void *opaque, uint64_t gpa, uint64_t *val)
{
	(void)opaque;
	if (gpa >= MEM_SIZE || gpa % 8)
		return -EFAULT;
	*val = mem[gpa / 8];
	return 0;
}

#define P  PW_PTE_P
#define RW PW_PTE_RW
#define US PW_PTE_US
#define PS PW_PTE_PS
#define NX PW_PTE_NX

#define PML4  0x1000
#define PDPT  0x2000
#define PD    0x3000
#define PT    0x4000
#define PDPT2 0x5000
#define PML5  0x6000

static void set(uint64_t table, unsigned index, uint64_t entry)
{
	mem[(table + 8 * index) / 8] = entry;
}

static void build_tables(void)
{
	memset(mem, 0, sizeof(mem));
	set(PML5, 0, PML4 | P | RW | US);
	set(PML4, 0, PDPT | P | RW | US);
	set(PML4, 2, 0x100000000ULL | P | RW); /* its PDPT is not RAM */
	set(PML4, 511, PDPT2 | P | RW);
	set(PDPT, 0, PD | P | RW | US);
	set(PDPT, 1, 0x40000000 | P | RW | PS); /* 1 GiB, supervisor */
	set(PD, 0, PT | P | RW | US);
	set(PD, 1, 0x600000 | P | US | PS | NX); /* 2 MiB, read-only, no-exec */
	set(PT, 0, 0x9000 | P | RW | US);
	set(PT, 1, 0xa000 | P); /* read-only, supervisor */
	set(PT, 3, 0xb000 | P | RW | US | NX);
	set(PDPT2, 510, 0 | P | RW | PS | (1ULL << 8)); /* kernel text 1 GiB, global */
}

#define CR0_PE 1ULL
static const struct pagewalk_cpu cpu4 = {.cr0 = PW_CR0_PG | CR0_PE,
                                         .cr3 = PML4,
                                         .cr4 = PW_CR4_PAE,
                                         .efer = PW_EFER_LMA | PW_EFER_NXE | (1ULL << 8)};
static const struct pagewalk_cpu cpu4_nonxe = {.cr0 = PW_CR0_PG | CR0_PE,
                                               .cr3 = PML4 | 0x5 /* PCID bits ignored */,
                                               .cr4 = PW_CR4_PAE,
                                               .efer = PW_EFER_LMA};
static const struct pagewalk_cpu cpu5 = {.cr0 = PW_CR0_PG | CR0_PE,
                                         .cr3 = PML5,
                                         .cr4 = PW_CR4_PAE | PW_CR4_LA57,
                                         .efer = PW_EFER_LMA | PW_EFER_NXE};
static const struct pagewalk_cpu cpu_real = {.cr0 = 0x10};
static const struct pagewalk_cpu cpu_pae32 = {.cr0 = PW_CR0_PG | CR0_PE, .cr4 = PW_CR4_PAE};

static const struct walk_case {
	const char *what;
	const struct pagewalk_cpu *cpu;
	uint64_t va;
	enum pagewalk_status status;
	unsigned nr_steps; /* entries read */
	uint64_t pa, span;
	bool writable, user, nx;
} walk_cases[] = {
        {"4K page", &cpu4, 0x123, PW_OK, 4, 0x9123, 4096, true, true, false},
        {"4K read-only supervisor", &cpu4, 0x1ff8, PW_OK, 4, 0xaff8, 4096, false, false, false},
        {"4K no-exec", &cpu4, 0x3010, PW_OK, 4, 0xb010, 4096, true, true, true},
        {"4K NX ignored without EFER.NXE", &cpu4_nonxe, 0x3010, PW_OK, 4, 0xb010, 4096, true, true,
         false},
        {"2M page", &cpu4, 0x212345, PW_OK, 3, 0x612345, 1 << 21, false, true, true},
        {"1G page", &cpu4, 0x40000000 + 0x1234567, PW_OK, 2, 0x41234567, 1 << 30, true, false,
         false},
        {"upper-half 1G page", &cpu4, 0xffffffff81000000ULL, PW_OK, 2, 0x1000000, 1 << 30, true,
         false, false},
        {"PTE absent", &cpu4, 0x2000, PW_NOT_PRESENT, 4, 0, 4096},
        {"PDE absent", &cpu4, 0x400000, PW_NOT_PRESENT, 3, 0, 1 << 21},
        {"PDPTE absent", &cpu4, 0x80000000, PW_NOT_PRESENT, 2, 0, 1 << 30},
        {"PML4E absent", &cpu4, 1ULL << 39, PW_NOT_PRESENT, 1, 0, 1ULL << 39},
        {"PDPT outside RAM", &cpu4, 2ULL << 39, PW_UNREADABLE, 2, 0, 1ULL << 39},
        {"non-canonical", &cpu4, 0x0000800000000000ULL, PW_NONCANONICAL, 0, 0, 4096},
        {"5-level 4K page", &cpu5, 0x123, PW_OK, 5, 0x9123, 4096, true, true, false},
        {"5-level PML5E absent", &cpu5, 1ULL << 48, PW_NOT_PRESENT, 1, 0, 1ULL << 48},
        {"5-level takes 57 bits", &cpu5, 0x0000800000000000ULL, PW_NOT_PRESENT, 2, 0, 1ULL << 39},
        {"paging off", &cpu_real, 0xb8000, PW_OK, 0, 0xb8000, 1ULL << 32, true, true, false},
        {"32-bit PAE", &cpu_pae32, 0x1000, PW_UNSUPPORTED, 0, 0, 1ULL << 32},
};

static void test_walks(void **state)
{
	size_t i;

	(void)state;
	build_tables();
	for (i = 0; i < ARRAY_SIZE(walk_cases); i++) {
		const struct walk_case *c = &walk_cases[i];
		struct pagewalk_result r;

		print_message("%s\n", c->what);
		assert_int_equal(pagewalk(c->cpu, c->va, mem_read, NULL, &r), 0);
		assert_int_equal(r.status, c->status);
		assert_int_equal(r.nr_steps, c->nr_steps);
		assert_int_equal(r.span, c->span);
		if (c->status != PW_OK)
			continue;
		assert_int_equal(r.pa, c->pa);
		assert_int_equal(r.writable, c->writable);
		assert_int_equal(r.user, c->user);
		assert_int_equal(r.nx, c->nx);
	}
}

static void test_steps(void **state)
{
	struct pagewalk_result r;

	(void)state;
	build_tables();
	pagewalk(&cpu4, 0x3010, mem_read, NULL, &r);
	assert_int_equal(r.levels, 4);
	assert_int_equal(r.steps[0].level, 4);
	assert_int_equal(r.steps[0].entry_gpa, PML4);
	assert_int_equal(r.steps[1].entry_gpa, PDPT);
	assert_int_equal(r.steps[2].entry_gpa, PD);
	assert_int_equal(r.steps[3].level, 1);
	assert_int_equal(r.steps[3].index, 3);
	assert_int_equal(r.steps[3].entry_gpa, PT + 24);
	assert_int_equal(r.steps[3].entry, 0xb000 | P | RW | US | NX);
	pagewalk(&cpu4, 0xffffffff81000000ULL, mem_read, NULL, &r);
	assert_int_equal(r.steps[0].index, 511);
	assert_int_equal(r.steps[1].index, 510);
}

static const struct seek_case {
	uint64_t from;
	bool mapped;
	int ret;
	uint64_t out;
} seek_cases[] = {
        {0, true, 0, 0},
        {0, false, 0, 0x2000},
        {0x3000, false, 0, 0x4000},
        {0x2000, true, 0, 0x3000},
        {0x4000, true, 0, 0x200000},           /* past 508 absent PTEs */
        {0x400000, true, 0, 0x40000000},       /* past absent PDEs */
        {0x80000000, true, 0, 0xffff80000000}, /* absent PDPTEs, PML4Es, a table off RAM */
        {0xffffc0000000, true, -ENXIO, 0},     /* nothing mapped above the kernel's 1G */
        {0xffffc0000000, false, 0, 0xffffc0000000},
};

static void test_seek(void **state)
{
	const uint64_t end = 1ULL << 48;
	size_t i;

	(void)state;
	build_tables();
	assert_int_equal(pagewalk_canonical(&cpu4, 0xffff80000000), 0xffffffff80000000ULL);
	assert_int_equal(pagewalk_canonical(&cpu4, 0x7fff00000000), 0x7fff00000000);
	assert_int_equal(pagewalk_canonical(&cpu5, 0x100000000000000ULL), 0xff00000000000000ULL);
	for (i = 0; i < ARRAY_SIZE(seek_cases); i++) {
		const struct seek_case *c = &seek_cases[i];
		uint64_t out = 0;

		assert_int_equal(
		        pagewalk_seek(&cpu4, c->from, end, c->mapped, 4096, mem_read, NULL, &out),
		        c->ret);
		if (!c->ret)
			assert_int_equal(out, c->out);
	}
	/* A scan that needs more walks than allowed says so. */
	assert_int_equal(
	        pagewalk_seek(&cpu4, 0x4000, end, true, 10, mem_read, NULL, &(uint64_t){0}),
	        -EAGAIN);
}

static void test_render(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct pagewalk_result r;

	(void)state;
	build_tables();
	pagewalk(&cpu4, 0x212345, mem_read, NULL, &r);
	pagewalk_render(&r, &sb);
	sb_add(&sb, "", 1);
	assert_non_null(strstr(sb.buf, "va 0x0000000000212345 (4-level paging)\n"));
	assert_non_null(strstr(sb.buf, "PDE  [  1] at 0x0000000000003008: 0x8000000000600085 P US "
	                               "PS NX\n"));
	assert_non_null(strstr(sb.buf, "pa 0x0000000000612345 2M page ro user nx\n"));
	sb_free(&sb);

	sb = (struct strbuf)STRBUF_INIT;
	pagewalk(&cpu4, 0x400000, mem_read, NULL, &r);
	pagewalk_render(&r, &sb);
	sb_add(&sb, "", 1);
	assert_non_null(strstr(sb.buf, "fault at PDE: not present\n"));
	sb_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_walks),
	        cmocka_unit_test(test_steps),
	        cmocka_unit_test(test_seek),
	        cmocka_unit_test(test_render),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
