/*
 * vmcore.c - the ELF64 core of the guest (see vmcore.h): the header is
 * built from a snapshot of the flat view, the vCPUs' registers and the
 * kernel found in the guest; the PT_LOAD bytes are guest memory read at
 * read() time.
 *
 * Readers checked against it: readelf -l -n, pyelftools, gdb -c, and for a
 * Linux guest crash, drgn and gdb with the kernel's debug vmlinux.  A range
 * that went away after the build (the layout changed under an open file)
 * reads as zeros; a new open builds the new layout.
 */
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inspect/guestkernel.h"
#include "inspect/vmcore.h"
#include "memory/phys.h"
#include "util/strbuf.h"

/* Room for the KVMFS note's text: its fixed lines, then one efer= value per vCPU. */
#define VMCORE_KVMFS_FIXED   512
#define VMCORE_KVMFS_PER_CPU 20

/* x86-64's struct elf_prstatus, as QEMU's x86_64_elf_prstatus spells it out. */
struct vmcore_prstatus {
	uint8_t pad1[32]; /* signal info, up to pr_pid */
	uint32_t pid;
	uint8_t pad2[76];  /* pr_ppid .. pr_cstime */
	uint64_t regs[27]; /* struct user_regs_struct */
	uint8_t pad3[8];   /* pr_fpvalid */
};
/* Naturally aligned as it is: no packing needed, and none wanted for &regs. */
_Static_assert(offsetof(struct vmcore_prstatus, regs) == 112, "pr_reg at 112");
_Static_assert(sizeof(struct vmcore_prstatus) == 336, "x86-64 elf_prstatus is 336 bytes");

/* QEMU's QEMUCPUSegment and QEMUCPUState (target/i386/arch_dump.c), version 1. */
struct vmcore_qemu_seg {
	uint32_t selector, limit, flags, pad;
	uint64_t base;
};

struct vmcore_qemu_cpu {
	uint32_t version, size;
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rip, rflags;
	struct vmcore_qemu_seg cs, ds, es, fs, gs, ss, ldt, tr, gdt, idt;
	uint64_t cr[5];
	uint64_t kernel_gs_base;
};
_Static_assert(sizeof(struct vmcore_qemu_cpu) == VMCORE_QEMU_SIZE, "QEMUCPUState is 440 bytes");

/* What a core's user_regs_struct holds, in its order. */
static void vmcore_user_regs(const struct kvm_regs *r, const struct kvm_sregs *s, uint64_t *out)
{
	const uint64_t regs[27] = {
	        r->r15,         r->r14,         r->r13,         r->r12,         r->rbp,
	        r->rbx,         r->r11,         r->r10,         r->r9,          r->r8,
	        r->rax,         r->rcx,         r->rdx,         r->rsi,         r->rdi,
	        r->rax, /* orig_rax: no system call was interrupted; QEMU writes rax */
	        r->rip,         s->cs.selector, r->rflags,      r->rsp,         s->ss.selector,
	        s->fs.base,     s->gs.base,     s->ds.selector, s->es.selector, s->fs.selector,
	        s->gs.selector,
	};

	memcpy(out, regs, sizeof(regs));
}

/* A segment as QEMU keeps it: the descriptor's attribute bits where the descriptor has them. */
static struct vmcore_qemu_seg vmcore_qemu_seg(const struct kvm_segment *k)
{
	return (struct vmcore_qemu_seg){
	        .selector = k->selector,
	        .limit = k->limit,
	        .flags = (uint32_t)k->type << 8 | (uint32_t)k->s << 12 | (uint32_t)k->dpl << 13 |
	                 (uint32_t)k->present << 15 | (uint32_t)k->avl << 20 |
	                 (uint32_t)k->l << 21 | (uint32_t)k->db << 22 | (uint32_t)k->g << 23,
	        .base = k->base,
	};
}

