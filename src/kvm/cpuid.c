/*
 * cpuid.c - the features hidden from a guest whose ring 0 is emulated
 * (see cpuid.h), each with the instructions it stands for and why.
 *
 * What was measured on kvm_pvm: in emulated ring 0 the guest sees the
 * host's own feature bits of leaves 1 and 7 whatever KVM_SET_CPUID2 says -
 * with every bit of leaf 1 ECX/EDX and leaf 7.0 EBX/ECX cleared, CPUID
 * there still returned leaf 1 ECX 0x76d81203 (sse3, pclmulqdq, ssse3, fma,
 * sse4.1, sse4.2, movbe, popcnt, aes, xsave, avx, f16c, rdrand) and leaf 7
 * EBX 0xf1bf03ab (fsgsbase, avx2, smep, bmi1/2, avx512*, rdseed, adx, smap,
 * sha_ni, ...) - except for a few it does honour: cx16, pcid, invpcid,
 * x2apic.  So the bits are cleared here for every host whose ring 0 is
 * emulated (it costs nothing), and where the host forces them anyway the
 * kernel is told on its command line.  Measured with Debian's 6.1 kernel:
 * int3, clac, popcnt, fwait and ldmxcsr failed emulation on the way to
 * the initcalls (emulate.c finishes them), xrstor without noxsave, and
 * the SSSE3 BLAKE2s of the RNG (movd to xmm15) in the initcalls; rdrand
 * ("Poking KASLR using RDRAND"), swapgs and rdfsbase ran.  Kernel SIMD
 * code beyond SSE2 (crypto, checksums) would each be another failure:
 * the command line keeps Linux on its generic C versions.  AVX and its
 * successors go with noxsave, which Linux needs for them.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>

#include "kvm/cpuid.h"
#include "util/compiler.h"

const struct cpuid_hide cpuid_hidden[] = {
        {0x1, CPUID_ECX, 13, "cx16", "cmpxchg16b", false, NULL,
         "not known to the emulator's fast paths; hidden as a precaution, which the host "
         "honours"},
        {0x1, CPUID_ECX, 23, "popcnt", "popcnt", true, "clearcpuid=popcnt",
         "fails emulation (measured: 547 times in __bitmap_weight, each finished by "
         "emulate.c); the host keeps the bit set, so Linux is told with clearcpuid=popcnt and "
         "counts bits in software"},
        {0x1, CPUID_ECX, 26, "xsave", "xsave, xrstor, xsetbv, xgetbv", true, "noxsave",
         "xrstor fails emulation in FPU init (measured); the host forces the bit, so Linux is "
         "told with noxsave and keeps FPU state with fxsave"},
        {0x1, CPUID_ECX, 30, "rdrand", "rdrand", true, NULL,
         "forced by the host; runs under emulation (measured), so nothing more is needed"},
        {0x7, CPUID_EBX, 18, "rdseed", "rdseed", true, NULL, "forced by the host, like rdrand"},
        {0x7, CPUID_EBX, 0, "fsgsbase", "rdfsbase, wrfsbase, rdgsbase, wrgsbase", true, NULL,
         "forced by the host; what Linux executes of it never failed (measured)"},
        {0x7, CPUID_EBX, 10, "invpcid", "invpcid", false, NULL,
         "no emulator handler; used for TLB flushes when PCID is on"},
        {0x1, CPUID_ECX, 17, "pcid", "mov to CR3 with PCID bits, invpcid", false, NULL,
         "keeps TLB flushing to plain CR3 writes, which the emulator handles"},
        {0x1, CPUID_ECX, 9, "ssse3", "pshufb and the other SSSE3 instructions", true,
         "clearcpuid=ssse3",
         "Linux's SSSE3 BLAKE2s (the RNG's mixing) failed emulation at its first movd to xmm15 "
         "(measured); with it hidden BLAKE2s, ChaCha and SHA run their generic C"},
        {0x1, CPUID_ECX, 19, "sse4_1", "SSE4.1 instructions", true, "clearcpuid=sse4_1",
         "no kernel code at CPL 0 may count on them (the emulator has none)"},
        {0x1, CPUID_ECX, 20, "sse4_2", "crc32, pcmpestri and the other SSE4.2 instructions", true,
         "clearcpuid=sse4_2", "crc32c-intel would run crc32 at CPL 0"},
        {0x1, CPUID_ECX, 25, "aes", "aesenc and the other AES-NI instructions", true,
         "clearcpuid=aes", "aesni-intel's self-test would run them at CPL 0"},
        {0x1, CPUID_ECX, 1, "pclmulqdq", "pclmulqdq", true, "clearcpuid=pclmulqdq",
         "ghash-clmulni and crct10dif-pclmul would run it at CPL 0"},
        {0x7, CPUID_EBX, 29, "sha_ni", "sha1rnds4, sha256rnds2, ...", true, "clearcpuid=sha_ni",
         "sha1-ni and sha256-ni would run them at CPL 0"},
        {0x7, CPUID_EBX, 20, "smap", "stac, clac", true, "clearcpuid=smap",
         "clac fails emulation at every interrupt entry (measured: 151 000 times on the way to "
         "the initcalls); the host forces the bit, so Linux is told with clearcpuid=smap"},
};
const unsigned cpuid_nr_hidden = ARRAY_SIZE(cpuid_hidden);

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

int cpuid_linux_args(char *buf, size_t len)
{
	static const char clear[] = "clearcpuid=";
	size_t n = 0, cleared = 0;
	unsigned i, pass;

	if (!len)
		return -ENOSPC;
	buf[0] = '\0';
	/* First the words of their own, then every clearcpuid= name in one word. */
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < cpuid_nr_hidden; i++) {
			const char *a = cpuid_hidden[i].linux_arg;
			bool is_clear = a && !strncmp(a, clear, sizeof(clear) - 1);
			int w;

			if (!a || is_clear != (pass == 1))
				continue;
			if (is_clear)
				w = snprintf(buf + n, len - n, "%s%s",
				             cleared++ ? "," : (n ? " clearcpuid=" : "clearcpuid="),
				             a + sizeof(clear) - 1);
			else
				w = snprintf(buf + n, len - n, "%s%s", n ? " " : "", a);
			if (w < 0 || (size_t)w >= len - n)
				return -ENOSPC;
			n += (size_t)w;
		}
	}
	return 0;
}

/*
 * Linux looks for KVM's leaves (0x40000000, "KVMKVMKVM") only when this bit
 * says there is a hypervisor; without them there is no kvm-clock, so no
 * known TSC frequency: measured under nested KVM, Linux then failed to
 * calibrate the TSC against the PIT, marked it unstable and, with no MADT
 * at the time, waited for ticks that never came.
 */
#define CPUID_1_ECX_HYPERVISOR (1u << 31)

void cpuid_set_hypervisor(struct kvm_cpuid2 *c)
{
	unsigned i;

	for (i = 0; i < c->nent; i++)
		if (c->entries[i].function == 1)
			c->entries[i].ecx |= CPUID_1_ECX_HYPERVISOR;
}
