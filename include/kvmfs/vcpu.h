/*
 * vcpu.h - vCPU threads: create the vCPU, run it, and handle its exits.
 */
#ifndef KVMFS_VCPU_H
#define KVMFS_VCPU_H

#include <pthread.h>
#include <stdbool.h>

struct vm;
struct kvm_run;
struct kvm_cpuid2;
struct loader_entry;
struct kvm_regs;
struct kvm_sregs;

struct vcpu {
	struct vm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	bool sync_regs; /* KVM copies regs and sregs into run->s.regs at every exit */
};

/* Create vCPU id with CPUID from `cpuid` (its APIC ID patched in). */
int vcpu_init(struct vcpu *v, struct vm *vm, unsigned id, const struct kvm_cpuid2 *cpuid,
              const char **what);
void vcpu_exit(struct vcpu *v);
int vcpu_start(struct vcpu *v);
/* Make KVM_RUN return soon; the vm lock is held. */
void vcpu_kick(struct vcpu *v);
/*
 * The vCPU's registers.  Exact (KVM_GET_REGS/SREGS, *exact = true) while the
 * VM is stopped; while it runs, the copy KVM made at the vCPU's last exit
 * (KVM_CAP_SYNC_REGS), which may be stale or torn - approximate.  -EBUSY
 * when running and the host cannot sync registers.
 */
int vcpu_get_state(struct vcpu *v, struct kvm_regs *regs, struct kvm_sregs *sregs, bool *exact);
/*
 * Put a vCPU in the state Linux's boot protocol expects from a boot loader:
 * the MSRs and LAPIC LINT pins firmware would leave, and for the boot vCPU
 * (entry != NULL) the registers of the 32- or 64-bit entry.  *what names the
 * failing ioctl.
 */
int vcpu_setup_linux(struct vcpu *v, const struct loader_entry *entry, const char **what);
/* Fetch the CPUID KVM supports, for vcpu_init; free() the result. */
int vcpu_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **out);

#endif
