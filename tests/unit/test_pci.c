/*
 * test_pci.c - configuration mechanism #1 as Linux's pci_check_type1() and
 * pci_sanity_check() use it, and the host bridges' identities as QEMU 7.2
 * reports them (`info pci`: pc 8086:1237, q35 8086:29c0, subsystem
 * 1af4:1100), class 0x0600 (host bridge, PCI Local Bus 3.0 appendix D).
 */
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hw/pci.h"
#include "kvm/ioport.h"
#include "machine/machine.h"

static uint32_t in(struct pio_bus *b, uint16_t port, unsigned size)
{
	uint32_t v = 0;

	pio_bus_access(b, NULL, port, false, (uint8_t *)&v, size, 1);
	return v;
}

static void out(struct pio_bus *b, uint16_t port, uint32_t v, unsigned size)
{
	pio_bus_access(b, NULL, port, true, (uint8_t *)&v, size, 1);
}

static uint32_t cfg(struct pio_bus *b, unsigned dev, unsigned reg, unsigned size)
{
	out(b, 0xcf8, 0x80000000u | dev << 11 | (reg & 0xfc), 4);
	return in(b, (uint16_t)(0xcfc + (reg & 3)), size);
}

static void check_bridge(const struct machine_desc *d, uint16_t device)
{
	struct pio_bus bus = {0};
	struct pci_host p;

	assert_int_equal(pci_host_init(&p, &d->host_bridge, &bus), 0);
	/* pci_check_type1: the latch reads back what was written. */
	out(&bus, 0xcf8, 0x80000000u, 4);
	assert_int_equal(in(&bus, 0xcf8, 4), 0x80000000u);
	assert_int_equal(cfg(&bus, 0, 0x00, 4), (uint32_t)device << 16 | 0x8086);
	assert_int_equal(cfg(&bus, 0, 0x0a, 2), 0x0600);
	assert_int_equal(cfg(&bus, 0, 0x0e, 1), 0); /* a type 0 header, one function */
	assert_int_equal(cfg(&bus, 0, 0x2c, 4), 0x1100u << 16 | 0x1af4);
	/* No other device, and a disabled cycle reads nothing. */
	assert_int_equal(cfg(&bus, 1, 0x00, 4), 0xffffffffu);
	assert_int_equal(cfg(&bus, 31, 0x00, 2), 0xffff);
	out(&bus, 0xcf8, 0, 4);
	assert_int_equal(in(&bus, 0xcfc, 4), 0xffffffffu);
	/* The command register takes a write; the ids do not. */
	out(&bus, 0xcf8, 0x80000004u, 4);
	out(&bus, 0xcfc, 0x0007, 2);
	assert_int_equal(cfg(&bus, 0, 0x04, 2), 0x0007);
	out(&bus, 0xcf8, 0x80000000u, 4);
	out(&bus, 0xcfc, 0x12345678u, 4);
	assert_int_equal(cfg(&bus, 0, 0x00, 2), 0x8086);
	/* Byte access to 0xcf9 (PIIX's reset control) leaves the latch alone. */
	out(&bus, 0xcf9, 0x06, 1);
	assert_int_equal(in(&bus, 0xcf8, 4), 0x80000000u);
	pci_host_exit(&p);
}

static void test_host_bridges(void **state)
{
	(void)state;
	check_bridge(&machine_pc, 0x1237);
	check_bridge(&machine_q35, 0x29c0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_host_bridges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
