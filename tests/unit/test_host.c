/*
 * test_host.c - the Linux words each kind of host adds: none with hardware
 * virtualization, and where ring 0 is emulated the CPUID words then the
 * word that skips the crypto self-tests (Linux 6.1's spellings:
 * Documentation/admin-guide/kernel-parameters.txt, crypto/testmgr.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kvm/host.h"

static void test_words(void **state)
{
	struct host hw = {.kind = HOST_HARDWARE}, pvm = {.kind = HOST_RING0_EMULATED};
	char buf[256];

	(void)state;
	assert_int_equal(host_linux_args(&hw, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(host_linux_args(&pvm, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "noxsave clearcpuid=popcnt,ssse3,sse4_1,sse4_2,aes,pclmulqdq,"
	                         "sha_ni,smap cryptomgr.notests");
	assert_int_equal(host_linux_args(&pvm, buf, 80), -ENOSPC);
	assert_string_equal(host_describe(&hw), "hardware virtualization (VMX/SVM)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
