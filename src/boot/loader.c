/*
 * loader.c - parse a bzImage or an ELF vmlinux and lay it out in guest RAM
 * with its zero page, command line and initrd, as Linux's x86 boot protocol
 * (Documentation/arch/x86/boot.rst) asks of a boot loader.  Placement in
 * src/boot/loader.h.
 */
#include <asm/bootparam.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/acpi.h"
#include "boot/e820.h"
#include "boot/loader.h"
#include "machine/machine.h"
#include "machine/pc.h"
#include "util/bytes.h"
#include "util/errmsg.h"

/* Offsets in a bzImage (boot.rst, "THE REAL-MODE KERNEL HEADER"). */
#define BZ_SETUP_SECTS     0x1f1
#define BZ_SYSSIZE         0x1f4
#define BZ_BOOT_FLAG       0x1fe
#define BZ_JUMP            0x200
#define BZ_HEADER          0x202
#define BZ_VERSION         0x206
#define BZ_LOADFLAGS       0x211
#define BZ_CODE32_START    0x214
#define BZ_INITRD_ADDR_MAX 0x22c
#define BZ_CMDLINE_SIZE    0x238
#define BZ_PREF_ADDRESS    0x258
#define BZ_INIT_SIZE       0x260
#define BZ_MIN_SIZE        0x264 /* through init_size */

#define BOOT_FLAG    0xaa55
#define HDRS_MAGIC   0x53726448 /* "HdrS" */
#define MIN_PROTOCOL 0x0206     /* cmdline_size exists from here on */

/* The PVH entry, an ELF note of type XEN_ELFNOTE_PHYS32_ENTRY named "Xen". */
#define XEN_ELFNOTE_PHYS32_ENTRY 18

#define PAGE_4K 0x1000ULL
#define PAGE_2M 0x200000ULL
#define PTE_P   0x1ULL
#define PTE_RW  0x2ULL
#define PTE_PS  0x80ULL

/* ---- parsing --------------------------------------------------------- */

static int parse_bzimage(const uint8_t *buf, size_t size, struct loader_kernel *k, char *err,
                         size_t errlen)
{
	unsigned sects;
	uint64_t payload, syssize;

	k->format = LOADER_BZIMAGE;
	k->protocol = le16(buf + BZ_VERSION);
	if (k->protocol < MIN_PROTOCOL)
		return errmsg(err, errlen, -ENOEXEC,
		              "bzImage boot protocol %u.%02u is too old (2.06 or later is needed)",
		              k->protocol >> 8, k->protocol & 0xff);
	if (size < BZ_MIN_SIZE)
		return errmsg(err, errlen, -ENOEXEC,
		              "truncated: %zu bytes, less than a setup header", size);
	if (!(buf[BZ_LOADFLAGS] & LOADED_HIGH))
		return errmsg(err, errlen, -ENOEXEC,
		              "a zImage (loaded below 1 MiB); only bzImages are supported");
	sects = buf[BZ_SETUP_SECTS] ? buf[BZ_SETUP_SECTS] : 4; /* 0 meant 4, long ago */
	k->setup_size = (sects + 1) * 512;
	if (size <= k->setup_size)
		return errmsg(err, errlen, -ENOEXEC,
		              "truncated: %zu bytes, but the setup code alone is %zu", size,
		              k->setup_size);
	/* syssize counts 16-byte paragraphs of the protected-mode kernel. */
	payload = size - k->setup_size;
	syssize = (uint64_t)le32(buf + BZ_SYSSIZE) * 16;
	if (syssize > payload)
		return errmsg(
		        err, errlen, -ENOEXEC,
		        "truncated: the header says the kernel is %llu bytes, the file has %llu",
		        (unsigned long long)syssize, (unsigned long long)payload);
	/* The header ends where the jump at 0x200 lands. */
	k->hdr_end = BZ_HEADER + buf[BZ_JUMP + 1];
	if (k->hdr_end > 0x1f1 + sizeof(struct setup_header))
		k->hdr_end = 0x1f1 + sizeof(struct setup_header);
	if (k->hdr_end < BZ_MIN_SIZE)
		k->hdr_end = BZ_MIN_SIZE;
	k->entry = le32(buf + BZ_CODE32_START);
	if (k->entry != LOADER_BZIMAGE_ADDR)
		return errmsg(err, errlen, -ENOEXEC,
		              "code32_start is 0x%llx; kvmfs loads bzImages at 0x%llx only",
		              (unsigned long long)k->entry, LOADER_BZIMAGE_ADDR);
	k->load_start = LOADER_BZIMAGE_ADDR;
	k->load_end = LOADER_BZIMAGE_ADDR + payload;
	k->need_end = k->load_end;
	/* 2.10+: the decompressor works at pref_address over init_size bytes. */
	if (k->protocol >= 0x020a) {
		uint64_t pref = le64(buf + BZ_PREF_ADDRESS), init = le32(buf + BZ_INIT_SIZE);

		if (pref + init > k->need_end)
			k->need_end = pref + init;
	}
	k->cmdline_max = le32(buf + BZ_CMDLINE_SIZE);
	k->initrd_addr_max = le32(buf + BZ_INITRD_ADDR_MAX);
	return 0;
}

