/*
 * test_cpuid.c - the CPUID filter hides exactly the documented bits and
 * leaves, and nothing else; the Linux words for the bits a host forces.
 * Bit positions are the SDM's (vol. 2, CPUID): leaf 1 ECX pclmulqdq 1,
 * ssse3 9, cx16 13, pcid 17, sse4_1 19, sse4_2 20, popcnt 23, aes 25,
 * xsave 26, rdrand 30; leaf 7.0 EBX fsgsbase 0, invpcid 10, rdseed 18,
 * smap 20, sha_ni 29.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "kvm/cpuid.h"

static void test_filter(void **state)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 4 * sizeof(c->entries[0]));
	unsigned i;

	(void)state;
	assert_non_null(c);
	c->nent = 4;
	c->entries[0] = (struct kvm_cpuid_entry2){.function = 1, .ecx = ~0u, .edx = ~0u};
	c->entries[1] = (struct kvm_cpuid_entry2){.function = 0xd, .index = 0, .eax = 7};
	c->entries[2] =
	        (struct kvm_cpuid_entry2){.function = 7, .index = 0, .ebx = ~0u, .ecx = ~0u};
	c->entries[3] = (struct kvm_cpuid_entry2){.function = 7, .index = 1, .ebx = ~0u};
	cpuid_filter(c);

	assert_int_equal(c->nent, 3); /* leaf 0xd is gone */
	for (i = 0; i < c->nent; i++)
		assert_int_not_equal(c->entries[i].function, 0xd);
	assert_int_equal(c->entries[0].ecx,
	                 ~((1u << 1) | (1u << 9) | (1u << 13) | (1u << 17) | (1u << 19) |
	                   (1u << 20) | (1u << 23) | (1u << 25) | (1u << 26) | (1u << 30)));
	assert_int_equal(c->entries[0].edx, ~0u);
	/* fsgsbase, invpcid, rdseed, smap, sha_ni - in subleaf 0 only */
	assert_int_equal(c->entries[1].ebx,
	                 ~((1u << 0) | (1u << 10) | (1u << 18) | (1u << 20) | (1u << 29)));
	assert_int_equal(c->entries[1].ecx, ~0u);
	assert_int_equal(c->entries[2].ebx, ~0u);
	free(c);
}

/* SDM vol. 2, CPUID leaf 1: ECX bit 31 is reserved for a hypervisor's use (set by it). */
static void test_hypervisor_bit(void **state)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 2 * sizeof(c->entries[0]));

	(void)state;
	assert_non_null(c);
	c->nent = 2;
	c->entries[0] = (struct kvm_cpuid_entry2){.function = 1, .ecx = 0x00000201};
	c->entries[1] = (struct kvm_cpuid_entry2){.function = 0x40000000, .ecx = 0x4b4d564b};
	cpuid_set_hypervisor(c);
	assert_int_equal(c->entries[0].ecx, 0x80000201u);
	assert_int_equal(c->entries[1].ecx, 0x4b4d564b); /* KVM's own leaf untouched */
	free(c);
}

static void test_linux_args(void **state)
{
	char buf[128];

	(void)state;
	assert_int_equal(cpuid_linux_args(buf, sizeof(buf)), 0);
	/* Linux 6.1's spellings: noxsave, and clearcpuid= taking /proc/cpuinfo flag names. */
	assert_string_equal(
	        buf, "noxsave clearcpuid=popcnt,ssse3,sse4_1,sse4_2,aes,pclmulqdq,sha_ni,smap");
	assert_int_equal(cpuid_linux_args(buf, 10), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_filter),
	        cmocka_unit_test(test_linux_args),
	        cmocka_unit_test(test_hypervisor_bit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
