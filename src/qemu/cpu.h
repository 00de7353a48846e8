/*
 * cpu.h - a vCPU's registers from QEMU's `info registers` text, into the
 * structures kvmfs's renderers and page walks take (struct kvm_regs,
 * struct kvm_sregs).
 */
#ifndef KVMFS_QEMU_CPU_H
#define KVMFS_QEMU_CPU_H

#include <linux/kvm.h>

/* -EPROTO when a register the walks need (RIP, CR0, CR3, CR4, EFER, CS) is missing. */
int qemu_parse_registers(const char *text, struct kvm_regs *r, struct kvm_sregs *s);

#endif
