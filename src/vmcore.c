/*
 * vmcore.c - the ELF64 core of the guest (see vmcore.h): the header is
 * built from a snapshot of the flat view and the vCPUs' registers, the
 * PT_LOAD bytes are guest memory read at read() time.
 *
 * Readers checked against it: readelf -l -n, pyelftools, gdb -c.  A range
 * that went away after the build (the layout changed under an open file)
 * reads as zeros; a new open builds the new layout.
 */
#include <elf.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvmfs/phys.h"
#include "kvmfs/vmcore.h"

#define VMCORE_ALIGN4(x) (((x) + 3) & ~(size_t)3)

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
	*pos += VMCORE_ALIGN4(nh.n_namesz);
	memcpy(buf + *pos, desc, desc_len);
	*pos += VMCORE_ALIGN4(desc_len);
}

static size_t vmcore_note_size(const char *name, size_t desc_len)
{
	return sizeof(Elf64_Nhdr) + VMCORE_ALIGN4(strlen(name) + 1) + VMCORE_ALIGN4(desc_len);
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

int vmcore_build(struct address_space *as, const struct vmcore_info *info, struct vmcore **out)
{
	char text[256];
	size_t notes_len, phdrs_len, pos, i;
	uint64_t off;
	struct vmcore *vc;
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	int text_len, ret;

	vc = calloc(1, sizeof(*vc));
	if (!vc)
		return -ENOMEM;
	pthread_rwlock_rdlock(&as->lock);
	ret = vmcore_segments(as->fv, vc);
	vc->version = as->version;
	pthread_rwlock_unlock(&as->lock);
	if (ret)
		goto err;

	text_len = snprintf(text, sizeof(text), "machine=%s\nram_size=%llu\ncpus=%u\n",
	                    info->machine, (unsigned long long)info->ram_size, info->nr_cpus);
	notes_len =
	        (size_t)info->nr_regs * vmcore_note_size("CORE", sizeof(struct vmcore_prstatus)) +
	        vmcore_note_size("KVMFS", (size_t)text_len + 1);
	phdrs_len = (1 + vc->nr_segs) * sizeof(Elf64_Phdr);
	vc->header_len = sizeof(eh) + phdrs_len + notes_len;
	vc->header_len =
	        (vc->header_len + VMCORE_HEADER_ALIGN - 1) & ~(size_t)(VMCORE_HEADER_ALIGN - 1);
	vc->header = calloc(1, vc->header_len);
	ret = -ENOMEM;
	if (!vc->header)
		goto err;

	eh = (Elf64_Ehdr){.e_type = ET_CORE,
	                  .e_machine = EM_X86_64,
	                  .e_version = EV_CURRENT,
	                  .e_phoff = sizeof(eh),
	                  .e_ehsize = sizeof(eh),
	                  .e_phentsize = sizeof(Elf64_Phdr),
	                  .e_phnum = (Elf64_Half)(1 + vc->nr_segs)};
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_ident[EI_OSABI] = ELFOSABI_NONE;
	memcpy(vc->header, &eh, sizeof(eh));

	pos = sizeof(eh);
	ph = (Elf64_Phdr){
	        .p_type = PT_NOTE, .p_offset = sizeof(eh) + phdrs_len, .p_filesz = notes_len};
	memcpy(vc->header + pos, &ph, sizeof(ph));
	pos += sizeof(ph);
	off = vc->header_len;
	for (i = 0; i < vc->nr_segs; i++) {
		struct vmcore_segment *s = &vc->segs[i];

		s->file_offset = off;
		/* QEMU's flags; p_vaddr = p_paddr: the built-in guest's identity map. */
		ph = (Elf64_Phdr){.p_type = PT_LOAD,
		                  .p_flags = PF_R | PF_W | PF_X,
		                  .p_offset = off,
		                  .p_vaddr = s->gpa,
		                  .p_paddr = s->gpa,
		                  .p_filesz = s->size,
		                  .p_memsz = s->size};
		memcpy(vc->header + pos, &ph, sizeof(ph));
		pos += sizeof(ph);
		off += s->size;
	}
	vc->size = off;

	for (i = 0; i < info->nr_regs; i++) {
		struct vmcore_prstatus pr = {.pid = (uint32_t)i + 1};

		vmcore_user_regs(&info->regs[i], &info->sregs[i], pr.regs);
		vmcore_put_note(vc->header, &pos, "CORE", NT_PRSTATUS, &pr, sizeof(pr));
	}
	vmcore_put_note(vc->header, &pos, "KVMFS", VMCORE_NT_KVMFS, text, (size_t)text_len + 1);
	*out = vc;
	return 0;
err:
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