static void vmcore_qemu_cpu(const struct kvm_regs *r, const struct kvm_sregs *s,
                            struct vmcore_qemu_cpu *q)
{
	*q = (struct vmcore_qemu_cpu){
	        .version = VMCORE_QEMU_VERSION,
	        .size = VMCORE_QEMU_SIZE,
	        .rax = r->rax,
	        .rbx = r->rbx,
	        .rcx = r->rcx,
	        .rdx = r->rdx,
	        .rsi = r->rsi,
	        .rdi = r->rdi,
	        .rsp = r->rsp,
	        .rbp = r->rbp,
	        .r8 = r->r8,
	        .r9 = r->r9,
	        .r10 = r->r10,
	        .r11 = r->r11,
	        .r12 = r->r12,
	        .r13 = r->r13,
	        .r14 = r->r14,
	        .r15 = r->r15,
	        .rip = r->rip,
	        .rflags = r->rflags,
	        .cs = vmcore_qemu_seg(&s->cs),
	        .ds = vmcore_qemu_seg(&s->ds),
	        .es = vmcore_qemu_seg(&s->es),
	        .fs = vmcore_qemu_seg(&s->fs),
	        .gs = vmcore_qemu_seg(&s->gs),
	        .ss = vmcore_qemu_seg(&s->ss),
	        .ldt = vmcore_qemu_seg(&s->ldt),
	        .tr = vmcore_qemu_seg(&s->tr),
	        .gdt = {.limit = s->gdt.limit, .base = s->gdt.base},
	        .idt = {.limit = s->idt.limit, .base = s->idt.base},
	        .cr = {s->cr0, 0, s->cr2, s->cr3, s->cr4},
	};
}

/* Appends one note at *pos of buf (sized by vmcore_note_size). */
static void vmcore_put_note(uint8_t *buf, size_t *pos, const char *name, uint32_t type,
                            const void *desc, size_t desc_len)
{
	Elf64_Nhdr nh = {.n_namesz = (Elf64_Word)(strlen(name) + 1),
	                 .n_descsz = (Elf64_Word)desc_len,
	                 .n_type = type};

	memcpy(buf + *pos, &nh, sizeof(nh));
	*pos += sizeof(nh);
	memcpy(buf + *pos, name, nh.n_namesz);
	*pos += VMCORE_NOTE_ALIGN(nh.n_namesz);
	memcpy(buf + *pos, desc, desc_len);
	*pos += VMCORE_NOTE_ALIGN(desc_len);
}

static size_t vmcore_note_size(const char *name, size_t desc_len)
{
	return sizeof(Elf64_Nhdr) + VMCORE_NOTE_ALIGN(strlen(name) + 1) +
	       VMCORE_NOTE_ALIGN(desc_len);
}

/* Snapshot the RAM/ROM ranges as segments; the read lock is held. */
static int vmcore_segments(const struct flatview *fv, struct vmcore *vc)
{
	size_t i;

	vc->segs = calloc(fv->nr ? fv->nr : 1, sizeof(*vc->segs));
	if (!vc->segs)
		return -ENOMEM;
	for (i = 0; i < fv->nr; i++) {
		const struct flat_range *fr = &fv->ranges[i];

		if (!flat_range_is_ram(fr) || !fr->mr->block)
			continue;
		vc->segs[vc->nr_segs++] =
		        (struct vmcore_segment){.gpa = fr->start, .size = fr->size};
	}
	return 0;
}

/* The program headers of one core, written in order into the header. */
struct vmcore_phdrs {
	struct vmcore *vc;
	size_t pos;       /* where the next one goes */
	unsigned nr, max; /* written, room for */
};

static void vmcore_put_phdr(struct vmcore_phdrs *p, const Elf64_Phdr *ph)
{
	if (p->nr == p->max)
		return;
	memcpy(p->vc->header + p->pos, ph, sizeof(*ph));
	p->pos += sizeof(*ph);
	p->nr++;
}

/*
 * PT_LOADs for virtual [va, va+size) at guest-physical pa: the file bytes of
 * pa's segments, with p_paddr -1, as /proc/kcore has it for its vmalloc and
 * module segments.  (kcore's and kdump's text segment keeps its physical
 * address; ours does not.)  Only the RAM/ROM segments claim guest-physical
 * ranges: readers that build physical memory from every PT_LOAD's p_paddr in
 * file order (Volatility 3's ELF layer) would otherwise see it end at the
 * last alias.  gdb and drgn find these bytes by p_vaddr, crash by its
 * phys_base, so none of them needs the alias's physical address
 * (tests/integration/test_vmcore_readers.py).  makedumpfile takes phys_base
 * from VMCOREINFO's NUMBER(phys_base), which the kernel's own note and the
 * derived one carry; only without it would it look for the text's p_paddr.
 */
