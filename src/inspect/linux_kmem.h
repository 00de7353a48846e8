/*
 * linux_kmem.h - a guest kernel's virtual memory, as the readers of its
 * structures (kallsyms, printk, tasks) see it: copy [va, va+len) of the
 * kernel's address space.  The guest (linux_guest.c) translates through the
 * kernel's page tables; a unit test hands in a buffer.  Every reader treats
 * a short read as "this pointer leads nowhere" and stops there.
 */
#ifndef KVMFS_INSPECT_LINUX_KMEM_H
#define KVMFS_INSPECT_LINUX_KMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct linux_kmem {
	/* The bytes copied before the first that is not mapped (or not memory). */
	size_t (*read)(void *opaque, uint64_t va, void *buf, size_t len);
	void *opaque;
};

static inline bool linux_kmem_read(const struct linux_kmem *m, uint64_t va, void *buf, size_t len)
{
	return m->read(m->opaque, va, buf, len) == len;
}

static inline bool linux_kmem_u64(const struct linux_kmem *m, uint64_t va, uint64_t *v)
{
	return linux_kmem_read(m, va, v, sizeof(*v));
}

static inline bool linux_kmem_u32(const struct linux_kmem *m, uint64_t va, uint32_t *v)
{
	return linux_kmem_read(m, va, v, sizeof(*v));
}

#endif
