/*
 * dump.c - a guest from a file (see dump.h): check and read an ELF core's
 * header, program headers and notes, or take a raw image as it is, and map
 * the file behind the machine's memory.
 *
 * Readers of the same cores: crash (netdump.c), drgn (program.c), QEMU's
 * own writer (dump/dump.c, target/i386/arch_dump.c) for the notes' layout.
 * Every check says what is wrong in one line; nothing is built or mapped
 * before the whole header has been checked.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inspect/dumpfile.h"
#include "kvm/segment.h"
#include "inspect/vmcore.h"
#include "memory/pagewalk.h"
#include "util/bytes.h"
#include "util/compiler.h"
#include "util/errmsg.h"

#define DUMP_PAGE       4096ULL
#define DUMP_FIRST_READ (64 * 1024)
#define DUMP_HEADER_MAX (64ULL << 20) /* program headers and notes, at most */
#define DUMP_PRSTATUS   336           /* x86-64 struct elf_prstatus */
#define DUMP_PR_REG     112           /* ... and where pr_reg is in it */
#define DUMP_EFER_LONG  0xd01ULL      /* SCE, LME, LMA, NXE: what a 64-bit Linux runs with */

/* Is [off, off+len) inside the buffer?  Else: inside the file (need more), or not (truncated). */
enum dump_span { DUMP_IN_BUF, DUMP_NEED, DUMP_PAST_END };

static enum dump_span dump_span(uint64_t off, uint64_t len, size_t have, uint64_t file_size)
{
	if (off > file_size || len > file_size - off)
		return DUMP_PAST_END;
	return off + len <= have ? DUMP_IN_BUF : DUMP_NEED;
}

/* ---- notes ---- */

/* QEMU keeps a segment's descriptor attributes where the descriptor has them. */
static void dump_qemu_seg(const uint8_t *p, struct kvm_segment *s)
{
	uint32_t flags = le32(p + 8);

	*s = kvm_segment_from_attrs((uint16_t)le32(p), le64(p + 16), le32(p + 4), flags);
}

/* A QEMUCPUState (version 1, 440 bytes): segments from 152, 24 bytes each, CR0-4 at 392. */
static void dump_qemu_note(const uint8_t *d, struct dump_cpu *c)
{
	struct kvm_sregs *s = &c->sregs;
	struct kvm_segment *segs[] = {&s->cs, &s->ds, &s->es,  &s->fs,
	                              &s->gs, &s->ss, &s->ldt, &s->tr};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(segs); i++)
		dump_qemu_seg(d + 152 + 24 * i, segs[i]);
	s->gdt = (struct kvm_dtable){.base = le64(d + 344 + 16), .limit = (uint16_t)le32(d + 348)};
	s->idt = (struct kvm_dtable){.base = le64(d + 368 + 16), .limit = (uint16_t)le32(d + 372)};
	s->cr0 = le64(d + 392);
	s->cr2 = le64(d + 392 + 16);
	s->cr3 = le64(d + 392 + 24);
	s->cr4 = le64(d + 392 + 32);
	c->have_sregs = true;
}

/* NT_PRSTATUS: the registers of user_regs_struct, and the segment selectors and bases in it. */
static void dump_prstatus(const uint8_t *d, struct dump_cpu *c)
{
	const uint8_t *g = d + DUMP_PR_REG;
	struct kvm_regs *r = &c->regs;
	struct kvm_sregs *s = &c->sregs;

	*r = (struct kvm_regs){
	        .r15 = le64(g),
	        .r14 = le64(g + 8),
	        .r13 = le64(g + 16),
	        .r12 = le64(g + 24),
	        .rbp = le64(g + 32),
	        .rbx = le64(g + 40),
	        .r11 = le64(g + 48),
	        .r10 = le64(g + 56),
	        .r9 = le64(g + 64),
	        .r8 = le64(g + 72),
	        .rax = le64(g + 80),
	        .rcx = le64(g + 88),
	        .rdx = le64(g + 96),
	        .rsi = le64(g + 104),
	        .rdi = le64(g + 112),
	        .rip = le64(g + 128),
	        .rflags = le64(g + 144),
	        .rsp = le64(g + 152),
	};
	s->cs.selector = (uint16_t)le64(g + 136);
	s->ss.selector = (uint16_t)le64(g + 160);
	s->fs.base = le64(g + 168);
	s->gs.base = le64(g + 176);
	s->ds.selector = (uint16_t)le64(g + 184);
	s->es.selector = (uint16_t)le64(g + 192);
	s->fs.selector = (uint16_t)le64(g + 200);
	s->gs.selector = (uint16_t)le64(g + 208);
}

