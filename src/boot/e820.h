/*
 * e820.h - the PC BIOS memory map (INT 15h AX=E820h) that Linux reads from
 * its zero page, derived from the machine's flat view.
 *
 * The flat view says what is RAM and what is ROM; the board adds the few
 * windows it reserves although the flat view may show RAM there (the legacy
 * VGA/BIOS hole below 1 MiB) or nothing at all (KVM's TSS and identity-map
 * pages in the PCI hole).  Nothing else is assumed: RAM ranges outside the
 * windows are usable, ROM ranges and the windows reserved, I/O ranges and
 * holes absent.  Pure: no KVM, no guest memory touched.
 */
#ifndef KVMFS_BOOT_E820_H
#define KVMFS_BOOT_E820_H

#include <stddef.h>
#include <stdint.h>

#include "memory/memory.h"

struct strbuf;

/* Linux's names and values (arch/x86/include/asm/e820/types.h). */
enum e820_type {
	E820_TYPE_RAM = 1,
	E820_TYPE_RESERVED = 2,
};

/* As many as the zero page holds (E820_MAX_ENTRIES_ZEROPAGE). */
#define E820_MAX_ENTRIES 128

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type; /* enum e820_type */
};

struct e820_table {
	struct e820_entry entries[E820_MAX_ENTRIES]; /* sorted, non-overlapping, merged */
	size_t nr;
};

/* A window the board reserves: never usable, always listed as reserved. */
struct e820_window {
	uint64_t start;
	uint64_t size;
	const char *why;
};

/* The PC boards' windows (pc and q35 alike). */
extern const struct e820_window e820_pc_windows[];
extern const size_t e820_pc_nr_windows;

/* Pure: the table for a flat view and a board's windows.  -E2BIG past E820_MAX_ENTRIES. */
int e820_build(const struct flatview *fv, const struct e820_window *windows, size_t nr_windows,
               struct e820_table *t);
/* The PC table of an address space's current view (takes its read lock). */
int e820_build_pc(struct address_space *as, struct e820_table *t);
/* Linux's own format: "BIOS-e820: [mem 0x...-0x...] usable", one line per entry. */
void e820_render(const struct e820_table *t, struct strbuf *sb);
const char *e820_type_name(uint32_t type);

#endif
