/*
 * loader.h - load a Linux kernel the way a boot loader does: -kernel,
 * -initrd, -append.
 *
 * Two kinds of kernel file are accepted (Documentation/arch/x86/boot.rst):
 *  - a bzImage, boot protocol 2.06 or later: its protected-mode part goes to
 *    code32_start (1 MiB) and the vCPU starts at its 32-bit entry, paging
 *    off, with ESI pointing at the zero page;
 *  - an uncompressed ELF vmlinux: its PT_LOAD segments go to their physical
 *    addresses and the vCPU starts at e_entry (Linux's startup_64, a
 *    physical address) in 64-bit mode, on identity page tables, with RSI
 *    pointing at the zero page - the 64-bit boot protocol.  A PVH entry note
 *    is recognised and reported, not used.
 * Anything else is refused with one line saying what is wrong with the file.
 *
 * Parsing (loader_open) happens before any VM exists; placing
 * (loader_place) writes into the built machine's RAM, with the e820 table
 * derived from its flat view.  Guest-physical placement:
 *
 *   0x0000_0500  GDT: null, null, __BOOT_CS 0x10, __BOOT_DS 0x18 (flat 4 GiB)
 *   0x0000_7000  boot_params, "the zero page" (4 KiB)
 *   0x0000_9000  PML4; 0xa000 PDPT; 0xb000-0xefff four page directories:
 *                the first 4 GiB identity-mapped with 2 MiB pages (64-bit entry)
 *   0x0002_0000  the command line, NUL-terminated
 *   0x0010_0000  bzImage: the protected-mode kernel (code32_start)
 *   p_paddr      vmlinux: each PT_LOAD segment (Debian's: from 16 MiB)
 *   top of low RAM  the initrd, page aligned, below initrd_addr_max
 *
 * All of it lies in the first usable e820 entry or above 1 MiB; Linux
 * reserves the first MiB for itself and copies the zero page and the command
 * line before it reuses low memory.
 */
#ifndef KVMFS_BOOT_LOADER_H
#define KVMFS_BOOT_LOADER_H

#include <stddef.h>
#include <stdint.h>

struct machine;

#define LOADER_GDT_ADDR       0x500ULL
#define LOADER_ZERO_PAGE_ADDR 0x7000ULL
#define LOADER_PML4_ADDR      0x9000ULL
#define LOADER_PDPT_ADDR      0xa000ULL
#define LOADER_PD_ADDR        0xb000ULL
#define LOADER_PD_GIB         4 /* GiB identity-mapped for the 64-bit entry */
#define LOADER_CMDLINE_ADDR   0x20000ULL
#define LOADER_CMDLINE_ROOM   0x10000ULL /* bytes reserved there, NUL included */
#define LOADER_BZIMAGE_ADDR   0x100000ULL

#define LOADER_BOOT_CS 0x10 /* Linux's __BOOT_CS */
#define LOADER_BOOT_DS 0x18 /* Linux's __BOOT_DS */

/* boot.rst: "0xFF: undefined" - a loader with no assigned ID. */
#define LOADER_TYPE_UNDEFINED 0xff
/* Protocol version written into a vmlinux's synthesized header: ext_* fields exist. */
#define LOADER_ELF_PROTOCOL 0x020c
/* Linux/x86's COMMAND_LINE_SIZE, NUL included: what a vmlinux accepts. */
#define LOADER_ELF_CMDLINE_MAX 2047
/* The initrd limit an ELF kernel gets (a bzImage says its own). */
#define LOADER_ELF_INITRD_MAX 0x7fffffffULL

enum loader_format {
	LOADER_BZIMAGE,
	LOADER_ELF,
};

/* What the kernel file says; filled by loader_parse (pure). */
struct loader_kernel {
	enum loader_format format;
	uint16_t protocol;   /* bzImage: boot protocol version, 0x0206.. */
	uint64_t entry;      /* bzImage: code32_start; ELF: e_entry (physical) */
	uint64_t pvh_entry;  /* ELF: XEN_ELFNOTE_PHYS32_ENTRY, or 0 */
	uint64_t load_start; /* physical bytes the file itself fills */
	uint64_t load_end;
	uint64_t need_end;        /* RAM the kernel needs up to (init_size, bss) */
	uint32_t cmdline_max;     /* bytes, without the NUL */
	uint64_t initrd_addr_max; /* highest byte the initrd may occupy */
	size_t setup_size;        /* bzImage: (setup_sects + 1) * 512 */
	size_t hdr_end;           /* bzImage: end of the setup header in the file */
};

/* A loaded kernel file, its initrd and command line. */
struct loader {
	const char *kernel_path;
	const char *initrd_path;
	const char *cmdline;
	uint8_t *kernel;
	size_t kernel_size;
	uint8_t *initrd;
	size_t initrd_size;
	struct loader_kernel k;
};

/* Where and how the boot vCPU starts; filled by loader_place. */
struct loader_entry {
	unsigned mode; /* 32: bzImage protected-mode entry; 64: vmlinux 64-bit entry */
	uint64_t rip;
	uint64_t rsi; /* the zero page */
	uint64_t cr3; /* 64: the PML4 */
	uint64_t gdt_base;
	uint16_t gdt_limit;
	uint64_t initrd_addr; /* where the initrd went, 0 without one */
};

/*
 * Pure: classify and check a kernel image in memory.  err gets what is
 * wrong with it, without the file name ("truncated: ...").
 */
int loader_parse(const uint8_t *buf, size_t size, struct loader_kernel *k, char *err,
                 size_t errlen);
/* Read and check the files; err is one line naming the option and file. */
int loader_open(struct loader *l, const char *kernel, const char *initrd, const char *cmdline,
                char *err, size_t errlen);
/*
 * Write kernel, initrd, command line, zero page (e820 from m's flat view),
 * GDT and page tables into m's RAM; -ENOSPC with err when they do not fit.
 */
int loader_place(const struct loader *l, struct machine *m, struct loader_entry *e, char *err,
                 size_t errlen);
void loader_close(struct loader *l);

#endif
