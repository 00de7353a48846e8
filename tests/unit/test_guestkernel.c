/*
 * test_guestkernel.c - finding a Linux kernel in guest memory, on synthetic
 * memory images: page tables built here, as Linux's head_64.S, kaslr.c and
 * init_mem_mapping lay them out, around a fake image (text, rodata with
 * the banner, data with init_top_pgt, a freed hole, bss with the
 * vmcoreinfo_note pointer), a direct map, a module, a vmalloc'd stack.
 *
 * Each case of the table says where the test put things - without KASLR,
 * with KASLR (phys_base "negative", page_offset_base randomized), with a
 * process's page tables in CR3, with PTI's user root in CR3, with 5-level
 * paging, with a process's root in a page of the image the kernel freed
 * (seen in a QEMU dump of Debian's 6.1 with KASLR) - and the search must
 * find exactly that.
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

#include "inspect/guestkernel.h"
#include "util/compiler.h"
#include "util/strbuf.h"

#define KIB        1024ULL
#define MIB        (1024 * KIB)
#define GIB        (1024 * MIB)
#define RAM_SIZE   (96 * MIB)
#define PAGE       4096ULL
#define P          0x1ULL
#define RW         0x2ULL
#define PS         0x80ULL
#define NX         (1ULL << 63)
#define ADDR       0x000ffffffffff000ULL
#define RELEASE    "6.1.0-test-amd64"
#define BANNER     "Linux version " RELEASE " (builder@host) (gcc) #1 SMP"
#define IMAGE_SIZE (10 * MIB)
#define PGT_OFF    (4 * MIB + 0x10000) /* init_top_pgt, in .data */
#define NOTE_PTR   (8 * MIB + 0x2030)  /* vmcoreinfo_note, in .bss */
#define NOTE_GPA   (72 * MIB)
#define FREED_OFF  (9 * MIB) /* an image page given back (unused .bss..decrypted) */
#define STACK_VA   0xffffc90000010000ULL

static uint8_t *ram;
static uint64_t next_table;

static size_t ram_read(void *opaque, uint64_t gpa, void *buf, size_t len)
{
	(void)opaque;
	if (gpa >= RAM_SIZE)
		return 0;
	if (len > RAM_SIZE - gpa)
		len = (size_t)(RAM_SIZE - gpa);
	memcpy(buf, ram + gpa, len);
	return len;
}

static const struct guestkernel_mem mem = {ram_read, NULL};

static uint64_t new_table(void)
{
	uint64_t t = next_table;

	next_table += PAGE;
	assert_true(next_table < 16 * MIB);
	memset(ram + t, 0, PAGE);
	return t;
}

static uint64_t *entry(uint64_t table, unsigned idx)
{
	return (uint64_t *)(ram + table + idx * 8);
}

/* Map one 4 KiB or 2 MiB page; intermediate entries allow everything, the leaf decides. */
static void map(uint64_t root, unsigned levels, uint64_t va, uint64_t pa, uint64_t size,
                uint64_t flags)
{
	uint64_t table = root;
	unsigned level;

	for (level = levels; level > 1; level--) {
		unsigned idx = (unsigned)(va >> (12 + 9 * (level - 1))) & 511;
		uint64_t *e = entry(table, idx);

		if (level == 2 && size == 2 * MIB) {
			*e = pa | flags | PS;
			return;
		}
		if (!(*e & P))
			*e = new_table() | P | RW;
		table = *e & ADDR;
	}
	*entry(table, (unsigned)(va >> 12) & 511) = pa | flags;
}

static void map_range(uint64_t root, unsigned levels, uint64_t va, uint64_t pa, uint64_t len,
                      uint64_t flags)
{
	uint64_t off;

	for (off = 0; off < len; off += 4 * KIB)
		map(root, levels, va + off, pa + off, 4 * KIB, flags);
}

struct layout {
	const char *name;
	unsigned levels;
	uint64_t text_pa, text_va, page_offset;
	/* ROOT_IMAGE_PAGE: a process's root in a page of the image the kernel freed */
	enum { ROOT_INIT, ROOT_PROCESS, ROOT_PTI_USER, ROOT_IMAGE_PAGE } root;
};