/* The PVH entry from one PT_NOTE segment, if it holds one. */
static uint64_t find_pvh_note(const uint8_t *p, size_t len)
{
	size_t off = 0;

	while (off + sizeof(Elf64_Nhdr) <= len) {
		const Elf64_Nhdr *n = (const void *)(p + off);
		size_t name = (n->n_namesz + 3) & ~3u, desc = (n->n_descsz + 3) & ~3u;
		const uint8_t *d = p + off + sizeof(*n) + name;

		if (name > len || desc > len || off + sizeof(*n) + name + desc > len)
			break;
		if (n->n_type == XEN_ELFNOTE_PHYS32_ENTRY && n->n_namesz == 4 &&
		    !memcmp(p + off + sizeof(*n), "Xen", 4) && n->n_descsz >= 4)
			return n->n_descsz >= 8 ? le64(d) : le32(d);
		off += sizeof(*n) + name + desc;
	}
	return 0;
}

static int parse_elf(const uint8_t *buf, size_t size, struct loader_kernel *k, char *err,
                     size_t errlen)
{
	const Elf64_Ehdr *eh = (const void *)buf;
	bool entry_ok = false;
	size_t nload = 0;
	unsigned i;

	k->format = LOADER_ELF;
	if (size < EI_NIDENT || (buf[EI_CLASS] == ELFCLASS64 && size < sizeof(*eh)))
		return errmsg(err, errlen, -ENOEXEC,
		              "truncated: %zu bytes, less than an ELF header", size);
	if (buf[EI_CLASS] != ELFCLASS64)
		return errmsg(err, errlen, -ENOEXEC,
		              "a 32-bit ELF file; kvmfs boots 64-bit x86 kernels (vmlinux)");
	if (buf[EI_DATA] != ELFDATA2LSB || eh->e_machine != EM_X86_64)
		return errmsg(err, errlen, -ENOEXEC, "an ELF file for machine %u, not x86-64",
		              eh->e_machine);
	if (eh->e_type != ET_EXEC)
		return errmsg(err, errlen, -ENOEXEC,
		              "an ELF file of type %u, not an executable (ET_EXEC) like vmlinux",
		              eh->e_type);
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || !eh->e_phnum)
		return errmsg(err, errlen, -ENOEXEC, "an ELF file without a usable program header");
	if (eh->e_phoff > size || (size - eh->e_phoff) / sizeof(Elf64_Phdr) < eh->e_phnum)
		return errmsg(err, errlen, -ENOEXEC,
		              "truncated: the program header ends past the file's %zu bytes", size);
	k->load_start = UINT64_MAX;
	k->load_end = 0;
	for (i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph = (const void *)(buf + eh->e_phoff + i * sizeof(*ph));

		if (ph->p_type == PT_NOTE && ph->p_offset <= size &&
		    ph->p_filesz <= size - ph->p_offset && !k->pvh_entry)
			k->pvh_entry = find_pvh_note(buf + ph->p_offset, ph->p_filesz);
		if (ph->p_type != PT_LOAD)
			continue;
		if (ph->p_offset > size || ph->p_filesz > size - ph->p_offset)
			return errmsg(err, errlen, -ENOEXEC,
			              "truncated: segment %u ends at byte %llu, the file at %zu", i,
			              (unsigned long long)(ph->p_offset + ph->p_filesz), size);
		if (ph->p_filesz > ph->p_memsz || ph->p_paddr + ph->p_memsz < ph->p_paddr)
			return errmsg(err, errlen, -ENOEXEC, "segment %u has impossible sizes", i);
		nload++;
		if (ph->p_paddr < k->load_start)
			k->load_start = ph->p_paddr;
		if (ph->p_paddr + ph->p_memsz > k->load_end)
			k->load_end = ph->p_paddr + ph->p_memsz;
		if (eh->e_entry >= ph->p_paddr && eh->e_entry - ph->p_paddr < ph->p_filesz)
			entry_ok = true;
	}
	if (!nload)
		return errmsg(err, errlen, -ENOEXEC, "an ELF file without loadable segments");
	/* vmlinux's ENTRY is phys_startup_64; a program's is virtual. */
	if (!entry_ok)
		return errmsg(err, errlen, -ENOEXEC,
		              "entry point 0x%llx is not the physical address of loaded code "
		              "(not a vmlinux)",
		              (unsigned long long)eh->e_entry);
	k->entry = eh->e_entry;
	k->need_end = k->load_end;
	k->cmdline_max = LOADER_ELF_CMDLINE_MAX;
	k->initrd_addr_max = LOADER_ELF_INITRD_MAX;
	k->protocol = LOADER_ELF_PROTOCOL;
	return 0;
}

