/*
 * cpuid.h - the CPUID the guest sees: what KVM_GET_SUPPORTED_CPUID offers,
 * minus the features whose instructions this host cannot execute for the
 * guest.
 *
 * On the target hosts KVM runs without VMX/SVM underneath: guest code at
 * CPL 0 is emulated instruction by instruction by KVM's x86 emulator, and
 * an instruction the emulator does not know stops the VM with an emulation
 * failure.  A feature bit is the only way to tell a kernel not to use such
 * an instruction, so every bit in the table (src/cpuid.c) names the
 * instructions it stands for and why they are hidden.
 */
#ifndef KVMFS_CPUID_H
#define KVMFS_CPUID_H

#include <stdint.h>

struct kvm_cpuid2;

enum cpuid_reg { CPUID_EAX, CPUID_EBX, CPUID_ECX, CPUID_EDX };

struct cpuid_hide {
	uint32_t function;
	enum cpuid_reg reg;
	uint32_t bit;
	const char *feature;      /* as /proc/cpuinfo names it */
	const char *instructions; /* what a kernel would execute at CPL 0 */
	const char *why;
};

extern const struct cpuid_hide cpuid_hidden[];
extern const unsigned cpuid_nr_hidden;

/* Leaves dropped entirely (their contents only describe hidden features). */
extern const uint32_t cpuid_dropped_leaves[];
extern const unsigned cpuid_nr_dropped_leaves;

/* Clear every hidden bit and drop the hidden leaves, in place.  Pure. */
void cpuid_filter(struct kvm_cpuid2 *c);

#endif
