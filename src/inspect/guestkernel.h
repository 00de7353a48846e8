/*
 * guestkernel.h - a Linux x86-64 kernel found in guest memory: what a kernel
 * core dump must tell crash, drgn and gdb, read from the guest itself.
 *
 * Given a vCPU's paging registers and guest-physical memory, it finds
 *   - the kernel image's text mapping (__START_KERNEL_map + phys_base): the
 *     first mapped page above 0xffffffff80000000 is _text, and the image is
 *     every page after it mapped at the same virtual-to-physical offset (a
 *     page mapped elsewhere - a module - ends it); holes (freed init memory,
 *     the gaps Linux unmaps) stay holes;
 *   - the direct map (page_offset_base): the first mapping in the kernel
 *     half whose virtual-to-physical offset is 1 GiB aligned and which maps
 *     the image's own physical pages there too - right with memory KASLR;
 *   - phys_base and KERNELOFFSET from where _text really is, swapper_pg_dir
 *     (the image page that holds the kernel half every page-table root
 *     shares, with an empty user half), the release from the banner
 *     ("Linux version <release> (") in the image;
 *   - the kernel's own VMCOREINFO note, once a subsys initcall has filled
 *     it: the note is a page of the direct map that a pointer in the image's
 *     writable data (vmcoreinfo_note) points to.
 * Everything is bounded: page walks of the text mapping, a few candidates
 * for the direct map, one pass over the image for the banner and the
 * pointer, none over the rest of RAM.  A previous result is a hint that
 * makes the next search cheaper; it is checked, never trusted.
 *
 * KERNELOFFSET assumes CONFIG_PHYSICAL_START = 16 MiB (the default, and every
 * distribution's): _text - 0xffffffff81000000.  Pure, like pagewalk.h: the
 * caller supplies the reader, so a live guest, a dump and a unit test's
 * hand-built tables all go through the same code.
 */
#ifndef KVMFS_INSPECT_GUESTKERNEL_H
#define KVMFS_INSPECT_GUESTKERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memory/pagewalk.h"

struct strbuf;

#define GUESTKERNEL_START_KERNEL_MAP 0xffffffff80000000ULL /* __START_KERNEL_map */
#define GUESTKERNEL_START_KERNEL     0xffffffff81000000ULL /* _text without KASLR */
#define GUESTKERNEL_TEXT_MAP_END     0xffffffffc0000000ULL /* + KERNEL_IMAGE_SIZE (1 GiB) */
/* page_offset_base without memory KASLR, 4- and 5-level paging */
#define GUESTKERNEL_PAGE_OFFSET_L4 0xffff888000000000ULL
#define GUESTKERNEL_PAGE_OFFSET_L5 0xff11000000000000ULL
#define GUESTKERNEL_MAX_RUNS       32
#define GUESTKERNEL_RELEASE_MAX    64   /* __NEW_UTS_LEN */
#define GUESTKERNEL_VMCOREINFO_MAX 4096 /* VMCOREINFO_BYTES: one page */
#define GUESTKERNEL_PAGE           4096ULL

/* Guest-physical memory: copy [gpa, gpa+len), return the bytes before the first that is not RAM. */
struct guestkernel_mem {
	size_t (*read)(void *opaque, uint64_t gpa, void *buf, size_t len);
	void *opaque;
};

/* A virtually and physically contiguous piece of a mapping, with one set of rights. */
struct guestkernel_run {
	uint64_t va, pa, size;
	bool writable, exec;
};

struct guestkernel {
	struct pagewalk_cpu cpu; /* the paging state searched (CR3: the kernel PGD of a PTI pair) */
	uint64_t text_va, text_pa;
	struct guestkernel_run runs[GUESTKERNEL_MAX_RUNS]; /* the image, in address order */
	unsigned nr_runs;
	uint64_t page_offset;
	bool page_offset_found; /* false: the default of the paging mode, unverified */
	uint64_t phys_base, kernel_offset;
	uint64_t swapper_pg_dir; /* a virtual address */
	uint64_t banner_gpa;
	char release[GUESTKERNEL_RELEASE_MAX + 1];
	/* The kernel's own VMCOREINFO (len 0: not filled in yet), and where it was found. */
	uint64_t vmcoreinfo_gpa, vmcoreinfo_ptr_gpa;
	char vmcoreinfo[GUESTKERNEL_VMCOREINFO_MAX + 1];
	size_t vmcoreinfo_len;
};

/*
 * Look for a kernel through cpu's page tables.  prev (NULL: none) is the
 * last result for the same guest: its locations are tried first.  0 with k
 * filled, -ENOENT when no kernel is mapped (not long mode, firmware, a boot
 * loader's identity map, a kernel too early to have its text mapping).
 */
int guestkernel_find(const struct pagewalk_cpu *cpu, const struct guestkernel_mem *mem,
                     const struct guestkernel *prev, struct guestkernel *k);

/*
 * The mapped pieces of [va, va+len) through cpu's tables, at most max of
 * them; returns how many.  For the stack around a vCPU's RSP.
 */
unsigned guestkernel_map_range(const struct pagewalk_cpu *cpu, const struct guestkernel_mem *mem,
                               uint64_t va, uint64_t len, struct guestkernel_run *out,
                               unsigned max);

/*
 * A VMCOREINFO for k as the kernel writes it ("KEY=value\n" lines) when its
 * own is not there yet: OSRELEASE, PAGESIZE, the symbols and numbers crash
 * and drgn need to read the kernel (swapper_pg_dir, _stext, phys_base,
 * KERNELOFFSET, pgtable_l5_enabled).
 */
void guestkernel_derive_vmcoreinfo(const struct guestkernel *k, struct strbuf *sb);

#endif
