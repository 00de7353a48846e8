/*
 * test_vmcore.c - the ELF64 core of a real pc machine (built, not run):
 * its header parsed back field by field, one PT_LOAD per RAM/ROM range of
 * the flat view at the range's GPA, the bytes of every PT_LOAD equal to
 * guest memory, an NT_PRSTATUS per vCPU with the registers where
 * user_regs_struct has them and pr_pid 0, a QEMU CPU-state note per vCPU
 * where QEMU's QEMUCPUState has its fields, the KVMFS note, SEEK_DATA/
 * SEEK_HOLE over untouched memory - and, with a Linux kernel, the
 * kernel-virtual PT_LOADs onto the same file bytes (the image's runs, a
 * vmalloc'd stack), with p_paddr -1, and the VMCOREINFO note.
 */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "inspect/guestkernel.h"
#include "inspect/vmcore.h"
#include "machine/machine.h"
#include "memory/phys.h"

#define MIB (1ULL << 20)

static struct machine m;

static int setup(void **state)
{
	struct machine_config mc = {
	        .type = "pc", .ram_size = 512 * MIB, .cpus = 2, .backing = RAM_BACKING_MEMFD};

	(void)state;
	return machine_init(&m, &mc);
}

static int teardown(void **state)
{
	(void)state;
	machine_exit(&m);
	return 0;
}

static struct vmcore *build(unsigned nr_regs, struct kvm_regs *regs, struct kvm_sregs *sregs)
{
	struct vmcore_info info = {.machine = "pc",
	                           .ram_size = 512 * MIB,
	                           .nr_cpus = 2,
	                           .regs = regs,
	                           .sregs = sregs,
	                           .nr_regs = nr_regs};
	struct vmcore *vc = NULL;

	assert_int_equal(vmcore_build(&m.as, &info, &vc), 0);
	return vc;
}

static void read_at(struct vmcore *vc, uint64_t off, void *buf, size_t len)
{
	vmcore_read(vc, &m.as, off, buf, len);
}

static void test_header(void **state)
{
	struct vmcore *vc = build(0, NULL, NULL);
	const struct flatview *fv = m.as.fv;
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	size_t i, load = 0;

	(void)state;
	read_at(vc, 0, &eh, sizeof(eh));
	assert_memory_equal(eh.e_ident, ELFMAG, SELFMAG);
	assert_int_equal(eh.e_ident[EI_CLASS], ELFCLASS64);
	assert_int_equal(eh.e_type, ET_CORE);
	assert_int_equal(eh.e_machine, EM_X86_64);
	assert_int_equal(eh.e_phentsize, sizeof(Elf64_Phdr));
	read_at(vc, eh.e_phoff, &ph, sizeof(ph));
	assert_int_equal(ph.p_type, PT_NOTE);
	/* Every RAM/ROM range of the flat view, in order, back to back after the header. */
	for (i = 0; i < fv->nr; i++) {
		const struct flat_range *fr = &fv->ranges[i];

		if (!flat_range_is_ram(fr))
			continue;
		load++;
		read_at(vc, eh.e_phoff + load * sizeof(ph), &ph, sizeof(ph));
		assert_int_equal(ph.p_type, PT_LOAD);
		assert_int_equal(ph.p_paddr, fr->start);
		assert_int_equal(ph.p_filesz, fr->size);
		assert_int_equal(ph.p_memsz, fr->size);
		assert_int_equal(ph.p_offset, vc->segs[load - 1].file_offset);
		assert_int_equal(ph.p_offset % VMCORE_HEADER_ALIGN, 0);
	}
	assert_int_equal(eh.e_phnum, 1 + load);
	/* pc: pc.ram low, pc.rom, isa-bios, pc.ram from 1M, pc.bios at 4G - 256K. */
	assert_int_equal(load, 5);
	assert_int_equal(vc->size, ph.p_offset + ph.p_filesz);
	vmcore_free(vc);
}

/*
 * Where the bytes of a guest-physical address live in -M pc -m 512M, from
 * QEMU 7.2's flat view of that machine (written out here, not asked of
 * kvmfs): RAM is pc.ram at the same offset, the option ROM at 0xc0000 is
 * pc.rom, 0xe0000-0xfffff is pc.bios's last 128 KiB, 0xfffc0000 pc.bios.
 */
