/*
 * testfw.h - what the test firmwares (tests/guest/*.S) share: real-mode
 * addressing of the ROM, the way into flat 32-bit protected mode, and the
 * reset vector.  Included by the .S files after <kvmfs/guest.h>; the
 * built-in guest (firmware/firmware.S) has its own, longer way in.
 */
#ifndef KVMFS_TESTFW_H
#define KVMFS_TESTFW_H

/* At reset CS has base 0xffff0000: the ROM's last 64 KiB, where all code lives. */
#define REAL_CS_BASE 0xffff0000
#define REAL(sym) ((sym) - REAL_CS_BASE)

/* The flat GDT every test firmware uses: code at 0x08, data at 0x10. */
#define TESTFW_CODE32 0x08
#define TESTFW_DATA 0x10

/*
 * From real mode (DS = ES = 0, CS the reset segment) to 32-bit code at
 * target, with the flat GDT copied to RAM at gdt_ram first: loading a
 * segment writes its accessed bit, and the ROM cannot be written.  The
 * GDT itself comes from TESTFW_GDT in .rodata.
 */
.macro TESTFW_ENTER_PM32 gdt_ram, target
	cld
	movw $REAL(testfw_gdt), %si
	movw $\gdt_ram, %di
	movw $(testfw_gdt_end - testfw_gdt) / 2, %cx
	rep movsw %cs:(%si), %es:(%di)
	lgdtl %cs:REAL(testfw_gdt_pointer)
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $TESTFW_CODE32, $\target
.endm

/* The GDT and its pointer (to the RAM copy at gdt_ram), for .rodata. */
.macro TESTFW_GDT gdt_ram
	.balign 8
testfw_gdt:
	.quad 0
	.quad 0x00cf9b000000ffff /* TESTFW_CODE32: flat 32-bit code */
	.quad 0x00cf93000000ffff /* TESTFW_DATA: flat data */
testfw_gdt_end:
testfw_gdt_pointer:
	.word testfw_gdt_end - testfw_gdt - 1
	.long \gdt_ram
.endm

/* The 16 bytes at 0xfffffff0 where the CPU starts: on to entry, interrupts off. */
.macro TESTFW_RESET_VECTOR entry
	.section .resetvector, "ax"
	.code16
	.globl reset_vector
reset_vector:
	cli
	jmp \entry
	.balign 16, 0xff
.endm

#endif