static void vmcore_put_virtual(struct vmcore_phdrs *p, uint64_t va, uint64_t pa, uint64_t size)
{
	const struct vmcore *vc = p->vc;
	size_t i;

	for (i = 0; i < vc->nr_segs; i++) {
		const struct vmcore_segment *s = &vc->segs[i];
		uint64_t lo = pa > s->gpa ? pa : s->gpa;
		uint64_t hi = pa + size < s->gpa + s->size ? pa + size : s->gpa + s->size;
		Elf64_Phdr ph;

		if (lo >= hi)
			continue;
		ph = (Elf64_Phdr){.p_type = PT_LOAD,
		                  .p_flags = PF_R | PF_W | PF_X,
		                  .p_offset = s->file_offset + (lo - s->gpa),
		                  .p_vaddr = va + (lo - pa),
		                  .p_paddr = VMCORE_NO_PADDR,
		                  .p_filesz = hi - lo,
		                  .p_memsz = hi - lo};
		vmcore_put_phdr(p, &ph);
	}
}

static uint64_t vmcore_phys_end(const struct vmcore *vc)
{
	return vc->nr_segs ? vc->segs[vc->nr_segs - 1].gpa + vc->segs[vc->nr_segs - 1].size : 0;
}

/* Is va inside what the image runs or the direct map already cover? */
static bool vmcore_covered(const struct vmcore *vc, const struct guestkernel *k, uint64_t va)
{
	unsigned i;

	if (va >= k->page_offset && va - k->page_offset < vmcore_phys_end(vc))
		return true;
	for (i = 0; i < k->nr_runs; i++)
		if (va >= k->runs[i].va && va - k->runs[i].va < k->runs[i].size)
			return true;
	return false;
}

/* The stack around each vCPU's RSP, where it lies in kernel space the rest does not cover. */
static void vmcore_put_stacks(struct vmcore_phdrs *p, struct address_space *as,
                              const struct vmcore_info *info)
{
	const struct guestkernel_mem mem = {phys_read_ram, as};
	struct guestkernel_run runs[VMCORE_STACK_RUNS];
	unsigned i, j, n;

	for (i = 0; i < info->nr_regs; i++) {
		const struct kvm_sregs *s = &info->sregs[i];
		struct pagewalk_cpu cpu = {s->cr0, s->cr3, s->cr4, s->efer};
		uint64_t rsp = info->regs[i].rsp;

		if (!(rsp >> 63) || vmcore_covered(p->vc, info->kernel, rsp))
			continue;
		n = guestkernel_map_range(&cpu, &mem, rsp & ~(uint64_t)(VMCORE_STACK_SIZE - 1),
		                          VMCORE_STACK_SIZE, runs, VMCORE_STACK_RUNS);
		for (j = 0; j < n; j++)
			vmcore_put_virtual(p, runs[j].va, runs[j].pa, runs[j].size);
	}
}

/* The KVMFS note's text. */
static void vmcore_kvmfs_text(const struct vmcore_info *info, struct strbuf *sb)
{
	const struct guestkernel *k = info->kernel;
	unsigned i;

	sb_printf(sb, "machine=%s\nram_size=%llu\ncpus=%u\n", info->machine,
	          (unsigned long long)info->ram_size, info->nr_cpus);
	if (info->nr_regs) {
		sb_printf(sb, "efer=");
		for (i = 0; i < info->nr_regs; i++)
			sb_printf(sb, "%s0x%llx", i ? " " : "",
			          (unsigned long long)info->sregs[i].efer);
		sb_printf(sb, "\n");
	}
	if (k)
		sb_printf(sb,
		          "kernel=%s\ntext=0x%" PRIx64 "@0x%" PRIx64 "\npage_offset=0x%" PRIx64
		          "%s\n",
		          k->release, k->text_va, k->text_pa, k->page_offset,
		          k->page_offset_found ? "" : " (default)");
	if (info->vmcoreinfo)
		sb_printf(sb, "vmcoreinfo=%s\n", info->vmcoreinfo_source);
}