static const uint8_t *ref_bytes(uint64_t gpa)
{
	if (gpa >= 0xfffc0000)
		return m.bios_block->host + (gpa - 0xfffc0000);
	if (gpa >= 0xe0000 && gpa < 0x100000)
		return m.bios_block->host + 0x20000 + (gpa - 0xe0000);
	if (gpa >= 0xc0000 && gpa < 0xe0000)
		return m.rom_block->host + (gpa - 0xc0000);
	return m.ram_block->host + gpa;
}

static void test_bytes(void **state)
{
	struct vmcore *vc = build(0, NULL, NULL);
	uint8_t *core = malloc(2 * MIB);
	size_t i;

	(void)state;
	/* Something to see: bytes in low RAM, in RAM above 1M, and the firmware ROM. */
	memcpy(m.ram_block->host + 0x1000, "KVMFSSTA", 8);
	memset(m.ram_block->host + 0x234567, 0x5a, 3000);
	memcpy(m.bios_block->host + m.bios_block->used_length - 16, "\xea\x5b\xe0\x00\xf0", 5);
	for (i = 0; i < vc->nr_segs; i++) {
		const struct vmcore_segment *s = &vc->segs[i];
		uint64_t len = s->size < 2 * MIB ? s->size : 2 * MIB;
		uint64_t at = s->size - len; /* the tail: where the reset vector is */

		read_at(vc, s->file_offset + at, core, len);
		assert_memory_equal(core, ref_bytes(s->gpa + at), len);
		read_at(vc, s->file_offset, core, len);
		assert_memory_equal(core, ref_bytes(s->gpa), len);
	}
	read_at(vc, vc->segs[0].file_offset + 0x1000, core, 8);
	assert_memory_equal(core, "KVMFSSTA", 8);
	read_at(vc, vc->segs[3].file_offset + 0x234567 - vc->segs[3].gpa, core, 3000);
	for (i = 0; i < 3000; i++)
		assert_int_equal(core[i], 0x5a);
	read_at(vc, vc->size - 16, core, 16);
	assert_memory_equal(core, "\xea\x5b\xe0\x00\xf0", 5);
	assert_memory_equal(core + 5, m.bios_block->host + m.bios_block->used_length - 11, 11);
	/* Past the end: zeros, nothing read. */
	memset(core, 1, 16);
	read_at(vc, vc->size, core, 16);
	for (i = 0; i < 16; i++)
		assert_int_equal(core[i], 0);
	free(core);
	vmcore_free(vc);
}

/* Find note (name, type) in the PT_NOTE; returns its descriptor offset or 0. */
static uint64_t find_note(struct vmcore *vc, const char *name, uint32_t type, unsigned nth,
                          uint32_t *descsz)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	uint64_t pos, end;
	unsigned seen = 0;

	read_at(vc, 0, &eh, sizeof(eh));
	read_at(vc, eh.e_phoff, &ph, sizeof(ph));
	for (pos = ph.p_offset, end = ph.p_offset + ph.p_filesz; pos < end;) {
		Elf64_Nhdr nh;
		char nm[16] = "";

		read_at(vc, pos, &nh, sizeof(nh));
		read_at(vc, pos + sizeof(nh), nm, nh.n_namesz < sizeof(nm) ? nh.n_namesz : 15);
		pos += sizeof(nh) + ((nh.n_namesz + 3) & ~3u);
		if (!strcmp(nm, name) && nh.n_type == type && seen++ == nth) {
			*descsz = nh.n_descsz;
			return pos;
		}
		pos += (nh.n_descsz + 3) & ~3u;
	}
	return 0;
}

