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

struct vcpu {
	struct vm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
};

/* Create vCPU id with CPUID from `cpuid` (its APIC ID patched in). */
int vcpu_init(struct vcpu *v, struct vm *vm, unsigned id, const struct kvm_cpuid2 *cpuid,
	      const char **what);
void vcpu_exit(struct vcpu *v);
int vcpu_start(struct vcpu *v);
/* Make KVM_RUN return soon; the vm lock is held. */
void vcpu_kick(struct vcpu *v);
/* Fetch the CPUID KVM supports, for vcpu_init; free() the result. */
int vcpu_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **out);

#endif
