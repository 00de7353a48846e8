/*
 * test_acpi.c - the ACPI tables read back as the specification (ACPI 6.5,
 * 5.2.5 RSDP, 5.2.8 XSDT, 5.2.12 MADT) and Linux's table code read them:
 * signatures, lengths, both RSDP checksums and every table's, the pointers
 * from RSDP to XSDT to MADT, one enabled Processor Local APIC per CPU, the
 * I/O APIC after them with GSI base 0, no interrupt source override (KVM's
 * routing is the identity), LINT1 as NMI.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "boot/acpi.h"

#define GPA 0x9fc00

static uint32_t le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

static const uint8_t *at(const uint8_t *buf, uint64_t gpa, size_t size)
{
	assert_true(gpa >= GPA && gpa - GPA < size);
	return buf + (gpa - GPA);
}

static void check(unsigned cpus)
{
	const struct acpi_config c = {
	        .cpus = cpus, .lapic_addr = 0xfee00000, .ioapic_addr = 0xfec00000};
	uint8_t buf[1024];
	const uint8_t *xsdt, *madt, *e, *end;
	unsigned n_lapic = 0, n_ioapic = 0, n_nmi = 0;
	size_t size = acpi_size(cpus);

	memset(buf, 0xaa, sizeof(buf));
	assert_int_equal(acpi_build(&c, GPA, buf, sizeof(buf)), 0);
	assert_memory_equal(buf, "RSD PTR ", 8);
	assert_int_equal(buf[15], 2);
	assert_int_equal(sum(buf, 20), 0);
	assert_int_equal(le32(buf + 20), 36);
	assert_int_equal(sum(buf, 36), 0);

	xsdt = at(buf, le64(buf + 24), size);
	assert_memory_equal(xsdt, "XSDT", 4);
	assert_int_equal(le32(xsdt + 4), 36 + 8);
	assert_int_equal(sum(xsdt, le32(xsdt + 4)), 0);

	madt = at(buf, le64(xsdt + 36), size);
	assert_memory_equal(madt, "APIC", 4);
	assert_int_equal(sum(madt, le32(madt + 4)), 0);
	assert_int_equal(le32(madt + 36), 0xfee00000);
	assert_int_equal(le32(madt + 40) & 1, 1); /* PCAT_COMPAT */
	end = madt + le32(madt + 4);
	assert_true(end <= buf + size);
	for (e = madt + 44; e < end; e += e[1]) {
		assert_true(e[1] >= 2);
		switch (e[0]) {
		case 0:
			assert_int_equal(e[1], 8);
			assert_int_equal(e[3], n_lapic); /* APIC ids 0..N-1 */
			assert_int_equal(le32(e + 4) & 1, 1);
			n_lapic++;
			break;
		case 1:
			assert_int_equal(e[1], 12);
			assert_int_equal(e[2], cpus);
			assert_int_equal(le32(e + 4), 0xfec00000);
			assert_int_equal(le32(e + 8), 0);
			n_ioapic++;
			break;
		case 4:
			assert_int_equal(e[1], 6);
			assert_int_equal(e[2], 0xff);
			assert_int_equal(e[5], 1);
			n_nmi++;
			break;
		default: fail_msg("unexpected MADT entry type %u", e[0]);
		}
	}
	assert_true(e == end);
	assert_int_equal(n_lapic, cpus);
	assert_int_equal(n_ioapic, 1);
	assert_int_equal(n_nmi, 1);
	assert_int_equal(buf[size], 0xaa); /* nothing written past the tables */
}

static void test_tables(void **state)
{
	(void)state;
	check(1);
	check(2);
	check(16);
	check(ACPI_MAX_CPUS);
}

static void test_limits(void **state)
{
	struct acpi_config c = {.cpus = 1};
	uint8_t buf[1024];

	(void)state;
	assert_int_equal(acpi_build(&c, GPA, buf, acpi_size(1) - 1), -ENOSPC);
	assert_int_equal(acpi_build(&c, GPA + 8, buf, sizeof(buf)), -EINVAL);
	c.cpus = 0;
	assert_int_equal(acpi_build(&c, GPA, buf, sizeof(buf)), -EINVAL);
	c.cpus = ACPI_MAX_CPUS + 1;
	assert_int_equal(acpi_build(&c, GPA, buf, sizeof(buf)), -EINVAL);
	/* The most CPUs the EBDA's KiB holds. */
	assert_true(acpi_size(ACPI_MAX_CPUS) <= 1024);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_tables),
	        cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