int loader_parse(const uint8_t *buf, size_t size, struct loader_kernel *k, char *err, size_t errlen)
{
	memset(k, 0, sizeof(*k));
	if (size == 0)
		return errmsg(err, errlen, -ENOEXEC, "the file is empty");
	if (size >= SELFMAG && !memcmp(buf, ELFMAG, SELFMAG))
		return parse_elf(buf, size, k, err, errlen);
	if (size < BZ_VERSION + 2)
		return errmsg(
		        err, errlen, -ENOEXEC,
		        "not a Linux kernel: %zu bytes, too short for a bzImage or ELF header",
		        size);
	if (le16(buf + BZ_BOOT_FLAG) != BOOT_FLAG)
		return errmsg(err, errlen, -ENOEXEC,
		              "not a Linux kernel: neither ELF nor a bzImage (no 0xAA55 boot flag "
		              "at 0x1fe)");
	if (le32(buf + BZ_HEADER) != HDRS_MAGIC)
		return errmsg(
		        err, errlen, -ENOEXEC,
		        "not a Linux kernel: a boot sector without the \"HdrS\" setup header");
	return parse_bzimage(buf, size, k, err, errlen);
}

/* ---- files ----------------------------------------------------------- */

static int read_file(const char *opt, const char *path, uint8_t **out, size_t *len, char *err,
                     size_t errlen)
{
	struct stat st;
	uint8_t *buf;
	size_t done = 0;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errmsg(err, errlen, -errno, "%s %s: %s", opt, path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ret = errmsg(err, errlen, -EINVAL, "%s %s: not a regular file", opt, path);
		goto out;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		ret = errmsg(err, errlen, -ENOMEM, "%s %s: %lld bytes: out of memory", opt, path,
		             (long long)st.st_size);
		goto out;
	}
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);

		if (n <= 0) {
			ret = errmsg(err, errlen, n < 0 ? -errno : -EIO, "%s %s: %s", opt, path,
			             n < 0 ? strerror(errno) : "short read");
			free(buf);
			goto out;
		}
		done += (size_t)n;
	}
	*out = buf;
	*len = done;
out:
	close(fd);
	return ret;
}

int loader_open(struct loader *l, const char *kernel, const char *initrd, const char *cmdline,
                char *err, size_t errlen)
{
	char why[256];
	int ret;

	memset(l, 0, sizeof(*l));
	l->kernel_path = kernel;
	l->initrd_path = initrd;
	l->cmdline = cmdline ? cmdline : "";
	ret = read_file("-kernel", kernel, &l->kernel, &l->kernel_size, err, errlen);
	if (ret)
		return ret;
	ret = loader_parse(l->kernel, l->kernel_size, &l->k, why, sizeof(why));
	if (ret) {
		errmsg(err, errlen, ret, "-kernel %s: %s", kernel, why);
		goto err;
	}
	if (strlen(l->cmdline) > l->k.cmdline_max || strlen(l->cmdline) >= LOADER_CMDLINE_ROOM) {
		ret = errmsg(err, errlen, -E2BIG,
		             "-append: %zu bytes; this kernel takes at most %u", strlen(l->cmdline),
		             l->k.cmdline_max);
		goto err;
	}
	if (initrd) {
		ret = read_file("-initrd", initrd, &l->initrd, &l->initrd_size, err, errlen);
		if (ret)
			goto err;
		if (!l->initrd_size) {
			ret = errmsg(err, errlen, -EINVAL, "-initrd %s: the file is empty", initrd);
			goto err;
		}
	}
	return 0;
err:
	loader_close(l);
	return ret;
}