static void test_notes(void **state)
{
	struct kvm_regs regs[2] = {{.rip = 0xfff0, .rsp = 0x8000, .rax = 1, .r15 = 15},
	                           {.rip = 0x1234, .rflags = 0x202}};
	struct kvm_sregs sregs[2] = {{.cs.selector = 0xf000, .fs.base = 0x7000},
	                             {.cs = {.selector = 8, .l = 1, .present = 1, .type = 11},
	                              .cr3 = 0x9000,
	                              .efer = 0xd01,
	                              .gdt = {.base = 0xfffffe0000001000, .limit = 0x7f}}};
	struct vmcore *vc = build(2, regs, sregs);
	uint64_t at, gregs[27], qemu[440 / 8];
	uint32_t sz, pid;
	char text[128] = "";

	(void)state;
	at = find_note(vc, "CORE", NT_PRSTATUS, 0, &sz);
	assert_true(at);
	assert_int_equal(sz, 336);
	/* pr_pid 0: the idle task's, what crash and drgn expect of an unnamed CPU. */
	read_at(vc, at + 32, &pid, 4);
	assert_int_equal(pid, 0);
	read_at(vc, at + 112, gregs, sizeof(gregs));
	/* user_regs_struct: r15 first, rax at 10, rip at 16, cs 17, rsp 19, fs_base 21. */
	assert_int_equal(gregs[0], 15);
	assert_int_equal(gregs[10], 1);
	assert_int_equal(gregs[16], 0xfff0);
	assert_int_equal(gregs[17], 0xf000);
	assert_int_equal(gregs[19], 0x8000);
	assert_int_equal(gregs[21], 0x7000);

	at = find_note(vc, "CORE", NT_PRSTATUS, 1, &sz);
	assert_true(at);
	read_at(vc, at + 32, &pid, 4);
	assert_int_equal(pid, 0);
	read_at(vc, at + 112, gregs, sizeof(gregs));
	assert_int_equal(gregs[16], 0x1234);
	assert_int_equal(gregs[18], 0x202);

	/* QEMUCPUState v1: version, size, rax at 8, rip at 136, CS at 152, CR0-4 from 392. */
	at = find_note(vc, "QEMU", 0, 1, &sz);
	assert_true(at);
	assert_int_equal(sz, 440);
	read_at(vc, at, qemu, sizeof(qemu));
	assert_int_equal(qemu[0] & 0xffffffff, 1);
	assert_int_equal(qemu[0] >> 32, 440);
	assert_int_equal(qemu[136 / 8], 0x1234);
	assert_int_equal(qemu[152 / 8] & 0xffff, 8);                /* CS selector */
	assert_int_equal((qemu[152 / 8 + 1] >> 21) & 1, 1);         /* CS.L in the flags */
	assert_int_equal(qemu[(392 + 24) / 8], 0x9000);             /* CR3 */
	assert_int_equal(qemu[(344 + 16) / 8], 0xfffffe0000001000); /* GDT base */

	at = find_note(vc, "KVMFS", VMCORE_NT_KVMFS, 0, &sz);
	assert_true(at);
	assert_true(sz < sizeof(text));
	read_at(vc, at, text, sz);
	assert_string_equal(text, "machine=pc\nram_size=536870912\ncpus=2\nefer=0x0 0xd01\n");
	/* No kernel, nothing given: no VMCOREINFO. */
	assert_false(find_note(vc, "VMCOREINFO", 0, 0, &sz));
	vmcore_free(vc);

	/* Without vCPUs (-accel none): no NT_PRSTATUS, the KVMFS note still there. */
	vc = build(0, NULL, NULL);
	assert_false(find_note(vc, "CORE", NT_PRSTATUS, 0, &sz));
	assert_true(find_note(vc, "KVMFS", VMCORE_NT_KVMFS, 0, &sz));
	vmcore_free(vc);
}

/*
 * A Linux guest: direct-map p_vaddr, the image's runs onto the same bytes
 * with no physical address of their own, VMCOREINFO.
 */