int vmcore_build(struct address_space *as, const struct vmcore_info *info, struct vmcore **out)
{
	struct strbuf text = STRBUF_INIT;
	size_t notes_max, notes_len, phdrs_max, pos, i;
	size_t vmci_len = info->vmcoreinfo ? info->vmcoreinfo_len : 0;
	size_t text_max = VMCORE_KVMFS_FIXED + (size_t)VMCORE_KVMFS_PER_CPU * info->nr_regs;
	struct vmcore_phdrs p;
	struct vmcore *vc;
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	uint64_t off;
	int ret;

	if (vmci_len > VMCORE_NOTE_MAX)
		return -E2BIG;
	vc = calloc(1, sizeof(*vc));
	if (!vc)
		return -ENOMEM;
	pthread_rwlock_rdlock(&as->lock);
	ret = vmcore_segments(as->fv, vc);
	vc->version = as->version;
	pthread_rwlock_unlock(&as->lock);
	if (ret)
		goto err;

	vmcore_kvmfs_text(info, &text);
	ret = -ENOMEM;
	if (text.err || text.len + 1 > text_max)
		goto err;
	/*
	 * Room for the most the core can hold - a VMCOREINFO of the longest
	 * kind, every text run, every stack - so that its size stays that of
	 * the layout: stat() must not have to look for a kernel.
	 */
	notes_max =
	        (size_t)info->nr_regs * (vmcore_note_size("CORE", sizeof(struct vmcore_prstatus)) +
	                                 vmcore_note_size("QEMU", VMCORE_QEMU_SIZE)) +
	        vmcore_note_size("VMCOREINFO", VMCORE_NOTE_MAX) +
	        vmcore_note_size("KVMFS", text_max);
	notes_len =
	        (size_t)info->nr_regs * (vmcore_note_size("CORE", sizeof(struct vmcore_prstatus)) +
	                                 vmcore_note_size("QEMU", VMCORE_QEMU_SIZE)) +
	        (info->vmcoreinfo ? vmcore_note_size("VMCOREINFO", vmci_len) : 0) +
	        vmcore_note_size("KVMFS", text.len + 1);
	phdrs_max = (1 + vc->nr_segs + GUESTKERNEL_MAX_RUNS +
	             (size_t)info->nr_regs * VMCORE_STACK_RUNS) *
	            sizeof(Elf64_Phdr);
	vc->header_len = sizeof(eh) + phdrs_max + notes_max;
	vc->header_len = ROUND_UP(vc->header_len, (size_t)VMCORE_HEADER_ALIGN);
	vc->header = calloc(1, vc->header_len);
	if (!vc->header)
		goto err;

	p = (struct vmcore_phdrs){
	        .vc = vc, .pos = sizeof(eh), .max = (unsigned)(phdrs_max / sizeof(Elf64_Phdr))};
	ph = (Elf64_Phdr){.p_type = PT_NOTE,
	                  .p_offset = sizeof(eh) + phdrs_max,
	                  .p_filesz = notes_len,
	                  .p_memsz = notes_len,
	                  .p_align = 4};
	vmcore_put_phdr(&p, &ph);
	off = vc->header_len;
	for (i = 0; i < vc->nr_segs; i++) {
		struct vmcore_segment *s = &vc->segs[i];

		s->file_offset = off;
		/* QEMU's flags; p_vaddr: the direct map, or the built-in guest's identity map. */
		ph = (Elf64_Phdr){.p_type = PT_LOAD,
		                  .p_flags = PF_R | PF_W | PF_X,
		                  .p_offset = off,
		                  .p_vaddr = info->kernel ? info->kernel->page_offset + s->gpa
		                                          : s->gpa,
		                  .p_paddr = s->gpa,
		                  .p_filesz = s->size,
		                  .p_memsz = s->size};
		vmcore_put_phdr(&p, &ph);
		off += s->size;
	}
	vc->size = off;
	if (info->kernel) {
		for (i = 0; i < info->kernel->nr_runs; i++)
			vmcore_put_virtual(&p, info->kernel->runs[i].va, info->kernel->runs[i].pa,
			                   info->kernel->runs[i].size);
		vmcore_put_stacks(&p, as, info);
	}

	eh = (Elf64_Ehdr){.e_type = ET_CORE,
	                  .e_machine = EM_X86_64,
	                  .e_version = EV_CURRENT,
	                  .e_phoff = sizeof(eh),
	                  .e_ehsize = sizeof(eh),
	                  .e_phentsize = sizeof(Elf64_Phdr),
	                  .e_phnum = (Elf64_Half)p.nr};
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_ident[EI_OSABI] = ELFOSABI_NONE;
	memcpy(vc->header, &eh, sizeof(eh));

	pos = sizeof(eh) + phdrs_max;
	for (i = 0; i < info->nr_regs; i++) {
		struct vmcore_prstatus pr = {.pid = 0};

		vmcore_user_regs(&info->regs[i], &info->sregs[i], pr.regs);
		vmcore_put_note(vc->header, &pos, "CORE", NT_PRSTATUS, &pr, sizeof(pr));
	}
	for (i = 0; i < info->nr_regs; i++) {
		struct vmcore_qemu_cpu q;

		vmcore_qemu_cpu(&info->regs[i], &info->sregs[i], &q);
		vmcore_put_note(vc->header, &pos, "QEMU", 0, &q, sizeof(q));
	}
	if (info->vmcoreinfo)
		vmcore_put_note(vc->header, &pos, "VMCOREINFO", 0, info->vmcoreinfo, vmci_len);
	vmcore_put_note(vc->header, &pos, "KVMFS", VMCORE_NT_KVMFS, text.buf, text.len + 1);
	sb_free(&text);
	*out = vc;
	return 0;
err:
	sb_free(&text);
	vmcore_free(vc);
	return ret;
}

