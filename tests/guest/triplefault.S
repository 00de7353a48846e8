/*
 * triplefault.S - test firmware that triple-faults on purpose: it enters
 * 32-bit protected mode with an empty IDT and executes ud2.  #UD finds no
 * gate, which raises #GP, then #DF, then shutdown.  The VMM (or QEMU with
 * -no-reboot) must report that rather than hang.
 */
#include <kvmfs/guest.h>

#define REAL_CS_BASE 0xffff0000
#define REAL(sym) ((sym) - REAL_CS_BASE)

	.section .text, "ax"
	.code16
start16:
	xorl %eax, %eax
	movw %ax, %ds
	movw %ax, %es
	/* GDT copied to RAM: loading segments may write accessed bits, and
	 * the ROM is read-only under kvmfs. */
	cld
	movw $REAL(gdt), %si
	movw $GUEST_BOOT_GPA, %di
	movw $(gdt_end - gdt) / 2, %cx
	rep movsw %cs:(%si), %es:(%di)
	lidtl %cs:REAL(idt_pointer)
	lgdtl %cs:REAL(gdt_pointer)
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $0x08, $start32

	.code32
start32:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %ss
	ud2
	/* Not reached; if it were, keep the vCPU from running off. */
1:	hlt
	jmp 1b

	.section .rodata, "a"
	.balign 8
gdt:
	.quad 0
	.quad 0x00cf9b000000ffff /* 0x08: flat 32-bit code */
	.quad 0x00cf93000000ffff /* 0x10: flat data */
gdt_end:
gdt_pointer:
	.word gdt_end - gdt - 1
	.long GUEST_BOOT_GPA
idt_pointer:
	.word 0 /* limit 0: no vector is valid */
	.long 0

	.section .resetvector, "ax"
	.code16
	.globl reset_vector
reset_vector:
	cli
	jmp start16
	.balign 16, 0xff