/* Where the test put things, once built. */
struct built {
	uint64_t init_pgt_pa, cr3;
	uint64_t module_va;
};

static void put_note(uint64_t gpa, const char *text)
{
	uint32_t hdr[3] = {11, (uint32_t)strlen(text), 0};

	memcpy(ram + gpa, hdr, sizeof(hdr));
	memcpy(ram + gpa + 12, "VMCOREINFO\0\0", 12);
	memcpy(ram + gpa + 24, text, strlen(text));
}

static void build(const struct layout *l, struct built *b)
{
	uint64_t root, off, kpgd;
	unsigned i;

	memset(ram, 0, RAM_SIZE);
	next_table = MIB;
	b->init_pgt_pa = l->text_pa + PGT_OFF;
	root = b->init_pgt_pa;
	/* The image: text RX, rodata RO with the banner, data, a freed hole, bss. */
	map_range(root, l->levels, l->text_va, l->text_pa, 2 * MIB, P);
	map_range(root, l->levels, l->text_va + 2 * MIB, l->text_pa + 2 * MIB, 2 * MIB, P | NX);
	map_range(root, l->levels, l->text_va + 4 * MIB, l->text_pa + 4 * MIB, 2 * MIB,
	          P | RW | NX);
	map_range(root, l->levels, l->text_va + 8 * MIB, l->text_pa + 8 * MIB, 2 * MIB,
	          P | RW | NX);
	/* A string that only looks like the banner comes first, in text. */
	memcpy(ram + l->text_pa + 0x500, "Linux version %s", 16);
	memcpy(ram + l->text_pa + 2 * MIB + 0x1000, BANNER, sizeof(BANNER));
	/* A module after the image: mapped, but not at the image's offset. */
	b->module_va = l->text_va + 48 * MIB;
	map(root, l->levels, b->module_va, 80 * MIB, 4 * KIB, P | RW | NX);
	/* A mapping below the direct map whose offset is not 1 GiB aligned (LDT remap). */
	map(root, l->levels, l->page_offset - GIB + 0x1000, 81 * MIB, 4 * KIB, P | RW | NX);
	/* The direct map of all RAM, 2 MiB pages. */
	for (off = 0; off < RAM_SIZE; off += 2 * MIB)
		map(root, l->levels, l->page_offset + off, off, 2 * MIB, P | RW | NX);
	/* A vmalloc'd stack: a guard page, three pages, a hole, one page. */
	map(root, l->levels, STACK_VA + 1 * PAGE, 82 * MIB, PAGE, P | RW | NX);
	map(root, l->levels, STACK_VA + 2 * PAGE, 82 * MIB + 5 * PAGE, PAGE, P | RW | NX);
	map(root, l->levels, STACK_VA + 3 * PAGE, 82 * MIB + 6 * PAGE, PAGE, P | RW | NX);

	b->cr3 = b->init_pgt_pa;
	if (l->root == ROOT_INIT)
		return;
	/* A process's root: the kernel half copied (pgd_alloc), something of its own below. */
	if (l->root == ROOT_IMAGE_PAGE) {
		kpgd = l->text_pa + FREED_OFF; /* the bss run maps it, at the image's offset */
	} else {
		kpgd = (new_table() + 2 * PAGE - 1) & ~(2 * PAGE - 1);
		next_table = kpgd + 2 * PAGE;
	}
	memset(ram + kpgd, 0, 2 * PAGE);
	for (i = 256; i < 512; i++)
		*entry(kpgd, i) = *entry(root, i);
	map(kpgd, l->levels, 0x400000, 83 * MIB, PAGE, P | RW);
	b->cr3 = kpgd;
	if (l->root == ROOT_PTI_USER) {
		/* PTI: the user root is the next page, mapping the user half and little else. */
		map(kpgd + PAGE, l->levels, 0x400000, 83 * MIB, PAGE, P | RW);
		b->cr3 = (kpgd + PAGE) | 0x5; /* and a PCID */
	}
}