void vmcore_free(struct vmcore *vc)
{
	if (!vc)
		return;
	free(vc->header);
	free(vc->segs);
	free(vc);
}

/* Index of the segment holding file offset off (>= header_len, < size). */
static size_t vmcore_seg_at(const struct vmcore *vc, uint64_t off)
{
	size_t lo = 0, hi = vc->nr_segs;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (vc->segs[mid].file_offset <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

void vmcore_read_pieces(const struct vmcore *vc, struct address_space *as, uint64_t off, size_t len,
                        as_piece_fn fn, void *opaque)
{
	size_t done = 0;

	while (done < len && off + done < vc->size) {
		uint64_t pos = off + done, n;

		if (pos < vc->header_len) {
			n = vc->header_len - pos < len - done ? vc->header_len - pos : len - done;
			if (fn(opaque, vc->header + pos, (size_t)n))
				return;
		} else {
			const struct vmcore_segment *s = &vc->segs[vmcore_seg_at(vc, pos)];
			uint64_t in = pos - s->file_offset;

			n = s->size - in < len - done ? s->size - in : len - done;
			if (phys_read_pieces(as, s->gpa + in, (size_t)n, fn, opaque) < n)
				return;
		}
		done += n;
	}
	if (done < len)
		fn(opaque, NULL, len - done);
}

void vmcore_read(const struct vmcore *vc, struct address_space *as, uint64_t off, void *buf,
                 size_t len)
{
	uint8_t *out = buf;

	vmcore_read_pieces(vc, as, off, len, as_copy_piece, &out);
}

int vmcore_seek(const struct vmcore *vc, struct address_space *as, uint64_t off, int whence,
                uint64_t *out)
{
	uint64_t pos, r;
	size_t i;

	if (off >= vc->size)
		return -ENXIO;
	if (off < vc->header_len && whence == SEEK_DATA) {
		*out = off;
		return 0;
	}
	pos = off > vc->header_len ? off : vc->header_len;
	for (i = pos < vc->size ? vmcore_seg_at(vc, pos) : vc->nr_segs; i < vc->nr_segs; i++) {
		const struct vmcore_segment *s = &vc->segs[i];
		uint64_t in = pos > s->file_offset ? pos - s->file_offset : 0;

		/* The flat view may have changed since the build: a miss reads as zeros. */
		if (phys_seek(as, s->gpa + in, whence, &r))
			r = whence == SEEK_DATA ? UINT64_MAX : s->gpa + in;
		if (r >= s->gpa + in && r - s->gpa < s->size) {
			*out = s->file_offset + (r - s->gpa);
			return 0;
		}
	}
	if (whence == SEEK_DATA)
		return -ENXIO;
	*out = vc->size;
	return 0;
}

uint64_t vmcore_resident(const struct vmcore *vc, struct address_space *as)
{
	uint64_t r = phys_resident(as);

	return vc->header_len + (r < vc->size - vc->header_len ? r : vc->size - vc->header_len);
}