static bool dump_note_is(const uint8_t *name, uint32_t namesz, const char *want)
{
	return namesz == strlen(want) + 1 && !memcmp(name, want, namesz);
}

/* kvmfs's own note: "efer=0x... 0x..." gives what QEMU's note leaves out. */
static void dump_kvmfs_note(const char *text, size_t len, uint64_t *efer, unsigned max,
                            unsigned *nr)
{
	const char *p = memmem(text, len, "efer=", 5);
	char *end;

	if (!p || (p != text && p[-1] != '\n'))
		return;
	p += 5;
	while (*nr < max && p < text + len && *p != '\n') {
		efer[*nr] = strtoull(p, &end, 0);
		if (end == p)
			break;
		(*nr)++;
		p = end;
		while (*p == ' ')
			p++;
	}
}

/* Count (cpus NULL) or read the notes of one PT_NOTE. */
static int dump_notes(struct dump *d, const uint8_t *p, uint64_t len, uint64_t file_off,
                      unsigned *nr_prstatus, unsigned *nr_qemu, uint64_t *efer, unsigned *nr_efer,
                      char *err, size_t errlen)
{
	uint64_t pos = 0;

	while (pos + sizeof(Elf64_Nhdr) <= len) {
		uint32_t namesz = le32(p + pos), descsz = le32(p + pos + 4),
		         type = le32(p + pos + 8);
		uint64_t name = pos + sizeof(Elf64_Nhdr), desc = name + VMCORE_NOTE_ALIGN(namesz);
		const uint8_t *nm = p + name, *ds = p + desc;

		if (desc > len || VMCORE_NOTE_ALIGN(descsz) > len - desc)
			return errmsg(err, errlen, -EINVAL,
			              "a corrupt note at byte %llu of the file",
			              (unsigned long long)(file_off + pos));
		if (dump_note_is(nm, namesz, "CORE") && type == NT_PRSTATUS &&
		    descsz >= DUMP_PRSTATUS) {
			if (d->cpus)
				dump_prstatus(ds, &d->cpus[*nr_prstatus]);
			(*nr_prstatus)++;
		} else if (dump_note_is(nm, namesz, "QEMU") && type == 0 &&
		           descsz >= VMCORE_QEMU_SIZE && le32(ds) >= VMCORE_QEMU_VERSION) {
			if (d->cpus && *nr_qemu < d->nr_cpus)
				dump_qemu_note(ds, &d->cpus[*nr_qemu]);
			(*nr_qemu)++;
		} else if (dump_note_is(nm, namesz, "VMCOREINFO") && d->cpus && !d->vmcoreinfo &&
		           descsz && descsz <= VMCORE_NOTE_MAX) {
			d->vmcoreinfo = strndup((const char *)ds, descsz);
			if (!d->vmcoreinfo)
				return -ENOMEM;
			d->vmcoreinfo_len = strlen(d->vmcoreinfo);
		} else if (dump_note_is(nm, namesz, "KVMFS") && type == VMCORE_NT_KVMFS &&
		           d->cpus) {
			dump_kvmfs_note((const char *)ds, descsz, efer, d->nr_cpus, nr_efer);
		}
		pos = desc + VMCORE_NOTE_ALIGN(descsz);
	}
	return 0;
}

/* ---- the ELF header ---- */

static int dump_check_ehdr(const Elf64_Ehdr *eh, char *err, size_t errlen)
{
	if (eh->e_ident[EI_CLASS] != ELFCLASS64)
		return errmsg(err, errlen, -ENOEXEC,
		              "a 32-bit ELF file (class %u); kvmfs reads x86-64 cores (ELFCLASS64)",
		              eh->e_ident[EI_CLASS]);
	if (eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_machine != EM_X86_64)
		return errmsg(err, errlen, -ENOEXEC, "an ELF file for machine %u, not x86-64 (%u)",
		              eh->e_machine, EM_X86_64);
	if (eh->e_type != ET_CORE)
		return errmsg(err, errlen, -ENOEXEC, "an ELF file of type %u, not a core (ET_CORE)",
		              eh->e_type);
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || !eh->e_phnum)
		return errmsg(err, errlen, -ENOEXEC, "an ELF core without program headers");
	return 0;
}

