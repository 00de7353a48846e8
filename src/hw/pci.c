/*
 * pci.c - configuration mechanism #1 and the host bridge (see pci.h).
 *
 * The latch is written and read as one 32-bit access to 0xcf8 (smaller
 * accesses there belong to other chipset registers, such as the reset
 * control at 0xcf9, and are ignored, as QEMU ignores them); data moves
 * through 0xcfc-0xcff at the latched register plus the port's offset.
 * Bit 31 of the latch enables the cycle; a disabled one, or any function
 * but 00:00.0, reads all-ones and drops writes.
 */
#include <errno.h>
#include <string.h>

#include "hw/pci.h"
#include "kvm/ioport.h"
#include "machine/machine.h"
#include "util/bytes.h"

#define PCI_ENABLE   0x80000000u
#define PCI_BDF_MASK 0x00ffff00u /* bus, device, function */

/* Header offsets (PCI Local Bus 3.0, type 0 header). */
#define PCI_VENDOR_ID        0x00
#define PCI_DEVICE_ID        0x02
#define PCI_COMMAND          0x04
#define PCI_STATUS           0x06
#define PCI_REVISION         0x08
#define PCI_CLASS_PROG       0x09
#define PCI_CLASS_DEVICE     0x0a
#define PCI_CACHE_LINE       0x0c
#define PCI_LATENCY          0x0d
#define PCI_HEADER_TYPE      0x0e
#define PCI_SUBSYSTEM_VENDOR 0x2c
#define PCI_SUBSYSTEM_ID     0x2e
#define PCI_INTERRUPT_LINE   0x3c

#define PCI_CLASS_BRIDGE_HOST 0x0600
#define PCI_COMMAND_MEMORY    0x0002 /* a host bridge forwards memory cycles */
#define PCI_STATUS_FAST_B2B   0x0080
#define PCI_STATUS_DEVSEL_MED 0x0200

/* The bytes the OS may change: everything else of a host bridge is fixed. */
static const uint8_t pci_writable[] = {PCI_COMMAND, PCI_COMMAND + 1, PCI_CACHE_LINE, PCI_LATENCY,
                                       PCI_INTERRUPT_LINE};

static void pci_port(void *opaque, struct vcpu *v, uint16_t port, bool is_write, uint8_t *data,
                     unsigned size)
{
	(void)v;
	pci_host_io(opaque, port, is_write, data, size);
}

int pci_host_init(struct pci_host *p, const struct pci_host_id *id, struct pio_bus *bus)
{
	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	put16(p->config + PCI_VENDOR_ID, id->vendor);
	put16(p->config + PCI_DEVICE_ID, id->device);
	put16(p->config + PCI_COMMAND, PCI_COMMAND_MEMORY);
	put16(p->config + PCI_STATUS, PCI_STATUS_FAST_B2B | PCI_STATUS_DEVSEL_MED);
	p->config[PCI_REVISION] = id->revision;
	put16(p->config + PCI_CLASS_DEVICE, PCI_CLASS_BRIDGE_HOST);
	put16(p->config + PCI_SUBSYSTEM_VENDOR, id->subsystem_vendor);
	put16(p->config + PCI_SUBSYSTEM_ID, id->subsystem);
	return pio_bus_add(bus, PCI_CONFIG_ADDRESS, PCI_CONFIG_DATA + 3, pci_port, p);
}

void pci_host_exit(struct pci_host *p)
{
	pthread_mutex_destroy(&p->lock);
}

static bool pci_is_writable(unsigned reg)
{
	size_t i;

	for (i = 0; i < sizeof(pci_writable); i++)
		if (pci_writable[i] == reg)
			return true;
	return false;
}

void pci_host_io(struct pci_host *p, uint16_t port, bool is_write, uint8_t *data, unsigned size)
{
	unsigned reg, i;

	pthread_mutex_lock(&p->lock);
	if (port < PCI_CONFIG_DATA) {
		if (port == PCI_CONFIG_ADDRESS && size == 4) {
			if (is_write)
				memcpy(&p->address, data, 4);
			else
				memcpy(data, &p->address, 4);
		} else if (!is_write) {
			memset(data, 0xff, size);
		}
		goto out;
	}
	/* Only 00:00.0 answers, and only while the cycle is enabled. */
	if (!(p->address & PCI_ENABLE) || (p->address & PCI_BDF_MASK)) {
		if (!is_write)
			memset(data, 0xff, size);
		goto out;
	}
	reg = (p->address & 0xfc) + (port - PCI_CONFIG_DATA);
	for (i = 0; i < size && reg + i < PCI_CONFIG_SIZE; i++) {
		if (!is_write)
			data[i] = p->config[reg + i];
		else if (pci_is_writable(reg + i))
			p->config[reg + i] = data[i];
	}
out:
	pthread_mutex_unlock(&p->lock);
}
