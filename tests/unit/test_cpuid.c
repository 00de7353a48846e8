/*
 * test_cpuid.c - the CPUID filter hides exactly the documented bits and
 * leaves, and nothing else.
 */
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "kvmfs/cpuid.h"

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
	/* cx16, pcid, xsave, osxsave, rdrand */
	assert_int_equal(c->entries[0].ecx,
	                 ~((1u << 13) | (1u << 17) | (1u << 26) | (1u << 27) | (1u << 30)));
	assert_int_equal(c->entries[0].edx, ~0u);
	/* fsgsbase, invpcid, rdseed, smap - in subleaf 0 only */
	assert_int_equal(c->entries[1].ebx, ~((1u << 0) | (1u << 10) | (1u << 18) | (1u << 20)));
	assert_int_equal(c->entries[1].ecx, ~0u);
	assert_int_equal(c->entries[2].ebx, ~0u);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_filter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
