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

#include "boot/loader.h"
#include "cmdline.h"
#include "hw/cmos.h"
#include "hw/console.h"
#include "hw/guestport.h"
#include "hw/pci.h"
#include "hw/serial.h"
#include "kvm/ioport.h"
#include "kvm/kvm.h"
#include "kvm/runstate.h"
#include "kvm/vcpu.h"
#include "machine/machine.h"
#include "qemu/qemu.h"

struct dump;
struct kvm_cpuid2;
struct kvm_regs;
struct kvm_sregs;
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

	/* -dump: memory and vCPUs are the file's (dump.h); NULL for a VM. */
	const struct dump *dump;
	/* -attach: memory, vCPUs and run state are a running QEMU's (qemu.h); NULL otherwise. */
	struct qemu *qemu;

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
/*
 * A VM that is a dump (-dump FILE, already opened): its machine built from
 * the file - an ELF core's ranges, or the -M/-m board over a raw image -
 * mapped read-only, its vCPUs the dump's.  No KVM, no vCPU thread.
 */
int vm_init_dump(struct vm *vm, const struct options *o, const struct dump *d, char *err,
                 size_t errlen);
/*
 * A VM that is a running QEMU's (-attach PATH): its machine imported
 * through QMP, its memory found in QEMU's process.  No KVM of kvmfs's,
 * no vCPU thread, no console; stop, cont and the run state are QEMU's.
 */
int vm_init_attach(struct vm *vm, const struct options *o, char *err, size_t errlen);
/*
 * vm_init's step that makes the vCPUs: vm->opts.cpus of them on vm->kvm,
 * each with cpuid (its APIC ID patched in), and with -kernel Linux's boot
 * state (boot/linux_cpu.h).  On failure err says why; the vCPUs made so far
 * stay in vm->vcpus, vm->nr_vcpus, for vm_init to undo.  Exported for the
 * tests.
 */
int vm_create_vcpus(struct vm *vm, const struct kvm_cpuid2 *cpuid, char *err, size_t errlen);
/* Start the vCPU threads: running, or parked in prelaunch with -S. */
int vm_start(struct vm *vm);
/* Stop every vCPU; returns once none is inside KVM_RUN (see runstate.h). */
int vm_stop(struct vm *vm);
/* At exit: stop this kvmfs's own vCPUs, leaving a dump or an attached QEMU as it is. */
int vm_end(struct vm *vm);
int vm_cont(struct vm *vm);
void vm_exit(struct vm *vm);
/* "running", "paused", "paused (internal-error)", ... plus the reason line. */
void vm_status(struct vm *vm, char *buf, size_t len);

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
/* A guest of kvmfs's own that runs or can run (not a dump, not QEMU's): console, dirty/. */
bool vm_is_live(const struct vm *vm);
/* The accelerator that maps guest RAM, as flat views name it ("KVM"), or NULL. */
const char *vm_accel(const struct vm *vm);

#endif
