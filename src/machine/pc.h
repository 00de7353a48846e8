/*
 * machine/pc.h - guest-physical constants of the PC machines (-M pc, the
 * i440FX board, and -M q35), as QEMU 7.2 lays them out with -nodefaults.
 *
 *   0x0000_0000 +--------------------------+
 *               | RAM (ram-below-4g)       |  pc.ram [0, lowmem)
 *   0x0000_0400 |  BIOS data area          |  -kernel: the EBDA segment at 0x40e
 *   0x0009_fc00 |  EBDA (1 KiB, reserved)  |  -kernel: the ACPI tables
 *   0x000a_0000 |  smram-region -> pci     |  nothing on pci: RAM shows through
 *   0x000c_0000 |  pam-pci -> pc.rom       |  128 KiB option ROM (prio 1)
 *   0x000e_0000 |  pam-pci -> isa-bios     |  last 128 KiB of pc.bios (prio 1)
 *   0x0010_0000 |                          |
 *               |                          |
 *   lowmem      +--------------------------+  pc: 0xc000_0000 when RAM >= 0xe000_0000
 *               | PCI hole (unassigned)    |  q35: 0x8000_0000 when RAM >= 0xb000_0000
 *   0xfec0_0000 |  IOAPIC (in-kernel)       |  -kernel only
 *   0xfee0_0000 |  local APICs (in-kernel) |
 *   0xfeff_c000 |  KVM identity-map page   |  outside every memslot
 *   0xfeff_d000 |  KVM TSS (3 pages)       |
 *   0xfffc_0000 | pc.bios (256 KiB ROM)    |  reset vector at 0xffff_fff0; a larger
 *               |                          |  -bios: its size, mapped at 4G - size
 *   0x1_0000_0000 +------------------------+
 *               | RAM (ram-above-4g)       |  pc.ram [lowmem, RAM size)
 *               +--------------------------+
 *
 * In ram_addr space pc.ram comes first at 0, pc.bios right after it and
 * pc.rom 256 KiB later (best fit, see ram.h).
 */
#ifndef KVMFS_MACHINE_PC_H
#define KVMFS_MACHINE_PC_H

#define PC_ABOVE_4G_BASE 0x100000000ULL

#define PC_I440FX_LOWMEM 0xc0000000ULL /* low RAM when split */
#define PC_I440FX_SPLIT  0xe0000000ULL /* RAM size from which it is split */
#define PC_Q35_LOWMEM    0x80000000ULL
#define PC_Q35_SPLIT     0xb0000000ULL

#define PC_BIOS_SIZE 0x40000ULL /* 256 KiB; smaller firmware sits at its top */
#define PC_BIOS_ADDR (0x100000000ULL - PC_BIOS_SIZE)
/*
 * A larger -bios makes pc.bios as large as the file, mapped at 4G - size, as
 * QEMU's x86_bios_rom_init() does; QEMU refuses sizes that are not a whole
 * number of 64 KiB.  The limit is kvmfs's: the BIOS ends at 4G and must stay
 * above KVM's identity-map and TSS pages (PC_KVM_IDENTITY_MAP_ADDR).
 */
#define PC_BIOS_ALIGN    0x10000ULL
#define PC_BIOS_MAX_SIZE 0x1000000ULL /* 16 MiB: from 0xff00_0000 */
#define PC_ISA_BIOS_SIZE 0x20000ULL   /* its last 128 KiB, below 1 MiB */
#define PC_ISA_BIOS_ADDR (0x100000ULL - PC_ISA_BIOS_SIZE)
#define PC_ROM_ADDR      0xc0000ULL
#define PC_ROM_SIZE      0x20000ULL /* 128 KiB */

#define PC_SMRAM_ADDR    0xa0000ULL
#define PC_SMRAM_SIZE    0x20000ULL
#define PC_PAM_START     0xc0000ULL /* 12 segments of 16 KiB, then 64 KiB at 0xf0000 */
#define PC_PAM_SEGMENT   0x4000ULL
#define PC_PAM_BIOS_ADDR 0xf0000ULL
#define PC_PAM_BIOS_SIZE 0x10000ULL

/*
 * What a PC BIOS leaves below 640 KiB for the OS: the BIOS data area's
 * pointer to the extended BIOS data area (a segment) and the base memory
 * size in KiB; SeaBIOS's EBDA is the last KiB below 640 KiB, reserved in
 * the e820 map.  kvmfs puts the ACPI tables there when it boots Linux.
 */
#define PC_BDA_EBDA_SEGMENT 0x40eULL
#define PC_BDA_BASE_MEM_KB  0x413ULL
#define PC_EBDA_ADDR        0x9fc00ULL
#define PC_EBDA_SIZE        0x400ULL

/* The in-kernel interrupt controllers, where every PC has them. */
#define PC_IOAPIC_ADDR 0xfec00000ULL
#define PC_LAPIC_ADDR  0xfee00000ULL

/* Where QEMU puts them: in the PCI hole, below the BIOS, in no memslot. */
#define PC_KVM_IDENTITY_MAP_ADDR 0xfeffc000ULL
#define PC_KVM_TSS_ADDR          0xfeffd000ULL

#endif
