/*
 * ring0.S - test firmware for what the host does with ring-0 code: it
 * executes, in 32-bit protected mode at CPL 0, each instruction Linux was
 * seen to need finished by kvmfs where KVM emulates ring 0 (int3, stac,
 * clac, popcnt, fwait, ldmxcsr; stac/clac and popcnt only where CPUID
 * offers them),
 * writes what it observed to a results block in RAM,
 * and then executes xrstor, which KVM's emulator cannot run.
 *
 * Where ring 0 runs natively (hardware virtualization, QEMU's TCG) the
 * same instructions simply execute, and the xrstor raises #UD (CR4.OSXSAVE
 * is clear), which the firmware records before it halts.  Where ring 0 is
 * emulated, kvmfs finishes the first five (vcpus/0/completions counts them)
 * and the xrstor stops the VM with an emulation-failure diagnostic.  Either
 * way the results block tells what the guest saw (the layout below; tests
 * read it through ramblocks/pc.ram or QEMU's monitor).
 */
#include <kvmfs/guest.h>

#include "testfw.h"

#define RESULTS 0x500 /* the results block, in low RAM */
#define R_MAGIC 0x00  /* "RING0RES" once the block is valid */
#define R_BP 0x08     /* u32: #BP handler runs */
#define R_AC_SET 0x0c /* u32: EFLAGS after stac */
#define R_AC_CLR 0x10 /* u32: EFLAGS after clac */
#define R_POPCNT 0x14 /* u32: popcnt of 0xf0f0f0f1 */
#define R_PFLAGS 0x18 /* u32: EFLAGS after popcnt of 0 */
#define R_FWAIT 0x1c  /* u32: 1 once past fwait */
#define R_UD 0x20     /* u32: #UD handler runs */
#define R_UD_EIP 0x24 /* u32: where the last #UD was raised */
#define R_DONE 0x28   /* u32: 1 before the xrstor */
#define R_CPUID 0x2c  /* u32: bit 0 SMAP, bit 1 POPCNT, as CPUID says: what was tried */
#define R_MXCSR 0x30  /* u32: MXCSR after ldmxcsr of MXCSR_VALUE, read back by fxsave */
#define R_SCRATCH 0x34

#define MXCSR_VALUE 0x9f80 /* the default 0x1f80 with FZ (bit 15) set */
#define FXAREA 0x1000      /* 512 bytes, 16-aligned: fxsave's image; MXCSR at +24 */
#define CR4_OSFXSR 0x200

#define IDT 0x600
#define GDT 0x400

	.section .text, "ax"
	.code16
start16:
	xorl %eax, %eax
	movw %ax, %ds
	movw %ax, %es
	TESTFW_ENTER_PM32 GDT, start32

	.code32
start32:
	movw $TESTFW_DATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl $0x9000, %esp

	/* Gates for #BP (3) and #UD (6): 32-bit interrupt gates in 0x08. */
	movl $IDT, %edi
	movl $(32 * 8 / 4), %ecx
	xorl %eax, %eax
	rep stosl
	movl $bp_handler, %eax
	movw %ax, IDT + 3 * 8
	movl $0x8e000008, IDT + 3 * 8 + 2 /* selector 8, type 0x8e; offset high below */
	shrl $16, %eax
	movw %ax, IDT + 3 * 8 + 6
	movl $ud_handler, %eax
	movw %ax, IDT + 6 * 8
	movl $0x8e000008, IDT + 6 * 8 + 2
	shrl $16, %eax
	movw %ax, IDT + 6 * 8 + 6
	lidtl idt_pointer

	movl $RESULTS, %edi
	movl $(0x40 / 4), %ecx  /* the results block and its scratch word */
	xorl %eax, %eax
	rep stosl

	/* What CPUID offers decides what is tried: stac/clac (SMAP), popcnt. */
	movl $7, %eax
	xorl %ecx, %ecx
	cpuid
	shrl $20, %ebx
	andl $1, %ebx
	movl %ebx, RESULTS + R_CPUID
	movl $1, %eax
	cpuid
	shrl $22, %ecx
	andl $2, %ecx
	orl %ecx, RESULTS + R_CPUID

	int3
after_int3:
	testl $1, RESULTS + R_CPUID
	jz 1f
	stac
	pushfl
	popl RESULTS + R_AC_SET
	clac
	pushfl
	popl RESULTS + R_AC_CLR
1:	testl $2, RESULTS + R_CPUID
	jz 2f
	movl $0xf0f0f0f1, %ebx
	popcnt %ebx, %eax
	movl %eax, RESULTS + R_POPCNT
	xorl %ebx, %ebx
	popcnt %ebx, %eax
	pushfl
	popl RESULTS + R_PFLAGS
2:	fwait
	movl $1, RESULTS + R_FWAIT
	/* ldmxcsr needs CR4.OSFXSR; fxsave (which KVM's emulator runs) reads it back. */
	movl %cr4, %eax
	orl $CR4_OSFXSR, %eax
	movl %eax, %cr4
	movl $MXCSR_VALUE, RESULTS + R_SCRATCH
	ldmxcsr RESULTS + R_SCRATCH
	fxsave FXAREA
	movl FXAREA + 24, %eax
	movl %eax, RESULTS + R_MXCSR
	movl $0x474e4952, RESULTS + R_MAGIC     /* "RING" */
	movl $0x53455230, RESULTS + R_MAGIC + 4 /* "0RES" */
	movl $1, RESULTS + R_DONE
	movl $0x7000, %edi
	.globl xrstor_insn
xrstor_insn:
	xrstor (%edi)
	/* Not reached: #UD or the VMM's stop. */
halt:
	cli
	hlt
	jmp halt

/*
 * #BP: count it and carry on after the int3, without IRET (KVM's emulator
 * has no protected-mode IRET): drop the frame (EIP, CS, EFLAGS) and jump.
 */
bp_handler:
	incl RESULTS + R_BP
	addl $12, %esp
	jmp after_int3

/* #UD: count it, note where, halt. */
ud_handler:
	incl RESULTS + R_UD
	movl (%esp), %eax
	movl %eax, RESULTS + R_UD_EIP
	jmp halt

	.section .rodata, "a"
	.balign 8
	TESTFW_GDT GDT
idt_pointer:
	.word 32 * 8 - 1
	.long IDT

	TESTFW_RESET_VECTOR start16