/* Sort by GPA (insertion: a core has few PT_LOADs). */
static void dump_sort_ranges(struct dump *d)
{
	size_t i, j;

	for (i = 1; i < d->nr_ranges; i++) {
		struct machine_file_range r = d->ranges[i];

		for (j = i; j > 0 && d->ranges[j - 1].gpa > r.gpa; j--)
			d->ranges[j] = d->ranges[j - 1];
		d->ranges[j] = r;
	}
}

/* Does [gpa, gpa+size) share bytes with a range already taken? */
static bool dump_overlaps(const struct dump *d, uint64_t gpa, uint64_t size)
{
	size_t i;

	for (i = 0; i < d->nr_ranges; i++)
		if (gpa < d->ranges[i].gpa + d->ranges[i].size && d->ranges[i].gpa < gpa + size)
			return true;
	return false;
}

static int dump_loads(struct dump *d, const uint8_t *ph, unsigned phnum, uint64_t file_size,
                      char *err, size_t errlen)
{
	unsigned i;

	d->ranges = calloc(phnum, sizeof(*d->ranges));
	if (!d->ranges)
		return -ENOMEM;
	for (i = 0; i < phnum; i++) {
		const Elf64_Phdr *p = (const void *)(ph + (size_t)i * sizeof(Elf64_Phdr));
		Elf64_Phdr h;

		memcpy(&h, p, sizeof(h));
		if (h.p_type != PT_LOAD || !h.p_memsz || h.p_paddr == UINT64_MAX)
			continue; /* /proc/kcore's segments without a physical address, say */
		if (h.p_offset > file_size || h.p_filesz > file_size - h.p_offset)
			return errmsg(
			        err, errlen, -EINVAL,
			        "truncated: PT_LOAD %u (GPA 0x%llx) ends at byte %llu, the file at "
			        "%llu",
			        i, (unsigned long long)h.p_paddr,
			        (unsigned long long)(h.p_offset + h.p_filesz),
			        (unsigned long long)file_size);
		if (h.p_filesz > h.p_memsz || h.p_paddr + h.p_memsz < h.p_paddr)
			return errmsg(err, errlen, -EINVAL, "PT_LOAD %u has impossible sizes", i);
		if ((h.p_paddr | h.p_memsz) & (DUMP_PAGE - 1))
			return errmsg(
			        err, errlen, -EINVAL,
			        "PT_LOAD %u: GPA 0x%llx and size 0x%llx are not whole 4 KiB pages",
			        i, (unsigned long long)h.p_paddr, (unsigned long long)h.p_memsz);
		/* Kernel-virtual aliases (kdump's text segment, kvmfs's runs) repeat bytes. */
		if (dump_overlaps(d, h.p_paddr, h.p_memsz))
			continue;
		d->ranges[d->nr_ranges++] = (struct machine_file_range){
		        .gpa = h.p_paddr,
		        .size = h.p_memsz,
		        .file_offset = h.p_offset,
		        .file_len = h.p_filesz,
		        .index = i,
		};
	}
	if (!d->nr_ranges)
		return errmsg(err, errlen, -EINVAL,
		              "an ELF core without guest-physical memory (no PT_LOAD)");
	dump_sort_ranges(d);
	return 0;
}

/* Every vCPU's EFER: the core's own word (kvmfs), or what long mode with paging implies. */
static void dump_efer(struct dump *d, const uint64_t *efer, unsigned nr_efer)
{
	unsigned i;

	for (i = 0; i < d->nr_cpus; i++) {
		struct kvm_sregs *s = &d->cpus[i].sregs;

		if (i < nr_efer)
			s->efer = efer[i];
		else if ((s->cr0 & PW_CR0_PG) && (s->cr4 & PW_CR4_PAE))
			s->efer = DUMP_EFER_LONG; /* an ELF64 x86-64 core of a paging CPU */
	}
}

