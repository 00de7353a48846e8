/*
 * ioport.c - the port I/O space (see ioport.h).
 */
#include <errno.h>
#include <string.h>

#include "kvm/ioport.h"

int pio_bus_add(struct pio_bus *b, uint16_t first, uint16_t last, pio_fn *io, void *opaque)
{
	unsigned i;

	for (i = 0; i < b->nr; i++)
		if (first <= b->ranges[i].last && b->ranges[i].first <= last)
			return -EEXIST;
	if (b->nr == PIO_MAX_RANGES)
		return -ENOSPC;
	b->ranges[b->nr++] = (struct pio_range){first, last, io, opaque};
	return 0;
}

static const struct pio_range *pio_bus_find(const struct pio_bus *b, uint16_t port)
{
	unsigned i;

	for (i = 0; i < b->nr; i++)
		if (port >= b->ranges[i].first && port <= b->ranges[i].last)
			return &b->ranges[i];
	return NULL;
}

void pio_bus_access(struct pio_bus *b, struct vcpu *v, uint16_t port, bool is_write, uint8_t *data,
                    unsigned size, unsigned count)
{
	const struct pio_range *r = pio_bus_find(b, port);
	unsigned n;

	/* `rep ins/outs` arrives as count accesses to the same port. */
	for (n = 0; n < count; n++, data += size) {
		if (r)
			r->io(r->opaque, v, port, is_write, data, size);
		else if (!is_write)
			memset(data, 0xff, size);
	}
}
