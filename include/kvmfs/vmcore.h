/*
 * vmcore.h - an ELF64 core of the guest, laid out like /proc/kcore and
 * QEMU's dump-guest-memory: the ELF header, one PT_NOTE, and one PT_LOAD per
 * RAM/ROM range of the flat view (p_paddr = guest-physical address; p_vaddr
 * the same, which is what the built-in guest's identity map makes it).
 *
 * Only the header (ELF header, program headers, notes) is built; the bytes
 * of each PT_LOAD are read from guest memory when the file is read, so a
 * core of a 16 GiB guest costs a page of memory until somebody reads it.
 * Notes: one NT_PRSTATUS per vCPU whose registers are known ("CORE", the
 * general registers in the order of x86-64's user_regs_struct, pr_pid = vCPU
 * index + 1, as QEMU writes them) and one "KVMFS" note of type
 * VMCORE_NT_KVMFS holding text: machine=, ram_size=, cpus=.
 */
#ifndef KVMFS_VMCORE_H
#define KVMFS_VMCORE_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmfs/memory.h"

#define VMCORE_NT_KVMFS     0x4b564d46 /* "KVMF": no clash with the core types readelf knows */
#define VMCORE_HEADER_ALIGN 4096       /* PT_LOAD data starts page aligned */

struct vmcore_info {
	const char *machine;
	uint64_t ram_size;
	unsigned nr_cpus;            /* -smp */
	const struct kvm_regs *regs; /* nr_regs vCPUs' registers, index = vCPU id */
	const struct kvm_sregs *sregs;
	unsigned nr_regs; /* 0: no NT_PRSTATUS (no vCPUs, -accel none) */
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