int dump_parse(struct dump *d, const uint8_t *buf, size_t len, uint64_t file_size, size_t *need,
               char *err, size_t errlen)
{
	Elf64_Ehdr eh;
	const uint8_t *ph;
	uint64_t *efer = NULL;
	unsigned phnum, i, nr_prstatus = 0, nr_qemu = 0, nr_efer = 0, pass;
	int ret;

	*need = 0;
	if (len < SELFMAG || memcmp(buf, ELFMAG, SELFMAG))
		return errmsg(err, errlen, -ENOEXEC, "not an ELF file");
	if (file_size < sizeof(eh))
		return errmsg(err, errlen, -EINVAL,
		              "truncated: %llu bytes, less than an ELF header",
		              (unsigned long long)file_size);
	if (len < sizeof(eh)) {
		*need = sizeof(eh);
		return -EAGAIN;
	}
	memcpy(&eh, buf, sizeof(eh));
	ret = dump_check_ehdr(&eh, err, errlen);
	if (ret)
		return ret;
	phnum = eh.e_phnum;
	if (phnum == PN_XNUM) {
		/* More than 65534: the count is in section header 0's sh_info (QEMU does this). */
		Elf64_Shdr sh;

		switch (dump_span(eh.e_shoff, sizeof(sh), len, file_size)) {
		case DUMP_PAST_END:
			return errmsg(err, errlen, -EINVAL, "truncated: no section header 0");
		case DUMP_NEED: *need = eh.e_shoff + sizeof(sh); return -EAGAIN;
		case DUMP_IN_BUF: break;
		}
		memcpy(&sh, buf + eh.e_shoff, sizeof(sh));
		phnum = sh.sh_info;
	}
	switch (dump_span(eh.e_phoff, (uint64_t)phnum * sizeof(Elf64_Phdr), len, file_size)) {
	case DUMP_PAST_END:
		return errmsg(
		        err, errlen, -EINVAL,
		        "truncated: %u program headers from byte %llu do not fit in %llu bytes",
		        phnum, (unsigned long long)eh.e_phoff, (unsigned long long)file_size);
	case DUMP_NEED: *need = eh.e_phoff + (uint64_t)phnum * sizeof(Elf64_Phdr); return -EAGAIN;
	case DUMP_IN_BUF: break;
	}
	ph = buf + eh.e_phoff;
	/* Every note must be at hand before anything is read from them. */
	for (i = 0; i < phnum; i++) {
		Elf64_Phdr h;

		memcpy(&h, ph + (size_t)i * sizeof(h), sizeof(h));
		if (h.p_type != PT_NOTE)
			continue;
		switch (dump_span(h.p_offset, h.p_filesz, len, file_size)) {
		case DUMP_PAST_END:
			return errmsg(err, errlen, -EINVAL,
			              "truncated: the notes (program header %u) end at byte %llu, "
			              "the file "
			              "at %llu",
			              i, (unsigned long long)(h.p_offset + h.p_filesz),
			              (unsigned long long)file_size);
		case DUMP_NEED:
			if (h.p_offset + h.p_filesz > DUMP_HEADER_MAX)
				return errmsg(err, errlen, -EFBIG, "notes beyond the first 64 MiB");
			*need = h.p_offset + h.p_filesz > *need ? h.p_offset + h.p_filesz : *need;
			break;
		case DUMP_IN_BUF: break;
		}
	}
	if (*need)
		return -EAGAIN;
	ret = dump_loads(d, ph, phnum, file_size, err, errlen);
	/* Two passes over the notes: count the vCPUs, then read them. */
	for (pass = 0; !ret && pass < 2; pass++) {
		if (pass == 1) {
			d->nr_cpus = nr_prstatus;
			d->cpus = calloc(nr_prstatus ? nr_prstatus : 1, sizeof(*d->cpus));
			efer = calloc(nr_prstatus ? nr_prstatus : 1, sizeof(*efer));
			if (!d->cpus || !efer) {
				ret = -ENOMEM;
				break;
			}
		}
		nr_prstatus = nr_qemu = 0;
		for (i = 0; !ret && i < phnum; i++) {
			Elf64_Phdr h;

			memcpy(&h, ph + (size_t)i * sizeof(h), sizeof(h));
			if (h.p_type == PT_NOTE)
				ret = dump_notes(d, buf + h.p_offset, h.p_filesz, h.p_offset,
				                 &nr_prstatus, &nr_qemu, efer, &nr_efer, err,
				                 errlen);
		}
	}
	if (!ret)
		dump_efer(d, efer, nr_efer);
	free(efer);
	d->format = DUMP_ELF;
	d->file_size = file_size;
	return ret;
}

/* ---- files ---- */

static void dump_free(struct dump *d)
{
	free(d->ranges);
	free(d->cpus);
	free(d->vmcoreinfo);
	d->ranges = NULL;
	d->cpus = NULL;
	d->vmcoreinfo = NULL;
	d->nr_ranges = 0;
	d->nr_cpus = 0;
}

