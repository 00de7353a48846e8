/*
 * vm.h - one virtual machine: the machine model, its KVM VM, its vCPU
 * threads and devices, and its run state.  The FS and main() drive it only
 * through this header.
 */
#ifndef KVMFS_VM_H
#define KVMFS_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kvmfs/cmdline.h"
#include "kvmfs/console.h"
#include "kvmfs/kvm.h"
#include "kvmfs/loader.h"
#include "kvmfs/machine.h"
#include "kvmfs/serial.h"
#include "kvmfs/cmos.h"

/* The run states, named as QEMU's `info status` names them. */
enum vm_state {
	VM_PRELAUNCH, /* -S: built, never started */
	VM_RUNNING,
	VM_PAUSED,         /* stopped by `ctl` */
	VM_INTERNAL_ERROR, /* an exit the VMM cannot handle: stays stopped */
	VM_SHUTDOWN,       /* the guest shut down or triple-faulted */
	VM_QUIT,           /* kvmfs is ending: vCPU threads leave */
	VM_DUMP,           /* -dump: a file's guest, which never runs */
};

struct dump;
struct kvm_regs;
struct kvm_sregs;
struct vcpu;
struct vm;

/* Told when the vCPUs have all stopped, before vm_stop() returns. */
struct vm_stop_listener {
	void (*stopped)(struct vm_stop_listener *l);
	struct vm_stop_listener *next;
};

struct vm {
	struct options opts;
	struct machine machine;
	struct kvm kvm;
	struct console console;
	struct serial serial;
	struct cmos cmos;

	struct vcpu *vcpus;
	unsigned nr_vcpus;

	/* -dump: memory and vCPUs are the file's (dump.h); NULL for a VM. */
	const struct dump *dump;

	bool linux_boot;           /* -kernel: placed, irqchip, vCPU 0 at the entry */
	struct loader_entry entry; /* where vCPU 0 starts then */

	/* ctl_lock serializes stop/cont; lock guards state, reason, run_gen,
	 * nr_parked and the stop listeners. */
	pthread_mutex_t ctl_lock;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum vm_state state;
	char reason[512];      /* why it stopped, for `ctl` */
	unsigned nr_parked;    /* vCPU threads waiting outside KVM_RUN */
	uint64_t run_gen;      /* bumped by every cont: wakes halted vCPUs */
	uint64_t guest_passes; /* GUEST_EVENT_PASS count */
	bool threads_started;
	struct vm_stop_listener *stop_listeners;

	uint64_t unhandled_io; /* port accesses nobody claims (reads all-ones) */
	uint64_t unhandled_mmio;
};

/*
 * Build everything; on failure err holds one line and nothing is left.
 * With a kernel (-kernel, already opened) it is placed in RAM and the VM
 * set up to boot it; NULL runs the firmware.
 */
int vm_init(struct vm *vm, const struct options *o, const void *firmware, size_t firmware_size,
            const struct loader *kernel, char *err, size_t errlen);
/*
 * A VM that is a dump (-dump FILE, already opened): its machine built from
 * the file - an ELF core's ranges, or the -M/-m board over a raw image -
 * mapped read-only, its vCPUs the dump's.  No KVM, no vCPU thread.
 */
int vm_init_dump(struct vm *vm, const struct options *o, const struct dump *d, char *err,
                 size_t errlen);
/* Start the vCPU threads: running, or parked in prelaunch with -S. */
int vm_start(struct vm *vm);
/* Stop every vCPU; returns once none is inside KVM_RUN. */
int vm_stop(struct vm *vm);
int vm_cont(struct vm *vm);
/* An unrecoverable condition: stop all vCPUs, keep the state for inspection. */
void vm_fail(struct vm *vm, enum vm_state state, const char *reason);
void vm_exit(struct vm *vm);
void vm_add_stop_listener(struct vm *vm, struct vm_stop_listener *l);
/* "running", "paused", "paused (internal-error)", ... plus the reason line. */
void vm_status(struct vm *vm, char *buf, size_t len);
bool vm_is_running(struct vm *vm);

/* What the FS shows, asked of the model. */
/* vCPUs whose state can be read: the VM's, or the dump's. */
unsigned vm_nr_cpus(const struct vm *vm);
/*
 * vCPU cpu's registers: exact when stopped (or from a dump), approximate
 * while running (see vcpu_get_state).
 */
int vm_cpu_state(struct vm *vm, unsigned cpu, struct kvm_regs *regs, struct kvm_sregs *sregs,
                 bool *exact);
/* A board's layout is known (a VM, or a raw image): ramblocks/, regions, flatview, memslots. */
bool vm_has_layout(const struct vm *vm);
/* A guest that runs or can run (not a dump): console, dirty/. */
bool vm_is_live(const struct vm *vm);

/* For vCPU threads (vcpu.c). */
/*
 * Wait outside KVM_RUN while the VM is not running (a halted vCPU waits for
 * the next cont); false when the vCPU thread must end.
 */
bool vm_vcpu_park(struct vm *vm, struct vcpu *v, bool halted);
/* The guest's delay port: sleep ms unless flat out, waking early on stop. */
void vm_vcpu_delay(struct vm *vm, uint32_t ms);
/* The guest's event port (GUEST_EVENT_*). */
void vm_guest_event(struct vm *vm, unsigned cpu, uint32_t code);

#endif
