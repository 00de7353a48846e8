/*
 * machine.h - a machine: its RAM blocks, its region tree and the "memory"
 * address space built from them.  The layout is the board's business
 * (src/machine/pc.c); everyone else reads it through the address space.
 */
#ifndef KVMFS_MACHINE_MACHINE_H
#define KVMFS_MACHINE_MACHINE_H

#include <stddef.h>
#include <stdint.h>

#include "memory/memory.h"
#include "memory/ram.h"

struct machine;
struct machine_config;

/*
 * What `info pci` says of a host bridge: its ids and revision.  The board
 * names its chipset here; hw/pci.c builds the bridge from it.
 */
struct pci_host_id {
	uint16_t vendor, device;
	uint8_t revision;
	uint16_t subsystem_vendor, subsystem;
};

struct machine_desc {
	const char *name;
	const char *desc;
	uint64_t lowmem;                /* RAM below 4G when the RAM is split */
	uint64_t split;                 /* RAM sizes from this one up are split */
	struct pci_host_id host_bridge; /* 00:00.0, as QEMU's `info pci` shows it */
	int (*build)(struct machine *m, const struct machine_config *cfg);
};

/*
 * A RAM block that is not mapped into guest-physical space, as QEMU's
 * `-object memory-backend-ram,id=ID,size=SIZE` creates one: it appears in the
 * ram list (and so in ramblocks/ and ramblocks.json), in no flat view.
 */
#define MACHINE_MAX_BACKENDS 16

struct machine_backend {
	char id[RAM_IDSTR_MAX + 1];
	uint64_t size;
};

/*
 * Guest-physical memory whose bytes are in a file: one PT_LOAD of an ELF
 * core (dump.h).  The "core" board is made of these, one read-only RAM
 * region and block ("pt_load.<index>") each.
 */
struct machine_file_range {
	uint64_t gpa, size;   /* size: p_memsz */
	uint64_t file_offset; /* p_offset */
	uint64_t file_len;    /* p_filesz: the rest reads as zeros */
	unsigned index;       /* in the program header table */
};

struct machine_config {
	const char *type;  /* -M */
	uint64_t ram_size; /* -m, bytes */
	unsigned cpus;     /* -smp */
	enum ram_backing backing;
	const void *firmware; /* placed at the top of pc.bios, which grows to hold it */
	size_t firmware_size;
	const struct machine_backend *backends; /* allocated after the board's blocks */
	unsigned nr_backends;
	/* Set: the board is an ELF core's, these ranges of file fd (type is ignored). */
	const struct machine_file_range *ranges;
	size_t nr_ranges;
	int fd;
};

struct machine {
	const struct machine_desc *desc;
	unsigned cpus;
	uint64_t ram_size;
	uint64_t below_4g; /* RAM bytes mapped at 0 */
	uint64_t above_4g; /* RAM bytes mapped at 4G */

	struct ram_list ram;
	struct address_space as; /* "memory" */
	struct memory_region *system;
	struct memory_region *ram_mr; /* pc.ram itself: shown only through aliases */
	struct ram_block *ram_block;
	struct ram_block *bios_block;
	struct ram_block *rom_block;
	struct memory_region *backend_mrs[MACHINE_MAX_BACKENDS]; /* own their blocks' regions */
	unsigned nr_backends;
};

const struct machine_desc *machine_find(const char *name);
/* The names -M takes, for --help: "pc, q35". */
const char *machine_names(void);
/* Splits RAM as the board does; no allocation, for the parsers. */
int machine_ram_split(const struct machine_desc *d, uint64_t ram_size, uint64_t *below,
                      uint64_t *above);
int machine_init(struct machine *m, const struct machine_config *cfg);
void machine_exit(struct machine *m);

extern const struct machine_desc machine_pc;
extern const struct machine_desc machine_q35;
/* An ELF core's memory: not a -M choice, built from machine_config's ranges. */
extern const struct machine_desc machine_core;

#endif
