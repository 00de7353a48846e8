/*
 * vmcore.h - an ELF64 core of the guest, laid out like a kdump vmcore
 * (/proc/vmcore) and QEMU's dump-guest-memory: the ELF header, one PT_NOTE,
 * one PT_LOAD per RAM/ROM range of the flat view (p_paddr = guest-physical
 * address), their bytes back to back in the file.
 *
 * Where the guest runs a Linux kernel (guestkernel.h), the core is a kernel
 * core that crash, drgn and gdb read as they read a kdump one:
 *   - each RAM/ROM range's p_vaddr is its direct-map address
 *     (page_offset_base + GPA);
 *   - more PT_LOADs, after those, map kernel virtual addresses onto the
 *     same file bytes: every run of the image's text mapping (_text at
 *     0xffffffff81000000 + KERNELOFFSET; holes stay holes) and, for a vCPU
 *     whose stack is in neither (vmalloc'd, as with VMAP_STACK), the mapped
 *     pages of the 16 KiB stack around its RSP.  Their p_paddr is -1, as
 *     /proc/kcore has it for vmalloc space: the RAM/ROM segments alone say
 *     where guest-physical memory is, for readers that take every p_paddr
 *     at its word (Volatility 3);
 *   - a VMCOREINFO note: the kernel's own, one from a file, or one derived
 *     from what was found (guestkernel_derive_vmcoreinfo).
 * Otherwise p_vaddr = p_paddr, which is what the built-in guest's identity
 * map makes it, and there is no VMCOREINFO.
 *
 * Only the header (ELF header, program headers, notes) is built; the bytes
 * of each PT_LOAD are read from guest memory when the file is read, so a
 * core of a 16 GiB guest costs a few pages of memory until somebody reads
 * it.  The header's room is reserved for the most program headers and notes
 * the core can have, so its size - and the file's - depends only on the
 * layout and the number of vCPUs, never on what the search found.
 *
 * Notes, in QEMU's order: one NT_PRSTATUS per vCPU ("CORE": the general
 * registers in the order of x86-64's user_regs_struct, pr_pid 0 - which
 * task runs there is the kernel's business, and pid 0 is what drgn and
 * crash expect of a CPU they cannot name), one "QEMU" CPU-state note per
 * vCPU (QEMU's QEMUCPUState, version 1: segments, descriptor tables,
 * CR0-CR4), VMCOREINFO, and one "KVMFS" note of type VMCORE_NT_KVMFS holding
 * text: machine=, ram_size=, cpus=, efer= (per vCPU), kernel=, page_offset=,
 * vmcoreinfo= (where it came from).
 */
#ifndef KVMFS_INSPECT_VMCORE_H
#define KVMFS_INSPECT_VMCORE_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#include "memory/memory.h"
#include "util/compiler.h"

struct guestkernel;

#define VMCORE_NT_KVMFS     0x4b564d46 /* "KVMF": no clash with the core types readelf knows */
#define VMCORE_HEADER_ALIGN 4096       /* PT_LOAD data starts page aligned */
/* An ELF note's name and descriptor are each padded to 4 bytes (in 64 bits: no wrap). */
#define VMCORE_NOTE_ALIGN(x) ROUND_UP((uint64_t)(x), 4)
#define VMCORE_STACK_SIZE    16384      /* THREAD_SIZE of x86-64 Linux */
#define VMCORE_STACK_RUNS    4          /* mapped pieces of one stack, at most */
#define VMCORE_QEMU_VERSION  1          /* QEMUCPUState's version */
#define VMCORE_QEMU_SIZE     440        /* ... and size */
#define VMCORE_NOTE_MAX      4096       /* longest VMCOREINFO text (VMCOREINFO_BYTES) */
#define VMCORE_NO_PADDR      UINT64_MAX /* p_paddr of an alias: no RAM range (kcore's -1) */

struct vmcore_info {
	const char *machine;
	uint64_t ram_size;
	unsigned nr_cpus;            /* -smp */
	const struct kvm_regs *regs; /* nr_regs vCPUs' registers, index = vCPU id */
	const struct kvm_sregs *sregs;
	unsigned nr_regs; /* 0: no NT_PRSTATUS (no vCPUs, -accel none) */
	/* A Linux kernel in the guest (NULL: none, or not looked for). */
	const struct guestkernel *kernel;
	/* The VMCOREINFO note's text (NULL: no note), at most VMCORE_NOTE_MAX bytes. */
	const char *vmcoreinfo;
	size_t vmcoreinfo_len;
	const char *vmcoreinfo_source; /* "guest", "file", "dump" or "derived" */
};

struct vmcore_segment {
	uint64_t file_offset;
	uint64_t gpa;
	uint64_t size;
};

struct vmcore {
	uint8_t *header; /* ELF header, program headers, notes, zero padding */
	size_t header_len;
	struct vmcore_segment *segs; /* file order = GPA order, back to back */
	size_t nr_segs;
	uint64_t size;    /* of the whole file */
	uint64_t version; /* the flat view's version it was built from */
};

int vmcore_build(struct address_space *as, const struct vmcore_info *info, struct vmcore **out);
void vmcore_free(struct vmcore *vc);
/* Bytes [off, off+len) of the file; guest memory gone since the build reads as zeros. */
void vmcore_read(const struct vmcore *vc, struct address_space *as, uint64_t off, void *buf,
                 size_t len);
/*
 * The same as pieces (see as_read_pieces): the header from vc, guest memory
 * where it lies, holes and whatever lies past the end as zeros.
 */
void vmcore_read_pieces(const struct vmcore *vc, struct address_space *as, uint64_t off, size_t len,
                        as_piece_fn fn, void *opaque);
/* SEEK_DATA / SEEK_HOLE: holes of guest memory (see phys.h) are holes of the core. */
int vmcore_seek(const struct vmcore *vc, struct address_space *as, uint64_t off, int whence,
                uint64_t *out);
/* Host memory behind the file's bytes, for st_blocks (an estimate, like phys_resident). */
uint64_t vmcore_resident(const struct vmcore *vc, struct address_space *as);

#endif
