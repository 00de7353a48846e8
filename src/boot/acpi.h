/*
 * acpi.h - the few ACPI tables that tell an OS its CPUs and interrupt
 * controllers: RSDP -> XSDT -> MADT (ACPI 6.5, chapter 5.2).
 *
 * Without an ACPI MADT (or an MP table, which kernels built without
 * CONFIG_X86_MPPARSE - Debian's cloud kernel among them - cannot read)
 * Linux finds no local APIC: it runs one CPU whatever -smp says, and takes
 * its tick from the PIT through the 8259.  kvmfs writes these tables into
 * the EBDA when it boots Linux (machine/pc.h): the RSDP first, where the
 * ACPI scan of the EBDA finds it, the other tables after it.
 *
 * The MADT describes KVM's in-kernel irqchip as kvmfs keeps it: one local
 * APIC per vCPU (ids 0..N-1), the IOAPIC (id N, GSI base 0), the 8259s
 * present (PCAT_COMPAT), and KVM's default routing, in which ISA IRQ n is
 * GSI n - so there is no interrupt source override; LINT1 of every CPU is
 * NMI.  There is no FADT and no DSDT: nothing for an AML interpreter to
 * run, so Linux's ACPI stops after reading the MADT (it says "Unable to
 * load the System Description Tables") and carries on without it.
 */
#ifndef KVMFS_BOOT_ACPI_H
#define KVMFS_BOOT_ACPI_H

#include <stddef.h>
#include <stdint.h>

#define ACPI_MAX_CPUS 64 /* what fits, with the rest, in the EBDA's KiB */

struct acpi_config {
	unsigned cpus;
	uint64_t lapic_addr;
	uint64_t ioapic_addr;
};

/* Bytes the tables take for this many CPUs (the RSDP first). */
size_t acpi_size(unsigned cpus);
/*
 * Write RSDP, XSDT and MADT for tables placed at guest-physical address gpa
 * (16-byte aligned) into buf.  Pure.  -ENOSPC when they do not fit in len,
 * -EINVAL for 0 or more than ACPI_MAX_CPUS CPUs or an unaligned gpa.
 */
int acpi_build(const struct acpi_config *c, uint64_t gpa, uint8_t *buf, size_t len);

#endif