static void test_kernel_core(void **state)
{
	static const char vmci[] = "OSRELEASE=6.1.0-test\nPAGESIZE=4096\nKERNELOFFSET=0\n";
	struct guestkernel k = {
	        .page_offset = 0xffff888000000000ULL,
	        .page_offset_found = true,
	        .runs = {{0xffffffff81000000ULL, 16 * MIB, 2 * MIB, false, true},
	                 {0xffffffff81400000ULL, 20 * MIB, 1 * MIB, true, false}},
	        .nr_runs = 2,
	        .release = "6.1.0-test",
	};
	struct kvm_regs regs = {.rsp = 0xffffffff81400f00ULL}; /* in a run: no stack segment */
	struct kvm_sregs sregs = {.cr0 = 0x80050033, .cr4 = 0x20, .efer = 0xd01};
	struct vmcore_info info = {.machine = "pc",
	                           .ram_size = 512 * MIB,
	                           .nr_cpus = 1,
	                           .regs = &regs,
	                           .sregs = &sregs,
	                           .nr_regs = 1,
	                           .kernel = &k,
	                           .vmcoreinfo = vmci,
	                           .vmcoreinfo_len = sizeof(vmci) - 1,
	                           .vmcoreinfo_source = "derived"};
	const struct vmcore_segment *ram;
	struct vmcore *vc = NULL, *plain = build(1, &regs, &sregs);
	uint8_t a[64], b[64];
	char text[512] = "";
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	uint64_t at;
	uint32_t sz;
	size_t i;

	(void)state;
	assert_int_equal(vmcore_build(&m.as, &info, &vc), 0);
	/* The same size whatever was found: stat() never looks for a kernel. */
	assert_int_equal(vc->size, plain->size);
	assert_int_equal(vc->header_len, plain->header_len);
	read_at(vc, 0, &eh, sizeof(eh));
	assert_int_equal(eh.e_phnum, 1 + vc->nr_segs + 2);
	for (i = 0; i < vc->nr_segs; i++) {
		read_at(vc, eh.e_phoff + (1 + i) * sizeof(ph), &ph, sizeof(ph));
		assert_int_equal(ph.p_paddr, vc->segs[i].gpa);
		assert_int_equal(ph.p_vaddr, k.page_offset + vc->segs[i].gpa);
	}
	ram = &vc->segs[3]; /* pc.ram from 1 MiB holds both runs */
	memcpy(m.ram_block->host + 20 * MIB + 0x40, "bytes of .data", 14);
	for (i = 0; i < 2; i++) {
		read_at(vc, eh.e_phoff + (1 + vc->nr_segs + i) * sizeof(ph), &ph, sizeof(ph));
		assert_int_equal(ph.p_type, PT_LOAD);
		assert_int_equal(ph.p_vaddr, k.runs[i].va);
		/* An alias: the RAM segment alone claims pa (Volatility's ELF layer). */
		assert_int_equal(ph.p_paddr, VMCORE_NO_PADDR);
		assert_int_equal(ph.p_filesz, k.runs[i].size);
		assert_int_equal(ph.p_offset, ram->file_offset + (k.runs[i].pa - ram->gpa));
		read_at(vc, ph.p_offset + 0x40, a, sizeof(a));
		phys_read(&m.as, k.runs[i].pa + 0x40, b, sizeof(b));
		assert_memory_equal(a, b, sizeof(a));
	}
	at = find_note(vc, "VMCOREINFO", 0, 0, &sz);
	assert_true(at);
	assert_int_equal(sz, sizeof(vmci) - 1);
	read_at(vc, at, text, sz);
	assert_memory_equal(text, vmci, sz);
	at = find_note(vc, "KVMFS", VMCORE_NT_KVMFS, 0, &sz);
	read_at(vc, at, text, sz);
	assert_non_null(strstr(text, "\nkernel=6.1.0-test\n"));
	assert_non_null(strstr(text, "\npage_offset=0xffff888000000000\n"));
	assert_non_null(strstr(text, "\nvmcoreinfo=derived\n"));
	vmcore_free(vc);
	vmcore_free(plain);
}

/*
 * A vCPU on a vmalloc'd stack (VMAP_STACK): the 16 KiB around its RSP get a
 * PT_LOAD at their virtual address, onto the file bytes of the pages the
 * vCPU's own 4-level tables map there - and no physical address of their own.
 */
