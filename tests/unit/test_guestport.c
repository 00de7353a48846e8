/*
 * test_guestport.c - the one line a guest exception becomes: the vector's
 * name as the SDM spells it, the error code where the CPU pushes one, the
 * faulting RIP and ring, CR2 for a page fault.  Registers as the
 * firmware's handler leaves them (guest.h).
 */
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hw/guestport.h"

static void describe(uint64_t vec, uint64_t err, uint64_t rip, uint64_t cs, uint64_t cr2, char *buf,
                     size_t len)
{
	struct kvm_regs r;

	memset(&r, 0, sizeof(r));
	r.rax = vec;
	r.rbx = err;
	r.rcx = rip;
	r.rsi = cs;
	r.rdi = 0x10046;
	r.r8 = 0x90f18;
	r.r9 = 0x33;
	r.r10 = cr2;
	guestport_describe_fault(&r, buf, len);
}

static void test_lines(void **state)
{
	char buf[256];

	(void)state;
	describe(13, 0, 0xffff0965, 0x2b, 0, buf, sizeof(buf));
	assert_string_equal(buf, "guest exception #GP(0) at RIP 0xffff0965, CPL 3 "
	                         "(CS 0x2b SS 0x33 RSP 0x90f18 RFLAGS 0x10046)");
	describe(14, 4, 0xffff0972, 0x2b, 0x7f0000000000ULL, buf, sizeof(buf));
	assert_string_equal(buf, "guest exception #PF(0x4) at RIP 0xffff0972, CPL 3, "
	                         "CR2 0x7f0000000000 (CS 0x2b SS 0x33 RSP 0x90f18 RFLAGS 0x10046)");
	/* No error code for #UD, whatever the register holds; ring 0 from CS. */
	describe(6, 99, 0x1000, 0x18, 0, buf, sizeof(buf));
	assert_string_equal(buf, "guest exception #UD at RIP 0x1000, CPL 0 "
	                         "(CS 0x18 SS 0x33 RSP 0x90f18 RFLAGS 0x10046)");
	/* A reserved vector keeps its number. */
	describe(15, 0, 0x1000, 0x2b, 0, buf, sizeof(buf));
	assert_true(!strncmp(buf, "guest exception vector 15 at RIP 0x1000, CPL 3", 46));
	/* Cut short, still one terminated line. */
	describe(14, 4, 0xffff0972, 0x2b, 0x7f0000000000ULL, buf, 20);
	assert_int_equal(strlen(buf), 19);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
