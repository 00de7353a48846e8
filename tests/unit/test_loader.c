/*
 * test_loader.c - -kernel files: small bzImages and ELF vmlinux images are
 * synthesized here, good and bad (not a kernel, old protocol, zImage,
 * truncated, wrong ELF), parsed, and the good ones placed into a pc/q35
 * machine, where the zero page, command line, initrd, GDT, page tables and
 * kernel bytes are read back from guest RAM.
 */
#include <asm/bootparam.h>
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "boot/loader.h"
#include "cmdline.h"
#include "machine/machine.h"
#include "util/compiler.h"

#define SETUP_SECTS  4
#define SETUP_SIZE   ((SETUP_SECTS + 1) * 512)
#define BZ_PAYLOAD   0x3000
#define ELF_PADDR    0x1000000ULL
#define ELF_FILESZ   0x2000
#define ELF_MEMSZ    0x3000
#define ELF_DATA_OFF 0x1000
#define PVH_ENTRY    0x1000850ULL

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* A bzImage as a 2.15 build writes its header; the payload a byte pattern. */
static size_t make_bzimage(uint8_t *buf, uint16_t protocol)
{
	size_t i;

	memset(buf, 0, SETUP_SIZE + BZ_PAYLOAD);
	buf[0x1f1] = SETUP_SECTS;
	put32(buf + 0x1f4, BZ_PAYLOAD / 16);
	put16(buf + 0x1fe, 0xaa55);
	buf[0x200] = 0xeb;
	buf[0x201] = 0x6a; /* the header ends at 0x26c */
	memcpy(buf + 0x202, "HdrS", 4);
	put16(buf + 0x206, protocol);
	buf[0x211] = LOADED_HIGH;
	put32(buf + 0x214, 0x100000);
	put32(buf + 0x22c, 0x7fffffff);
	put32(buf + 0x230, 0x200000);
	put32(buf + 0x238, 255);
	put64(buf + 0x258, 0x1000000);
	put32(buf + 0x260, 0x400000);
	for (i = 0; i < BZ_PAYLOAD; i++)
		buf[SETUP_SIZE + i] = (uint8_t)(i * 7 + 1);
	return SETUP_SIZE + BZ_PAYLOAD;
}

/* A vmlinux-shaped ELF: one PT_LOAD at 16 MiB with bss, a PVH note. */
static size_t make_elf(uint8_t *buf)
{
	Elf64_Ehdr *eh = (void *)buf;
	Elf64_Phdr *ph = (void *)(buf + sizeof(*eh));
	Elf64_Nhdr *nh = (void *)(buf + 0x200);
	size_t i;

	memset(buf, 0, ELF_DATA_OFF + ELF_FILESZ);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = ELF_PADDR + 0x40;
	eh->e_phoff = sizeof(*eh);
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = 2;
	ph[0] = (Elf64_Phdr){.p_type = PT_LOAD,
	                     .p_offset = ELF_DATA_OFF,
	                     .p_vaddr = 0xffffffff81000000ULL,
	                     .p_paddr = ELF_PADDR,
	                     .p_filesz = ELF_FILESZ,
	                     .p_memsz = ELF_MEMSZ};
	ph[1] = (Elf64_Phdr){.p_type = PT_NOTE, .p_offset = 0x200, .p_filesz = sizeof(*nh) + 4 + 8};
	*nh = (Elf64_Nhdr){.n_namesz = 4, .n_descsz = 8, .n_type = 18};
	memcpy(buf + 0x200 + sizeof(*nh), "Xen", 4);
	put64(buf + 0x200 + sizeof(*nh) + 4, PVH_ENTRY);
	for (i = 0; i < ELF_FILESZ; i++)
		buf[ELF_DATA_OFF + i] = (uint8_t)(i * 13 + 5);
	return ELF_DATA_OFF + ELF_FILESZ;
}

enum kind { BZ, ELF_K, TEXT, BOOTSECT, EMPTY };

struct parse_case {
	const char *name;
	enum kind kind;
	void (*mutate)(uint8_t *buf, size_t *size);
	int ret;
	const char *msg; /* part of the error */
};