static struct pagewalk_cpu cpu_of(const struct layout *l, const struct built *b)
{
	return (struct pagewalk_cpu){
	        .cr0 = PW_CR0_PG | 1,
	        .cr3 = b->cr3,
	        .cr4 = PW_CR4_PAE | (l->levels == 5 ? PW_CR4_LA57 : 0),
	        .efer = PW_EFER_LMA | PW_EFER_NXE | (1 << 8),
	};
}

static const struct layout layouts[] = {
        {"nokaslr", 4, 16 * MIB, 0xffffffff81000000ULL, 0xffff888000000000ULL, ROOT_INIT},
        /* phys 38 MiB, virtual offset 448 MiB: phys_base wraps below zero, as with KASLR. */
        {"kaslr", 4, 38 * MIB, 0xffffffff9d000000ULL, 0xffffa0c540000000ULL, ROOT_PROCESS},
        {"pti", 4, 22 * MIB, 0xffffffff83000000ULL, 0xffff9b0000000000ULL, ROOT_PTI_USER},
        {"la57", 5, 16 * MIB, 0xffffffff81000000ULL, 0xff11000000000000ULL, ROOT_PROCESS},
        {"root-in-image", 4, 30 * MIB, 0xffffffff8d000000ULL, 0xffff8af6c0000000ULL,
         ROOT_IMAGE_PAGE},
};

static void test_find(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(layouts); i++) {
		const struct layout *l = &layouts[i];
		struct guestkernel k;
		struct pagewalk_cpu cpu;
		struct built b;

		print_message("layout %s\n", l->name);
		build(l, &b);
		cpu = cpu_of(l, &b);
		assert_int_equal(guestkernel_find(&cpu, &mem, NULL, &k), 0);
		assert_int_equal(k.text_va, l->text_va);
		assert_int_equal(k.text_pa, l->text_pa);
		assert_int_equal(k.kernel_offset, l->text_va - 0xffffffff81000000ULL);
		assert_int_equal(k.phys_base, l->text_pa - (l->text_va - 0xffffffff80000000ULL));
		assert_true(k.page_offset_found);
		assert_int_equal(k.page_offset, l->page_offset);
		assert_string_equal(k.release, RELEASE);
		assert_int_equal(k.banner_gpa, l->text_pa + 2 * MIB + 0x1000);
		/* init_top_pgt, whichever root CR3 held. */
		assert_int_equal(k.swapper_pg_dir, l->text_va + PGT_OFF);
		assert_int_equal(k.cpu.cr3, b.init_pgt_pa == b.cr3 ? b.cr3 : b.cr3 & ~0x1fffULL);
		/* The image's runs: text, rodata, data, bss - the hole and the module left out. */
		assert_int_equal(k.nr_runs, 4);
		assert_int_equal(k.runs[0].va, l->text_va);
		assert_int_equal(k.runs[0].size, 2 * MIB);
		assert_false(k.runs[0].writable);
		assert_int_equal(k.runs[1].va, l->text_va + 2 * MIB);
		assert_false(k.runs[1].writable);
		assert_int_equal(k.runs[2].va, l->text_va + 4 * MIB);
		assert_int_equal(k.runs[2].pa, l->text_pa + 4 * MIB);
		assert_true(k.runs[2].writable);
		assert_int_equal(k.runs[3].va, l->text_va + 8 * MIB);
		assert_int_equal(k.runs[3].size, 2 * MIB);
		assert_int_equal(k.vmcoreinfo_len, 0); /* not filled in yet */
	}
}

