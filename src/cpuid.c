/*
 * cpuid.c - filter KVM's supported CPUID down to what runs on these hosts.
 *
 * Where the list comes from.  The target hosts run KVM without hardware
 * virtualization: CPL-3 guest code runs natively, CPL-0 code goes through
 * KVM's instruction emulator (about 1 us per instruction).  Known to fail
 * there with an emulation error: cmpxchg16b, xsave/xrstor (and so
 * xsaveopt/xsavec/xsaves/xrstors), int3.  The other entries are
 * instructions for which KVM's emulator has no handler (its em_* functions
 * in arch/x86/kvm/emulate.c: none for rdrand, rdseed, the fsgsbase group,
 * invpcid, stac/clac), which a kernel executes at CPL 0 when the bit is set.
 * None of this could be measured on the machine kvmfs was written on (no
 * /dev/kvm there); the first run on a target host should confirm the list by
 * booting with `-append "... clearcpuid=..."` variations.
 *
 * What cannot be hidden: int3 has no feature bit (kprobes, jump-label
 * patching and the debugger use it); a kernel that executes it at CPL 0
 * still stops with an emulation failure, and kvmfs then shows the
 * diagnostic.  Nor can plain SSE moves in kernel code be hidden (x86-64
 * requires SSE2); the emulator handles the common ones.
 */
#include <linux/kvm.h>
#include <string.h>

#include "kvmfs/cpuid.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

const struct cpuid_hide cpuid_hidden[] = {
        {0x1, CPUID_ECX, 13, "cx16", "cmpxchg16b",
         "fails under emulation (observed on the target hosts)"},
        {0x1, CPUID_ECX, 26, "xsave", "xsave, xrstor, xsetbv, xgetbv",
         "fails under emulation (observed); without it Linux keeps FPU state with fxsave "
         "and turns AVX and its successors off itself"},
        {0x1, CPUID_ECX, 27, "osxsave", "xgetbv",
         "mirrors CR4.OSXSAVE, which can now never be set"},
        {0x1, CPUID_ECX, 30, "rdrand", "rdrand",
         "no emulator handler; Linux seeds its RNG with it at CPL 0"},
        {0x7, CPUID_EBX, 18, "rdseed", "rdseed", "no emulator handler"},
        {0x7, CPUID_EBX, 0, "fsgsbase", "rdfsbase, wrfsbase, rdgsbase, wrgsbase",
         "no emulator handler; used on every context switch"},
        {0x7, CPUID_EBX, 10, "invpcid", "invpcid",
         "no emulator handler; used for TLB flushes when PCID is on"},
        {0x1, CPUID_ECX, 17, "pcid", "mov to CR3 with PCID bits, invpcid",
         "keeps TLB flushing to plain CR3 writes, which the emulator handles"},
        {0x7, CPUID_EBX, 20, "smap", "stac, clac",
         "no emulator handler; executed around every user-memory access"},
};
const unsigned cpuid_nr_hidden = ARRAY_SIZE(cpuid_hidden);

/* Leaf 0xd describes XSAVE state components: meaningless without XSAVE. */
const uint32_t cpuid_dropped_leaves[] = {0xd};
const unsigned cpuid_nr_dropped_leaves = ARRAY_SIZE(cpuid_dropped_leaves);

static uint32_t *reg_of(struct kvm_cpuid_entry2 *e, enum cpuid_reg r)
{
	uint32_t *const regs[] = {
	        [CPUID_EAX] = &e->eax,
	        [CPUID_EBX] = &e->ebx,
	        [CPUID_ECX] = &e->ecx,
	        [CPUID_EDX] = &e->edx,
	};

	return regs[r];
}

static int dropped(uint32_t function)
{
	unsigned i;

	for (i = 0; i < cpuid_nr_dropped_leaves; i++)
		if (cpuid_dropped_leaves[i] == function)
			return 1;
	return 0;
}

void cpuid_filter(struct kvm_cpuid2 *c)
{
	unsigned i, j, n = 0;

	for (i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (dropped(e->function))
			continue;
		/* Leaf 7 has subleaves; the feature bits are in subleaf 0. */
		for (j = 0; j < cpuid_nr_hidden; j++)
			if (cpuid_hidden[j].function == e->function && e->index == 0)
				*reg_of(e, cpuid_hidden[j].reg) &= ~(1u << cpuid_hidden[j].bit);
		c->entries[n++] = *e;
	}
	c->nent = n;
}
