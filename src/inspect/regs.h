/*
 * regs.h - a vCPU's registers as text, laid out as QEMU's `info registers`
 * prints them, and as JSON.  Pure renderers over KVM's structures, so the
 * files under vcpus/<n>/ look the same whether the state came from
 * KVM_GET_REGS on a stopped vCPU or from the copy KVM makes at each exit.
 */
#ifndef KVMFS_INSPECT_REGS_H
#define KVMFS_INSPECT_REGS_H

#include <linux/kvm.h>
#include <stdbool.h>

struct strbuf;

/* RAX.. R15, RIP, RFL with its flag letters and the CPL (the 32-bit layout outside long mode). */
void regs_render(const struct kvm_regs *r, const struct kvm_sregs *s, struct strbuf *sb);
/* ES..GS, LDT, TR, GDT, IDT, CR0/2/3/4, EFER (32-bit widths where QEMU has them). */
void regs_render_sregs(const struct kvm_sregs *s, struct strbuf *sb);
/* exact: read from a stopped vCPU (false: KVM's copy from its last exit). */
void regs_render_json(const struct kvm_regs *r, bool exact, struct strbuf *sb);
void regs_render_sregs_json(const struct kvm_sregs *s, bool exact, struct strbuf *sb);

#endif