static void old_protocol(uint8_t *b, size_t *n)
{
	(void)n;
	put16(b + 0x206, 0x0205);
}
static void zimage(uint8_t *b, size_t *n)
{
	(void)n;
	b[0x211] = 0;
}
static void cut_in_setup(uint8_t *b, size_t *n)
{
	(void)b;
	*n = 2000;
}
static void cut_in_payload(uint8_t *b, size_t *n)
{
	(void)b;
	*n = SETUP_SIZE + BZ_PAYLOAD / 2;
}
static void cut_in_header(uint8_t *b, size_t *n)
{
	(void)b;
	*n = 0x220;
}
static void elf32(uint8_t *b, size_t *n)
{
	(void)n;
	b[EI_CLASS] = ELFCLASS32;
}
static void elf_arm(uint8_t *b, size_t *n)
{
	(void)n;
	((Elf64_Ehdr *)b)->e_machine = EM_AARCH64;
}
static void elf_dyn(uint8_t *b, size_t *n)
{
	(void)n;
	((Elf64_Ehdr *)b)->e_type = ET_DYN;
}
static void elf_cut_segment(uint8_t *b, size_t *n)
{
	(void)b;
	*n = ELF_DATA_OFF + ELF_FILESZ - 1;
}
static void elf_cut_header(uint8_t *b, size_t *n)
{
	(void)b;
	*n = 40;
}
static void elf_virtual_entry(uint8_t *b, size_t *n)
{
	(void)n;
	((Elf64_Ehdr *)b)->e_entry = 0xffffffff81000040ULL;
}

static const struct parse_case parse_cases[] = {
        {"bzImage 2.15", BZ, NULL, 0, NULL},
        {"bzImage 2.06", BZ, NULL, 0, NULL},
        {"vmlinux", ELF_K, NULL, 0, NULL},
        {"old protocol", BZ, old_protocol, -ENOEXEC, "2.05 is too old"},
        {"zImage", BZ, zimage, -ENOEXEC, "zImage"},
        {"truncated setup", BZ, cut_in_setup, -ENOEXEC, "truncated: 2000 bytes"},
        {"truncated payload", BZ, cut_in_payload, -ENOEXEC, "truncated: the header says"},
        {"truncated header", BZ, cut_in_header, -ENOEXEC, "truncated"},
        {"text", TEXT, NULL, -ENOEXEC, "not a Linux kernel"},
        {"boot sector", BOOTSECT, NULL, -ENOEXEC, "HdrS"},
        {"empty", EMPTY, NULL, -ENOEXEC, "empty"},
        {"32-bit ELF", ELF_K, elf32, -ENOEXEC, "32-bit"},
        {"arm64 ELF", ELF_K, elf_arm, -ENOEXEC, "not x86-64"},
        {"PIE", ELF_K, elf_dyn, -ENOEXEC, "ET_EXEC"},
        {"truncated segment", ELF_K, elf_cut_segment, -ENOEXEC, "truncated: segment 0"},
        {"truncated ELF header", ELF_K, elf_cut_header, -ENOEXEC, "truncated"},
        {"virtual entry", ELF_K, elf_virtual_entry, -ENOEXEC, "not a vmlinux"},
};

static size_t make(enum kind kind, uint8_t *buf, const char *name)
{
	switch (kind) {
	case BZ: return make_bzimage(buf, strstr(name, "2.06") ? 0x0206 : 0x020f);
	case ELF_K: return make_elf(buf);
	case TEXT:
		strcpy((char *)buf,
		       "#!/bin/sh\necho this is not a kernel, but it is long enough to "
		       "have a byte at 0x1fe if we pad it\n");
		memset(buf + 100, ' ', 1024);
		return 1124;
	case BOOTSECT:
		memset(buf, 0x90, 1024);
		put16(buf + 0x1fe, 0xaa55);
		return 1024;
	case EMPTY: return 0;
	}
	return 0;
}

static void test_parse(void **state)
{
	static uint8_t buf[SETUP_SIZE + BZ_PAYLOAD + ELF_DATA_OFF + ELF_FILESZ];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(parse_cases); i++) {
		const struct parse_case *c = &parse_cases[i];
		struct loader_kernel k;
		char err[256] = "";
		size_t n = make(c->kind, buf, c->name);
		int ret;

		if (c->mutate)
			c->mutate(buf, &n);
		ret = loader_parse(buf, n, &k, err, sizeof(err));
		if (ret != c->ret || (c->msg && !strstr(err, c->msg)))
			fail_msg("%s: got %d '%s', want %d '%s'", c->name, ret, err, c->ret,
			         c->msg ? c->msg : "");
	}
}

