/*
 * regs.S - test firmware that puts a known value in every register a view
 * of the vCPU shows, then halts with interrupts off: the values of
 * tests/guest/regs.h, each one a value no other register holds.
 *
 * From reset it enters 32-bit protected mode, builds page tables (the
 * first 2 MiB and the ROM's 2 MiB below 4G, identity-mapped with 2 MiB
 * pages, and 2 MiB of RAM at a kernel address, REGS_KERNEL_VA), enters
 * long mode with REGS_CR0/CR3/CR4/EFER, loads every segment register, the
 * LDT and TR from its own GDT, the FS and GS bases through their MSRs, the
 * APIC base, CR2 and CR8, writes "KERNELVA" through the kernel address and
 * "REGSDONE" at REGS_DONE_GPA, then loads a GDT and IDT pointer that point
 * nowhere (nothing reads them any more), RFLAGS and the sixteen GPRs, and
 * halts.  RIP is then regs_halted (nm).
 *
 * Run under QEMU (tests/integration/test_regs.py compares its `info
 * registers` with kvmfs's view of QEMU's dump) and under kvmfs with KVM.
 */
#include <kvmfs/guest.h>

#include "regs.h"
#include "testfw.h"

#define MSR_APIC_BASE 0x1b
#define MSR_EFER      0xc0000080
#define MSR_FS_BASE   0xc0000100
#define MSR_GS_BASE   0xc0000101
#define PTE_P_RW      0x003
#define PDE_2M        0x083 /* present, writable, page size */

/* An 8-byte code or data descriptor (SDM vol. 3, 3.4.5). */
.macro SEGDESC base, limit, access, flags
	.word (\limit) & 0xffff
	.word (\base) & 0xffff
	.byte ((\base) >> 16) & 0xff
	.byte \access
	.byte (((\limit) >> 16) & 0xf) | ((\flags) << 4)
	.byte ((\base) >> 24) & 0xff
.endm

/* A 16-byte long-mode system descriptor: LDT or TSS. */
.macro SYSDESC base, limit, access, flags
	SEGDESC ((\base) & 0xffffffff), \limit, \access, \flags
	.long ((\base) >> 32) & 0xffffffff
	.long 0
.endm

	.section .text, "ax"
	.code16
start16:
	xorl %eax, %eax
	movw %ax, %ds
	movw %ax, %es
	TESTFW_ENTER_PM32 REGS_GDT_GPA, start32

	.code32
start32:
	movw $TESTFW_DATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl $REGS_STACK, %esp

	/*
	 * Six pages from REGS_PML4_GPA: the PML4, the PDPT of the low half with
	 * the PDs of 0-1G and 3-4G, the PDPT of the top 512G with the PD of
	 * -2G..-1G.  Identity: the first 2 MiB (RAM) and the ROM's 2 MiB below
	 * 4G; and REGS_KERNEL_GPA's 2 MiB of RAM at REGS_KERNEL_VA, where
	 * Linux's kernel text is (tests read it through vcpus/0/vmem).
	 */
	movl $REGS_PML4_GPA, %edi
	movl $(6 * 4096 / 4), %ecx
	xorl %eax, %eax
	rep stosl
	movl $(REGS_PML4_GPA + 0x1000 + PTE_P_RW), REGS_PML4_GPA
	movl $(REGS_PML4_GPA + 0x2000 + PTE_P_RW), REGS_PML4_GPA + 0x1000
	movl $(REGS_PML4_GPA + 0x3000 + PTE_P_RW), REGS_PML4_GPA + 0x1000 + 3 * 8
	movl $PDE_2M, REGS_PML4_GPA + 0x2000                   /* 0-2M: RAM */
	movl $(0xffe00000 + PDE_2M), REGS_PML4_GPA + 0x3000 + 511 * 8 /* the ROM */
#define KVA_INDEX(shift) (((REGS_KERNEL_VA) >> (shift)) & 511)
	movl $(REGS_PML4_GPA + 0x4000 + PTE_P_RW), REGS_PML4_GPA + KVA_INDEX(39) * 8
	movl $(REGS_PML4_GPA + 0x5000 + PTE_P_RW), REGS_PML4_GPA + 0x4000 + KVA_INDEX(30) * 8
	movl $(REGS_KERNEL_GPA + PDE_2M), REGS_PML4_GPA + 0x5000 + KVA_INDEX(21) * 8

	movl $REGS_CR4, %eax
	movl %eax, %cr4
	movl $REGS_CR3, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	movl $REGS_EFER, %eax
	xorl %edx, %edx
	wrmsr
	movl $REGS_CR0, %eax
	movl %eax, %cr0
	ljmpl $REGS_CS_SEL, $start64

	.code64
