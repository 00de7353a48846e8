/*
 * test_vm_errors.c - failures that must leave one line of error text, not
 * garbage: a vCPU that cannot be created (the VM's fd is not a KVM VM, or
 * is closed), Linux's boot state refused by a vCPU, an irqchip the host
 * lacks, a -dump file that is not there.  err starts full of garbage bytes
 * (no NUL, newlines), as an uninitialised buffer would be.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "boot/linux_cpu.h"
#include "boot/loader.h"
#include "inspect/dumpfile.h"
#include "kvm/kvm.h"
#include "kvm/vcpu.h"
#include "util/compiler.h"
#include "vm.h"

#define ERRLEN 512

static void fill_garbage(char *err, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		err[i] = i % 7 ? (char)0xa5 : '\n';
}

/* One line: NUL-terminated within the buffer, not empty, no control byte, naming `what`. */
static void assert_one_line(const char *err, size_t len, const char *what)
{
	size_t n = strnlen(err, len), i;

	assert_true(n > 0 && n < len);
	for (i = 0; i < n; i++)
		assert_true((unsigned char)err[i] >= 0x20 && err[i] != 0x7f);
	if (!strstr(err, what))
		fail_msg("\"%s\" does not name %s", err, what);
}

/* The VM's fd: something that is no KVM VM. */
enum fake_vm_fd { FAKE_DEV_NULL, FAKE_CLOSED };

static const struct {
	enum fake_vm_fd fd;
	const char *msg;
} vcpu_cases[] = {
        {FAKE_DEV_NULL, "KVM_CREATE_VCPU: Inappropriate ioctl for device"},
        {FAKE_CLOSED, "KVM_CREATE_VCPU: Bad file descriptor"},
};

static void test_vcpu_creation_fails_with_a_message(void **state)
{
	static struct vm vm;
	struct kvm_cpuid2 *cpuid = calloc(1, sizeof(*cpuid));
	char err[ERRLEN];
	size_t i;
	int ret;

	(void)state;
	assert_non_null(cpuid);
	for (i = 0; i < ARRAY_SIZE(vcpu_cases); i++) {
		memset(&vm, 0, sizeof(vm));
		vm.opts.cpus = 2;
		vm.kvm.fd = -1;
		vm.kvm.vm_fd = vcpu_cases[i].fd == FAKE_DEV_NULL ? open("/dev/null", O_RDWR) : -1;
		assert_true(vcpu_cases[i].fd == FAKE_CLOSED || vm.kvm.vm_fd >= 0);
		vm.kvm.vcpu_mmap_size = 4096;
		vm.vcpu_env = (struct vcpu_env){.kvm = &vm.kvm, .rs = &vm.rs, .pio = &vm.pio};
		vm.linux_boot = true;

		fill_garbage(err, sizeof(err));
		ret = vm_create_vcpus(&vm, cpuid, err, sizeof(err));
		assert_true(ret < 0);
		assert_one_line(err, sizeof(err), "KVM_CREATE_VCPU");
		assert_string_equal(err, vcpu_cases[i].msg);
		/* Nothing half-made is left for vm_init to undo but the array. */
		assert_int_equal(vm.nr_vcpus, 0);
		free(vm.vcpus);
		if (vm.kvm.vm_fd >= 0)
			close(vm.kvm.vm_fd);
	}
	free(cpuid);
}

/* Linux's boot state on a vCPU whose fd is no vCPU: the first ioctl is named. */
static void test_linux_cpu_setup_names_the_ioctl(void **state)
{
	struct loader_entry entry = {.mode = 64};
	struct vcpu v = {.id = 0};
	char err[ERRLEN];

	(void)state;
	v.fd = open("/dev/null", O_RDWR);
	assert_true(v.fd >= 0);
	fill_garbage(err, sizeof(err));
	assert_int_equal(linux_cpu_setup(&v, &entry, err, sizeof(err)), -ENOTTY);
	assert_one_line(err, sizeof(err), "KVM_SET_MSRS");
	assert_string_equal(err, "KVM_SET_MSRS: Inappropriate ioctl for device");
	close(v.fd);
}

/* No /dev/kvm behind the fds: the first capability asked for is named. */
static void test_irqchip_names_the_capability(void **state)
{
	struct kvm kvm = {.fd = -1, .vm_fd = -1};
	char err[ERRLEN];

	(void)state;
	fill_garbage(err, sizeof(err));
	assert_int_equal(kvm_create_irqchip(&kvm, err, sizeof(err)), -ENOSYS);
	assert_one_line(err, sizeof(err), "KVM_CAP_IRQCHIP");
	assert_false(kvm.irqchip);
}

/* The file is named once, by dump_open, its newline scrubbed. */
static void test_dump_open_names_the_file_once(void **state)
{
	struct dump d;
	char err[ERRLEN];

	(void)state;
	fill_garbage(err, sizeof(err));
	assert_int_equal(dump_open(&d, "/nonexistent/a\nb", false, err, sizeof(err)), -ENOENT);
	assert_one_line(err, sizeof(err), "-dump /nonexistent/a?b: ");
	assert_string_equal(err, "-dump /nonexistent/a?b: No such file or directory");
	assert_int_equal(d.fd, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_vcpu_creation_fails_with_a_message),
	        cmocka_unit_test(test_linux_cpu_setup_names_the_ioctl),
	        cmocka_unit_test(test_irqchip_names_the_capability),
	        cmocka_unit_test(test_dump_open_names_the_file_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
