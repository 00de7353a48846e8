/*
 * machine/pc.c - the PC boards: -M pc (i440FX) and -M q35.
 *
 * Builds the same RAM blocks and region tree QEMU 7.2 builds with
 * -nodefaults, so that the flat view, and with it every memslot and every
 * offset kvmfs shows, equals QEMU's.  The two boards differ only in where
 * they split RAM around the PCI hole.  Map: src/machine/pc.h.
 */
#include <errno.h>
#include <stdio.h>

#include "machine/machine.h"
#include "machine/pc.h"

/* Add, or on failure free, so callers unwind with one mr_free(system). */
static int add(struct memory_region *parent, uint64_t addr, struct memory_region *mr, int prio)
{
	int ret;

	if (!mr)
		return -ENOMEM;
	ret = mr_add_subregion_overlap(parent, addr, mr, prio);
	if (ret)
		mr_free(mr);
	return ret;
}

/*
 * The chipset's PAM registers start out forwarding 0xc0000-0xfffff to PCI,
 * and SMRAM is closed, so the legacy window shows what the "pci" space holds
 * there (pc.rom, isa-bios) and, where it holds nothing, the RAM below.
 */
static int pc_add_chipset_aliases(struct memory_region *system, struct memory_region *pci)
{
	uint64_t a;
	int ret;

	ret = add(system, PC_SMRAM_ADDR,
	          mr_new_alias("smram-region", pci, PC_SMRAM_ADDR, PC_SMRAM_SIZE), 1);
	for (a = PC_PAM_START; !ret && a < PC_PAM_BIOS_ADDR; a += PC_PAM_SEGMENT)
		ret = add(system, a, mr_new_alias("pam-pci", pci, a, PC_PAM_SEGMENT), 1);
	if (!ret)
		ret = add(system, PC_PAM_BIOS_ADDR,
		          mr_new_alias("pam-pci", pci, PC_PAM_BIOS_ADDR, PC_PAM_BIOS_SIZE), 1);
	return ret;
}

/* pc.bios: 256 KiB, or as large as a larger firmware (pc.h). */
static int pc_bios_size(const struct machine_config *cfg, uint64_t *size)
{
	if (cfg->firmware_size <= PC_BIOS_SIZE) {
		*size = PC_BIOS_SIZE;
		return 0;
	}
	if (cfg->firmware_size % PC_BIOS_ALIGN || cfg->firmware_size > PC_BIOS_MAX_SIZE)
		return -EINVAL;
	*size = cfg->firmware_size;
	return 0;
}

static int pc_build(struct machine *m, const struct machine_config *cfg)
{
	struct memory_region *pci, *bios;
	uint64_t bios_size;
	int ret;

	ret = pc_bios_size(cfg, &bios_size);
	if (ret)
		return ret;
	/* Allocation order fixes the ram_addr offsets: pc.ram, pc.bios, pc.rom. */
	ret = ram_block_alloc(&m->ram, "pc.ram", m->ram_size, 0, 0, &m->ram_block);
	if (!ret)
		ret = ram_block_alloc(&m->ram, "pc.bios", bios_size, 0, RAM_READONLY,
		                      &m->bios_block);
	if (!ret)
		ret = ram_block_alloc(&m->ram, "pc.rom", PC_ROM_SIZE, 0, RAM_READONLY,
		                      &m->rom_block);
	if (ret)
		return ret;

	m->system = mr_new_container("system", MR_SIZE_2_64);
	m->ram_mr = mr_new_ram("pc.ram", m->ram_block);
	if (!m->system || !m->ram_mr)
		return -ENOMEM;
	ret = as_init(&m->as, "memory", m->system);
	if (ret)
		return ret;

	ret = add(m->system, 0, mr_new_alias("ram-below-4g", m->ram_mr, 0, m->below_4g), 0);
	if (!ret && m->above_4g)
		ret = add(m->system, PC_ABOVE_4G_BASE,
		          mr_new_alias("ram-above-4g", m->ram_mr, m->below_4g, m->above_4g), 0);
	if (ret)
		return ret;

	pci = mr_new_container("pci", MR_SIZE_2_64);
	ret = add(m->system, 0, pci, -1);
	if (!ret)
		ret = add(pci, PC_ROM_ADDR, mr_new_rom("pc.rom", m->rom_block), 1);
	if (ret)
		return ret;
	/* The whole BIOS ends at 4G; its last 128 KiB show below 1 MiB too. */
	bios = mr_new_rom("pc.bios", m->bios_block);
	ret = add(pci, PC_ABOVE_4G_BASE - bios_size, bios, 0);
	if (!ret)
		ret = add(pci, PC_ISA_BIOS_ADDR,
		          mr_new_alias("isa-bios", bios, bios_size - PC_ISA_BIOS_SIZE,
		                       PC_ISA_BIOS_SIZE),
		          1);
	if (!ret)
		ret = pc_add_chipset_aliases(m->system, pci);
	return ret;
}

const struct machine_desc machine_pc = {
        .name = "pc",
        .desc = "Standard PC (i440FX + PIIX, 1996)",
        .lowmem = PC_I440FX_LOWMEM,
        .split = PC_I440FX_SPLIT,
        /* Intel 82441FX, revision 2; QEMU's subsystem ids (Red Hat, QEMU). */
        .host_bridge = {0x8086, 0x1237, 0x02, 0x1af4, 0x1100},
        .build = pc_build,
};

const struct machine_desc machine_q35 = {
        .name = "q35",
        .desc = "Standard PC (Q35 + ICH9, 2009)",
        .lowmem = PC_Q35_LOWMEM,
        .split = PC_Q35_SPLIT,
        /* Intel 82G33/G31/P35/P31 DRAM controller (the Q35 MCH). */
        .host_bridge = {0x8086, 0x29c0, 0x00, 0x1af4, 0x1100},
        .build = pc_build,
};