/* Read the first len bytes of the file (the header part a parse asks for). */
static int dump_read_head(int fd, uint8_t **buf, size_t len)
{
	uint8_t *p = realloc(*buf, len ? len : 1);
	size_t done = 0;

	if (!p)
		return -ENOMEM;
	*buf = p;
	while (done < len) {
		ssize_t n = pread(fd, p + done, len - done, (off_t)done);

		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* dump_open without the file's name: err says what is wrong with it. */
static int dump_open_file(struct dump *d, const char *path, bool raw_ok, char *err, size_t errlen)
{
	uint8_t *buf = NULL;
	size_t len, need;
	struct stat st;
	int ret;

	memset(d, 0, sizeof(*d));
	d->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (d->fd < 0)
		return errmsg(err, errlen, -errno, "%s", strerror(errno));
	if (fstat(d->fd, &st) || !S_ISREG(st.st_mode)) {
		ret = errmsg(err, errlen, -EINVAL, "not a regular file");
		goto err;
	}
	if (!st.st_size) {
		ret = errmsg(err, errlen, -EINVAL, "the file is empty");
		goto err;
	}
	d->file_size = (uint64_t)st.st_size;
	len = d->file_size < DUMP_FIRST_READ ? (size_t)d->file_size : DUMP_FIRST_READ;
	for (;;) {
		ret = dump_read_head(d->fd, &buf, len);
		if (ret) {
			errmsg(err, errlen, ret, "reading it: %s", strerror(-ret));
			goto err;
		}
		ret = dump_parse(d, buf, len, d->file_size, &need, err, errlen);
		if (ret != -EAGAIN)
			break;
		len = need;
	}
	if (ret == -ENOEXEC && (len < SELFMAG || memcmp(buf, ELFMAG, SELFMAG))) {
		if (!raw_ok) {
			ret = errmsg(
			        err, errlen, -EINVAL,
			        "not an ELF core; for a raw memory image (offset = guest-physical "
			        "address) give its layout with -M and -m");
			goto err;
		}
		/* A raw image: guest-physical memory from 0, as long as the file is. */
		d->format = DUMP_RAW;
		d->ranges = calloc(1, sizeof(*d->ranges));
		if (!d->ranges) {
			ret = errmsg(err, errlen, -ENOMEM, "%s", strerror(ENOMEM));
			goto err;
		}
		d->ranges[0] = (struct machine_file_range){0, d->file_size, 0, d->file_size, 0};
		d->nr_ranges = 1;
		ret = 0;
	} else if (!ret && raw_ok) {
		ret = errmsg(err, errlen, -EINVAL,
		             "an ELF core says its own layout: -M and -m are for raw images only");
	}
	if (ret)
		goto err;
	d->path = strdup(path);
	if (!d->path) {
		ret = errmsg(err, errlen, -ENOMEM, "%s", strerror(ENOMEM));
		goto err;
	}
	free(buf);
	return 0;
err:
	free(buf);
	dump_free(d);
	close(d->fd);
	d->fd = -1;
	return ret;
}

int dump_open(struct dump *d, const char *path, bool raw_ok, char *err, size_t errlen)
{
	char why[448];
	int ret;

	why[0] = '\0';
	ret = dump_open_file(d, path, raw_ok, why, sizeof(why));
	/* The file is named here, once; a failure that said nothing gets its errno. */
	if (ret)
		errmsg(err, errlen, ret, "-dump %s: %s", path, why[0] ? why : strerror(-ret));
	return ret;
}

int dump_map_raw(const struct dump *d, struct machine *m)
{
	const struct flatview *fv = m->as.fv;
	int ret = 0;
	size_t i;

	for (i = 0; !ret && i < fv->nr; i++) {
		const struct flat_range *fr = &fv->ranges[i];
		uint64_t end;

		if (!flat_range_is_ram(fr) || !fr->mr->block || fr->start >= d->file_size)
			continue;
		/* Past the file's end the range reads as zeros (a ROM above the RAM copied, say).
		 */
		end = fr->start + fr->size < d->file_size ? fr->start + fr->size : d->file_size;
		ret = ram_block_map_file(fr->mr->block, fr->offset, end - fr->start, d->fd,
		                         fr->start);
	}
	return ret;
}

void dump_close(struct dump *d)
{
	dump_free(d);
	free(d->path);
	d->path = NULL;
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}
