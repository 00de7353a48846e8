/*
 * pci.h - PCI configuration space as a PC's host bridge offers it
 * (configuration mechanism #1: an address latch at 0xcf8, data at
 * 0xcfc-0xcff), with one device behind it: the host bridge itself at
 * 00:00.0, with the identity of the machine's chipset (i440FX for pc, the
 * Q35 MCH for q35), as QEMU has it.  Every other function reads as absent
 * (vendor 0xffff).  That is what lets Linux find "configuration type 1"
 * and a PCI bus; there are no other devices to find.
 */
#ifndef KVMFS_HW_PCI_H
#define KVMFS_HW_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct pci_host_id;
struct pio_bus;

#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA    0xcfc
#define PCI_CONFIG_SIZE    256

struct pci_host {
	pthread_mutex_t lock;            /* the latch and the registers: every vCPU uses them */
	uint32_t address;                /* the CONFIG_ADDRESS latch */
	uint8_t config[PCI_CONFIG_SIZE]; /* 00:00.0 */
};

/* id: the chipset the board names (machine.h). */
int pci_host_init(struct pci_host *p, const struct pci_host_id *id, struct pio_bus *bus);
void pci_host_exit(struct pci_host *p);
/* One access, as the port bus makes it (exported for the tests). */
void pci_host_io(struct pci_host *p, uint16_t port, bool is_write, uint8_t *data, unsigned size);

#endif