static void test_parse_fields(void **state)
{
	static uint8_t buf[SETUP_SIZE + BZ_PAYLOAD];
	struct loader_kernel k;
	char err[256];
	size_t n;

	(void)state;
	n = make_bzimage(buf, 0x020f);
	assert_int_equal(loader_parse(buf, n, &k, err, sizeof(err)), 0);
	assert_int_equal(k.format, LOADER_BZIMAGE);
	assert_int_equal(k.protocol, 0x020f);
	assert_int_equal(k.entry, 0x100000);
	assert_int_equal(k.setup_size, SETUP_SIZE);
	assert_int_equal(k.hdr_end, 0x26c);
	assert_int_equal(k.cmdline_max, 255);
	assert_int_equal(k.initrd_addr_max, 0x7fffffff);
	/* The decompressor's room: pref_address + init_size. */
	assert_int_equal(k.need_end, 0x1000000 + 0x400000);

	n = make_elf(buf);
	assert_int_equal(loader_parse(buf, n, &k, err, sizeof(err)), 0);
	assert_int_equal(k.format, LOADER_ELF);
	assert_int_equal(k.entry, ELF_PADDR + 0x40);
	assert_int_equal(k.pvh_entry, PVH_ENTRY);
	assert_int_equal(k.load_start, ELF_PADDR);
	assert_int_equal(k.need_end, ELF_PADDR + ELF_MEMSZ);
}

static void build(struct machine *m, const char *type, const char *size)
{
	struct machine_config mc = {.type = type, .cpus = 1, .backing = RAM_BACKING_ANON};
	char err[128];

	assert_int_equal(cmdline_parse_size(size, &mc.ram_size, err, sizeof(err)), 0);
	assert_int_equal(machine_init(m, &mc), 0);
}

static void read_guest(struct machine *m, uint64_t gpa, void *buf, size_t len)
{
	assert_int_equal(as_read(&m->as, gpa, buf, len, false), len);
}

/*
 * The e820 tables Linux must find in the zero page, written out here rather
 * than taken from e820.c: QEMU's layouts (src/machine/pc.h), SeaBIOS's 1 KiB
 * EBDA at 639 KiB through the legacy hole reserved, the pages QEMU gives KVM
 * at 0xfeffc000 and the BIOS at the top of 4G reserved.  The types are
 * Linux's numbers (arch/x86/include/asm/e820/types.h: 1 usable, 2
 * reserved), not this tree's enum, so that a wrong value there shows too.
 */
struct e820_want {
	uint64_t addr, size;
	uint32_t type;
};

static const struct e820_want e820_pc_128m[] = {
        {0x0, 0x9fc00, 1},       {0x9fc00, 0x60400, 2},    {0x100000, 0x7f00000, 1},
        {0xfeffc000, 0x4000, 2}, {0xfffc0000, 0x40000, 2},
};

static const struct e820_want e820_q35_6g[] = {
        {0x0, 0x9fc00, 1},       {0x9fc00, 0x60400, 2},    {0x100000, 0x7ff00000, 1},
        {0xfeffc000, 0x4000, 2}, {0xfffc0000, 0x40000, 2}, {0x100000000, 0x100000000, 1},
};

/* Zero page: header, loader fields, command line, and the e820 table want. */
static void check_zero_page(struct machine *m, const struct loader *l, struct boot_params *bp,
                            const struct e820_want *want, size_t nr_want)
{
	char cmdline[256];
	size_t i;

	read_guest(m, LOADER_ZERO_PAGE_ADDR, bp, sizeof(*bp));
	assert_int_equal(bp->hdr.boot_flag, 0xaa55);
	assert_memory_equal(&bp->hdr.header, "HdrS", 4);
	assert_int_equal(bp->hdr.type_of_loader, LOADER_TYPE_UNDEFINED);
	assert_int_equal(bp->hdr.cmd_line_ptr, LOADER_CMDLINE_ADDR);
	read_guest(m, bp->hdr.cmd_line_ptr, cmdline, strlen(l->cmdline) + 1);
	assert_string_equal(cmdline, l->cmdline);
	assert_int_equal(bp->e820_entries, nr_want);
	for (i = 0; i < nr_want; i++) {
		assert_int_equal(bp->e820_table[i].addr, want[i].addr);
		assert_int_equal(bp->e820_table[i].size, want[i].size);
		assert_int_equal(bp->e820_table[i].type, want[i].type);
	}
}

