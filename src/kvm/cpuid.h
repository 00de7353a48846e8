/*
 * cpuid.h - the CPUID the guest sees: what KVM_GET_SUPPORTED_CPUID offers,
 * minus, where the host's KVM emulates guest ring 0 (host.h), the features
 * whose instructions that emulator cannot execute.
 *
 * There, guest code at CPL 0 is run instruction by instruction by KVM's x86
 * emulator, and an instruction it does not know ends KVM_RUN with an
 * emulation failure (kvmfs finishes a few of them itself: emulate.h).  A
 * feature bit is how a kernel is told not to use such an instruction, so
 * every entry of the table (src/kvm/cpuid.c) names the instructions it stands
 * for and why it is there.  Some bits the host sets whatever
 * KVM_SET_CPUID2 says (kvm_pvm forces XSAVE and SMAP, among others); for
 * those the entry names the Linux command-line words that do the hiding
 * instead, and kvmfs adds them when it boots Linux on such a host.
 *
 * With hardware virtualization nothing is hidden: the guest sees the CPU.
 */
#ifndef KVMFS_KVM_CPUID_H
#define KVMFS_KVM_CPUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvm_cpuid2;

enum cpuid_reg { CPUID_EAX, CPUID_EBX, CPUID_ECX, CPUID_EDX };

struct cpuid_hide {
	uint32_t function;
	enum cpuid_reg reg;
	uint32_t bit;
	const char *feature;      /* as /proc/cpuinfo names it */
	const char *instructions; /* what a kernel would execute at CPL 0 */
	/* The host keeps the bit set whatever KVM_SET_CPUID2 says (measured). */
	bool forced;
	/* Linux command-line words that keep the kernel off it, where needed. */
	const char *linux_arg;
	const char *why;
};

extern const struct cpuid_hide cpuid_hidden[];
extern const unsigned cpuid_nr_hidden;

/* Leaves dropped entirely (their contents only describe hidden features). */
extern const uint32_t cpuid_dropped_leaves[];
extern const unsigned cpuid_nr_dropped_leaves;

/* Clear every hidden bit and drop the hidden leaves, in place.  Pure. */
void cpuid_filter(struct kvm_cpuid2 *c);
/*
 * Tell the guest it runs under a hypervisor: CPUID.1:ECX bit 31, which
 * KVM_GET_SUPPORTED_CPUID leaves clear and QEMU sets.  Every host.  Pure.
 */
void cpuid_set_hypervisor(struct kvm_cpuid2 *c);
/*
 * The Linux command-line words the table asks for, space-separated, the
 * clearcpuid= names joined into one word ("noxsave clearcpuid=popcnt,...,smap").
 * -ENOSPC when len is too small.
 */
int cpuid_linux_args(char *buf, size_t len);

#endif
