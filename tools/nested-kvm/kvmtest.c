/*
 * kvmtest.c - the smallest /dev/kvm smoke test: does KVM work in this guest?
 *
 *   built by tools/nested-kvm/setup.sh into build/nested/kvmtest (static: it
 *   runs from the initramfs, which has no libc), run by init with nkmode=selftest
 *   or by hand: build/nested/kvmtest
 *
 * A real-mode guest starts at the reset vector, in a read-only memslot at
 * 0xffff0000 (as kvmfs maps its BIOS), with RAM at 0.  It writes RAM, does an
 * OUT, writes its own ROM and halts: we expect KVM_EXIT_IO, KVM_EXIT_MMIO (a
 * write to a read-only slot is an MMIO exit, and the ROM stays unchanged),
 * then KVM_EXIT_HLT.  Prints the capabilities kvmfs relies on and how long
 * each step took (under nested TCG, every exit costs milliseconds).
 * Exit status 0 when everything came as expected.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define DIE(msg)                                                                                   \
	do {                                                                                       \
		fprintf(stderr, "FAIL %s: %s\n", msg, strerror(errno));                            \
		exit(1);                                                                           \
	} while (0)

int main(void)
{
	double t0 = now();
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		DIE("open /dev/kvm");
	printf("KVM_GET_API_VERSION=%d\n", ioctl(kvm, KVM_GET_API_VERSION, 0));
	struct {
		const char *n;
		int c;
	} caps[] = {
	        {"KVM_CAP_USER_MEMORY", KVM_CAP_USER_MEMORY},
	        {"KVM_CAP_READONLY_MEM", KVM_CAP_READONLY_MEM},
	        {"KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2", KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2},
	        {"KVM_CAP_NR_MEMSLOTS", KVM_CAP_NR_MEMSLOTS},
	        {"KVM_CAP_NR_VCPUS", KVM_CAP_NR_VCPUS},
	        {"KVM_CAP_MAX_VCPUS", KVM_CAP_MAX_VCPUS},
	        {"KVM_CAP_IMMEDIATE_EXIT", KVM_CAP_IMMEDIATE_EXIT},
	        {"KVM_CAP_SYNC_MMU", KVM_CAP_SYNC_MMU},
	};
	for (unsigned i = 0; i < sizeof caps / sizeof caps[0]; i++)
		printf("%s=%d\n", caps[i].n, ioctl(kvm, KVM_CHECK_EXTENSION, caps[i].c));

	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		DIE("KVM_CREATE_VM");

	size_t ramsz = 0x100000;
	uint8_t *ram = mmap(NULL, ramsz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint8_t *rom =
	        mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED || rom == MAP_FAILED)
		DIE("mmap");
	/* At 0xfffffff0, the first instruction after reset (cs.base 0xffff0000). */
	static const uint8_t code[] = {
	        0xc6, 0x06, 0x00, 0x05, 0x99, /* mov byte [ds:0x500], 0x99 */
	        0xb0, 0x42,                   /* mov al, 0x42 */
	        0xe6, 0x10,                   /* out 0x10, al */
	        0x2e, 0xc6, 0x06, 0x00, 0x01,
	        0x77, /* mov byte [cs:0x100], 0x77 -> ROM write -> MMIO exit */
	        0xf4, /* hlt */
	};
	memcpy(rom + 0xfff0, code, sizeof code);

	struct kvm_userspace_memory_region r0 = {.slot = 0,
	                                         .flags = 0,
	                                         .guest_phys_addr = 0,
	                                         .memory_size = ramsz,
	                                         .userspace_addr = (uintptr_t)ram};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r0) < 0)
		DIE("SET_USER_MEMORY_REGION ram");
	struct kvm_userspace_memory_region r1 = {.slot = 1,
	                                         .flags = KVM_MEM_READONLY,
	                                         .guest_phys_addr = 0xffff0000,
	                                         .memory_size = 0x10000,
	                                         .userspace_addr = (uintptr_t)rom};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r1) < 0)
		DIE("SET_USER_MEMORY_REGION rom (READONLY)");

	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		DIE("KVM_CREATE_VCPU");
	int mmap_sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	struct kvm_run *run = mmap(NULL, mmap_sz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		DIE("mmap kvm_run");

	struct kvm_sregs sregs;
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		DIE("GET_SREGS");
	printf("reset: cs.sel=%#x cs.base=%#llx\n", sregs.cs.selector,
	       (unsigned long long)sregs.cs.base);
	struct kvm_regs regs;
	if (ioctl(vcpu, KVM_GET_REGS, &regs) < 0)
		DIE("GET_REGS");
	printf("reset: rip=%#llx rflags=%#llx\n", (unsigned long long)regs.rip,
	       (unsigned long long)regs.rflags);

	double t1 = now();
	int got_io = 0, got_hlt = 0, got_mmio = 0;
	for (int iter = 0; iter < 10 && !got_hlt; iter++) {
		double a = now();
		if (ioctl(vcpu, KVM_RUN, 0) < 0)
			DIE("KVM_RUN");
		double b = now();
		switch (run->exit_reason) {
		case KVM_EXIT_IO: {
			uint8_t *d = (uint8_t *)run + run->io.data_offset;
			printf("KVM_EXIT_IO dir=%s port=%#x size=%d count=%u data=%#x (%.3f ms)\n",
			       run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in", run->io.port,
			       run->io.size, run->io.count, d[0], (b - a) * 1e3);
			if (run->io.port == 0x10 && d[0] == 0x42)
				got_io = 1;
			break;
		}
		case KVM_EXIT_HLT:
			printf("KVM_EXIT_HLT (%.3f ms)\n", (b - a) * 1e3);
			got_hlt = 1;
			break;
		case KVM_EXIT_MMIO:
			printf("KVM_EXIT_MMIO addr=%#llx write=%d len=%u data=%#x\n",
			       (unsigned long long)run->mmio.phys_addr, run->mmio.is_write,
			       run->mmio.len, run->mmio.data[0]);
			if (run->mmio.phys_addr == 0xffff0100 && run->mmio.is_write &&
			    run->mmio.data[0] == 0x77)
				got_mmio = 1;
			break;
		case KVM_EXIT_FAIL_ENTRY:
			printf("KVM_EXIT_FAIL_ENTRY reason=%#llx\n",
			       (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
			return 1;
		case KVM_EXIT_INTERNAL_ERROR:
			printf("KVM_EXIT_INTERNAL_ERROR suberror=%u\n", run->internal.suberror);
			return 1;
		default: printf("exit_reason=%u\n", run->exit_reason); return 1;
		}
	}
	double t2 = now();
	ioctl(vcpu, KVM_GET_REGS, &regs);
	printf("final rip=%#llx ram[0x500]=%#x rom[0x100]=%#x\n", (unsigned long long)regs.rip,
	       ram[0x500], rom[0x100]);
	printf("setup %.3f ms, run %.3f ms\n", (t1 - t0) * 1e3, (t2 - t1) * 1e3);
	int ok = got_io && got_mmio && got_hlt && ram[0x500] == 0x99 && rom[0x100] == 0;
	printf("KVMTEST %s\n", ok ? "PASS" : "FAIL");
	return ok ? 0 : 1;
}