static void test_stack_alias(void **state)
{
	const uint64_t root = 100 * MIB, stack_va = 0xffffc90000010000ULL, stack_pa = 120 * MIB;
	struct guestkernel k = {.page_offset = 0xffff888000000000ULL,
	                        .runs = {{0xffffffff81000000ULL, 16 * MIB, 2 * MIB, false, true}},
	                        .nr_runs = 1,
	                        .release = "6.1.0-test"};
	struct kvm_regs regs = {.rsp = stack_va + 0x3f00};
	struct kvm_sregs sregs = {.cr0 = 0x80050033, .cr3 = root, .cr4 = 0x20, .efer = 0xd01};
	struct vmcore_info info = {.machine = "pc",
	                           .ram_size = 512 * MIB,
	                           .nr_cpus = 1,
	                           .regs = &regs,
	                           .sregs = &sregs,
	                           .nr_regs = 1,
	                           .kernel = &k};
	uint64_t *pml4 = (uint64_t *)(m.ram_block->host + root);
	uint64_t *pdpt = pml4 + 512, *pd = pdpt + 512, *pt = pd + 512;
	const struct vmcore_segment *ram;
	struct vmcore *vc = NULL;
	uint8_t a[32], b[32];
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	unsigned i;

	(void)state;
	memset(pml4, 0, 4 * 4096);
	pml4[(stack_va >> 39) & 511] = (root + 4096) | 3; /* present, writable */
	pdpt[(stack_va >> 30) & 511] = (root + 2 * 4096) | 3;
	pd[(stack_va >> 21) & 511] = (root + 3 * 4096) | 3;
	for (i = 0; i < VMCORE_STACK_SIZE / 4096; i++)
		pt[((stack_va >> 12) & 511) + i] = (stack_pa + i * 4096) | 3;
	memcpy(m.ram_block->host + stack_pa + 0x3f00, "a frame on the stack", 20);

	assert_int_equal(vmcore_build(&m.as, &info, &vc), 0);
	read_at(vc, 0, &eh, sizeof(eh));
	assert_int_equal(eh.e_phnum, 1 + vc->nr_segs + 1 + 1); /* + the run + the stack */
	read_at(vc, eh.e_phoff + (1 + vc->nr_segs + 1) * sizeof(ph), &ph, sizeof(ph));
	ram = &vc->segs[3]; /* pc.ram from 1 MiB */
	assert_int_equal(ph.p_type, PT_LOAD);
	assert_int_equal(ph.p_vaddr, stack_va);
	assert_int_equal(ph.p_paddr, VMCORE_NO_PADDR);
	assert_int_equal(ph.p_filesz, VMCORE_STACK_SIZE);
	assert_int_equal(ph.p_memsz, VMCORE_STACK_SIZE);
	assert_int_equal(ph.p_offset, ram->file_offset + (stack_pa - ram->gpa));
	read_at(vc, ph.p_offset + 0x3f00, a, sizeof(a));
	phys_read(&m.as, stack_pa + 0x3f00, b, sizeof(b));
	assert_memory_equal(a, b, sizeof(a));
	assert_memory_equal(a, "a frame on the stack", 20);
	vmcore_free(vc);
}

static void test_holes(void **state)
{
	struct vmcore *vc = build(0, NULL, NULL);
	const struct vmcore_segment *ram = &vc->segs[3]; /* pc.ram from 1 MiB */
	uint64_t out;

	(void)state;
	assert_int_equal(ram->gpa, MIB);
	/* The header is data. */
	assert_int_equal(vmcore_seek(vc, &m.as, 0, SEEK_DATA, &out), 0);
	assert_int_equal(out, 0);
	/* Untouched RAM (a fresh memfd) is a hole; a written page is data. */
	memset(m.ram_block->host + 64 * MIB, 1, 4096);
	assert_int_equal(vmcore_seek(vc, &m.as, ram->file_offset + 32 * MIB, SEEK_DATA, &out), 0);
	assert_int_equal(out, ram->file_offset + 63 * MIB);
	assert_int_equal(vmcore_seek(vc, &m.as, out, SEEK_HOLE, &out), 0);
	assert_int_equal(out, ram->file_offset + 63 * MIB + 4096);
	assert_int_equal(vmcore_seek(vc, &m.as, vc->size, SEEK_DATA, &out), -ENXIO);
	vmcore_free(vc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_header),
	        cmocka_unit_test(test_bytes),
	        cmocka_unit_test(test_notes),
	        cmocka_unit_test(test_kernel_core),
	        cmocka_unit_test(test_holes),
	        cmocka_unit_test(test_stack_alias), /* last: it writes RAM */
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