void loader_close(struct loader *l)
{
	free(l->kernel);
	free(l->initrd);
	l->kernel = l->initrd = NULL;
	l->kernel_size = l->initrd_size = 0;
}

/* ---- placing --------------------------------------------------------- */

/*
 * Copy into guest RAM (src NULL: zero it), through the flat view so that
 * aliases are followed as the guest sees them.  Only writable RAM takes a
 * kernel: anything else there is -EFAULT.
 */
static int guest_write(struct machine *m, uint64_t gpa, const void *src, uint64_t len)
{
	struct address_space *as = &m->as;
	int ret = 0;

	pthread_rwlock_rdlock(&as->lock);
	while (len) {
		const struct flat_range *fr = flatview_lookup(as->fv, gpa);
		uint64_t n;
		uint8_t *host;

		if (!fr || fr->mr->kind != MR_RAM || fr->readonly || !fr->mr->block) {
			ret = -EFAULT;
			break;
		}
		n = fr->start + fr->size - gpa;
		if (n > len)
			n = len;
		host = fr->mr->block->host + fr->offset + (gpa - fr->start);
		if (src) {
			memcpy(host, src, n);
			src = (const uint8_t *)src + n;
		} else {
			memset(host, 0, n);
		}
		gpa += n;
		len -= n;
	}
	pthread_rwlock_unlock(&as->lock);
	return ret;
}

/* The usable entry holding [start, end), or NULL. */
static const struct e820_entry *usable_at(const struct e820_table *t, uint64_t start, uint64_t end)
{
	size_t i;

	for (i = 0; i < t->nr; i++) {
		const struct e820_entry *e = &t->entries[i];

		if (e->type == E820_TYPE_RAM && start >= e->addr && end <= e->addr + e->size)
			return e;
	}
	return NULL;
}

