/*
 * linux_cpu.h - the CPU state Linux's boot protocol expects a boot loader
 * to leave: the MSRs and LAPIC LINT pins firmware would set on every vCPU,
 * and on the boot vCPU the registers of the 32- or 64-bit entry the loader
 * chose (loader.h).  Boot code: it sets the state through the vCPU's
 * primitives (kvm/vcpu.h), which know nothing of Linux.
 */
#ifndef KVMFS_BOOT_LINUX_CPU_H
#define KVMFS_BOOT_LINUX_CPU_H

#include <stddef.h>

struct loader_entry;
struct vcpu;

/*
 * Put vCPU v in that state; entry != NULL for the boot vCPU only.  On
 * failure err names the ioctl (and the MSR KVM refused).
 */
int linux_cpu_setup(struct vcpu *v, const struct loader_entry *entry, char *err, size_t errlen);

#endif
