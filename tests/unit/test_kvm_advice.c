/*
 * test_kvm_advice.c - what kvmfs says when /dev/kvm cannot be opened: for
 * each errno open() gives there, the remedy (the device's group to join,
 * the module to load, a session to renew), and always -accel none.  The
 * integration test (test_error_remedies.py) gets the same lines from a
 * real open() of a device node kvmfs may not open.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kvm/kvm.h"
#include "util/compiler.h"

static void test_advice(void **state)
{
	static const struct {
		int errnum;
		struct kvm_dev_access a;
		const char *want; /* the whole parenthesis */
	} cases[] = {
	        {EACCES,
	         {"kvm", false},
	         " (it belongs to group kvm: sudo adduser $USER kvm, then log in again; "
	         "or run without a guest: -accel none)"},
	        {EACCES,
	         {"kvm", true},
	         " (you are in group kvm, but this session is not yet: log in again, or start a "
	         "shell with newgrp kvm; or run without a guest: -accel none)"},
	        /* The group is the device's, whatever its name. */
	        {EACCES,
	         {"users", false},
	         " (it belongs to group users: sudo adduser $USER users, then log in again; "
	         "or run without a guest: -accel none)"},
	        {EACCES,
	         {NULL, false},
	         " (only root may open it: run kvmfs as root, or give /dev/kvm to group kvm with "
	         "mode 0660 as udev does and join that group; or run without a guest: -accel "
	         "none)"},
	        {EPERM,
	         {"kvm", false},
	         " (refused whatever the file's mode says: a container's device cgroup or a "
	         "security module; allow the device there, or run without a guest: -accel none)"},
	        {ENOENT,
	         {NULL, false},
	         " (no KVM on this host: with VMX or SVM in /proc/cpuinfo, modprobe kvm_intel or "
	         "kvm_amd; or run without a guest: -accel none)"},
	        {ENODEV,
	         {NULL, false},
	         " (no KVM driver behind the device: modprobe kvm_intel or kvm_amd; or run "
	         "without a guest: -accel none)"},
	        {ENXIO,
	         {"kvm", false},
	         " (no KVM driver behind the device: modprobe kvm_intel or kvm_amd; or run "
	         "without a guest: -accel none)"},
	        /* Nothing a user can do about it: only the errno. */
	        {EMFILE, {"kvm", false}, ""},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char buf[512] = "x";

		if (strcmp(kvm_open_advice(cases[i].errnum, &cases[i].a, buf, sizeof(buf)),
		           cases[i].want))
			fail_msg("case %zu (%s): got '%s'", i, strerror(cases[i].errnum), buf);
	}
}

/* A short buffer truncates, never overruns. */
static void test_short_buffer(void **state)
{
	struct kvm_dev_access a = {"kvm", false};
	char buf[16];

	(void)state;
	kvm_open_advice(EACCES, &a, buf, sizeof(buf));
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_advice),
	        cmocka_unit_test(test_short_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
