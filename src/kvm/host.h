/*
 * host.h - what kind of host kvmfs runs on, as far as the guest is
 * concerned (../shared/HOSTS.md has the measurements behind it):
 *
 *   no KVM          no /dev/kvm: only -accel none;
 *   ring 0 emulated /dev/kvm, but the CPU has neither VMX nor SVM, so KVM
 *                   cannot run guest ring 0 natively: it runs guest CPL 3
 *                   natively and emulates CPL 0 instruction by instruction
 *                   (kvm_pvm, a paravirtual KVM inside a VM);
 *   hardware        /dev/kvm on a CPU with VMX or SVM: everything native.
 *
 * Told by the host CPU's own CPUID (the VMX and SVM feature bits), which is
 * what decides whether KVM can use hardware virtualization at all, and by
 * /sys/module/kvm_pvm for the name.
 */
#ifndef KVMFS_KVM_HOST_H
#define KVMFS_KVM_HOST_H

#include <stdbool.h>
#include <stddef.h>

enum host_kind {
	HOST_NO_KVM,
	HOST_RING0_EMULATED,
	HOST_HARDWARE,
};

struct host {
	enum host_kind kind;
	bool kvm_pvm; /* the kvm_pvm module is loaded */
};

void host_probe(struct host *h);
/* "kvm_pvm (guest ring 0 emulated)", "hardware virtualization", ... */
const char *host_describe(const struct host *h);
/*
 * The Linux command-line words this host needs a kernel to have, space
 * separated, "" for none: where ring 0 is emulated, cpuid.h's words for the
 * features the host forces on the guest, then the words that skip boot-time
 * work which costs only emulated instructions (host.c's table).  -ENOSPC
 * when len is too small.
 */
int host_linux_args(const struct host *h, char *buf, size_t len);

#endif
