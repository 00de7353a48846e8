/*
 * emulate.h - completing, in user space, the instructions KVM's emulator
 * gives up on.
 *
 * Where the host's KVM runs guest ring 0 through its instruction emulator
 * (kvm_pvm), a handful of instructions a Linux kernel executes have no
 * handler there and end KVM_RUN with an emulation failure: int3, clac,
 * stac, popcnt and fwait were seen on the way to the initcalls
 * (../shared/HOSTS.md), ldmxcsr in kernel_fpu_begin() after them.  Each is simple enough to finish
 * here from the instruction bytes and the registers: decode, apply the architectural effect to a
 * register image, let the vCPU go on.  Anything else stays an emulation failure, reported as
 * before.
 *
 * Pure: bytes in, registers in and out, guest memory through a callback,
 * so that the unit tests run every case from saved images on any host.
 */
#ifndef KVMFS_KVM_EMULATE_H
#define KVMFS_KVM_EMULATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvm_regs;
struct kvm_sregs;
struct strbuf;

enum emu_kind {
	EMU_INT3,    /* cc: deliver #BP, RIP after the int3 */
	EMU_CLAC,    /* 0f 01 ca: RFLAGS.AC = 0 */
	EMU_STAC,    /* 0f 01 cb: RFLAGS.AC = 1 */
	EMU_POPCNT,  /* f3 [rex] 0f b8 /r: the count, ZF, the other arithmetic flags 0 */
	EMU_FWAIT,   /* 9b: no pending x87 exception to raise (CR0.NE, FSW are the guest's) */
	EMU_LDMXCSR, /* 0f ae /2 m32: MXCSR from memory; #GP(0) for reserved bits */
	EMU_NR_KINDS,
};

/* As the instruction is spelled: "int3", "clac", ... */
extern const char *const emu_kind_names[EMU_NR_KINDS];

/* A decoded instruction: what it is, how long, and for popcnt and ldmxcsr its operands. */
struct emu_insn {
	enum emu_kind kind;
	unsigned len;
	/* EMU_POPCNT */
	unsigned opsize; /* 2, 4 or 8 bytes */
	unsigned dst;    /* register number, x86 encoding (0 rax .. 15 r15) */
	bool src_is_reg;
	unsigned src_reg;
	/* Memory source: linear = segment base + base + index * scale + disp. */
	int base, index; /* register numbers, -1 for none; base -2: RIP-relative */
	unsigned scale;
	int64_t disp;
	int seg;     /* segment override: 0 es .. 5 gs, -1 the default */
	bool addr32; /* 0x67: 32-bit effective address */
};

/*
 * Decode the n bytes at RIP; long_mode is CS.L (64-bit code), else 32-bit
 * protected mode.  0, or -ENOSYS for an instruction this module does not
 * complete (or cannot, such as 16-bit addressing), -EINVAL when n is too
 * short for it.
 */
int emu_decode(const uint8_t *bytes, size_t n, bool long_mode, struct emu_insn *insn);

/* Read len bytes of guest memory at a linear address; -errno when not mapped. */
typedef int (*emu_read_fn)(void *opaque, uint64_t linear, void *buf, size_t len);

/* What the caller must do beyond the registers, which emu_complete updates itself. */
struct emu_effects {
	bool inject_bp; /* deliver #BP (int3) through the guest's IDT; RIP is past it */
	bool inject_gp; /* deliver #GP(0) instead; RIP still at the instruction */
	bool set_mxcsr; /* load mxcsr into the vCPU's MXCSR */
	uint32_t mxcsr;
};

/* The MXCSR bits a CPU with DAZ defines (SDM vol. 1, 10.2.3); the rest #GP. */
#define EMU_MXCSR_MASK 0xffffu

/*
 * Apply insn to the registers: RIP moves past it and its effect lands in
 * regs, or in *fx where it is not a register's.  -EPERM where the
 * instruction would fault in a way this module does not deliver (clac or
 * stac outside ring 0), -EFAULT when a memory operand cannot be read.
 */
int emu_complete(const struct emu_insn *insn, struct kvm_regs *regs, const struct kvm_sregs *sregs,
                 emu_read_fn read, void *opaque, struct emu_effects *fx);

/* "<kind> <count>" per line, every kind, in the enum's order. */
void emu_render_counts(const uint64_t counts[EMU_NR_KINDS], struct strbuf *sb);

#endif
