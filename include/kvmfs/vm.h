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
#include "kvmfs/cmos.h"
#include "kvmfs/console.h"
#include "kvmfs/guestport.h"
#include "kvmfs/ioport.h"
#include "kvmfs/kvm.h"
#include "kvmfs/loader.h"
#include "kvmfs/machine.h"
#include "kvmfs/pci.h"
#include "kvmfs/runstate.h"
#include "kvmfs/serial.h"
#include "kvmfs/vcpu.h"

struct vcpu;

struct vm {
	struct options opts;
	struct machine machine;
	struct kvm kvm;
	struct console console;
	struct serial serial;
	struct cmos cmos;

	struct pio_bus pio;
	struct pci_host pci;
	struct guestport guestport;
	struct runstate rs;
	struct vcpu_env vcpu_env;

	struct vcpu *vcpus;
	unsigned nr_vcpus;

	bool linux_boot;           /* -kernel: placed, irqchip, vCPU 0 at the entry */
	struct loader_entry entry; /* where vCPU 0 starts then */
};

/*
 * Build everything; on failure err holds one line and nothing is left.
 * With a kernel (-kernel, already opened) it is placed in RAM and the VM
 * set up to boot it; NULL runs the firmware.  ring0_emulated: the host's
 * KVM emulates guest ring 0 (host.h), so the guest's CPUID is filtered.
 */
int vm_init(struct vm *vm, const struct options *o, bool ring0_emulated, const void *firmware,
            size_t firmware_size, const struct loader *kernel, char *err, size_t errlen);
/* Start the vCPU threads: running, or parked in prelaunch with -S. */
int vm_start(struct vm *vm);
/* Stop every vCPU; returns once none is inside KVM_RUN (see runstate.h). */
int vm_stop(struct vm *vm);
int vm_cont(struct vm *vm);
void vm_exit(struct vm *vm);
/* "running", "paused", "paused (internal-error)", ... plus the reason line. */
void vm_status(struct vm *vm, char *buf, size_t len);

#endif
