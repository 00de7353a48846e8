/*
 * ioport.h - the x86 port I/O space: which device answers which ports.
 *
 * vm.c registers its devices' port ranges here; a vCPU thread hands every
 * KVM_EXIT_IO to pio_bus_access(), which finds the device.  Ports nobody
 * claims behave as on a PC where no device answers: reads see all-ones,
 * writes vanish.
 */
#ifndef KVMFS_KVM_IOPORT_H
#define KVMFS_KVM_IOPORT_H

#include <stdbool.h>
#include <stdint.h>

struct vcpu;

/* One access of size bytes at data, from vCPU v; a read fills data. */
typedef void pio_fn(void *opaque, struct vcpu *v, uint16_t port, bool is_write, uint8_t *data,
                    unsigned size);

#define PIO_MAX_RANGES 16

struct pio_range {
	uint16_t first, last;
	pio_fn *io;
	void *opaque;
};

struct pio_bus {
	struct pio_range ranges[PIO_MAX_RANGES]; /* fixed before the vCPUs start */
	unsigned nr;
};

/* -EEXIST when the range overlaps one already there, -ENOSPC when full. */
int pio_bus_add(struct pio_bus *b, uint16_t first, uint16_t last, pio_fn *io, void *opaque);
/* A KVM_EXIT_IO: count accesses of size bytes each, back to back at data. */
void pio_bus_access(struct pio_bus *b, struct vcpu *v, uint16_t port, bool is_write, uint8_t *data,
                    unsigned size, unsigned count);

#endif