/* The kernel's own note, once its pointer is set; an earlier boot's is not taken. */
static void test_vmcoreinfo(void **state)
{
	const struct layout *l = &layouts[1];
	const char *text = "OSRELEASE=" RELEASE "\nPAGESIZE=4096\nKERNELOFFSET=1c000000\n";
	uint64_t ptr = l->page_offset + NOTE_GPA;
	struct guestkernel k, k2;
	struct pagewalk_cpu cpu;
	struct built b;

	(void)state;
	build(l, &b);
	cpu = cpu_of(l, &b);
	put_note(NOTE_GPA, "OSRELEASE=5.10.0-old-amd64\nPAGESIZE=4096\n");
	memcpy(ram + l->text_pa + NOTE_PTR, &ptr, 8);
	assert_int_equal(guestkernel_find(&cpu, &mem, NULL, &k), 0);
	assert_int_equal(k.vmcoreinfo_len, 0);

	put_note(NOTE_GPA, text);
	assert_int_equal(guestkernel_find(&cpu, &mem, NULL, &k), 0);
	assert_int_equal(k.vmcoreinfo_len, strlen(text));
	assert_string_equal(k.vmcoreinfo, text);
	assert_int_equal(k.vmcoreinfo_gpa, NOTE_GPA);
	assert_int_equal(k.vmcoreinfo_ptr_gpa, l->text_pa + NOTE_PTR);

	/* With the last result as a hint: the same answer. */
	assert_int_equal(guestkernel_find(&cpu, &mem, &k, &k2), 0);
	assert_memory_equal(&k, &k2, sizeof(k));
	/* A hint that went stale is not trusted. */
	memset(ram + NOTE_GPA, 0, PAGE);
	assert_int_equal(guestkernel_find(&cpu, &mem, &k, &k2), 0);
	assert_int_equal(k2.vmcoreinfo_len, 0);
}

static void test_derived_vmcoreinfo(void **state)
{
	const struct layout *l = &layouts[1];
	struct strbuf sb = STRBUF_INIT;
	struct guestkernel k;
	struct pagewalk_cpu cpu;
	struct built b;
	char want[512];

	(void)state;
	build(l, &b);
	cpu = cpu_of(l, &b);
	assert_int_equal(guestkernel_find(&cpu, &mem, NULL, &k), 0);
	guestkernel_derive_vmcoreinfo(&k, &sb);
	/* 38 MiB - 464 MiB = -426 MiB; the kernel prints phys_base signed (%ld). */
	snprintf(want, sizeof(want),
	         "OSRELEASE=%s\nPAGESIZE=4096\nSYMBOL(swapper_pg_dir)=%llx\nSYMBOL(_stext)=%llx\n"
	         "NUMBER(phys_base)=%lld\nSYMBOL(init_top_pgt)=%llx\nNUMBER(pgtable_l5_enabled)=0\n"
	         "KERNELOFFSET=%llx\n",
	         RELEASE, (unsigned long long)(l->text_va + PGT_OFF),
	         (unsigned long long)l->text_va, -426LL * (long long)MIB,
	         (unsigned long long)(l->text_va + PGT_OFF), 0x1c000000ULL);
	assert_string_equal(sb.buf, want);
	sb_free(&sb);
}

/*
 * Early in boot CR3 holds early_top_pgt, in .data: identity mappings in its
 * user half and a kernel half init_top_pgt does not have yet.  Nothing is
 * init_top_pgt's double then, and the root itself is the answer.
 */
static void test_early_root(void **state)
{
	const struct layout *l = &layouts[0];
	const uint64_t early_off = PGT_OFF + 2 * PAGE;
	uint64_t early = l->text_pa + early_off;
	struct pagewalk_cpu cpu;
	struct guestkernel k;
	struct built b;
	unsigned i;

	(void)state;
	build(l, &b);
	for (i = 256; i < 512; i++)
		*entry(early, i) = *entry(b.init_pgt_pa, i);
	*entry(early, 0) = new_table() | P | RW;
	/* init_top_pgt has only the text mapping's entry so far. */
	for (i = 256; i < 511; i++)
		*entry(b.init_pgt_pa, i) = 0;
	b.cr3 = early;
	cpu = cpu_of(l, &b);
	assert_int_equal(guestkernel_find(&cpu, &mem, NULL, &k), 0);
	assert_int_equal(k.swapper_pg_dir, l->text_va + early_off);
	/* Once init_top_pgt has the same kernel half, it is the one, whatever CR3 holds. */
	for (i = 256; i < 511; i++)
		*entry(b.init_pgt_pa, i) = *entry(early, i);
	assert_int_equal(guestkernel_find(&cpu, &mem, NULL, &k), 0);
	assert_int_equal(k.swapper_pg_dir, l->text_va + PGT_OFF);
}

