/*
 * vcpu.h - vCPU threads: create the vCPU, run it, and handle its exits.
 *
 * A vCPU knows only what it needs to run (its environment below): the
 * KVM VM, guest memory, the port I/O bus and the run state it parks in.
 * It does not know the VM that made it; vm.c owns the vCPUs and wires
 * them up, and calls flow from vm.c to here, never back.
 */
#ifndef KVMFS_KVM_VCPU_H
#define KVMFS_KVM_VCPU_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvm/emulate.h"
#include "kvm/runstate.h"

struct address_space;
struct kvm;
struct kvm_run;
struct kvm_cpuid2;
struct kvm_lapic_state;
struct kvm_msrs;
struct kvm_regs;
struct kvm_sregs;
struct pio_bus;

/* What every vCPU of a VM shares. */
struct vcpu_env {
	struct kvm *kvm;
	struct address_space *as;
	struct runstate *rs;
	struct pio_bus *pio;
};

struct vcpu {
	const struct vcpu_env *env;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	bool sync_regs; /* KVM copies regs and sregs into run->s.regs at every exit */
	/* Emulation failures finished in user space, by kind (atomic). */
	uint64_t completions[EMU_NR_KINDS];
};

/*
 * Create vCPU id with CPUID from `cpuid` (its APIC ID patched in).  On
 * failure nothing is left and err names the step ("KVM_CREATE_VCPU: ...").
 */
int vcpu_init(struct vcpu *v, const struct vcpu_env *env, unsigned id,
              const struct kvm_cpuid2 *cpuid, char *err, size_t errlen);
void vcpu_exit(struct vcpu *v);
int vcpu_start(struct vcpu *v);
/* Make KVM_RUN return soon; the run state's lock is held. */
void vcpu_kick(struct vcpu *v);
/*
 * The vCPU's registers.  Exact (KVM_GET_REGS/SREGS, *exact = true) while the
 * VM is stopped; while it runs, the copy KVM made at the vCPU's last exit
 * (KVM_CAP_SYNC_REGS), which may be stale or torn - approximate.  -EBUSY
 * when running and the host cannot sync registers.
 */
int vcpu_get_state(struct vcpu *v, struct kvm_regs *regs, struct kvm_sregs *sregs, bool *exact);
/*
 * From the vCPU's own thread, during an exit: stop the VM in `state` with
 * one line naming what happened, where (RIP, CPL) and the code bytes there.
 */
void vcpu_fail(struct vcpu *v, enum run_state state, const char *what);
/*
 * Read guest memory at a virtual address of this vCPU, through its page
 * tables as they are (sregs: its CR0/CR3/CR4/EFER).  -EFAULT for what is
 * not mapped or not memory.
 */
int vcpu_read_virt(struct vcpu *v, const struct kvm_sregs *sregs, uint64_t va, void *buf,
                   size_t len, uint64_t *gpa);
/*
 * Checked ioctls for code that sets a vCPU's state from outside (Linux's
 * boot state, boot/linux_cpu.c): 0 or -errno, and the caller names the
 * step.  vcpu_set_msrs returns how many entries KVM set - it stops at the
 * first one it refuses - or -errno.
 */
int vcpu_set_msrs(struct vcpu *v, const struct kvm_msrs *msrs);
int vcpu_get_lapic(struct vcpu *v, struct kvm_lapic_state *s);
int vcpu_set_lapic(struct vcpu *v, const struct kvm_lapic_state *s);
int vcpu_get_sregs(struct vcpu *v, struct kvm_sregs *s);
int vcpu_set_sregs(struct vcpu *v, const struct kvm_sregs *s);
int vcpu_set_regs(struct vcpu *v, const struct kvm_regs *r);
/* Fetch the CPUID KVM supports, for vcpu_init; free() the result. */
int vcpu_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **out);

#endif