static void test_place_bzimage(void **state)
{
	static uint8_t buf[SETUP_SIZE + BZ_PAYLOAD], got[BZ_PAYLOAD], rd[0x5001];
	static struct boot_params bp;
	struct loader l = {.kernel_path = "bz", .initrd_path = "rd", .cmdline = "console=ttyS0"};
	struct loader_entry e;
	struct machine m;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rd); i++)
		rd[i] = (uint8_t)(i ^ 0x5a);
	l.kernel = buf;
	l.kernel_size = make_bzimage(buf, 0x020f);
	l.initrd = rd;
	l.initrd_size = sizeof(rd);
	assert_int_equal(loader_parse(buf, l.kernel_size, &l.k, err, sizeof(err)), 0);
	build(&m, "pc", "128M");
	assert_int_equal(loader_place(&l, &m, &e, err, sizeof(err)), 0);

	assert_int_equal(e.mode, 32);
	assert_int_equal(e.rip, 0x100000);
	assert_int_equal(e.rsi, LOADER_ZERO_PAGE_ADDR);
	read_guest(&m, 0x100000, got, sizeof(got));
	assert_memory_equal(got, buf + SETUP_SIZE, BZ_PAYLOAD);
	check_zero_page(&m, &l, &bp, e820_pc_128m, ARRAY_SIZE(e820_pc_128m));
	/* The file's header, byte for byte, except what the loader fills in. */
	assert_int_equal(bp.hdr.version, 0x020f);
	assert_int_equal(bp.hdr.code32_start, 0x100000);
	assert_int_equal(bp.hdr.setup_sects, SETUP_SECTS);
	assert_int_equal(bp.hdr.kernel_alignment, 0x200000);
	assert_int_equal(bp.hdr.init_size, 0x400000);
	/* Initrd: at the top of low RAM, page aligned, the bytes intact. */
	assert_int_equal(bp.hdr.ramdisk_image, e.initrd_addr);
	assert_int_equal(bp.hdr.ramdisk_size, sizeof(rd));
	assert_int_equal(e.initrd_addr & 0xfff, 0);
	assert_true(e.initrd_addr + sizeof(rd) <= 128ULL << 20);
	assert_true(e.initrd_addr + sizeof(rd) > (128ULL << 20) - 0x2000);
	read_guest(&m, e.initrd_addr, got, sizeof(rd) < sizeof(got) ? sizeof(rd) : sizeof(got));
	assert_memory_equal(got, rd, sizeof(rd) < sizeof(got) ? sizeof(rd) : sizeof(got));
	machine_exit(&m);
}

static void test_place_elf(void **state)
{
	static uint8_t buf[ELF_DATA_OFF + ELF_FILESZ], got[ELF_MEMSZ];
	static struct boot_params bp;
	struct loader l = {.kernel_path = "vmlinux", .cmdline = "console=ttyS0 nokaslr"};
	struct loader_entry e;
	uint64_t gdt[4], pml4, pdpt, pde, zero[ELF_MEMSZ - ELF_FILESZ] = {0};
	struct machine m;
	char err[256];

	(void)state;
	l.kernel = buf;
	l.kernel_size = make_elf(buf);
	assert_int_equal(loader_parse(buf, l.kernel_size, &l.k, err, sizeof(err)), 0);
	build(&m, "q35", "6G");
	/* bss must be zeroed by the loader, not found zero. */
	memset(m.ram_block->host + ELF_PADDR, 0xee, ELF_MEMSZ);
	assert_int_equal(loader_place(&l, &m, &e, err, sizeof(err)), 0);

	assert_int_equal(e.mode, 64);
	assert_int_equal(e.rip, ELF_PADDR + 0x40);
	assert_int_equal(e.cr3, LOADER_PML4_ADDR);
	read_guest(&m, ELF_PADDR, got, ELF_MEMSZ);
	assert_memory_equal(got, buf + ELF_DATA_OFF, ELF_FILESZ);
	assert_memory_equal(got + ELF_FILESZ, zero, ELF_MEMSZ - ELF_FILESZ);
	check_zero_page(&m, &l, &bp, e820_q35_6g, ARRAY_SIZE(e820_q35_6g));
	assert_int_equal(bp.hdr.ramdisk_image, 0);

	/* GDT: 64-bit code at __BOOT_CS, flat data at __BOOT_DS. */
	read_guest(&m, e.gdt_base, gdt, sizeof(gdt));
	assert_int_equal(e.gdt_limit, sizeof(gdt) - 1);
	assert_int_equal(gdt[LOADER_BOOT_CS / 8], 0x00af9b000000ffffULL);
	assert_int_equal(gdt[LOADER_BOOT_DS / 8], 0x00cf93000000ffffULL);
	/* Identity map: the entry's 2 MiB page, and the last one below 4 GiB. */
	read_guest(&m, e.cr3, &pml4, 8);
	read_guest(&m, (pml4 & ~0xfffULL) + 0 * 8, &pdpt, 8);
	read_guest(&m, (pdpt & ~0xfffULL) + (ELF_PADDR >> 21) * 8, &pde, 8);
	assert_int_equal(pde, ELF_PADDR | 0x83);
	read_guest(&m, (pml4 & ~0xfffULL) + 3 * 8, &pdpt, 8);
	read_guest(&m, (pdpt & ~0xfffULL) + 511 * 8, &pde, 8);
	assert_int_equal(pde, 0xffe00000ULL | 0x83);
	machine_exit(&m);
}

