/*
 * acpi.c - RSDP, XSDT and MADT (see acpi.h), laid out one after another:
 *
 *   +0x00  RSDP  36 bytes, revision 2: "RSD PTR ", the XSDT's address;
 *                checksum over its first 20 bytes, extended checksum over 36
 *   +0x30  XSDT  header + one 8-byte pointer: the MADT
 *   +0x60  MADT  header, local APIC address, flags (PCAT_COMPAT), then
 *                a Processor Local APIC per CPU (8 bytes), the I/O APIC
 *                (12 bytes), and one Local APIC NMI for all CPUs (6 bytes)
 *
 * Every table's bytes sum to zero (8-bit), as the specification wants.
 */
#include <errno.h>
#include <string.h>

#include "boot/acpi.h"
#include "util/bytes.h"

#define ACPI_HEADER_SIZE 36
#define ACPI_RSDP_SIZE   36
#define ACPI_RSDP_V1_LEN 20 /* what the first checksum covers */
#define ACPI_XSDT_OFF    0x30
#define ACPI_XSDT_SIZE   (ACPI_HEADER_SIZE + 8)
#define ACPI_MADT_OFF    0x60

#define MADT_LAPIC       0
#define MADT_IOAPIC      1
#define MADT_LAPIC_NMI   4
#define MADT_PCAT_COMPAT 1 /* 8259s are present too */
#define MADT_ENABLED     1
#define MADT_ALL_CPUS    0xff /* ACPI processor UID: every processor */
#define MADT_NMI_LINT    1

static const char acpi_oem_id[6] = {'K', 'V', 'M', 'F', 'S', ' '};

size_t acpi_size(unsigned cpus)
{
	return ACPI_MADT_OFF + ACPI_HEADER_SIZE + 8 + (size_t)cpus * 8 + 12 + 6;
}

/* The byte that makes len bytes at p sum to zero. */
static uint8_t acpi_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum = (uint8_t)(sum + *p++);
	return (uint8_t)-sum;
}

/* A table header; the checksum (byte 9) is filled once the table is whole. */
static void acpi_header(uint8_t *t, const char sig[4], uint32_t len, uint8_t revision,
                        const char table_id[8])
{
	memcpy(t, sig, 4);
	put32(t + 4, len);
	t[8] = revision;
	memcpy(t + 10, acpi_oem_id, 6);
	memcpy(t + 16, table_id, 8);
	put32(t + 24, 1);               /* OEM revision */
	memcpy(t + 28, acpi_oem_id, 4); /* creator: "KVMF" */
	put32(t + 32, 1);               /* creator revision */
}

int acpi_build(const struct acpi_config *c, uint64_t gpa, uint8_t *buf, size_t len)
{
	size_t size = acpi_size(c->cpus), madt_len = size - ACPI_MADT_OFF;
	uint8_t *rsdp = buf, *xsdt = buf + ACPI_XSDT_OFF, *madt = buf + ACPI_MADT_OFF, *e;
	unsigned i;

	if (!c->cpus || c->cpus > ACPI_MAX_CPUS || (gpa & 15))
		return -EINVAL;
	if (size > len)
		return -ENOSPC;
	memset(buf, 0, size);

	e = madt + ACPI_HEADER_SIZE;
	put32(e, (uint32_t)c->lapic_addr);
	put32(e + 4, MADT_PCAT_COMPAT);
	e += 8;
	for (i = 0; i < c->cpus; i++, e += 8) {
		e[0] = MADT_LAPIC;
		e[1] = 8;
		e[2] = (uint8_t)i; /* ACPI processor UID */
		e[3] = (uint8_t)i; /* APIC id */
		put32(e + 4, MADT_ENABLED);
	}
	e[0] = MADT_IOAPIC;
	e[1] = 12;
	e[2] = (uint8_t)c->cpus; /* its id, after the local APICs' */
	put32(e + 4, (uint32_t)c->ioapic_addr);
	put32(e + 8, 0); /* GSI base */
	e += 12;
	e[0] = MADT_LAPIC_NMI;
	e[1] = 6;
	e[2] = MADT_ALL_CPUS;
	put16(e + 3, 0); /* flags: as the bus has it */
	e[5] = MADT_NMI_LINT;
	acpi_header(madt, "APIC", (uint32_t)madt_len, 4, "KVMFSMAD");
	madt[9] = acpi_checksum(madt, madt_len);

	acpi_header(xsdt, "XSDT", ACPI_XSDT_SIZE, 1, "KVMFSXSD");
	put64(xsdt + ACPI_HEADER_SIZE, gpa + ACPI_MADT_OFF);
	xsdt[9] = acpi_checksum(xsdt, ACPI_XSDT_SIZE);

	memcpy(rsdp, "RSD PTR ", 8);
	memcpy(rsdp + 9, acpi_oem_id, 6);
	rsdp[15] = 2; /* ACPI 2.0 and later: the XSDT is there */
	put32(rsdp + 20, ACPI_RSDP_SIZE);
	put64(rsdp + 24, gpa + ACPI_XSDT_OFF);
	rsdp[8] = acpi_checksum(rsdp, ACPI_RSDP_V1_LEN);
	rsdp[32] = acpi_checksum(rsdp, ACPI_RSDP_SIZE);
	return 0;
}