/*
 * Without PTI the kernel leaves the pages it freed mapped, writable: the
 * text/rodata gap before rodata's 2 MiB and the rodata/data gap after it.
 * A dead process's root there (kernel half copied, user half cleared at
 * exit) has init_top_pgt's shape, and comes first: .data's 2 MiB alignment
 * tells it apart (a random-KASLR dump of Debian's kernel under QEMU had one
 * in the text/rodata gap).
 */
static void test_dead_roots_in_the_gaps(void **state)
{
	const struct layout *l = &layouts[1];
	const uint64_t gaps[] = {2 * MIB - 256 * KIB, 4 * MIB - 256 * KIB};
	struct pagewalk_cpu cpu;
	struct guestkernel k;
	struct built b;
	unsigned g, i;

	(void)state;
	build(l, &b);
	for (g = 0; g < ARRAY_SIZE(gaps); g++) {
		uint64_t dead = l->text_pa + gaps[g] + 64 * KIB;

		/* The last 256 KiB of text and of rodata, freed: writable, not executable. */
		map_range(b.init_pgt_pa, l->levels, l->text_va + gaps[g], l->text_pa + gaps[g],
		          256 * KIB, P | RW | NX);
		memset(ram + dead, 0, PAGE);
		for (i = 256; i < 512; i++)
			*entry(dead, i) = *entry(b.init_pgt_pa, i);
	}
	cpu = cpu_of(l, &b);
	assert_int_equal(guestkernel_find(&cpu, &mem, NULL, &k), 0);
	assert_int_equal(k.swapper_pg_dir, l->text_va + PGT_OFF);
}

static void test_no_kernel(void **state)
{
	const struct layout *l = &layouts[0];
	struct pagewalk_cpu cpu;
	struct guestkernel k;
	struct built b;

	(void)state;
	build(l, &b);
	cpu = cpu_of(l, &b);
	/* Paging off: a boot loader, firmware. */
	cpu.cr0 = 1;
	assert_int_equal(guestkernel_find(&cpu, &mem, NULL, &k), -ENOENT);
	/* Long mode on an identity map only (kvmfs's loader, the built-in guest). */
	cpu = cpu_of(l, &b);
	cpu.cr3 = new_table();
	map(cpu.cr3, 4, 0, 0, 2 * MIB, P | RW);
	assert_int_equal(guestkernel_find(&cpu, &mem, NULL, &k), -ENOENT);
	/* A text mapping without a banner is not a Linux kernel. */
	cpu = cpu_of(l, &b);
	memset(ram + l->text_pa + 2 * MIB + 0x1000, 'x', 8);
	assert_int_equal(guestkernel_find(&cpu, &mem, NULL, &k), -ENOENT);
}

/* The stack around an RSP: its mapped pages, merged where they continue each other. */
static void test_map_range(void **state)
{
	const struct layout *l = &layouts[0];
	struct guestkernel_run runs[4];
	struct pagewalk_cpu cpu;
	struct built b;
	unsigned n;

	(void)state;
	build(l, &b);
	cpu = cpu_of(l, &b);
	n = guestkernel_map_range(&cpu, &mem, STACK_VA, 4 * PAGE, runs, 4);
	assert_int_equal(n, 2);
	assert_int_equal(runs[0].va, STACK_VA + PAGE);
	assert_int_equal(runs[0].pa, 82 * MIB);
	assert_int_equal(runs[0].size, PAGE);
	assert_int_equal(runs[1].va, STACK_VA + 2 * PAGE);
	assert_int_equal(runs[1].pa, 82 * MIB + 5 * PAGE);
	assert_int_equal(runs[1].size, 2 * PAGE);
	/* No more than asked for. */
	assert_int_equal(guestkernel_map_range(&cpu, &mem, STACK_VA, 4 * PAGE, runs, 1), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_find),
	        cmocka_unit_test(test_vmcoreinfo),
	        cmocka_unit_test(test_derived_vmcoreinfo),
	        cmocka_unit_test(test_early_root),
	        cmocka_unit_test(test_dead_roots_in_the_gaps),
	        cmocka_unit_test(test_no_kernel),
	        cmocka_unit_test(test_map_range),
	};
	int ret;

	ram = calloc(1, RAM_SIZE);
	if (!ram)
		return 1;
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	free(ram);
	return ret;
}