start64:
	movw $REGS_ES_SEL, %ax
	movw %ax, %es
	movw $REGS_DS_SEL, %ax
	movw %ax, %ds
	movw $REGS_SS_SEL, %ax
	movw %ax, %ss
	movw $REGS_FS_SEL, %ax
	movw %ax, %fs
	movw $REGS_GS_SEL, %ax
	movw %ax, %gs
	/* The bases a 64-bit FS and GS really use: whole, from their MSRs. */
	movl $MSR_FS_BASE, %ecx
	movl $(REGS_FS_MSR & 0xffffffff), %eax
	movl $(REGS_FS_MSR >> 32), %edx
	wrmsr
	movl $MSR_GS_BASE, %ecx
	movl $(REGS_GS_MSR & 0xffffffff), %eax
	movl $(REGS_GS_MSR >> 32), %edx
	wrmsr
	movw $REGS_LDT_SEL, %ax
	lldt %ax
	movw $REGS_TR_SEL, %ax
	ltr %ax
	movl $MSR_APIC_BASE, %ecx
	movl $REGS_APIC_BASE, %eax
	xorl %edx, %edx
	wrmsr
	movabsq $REGS_CR2, %rax
	movq %rax, %cr2
	movl $REGS_CR8, %eax
	movq %rax, %cr8
	/* No segment is loaded from here on: the tables may point anywhere. */
	lgdt gdt_final(%rip)
	lidt idt_final(%rip)
	movabsq $0x41564c454e52454b, %rax /* "KERNELVA", through the kernel mapping */
	movabsq $(REGS_KERNEL_VA + REGS_KERNEL_MARK), %rdx
	movq %rax, (%rdx)
	movabsq $0x454e4f4453474552, %rax /* "REGSDONE" */
	movq %rax, REGS_DONE_GPA

	movq $REGS_STACK, %rsp
	pushq $REGS_RFLAGS
	popfq
	movabsq $REGS_RAX, %rax
	movabsq $REGS_RBX, %rbx
	movabsq $REGS_RCX, %rcx
	movabsq $REGS_RDX, %rdx
	movabsq $REGS_RSI, %rsi
	movabsq $REGS_RDI, %rdi
	movabsq $REGS_RBP, %rbp
	movabsq $REGS_RSP, %rsp
	movabsq $REGS_R8, %r8
	movabsq $REGS_R9, %r9
	movabsq $REGS_R10, %r10
	movabsq $REGS_R11, %r11
	movabsq $REGS_R12, %r12
	movabsq $REGS_R13, %r13
	movabsq $REGS_R14, %r14
	movabsq $REGS_R15, %r15
regs_hlt:
	hlt
	/* Where RIP is once halted; nothing should wake it, but if it does: halt again. */
	.globl regs_halted
regs_halted:
	jmp regs_hlt

	.section .rodata, "a"
	.balign 8
/* TESTFW_ENTER_PM32 copies this GDT to REGS_GDT_GPA; 0x08 and 0x10 are its own. */
testfw_gdt:
	.quad 0
	.quad 0x00cf9b000000ffff /* TESTFW_CODE32 */
	.quad 0x00cf93000000ffff /* TESTFW_DATA */
	SEGDESC REGS_CS_BASE, REGS_CS_LIMIT, REGS_CS_ACCESS, REGS_CS_FLAGS /* 0x18 */
	SEGDESC REGS_ES_BASE, REGS_ES_LIMIT, REGS_ES_ACCESS, REGS_ES_FLAGS /* 0x20 */
	SEGDESC REGS_SS_BASE, REGS_SS_LIMIT, REGS_SS_ACCESS, REGS_SS_FLAGS /* 0x28 */
	SEGDESC REGS_DS_BASE, REGS_DS_LIMIT, REGS_DS_ACCESS, REGS_DS_FLAGS /* 0x30 */
	SEGDESC REGS_FS_BASE, REGS_FS_LIMIT, REGS_FS_ACCESS, REGS_FS_FLAGS /* 0x38 */
	SEGDESC REGS_GS_BASE, REGS_GS_LIMIT, REGS_GS_ACCESS, REGS_GS_FLAGS /* 0x40 */
	.quad 0 /* 0x48 */
	SYSDESC REGS_LDT_BASE, REGS_LDT_LIMIT, REGS_LDT_ACCESS, REGS_LDT_FLAGS /* 0x50 */
	SYSDESC REGS_TR_BASE, REGS_TR_LIMIT, REGS_TR_ACCESS, REGS_TR_FLAGS     /* 0x60 */
testfw_gdt_end:
testfw_gdt_pointer:
	.word testfw_gdt_end - testfw_gdt - 1
	.long REGS_GDT_GPA
gdt_final:
	.word REGS_GDT_LIMIT
	.quad REGS_GDT_BASE
idt_final:
	.word REGS_IDT_LIMIT
	.quad REGS_IDT_BASE

	TESTFW_RESET_VECTOR start16
