/*
 * romwrite.S - test firmware that tries to overwrite its own ROM.  Still in
 * real mode after reset, it stores over two 8-byte strings of its own
 * image: "ROMDATA1" through CS (base 0xffff0000: pc.bios at the top of 4G)
 * and "ROMDATA2" through ES = 0xf000 (0xf0000: the isa-bios alias of
 * pc.bios's last 128 KiB).  Then it reads both strings back through both
 * addresses into a results block in RAM, and halts:
 *
 *   0x500  "ROMWRRES" once the block is valid
 *   0x508  string 1 read through CS      0x510  string 1 read through ES
 *   0x518  string 2 read through CS      0x520  string 2 read through ES
 *
 * pc.bios is ROM to the guest (a read-only memslot under KVM, a ROM region
 * under QEMU): the stores vanish, and all four read back as written in the
 * image.
 */
#include <kvmfs/guest.h>

#include "testfw.h"
#define ISA_BIOS_SEG 0xf000 /* 0xf0000: the same 64 KiB as CS at reset */

#define RESULTS 0x500

	.section .text, "ax"
	.code16
start16:
	xorw %ax, %ax
	movw %ax, %ds
	movw $ISA_BIOS_SEG, %ax
	movw %ax, %es

	movl $0x55555555, %eax
	movl %eax, %cs:REAL(rom_data1)
	movl %eax, %cs:REAL(rom_data1) + 4
	movl $0xaaaaaaaa, %eax
	movl %eax, %es:REAL(rom_data2)
	movl %eax, %es:REAL(rom_data2) + 4

	movl %cs:REAL(rom_data1), %eax
	movl %eax, RESULTS + 0x08
	movl %cs:REAL(rom_data1) + 4, %eax
	movl %eax, RESULTS + 0x0c
	movl %es:REAL(rom_data1), %eax
	movl %eax, RESULTS + 0x10
	movl %es:REAL(rom_data1) + 4, %eax
	movl %eax, RESULTS + 0x14
	movl %cs:REAL(rom_data2), %eax
	movl %eax, RESULTS + 0x18
	movl %cs:REAL(rom_data2) + 4, %eax
	movl %eax, RESULTS + 0x1c
	movl %es:REAL(rom_data2), %eax
	movl %eax, RESULTS + 0x20
	movl %es:REAL(rom_data2) + 4, %eax
	movl %eax, RESULTS + 0x24

	/* The magic last: the block is valid once it is there. */
	movl $0x53455252, RESULTS + 4 /* "RRES" */
	movl $0x574d4f52, RESULTS + 0 /* "ROMW" */
1:	hlt
	jmp 1b

	.section .rodata
	.globl rom_data1, rom_data2
rom_data1:
	.ascii "ROMDATA1"
rom_data2:
	.ascii "ROMDATA2"

	TESTFW_RESET_VECTOR start16
