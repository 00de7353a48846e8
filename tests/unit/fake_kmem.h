/*
 * fake_kmem.h - a fake kernel memory for the unit tests of the inspect/
 * linux_* readers: mem, MEM_SIZE bytes the test fills, seen at kernel
 * address BASE through fake_read (a struct linux_kmem's reader).  A read
 * past the end comes back short, as an unmapped page would.
 *
 * Define BASE and MEM_SIZE before including it; one test file each.
 */
#ifndef KVMFS_TESTS_FAKE_KMEM_H
#define KVMFS_TESTS_FAKE_KMEM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if !defined(BASE) || !defined(MEM_SIZE)
#error "define BASE and MEM_SIZE before including fake_kmem.h"
#endif

static uint8_t mem[MEM_SIZE];

static size_t fake_read(void *opaque, uint64_t va, void *buf, size_t len)
{
	(void)opaque;
	if (va < BASE || va - BASE >= MEM_SIZE)
		return 0;
	if (len > MEM_SIZE - (va - BASE))
		len = (size_t)(MEM_SIZE - (va - BASE));
	memcpy(buf, mem + (va - BASE), len);
	return len;
}

#endif