static int place_kernel(const struct loader *l, struct machine *m)
{
	const Elf64_Ehdr *eh = (const void *)l->kernel;
	unsigned i;
	int ret;

	if (l->k.format == LOADER_BZIMAGE)
		return guest_write(m, LOADER_BZIMAGE_ADDR, l->kernel + l->k.setup_size,
		                   l->kernel_size - l->k.setup_size);
	for (i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph = (const void *)(l->kernel + eh->e_phoff + i * sizeof(*ph));

		if (ph->p_type != PT_LOAD)
			continue;
		ret = guest_write(m, ph->p_paddr, l->kernel + ph->p_offset, ph->p_filesz);
		if (!ret)
			ret = guest_write(m, ph->p_paddr + ph->p_filesz, NULL,
			                  ph->p_memsz - ph->p_filesz);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * The initrd goes as high as it may: below initrd_addr_max and the end of
 * the highest usable entry under 4 GiB, page aligned, above the kernel.
 */
static int place_initrd(const struct loader *l, struct machine *m, const struct e820_table *t,
                        struct loader_entry *e, char *err, size_t errlen)
{
	uint64_t limit = l->k.initrd_addr_max + 1, top = 0, base = 0, addr;
	size_t i;

	for (i = 0; i < t->nr; i++) {
		const struct e820_entry *x = &t->entries[i];
		uint64_t end = x->addr + x->size < limit ? x->addr + x->size : limit;

		if (x->type == E820_TYPE_RAM && x->addr < end && end > top &&
		    end <= 0x100000000ULL) {
			top = end;
			base = x->addr;
		}
	}
	addr = (top - l->initrd_size) & ~(PAGE_4K - 1);
	if (l->initrd_size > top || addr < base || addr < l->k.need_end)
		return errmsg(err, errlen, -ENOSPC,
		              "-initrd %s: %zu bytes do not fit between the kernel's end (0x%llx) "
		              "and the top of low RAM (0x%llx); give more -m",
		              l->initrd_path, l->initrd_size, (unsigned long long)l->k.need_end,
		              (unsigned long long)top);
	e->initrd_addr = addr;
	return guest_write(m, addr, l->initrd, l->initrd_size);
}

/* boot_params as boot.rst asks: the file's header, plus what the loader fills in. */
static void fill_zero_page(const struct loader *l, const struct e820_table *t,
                           const struct loader_entry *e, struct boot_params *bp)
{
	size_t i;

	memset(bp, 0, sizeof(*bp));
	if (l->k.format == LOADER_BZIMAGE) {
		memcpy((uint8_t *)bp + 0x1f1, l->kernel + 0x1f1, l->k.hdr_end - 0x1f1);
	} else {
		/* A vmlinux has no header: write the fields the kernel reads. */
		bp->hdr.boot_flag = BOOT_FLAG;
		bp->hdr.header = HDRS_MAGIC;
		bp->hdr.version = LOADER_ELF_PROTOCOL;
		bp->hdr.loadflags = LOADED_HIGH;
		bp->hdr.code32_start = (uint32_t)l->k.load_start;
		bp->hdr.kernel_alignment = PAGE_2M;
		bp->hdr.cmdline_size = l->k.cmdline_max;
		bp->hdr.initrd_addr_max = (uint32_t)l->k.initrd_addr_max;
	}
	bp->hdr.type_of_loader = LOADER_TYPE_UNDEFINED;
	bp->hdr.cmd_line_ptr = (uint32_t)LOADER_CMDLINE_ADDR;
	if (l->initrd) {
		bp->hdr.ramdisk_image = (uint32_t)e->initrd_addr;
		bp->hdr.ramdisk_size = (uint32_t)l->initrd_size;
	}
	for (i = 0; i < t->nr; i++) {
		bp->e820_table[i].addr = t->entries[i].addr;
		bp->e820_table[i].size = t->entries[i].size;
		bp->e820_table[i].type = t->entries[i].type;
	}
	bp->e820_entries = (uint8_t)t->nr;
}

/* Flat 4 GiB code and data at Linux's boot selectors; CS 64-bit for the 64-bit entry. */
static int place_gdt(struct machine *m, unsigned mode, struct loader_entry *e)
{
	const uint64_t gdt[] = {
	        0,
	        0,
	        [LOADER_BOOT_CS / 8] = mode == 64 ? 0x00af9b000000ffffULL : 0x00cf9b000000ffffULL,
	        [LOADER_BOOT_DS / 8] = 0x00cf93000000ffffULL,
	};

	e->gdt_base = LOADER_GDT_ADDR;
	e->gdt_limit = sizeof(gdt) - 1;
	return guest_write(m, LOADER_GDT_ADDR, gdt, sizeof(gdt));
}

/*
 * What firmware leaves for the OS to find its CPUs and interrupt
 * controllers by: the ACPI tables in the EBDA (acpi.h), and the BIOS data
 * area's pointer to the EBDA (Linux scans the EBDA's first KiB for the
 * RSDP) and base memory size, as a PC BIOS sets them.  The zero page
 * points at the RSDP too.
 */
static int place_acpi(struct machine *m, struct boot_params *bp)
{
	uint8_t tables[PC_EBDA_SIZE];
	const struct acpi_config c = {
	        .cpus = m->cpus,
	        .lapic_addr = PC_LAPIC_ADDR,
	        .ioapic_addr = PC_IOAPIC_ADDR,
	};
	uint16_t ebda_segment = (uint16_t)(PC_EBDA_ADDR >> 4);
	uint16_t base_kib = (uint16_t)(PC_EBDA_ADDR >> 10);
	int ret;

	ret = acpi_build(&c, PC_EBDA_ADDR, tables, sizeof(tables));
	if (!ret)
		ret = guest_write(m, PC_EBDA_ADDR, tables, sizeof(tables));
	if (!ret)
		ret = guest_write(m, PC_BDA_EBDA_SEGMENT, &ebda_segment, sizeof(ebda_segment));
	if (!ret)
		ret = guest_write(m, PC_BDA_BASE_MEM_KB, &base_kib, sizeof(base_kib));
	bp->acpi_rsdp_addr = PC_EBDA_ADDR;
	return ret;
}

/* Identity map of the first LOADER_PD_GIB GiB: the 64-bit protocol's "identity mapped". */
static int place_page_tables(struct machine *m, struct loader_entry *e)
{
	uint64_t pml4[512] = {0}, pdpt[512] = {0}, pd[512];
	unsigned g, i;
	int ret;

	pml4[0] = LOADER_PDPT_ADDR | PTE_P | PTE_RW;
	for (g = 0; g < LOADER_PD_GIB; g++)
		pdpt[g] = (LOADER_PD_ADDR + g * PAGE_4K) | PTE_P | PTE_RW;
	ret = guest_write(m, LOADER_PML4_ADDR, pml4, sizeof(pml4));
	if (!ret)
		ret = guest_write(m, LOADER_PDPT_ADDR, pdpt, sizeof(pdpt));
	for (g = 0; !ret && g < LOADER_PD_GIB; g++) {
		for (i = 0; i < 512; i++)
			pd[i] = ((uint64_t)g << 30) + i * PAGE_2M + (PTE_P | PTE_RW | PTE_PS);
		ret = guest_write(m, LOADER_PD_ADDR + g * PAGE_4K, pd, sizeof(pd));
	}
	e->cr3 = LOADER_PML4_ADDR;
	return ret;
}

int loader_place(const struct loader *l, struct machine *m, struct loader_entry *e, char *err,
                 size_t errlen)
{
	static struct boot_params bp; /* 4 KiB: not on the stack */
	const char *what = "the kernel";
	struct e820_table t;
	uint64_t low_end = 0;
	size_t i;
	int ret;

	memset(e, 0, sizeof(*e));
	ret = e820_build_pc(&m->as, &t);
	if (ret)
		return errmsg(err, errlen, ret, "e820 table: %s", strerror(-ret));
	for (i = 0; i < t.nr; i++)
		if (t.entries[i].type == E820_TYPE_RAM && t.entries[i].addr < 0x100000000ULL)
			low_end = t.entries[i].addr + t.entries[i].size;
	if (!usable_at(&t, l->k.load_start, l->k.need_end))
		return errmsg(err, errlen, -ENOSPC,
		              "-kernel %s: needs RAM at 0x%llx-0x%llx, but usable low RAM ends at "
		              "0x%llx; give more -m",
		              l->kernel_path, (unsigned long long)l->k.load_start,
		              (unsigned long long)l->k.need_end - 1, (unsigned long long)low_end);
	if (!usable_at(&t, LOADER_GDT_ADDR, LOADER_CMDLINE_ADDR + LOADER_CMDLINE_ROOM))
		return errmsg(err, errlen, -ENOSPC,
		              "the boot data at 0x%llx-0x%llx is not usable RAM", LOADER_GDT_ADDR,
		              LOADER_CMDLINE_ADDR + LOADER_CMDLINE_ROOM - 1);

	e->mode = l->k.format == LOADER_ELF ? 64 : 32;
	e->rip = l->k.entry;
	e->rsi = LOADER_ZERO_PAGE_ADDR;
	ret = place_kernel(l, m);
	if (!ret && l->initrd) {
		ret = place_initrd(l, m, &t, e, err, errlen);
		if (ret == -ENOSPC)
			return ret;
		what = "the initrd";
	}
	if (!ret) {
		what = "the ACPI tables";
		fill_zero_page(l, &t, e, &bp);
		ret = place_acpi(m, &bp);
	}
	if (!ret) {
		what = "the boot data";
		ret = guest_write(m, LOADER_ZERO_PAGE_ADDR, &bp, sizeof(bp));
	}
	if (!ret)
		ret = guest_write(m, LOADER_CMDLINE_ADDR, l->cmdline, strlen(l->cmdline) + 1);
	if (!ret)
		ret = place_gdt(m, e->mode, e);
	if (!ret && e->mode == 64)
		ret = place_page_tables(m, e);
	if (ret)
		return errmsg(err, errlen, ret, "-kernel %s: writing %s: %s", l->kernel_path, what,
		              strerror(-ret));
	return 0;
}