static void test_place_refused(void **state)
{
	static uint8_t buf[ELF_DATA_OFF + ELF_FILESZ], rd[1];
	struct loader l = {.kernel_path = "vmlinux", .initrd_path = "big", .cmdline = ""};
	struct loader_entry e;
	struct machine m;
	char err[256];

	(void)state;
	l.kernel = buf;
	l.kernel_size = make_elf(buf);
	assert_int_equal(loader_parse(buf, l.kernel_size, &l.k, err, sizeof(err)), 0);
	/* 16 MiB of RAM ends where this kernel starts. */
	build(&m, "pc", "16M");
	assert_int_equal(loader_place(&l, &m, &e, err, sizeof(err)), -ENOSPC);
	assert_non_null(strstr(err, "-kernel vmlinux: needs RAM at 0x1000000-0x1002fff"));
	machine_exit(&m);

	/* An initrd larger than what lies between the kernel and the top of RAM. */
	build(&m, "pc", "32M");
	l.initrd = rd;
	l.initrd_size = 16ULL << 20;
	assert_int_equal(loader_place(&l, &m, &e, err, sizeof(err)), -ENOSPC);
	assert_non_null(strstr(err, "-initrd big:"));
	machine_exit(&m);
}

/* loader_open names the option and the file; the command line is bounded. */
static void test_open(void **state)
{
	static uint8_t buf[SETUP_SIZE + BZ_PAYLOAD];
	char path[] = "/tmp/kvmfs-test-loader-XXXXXX", err[512], big[300];
	struct loader l;
	size_t n;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	n = make_bzimage(buf, 0x0204);
	assert_int_equal(write(fd, buf, n), (ssize_t)n);
	assert_int_equal(loader_open(&l, path, NULL, NULL, err, sizeof(err)), -ENOEXEC);
	assert_non_null(strstr(err, "-kernel /tmp/kvmfs-test-loader-"));
	assert_non_null(strstr(err, "boot protocol 2.04 is too old"));

	n = make_bzimage(buf, 0x020f);
	assert_int_equal(pwrite(fd, buf, n, 0), (ssize_t)n);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(loader_open(&l, path, NULL, big, err, sizeof(err)), -E2BIG);
	assert_non_null(strstr(err, "-append: 299 bytes; this kernel takes at most 255"));
	assert_int_equal(loader_open(&l, path, "/nonexistent/initrd", "", err, sizeof(err)),
	                 -ENOENT);
	assert_non_null(strstr(err, "-initrd /nonexistent/initrd: No such file"));
	assert_int_equal(loader_open(&l, path, NULL, "ro", err, sizeof(err)), 0);
	assert_int_equal(l.k.format, LOADER_BZIMAGE);
	loader_close(&l);
	close(fd);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse),         cmocka_unit_test(test_parse_fields),
	        cmocka_unit_test(test_place_bzimage), cmocka_unit_test(test_place_elf),
	        cmocka_unit_test(test_place_refused), cmocka_unit_test(test_open),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
