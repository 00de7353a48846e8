/*
 * triplefault.S - test firmware that triple-faults on purpose: it enters
 * 32-bit protected mode with an empty IDT and executes ud2.  #UD finds no
 * gate, which raises #GP, then #DF, then shutdown.  The VMM (or QEMU with
 * -no-reboot) must report that rather than hang.
 */
#include <kvmfs/guest.h>

#include "testfw.h"

	.section .text, "ax"
	.code16
start16:
	xorl %eax, %eax
	movw %ax, %ds
	movw %ax, %es
	lidtl %cs:REAL(idt_pointer)
	TESTFW_ENTER_PM32 GUEST_BOOT_GPA, start32

	.code32
start32:
	movw $TESTFW_DATA, %ax
	movw %ax, %ds
	movw %ax, %ss
	ud2
	/* Not reached; if it were, keep the vCPU from running off. */
1:	hlt
	jmp 1b

	.section .rodata, "a"
	.balign 8
	TESTFW_GDT GUEST_BOOT_GPA
idt_pointer:
	.word 0 /* limit 0: no vector is valid */
	.long 0

	TESTFW_RESET_VECTOR start16
