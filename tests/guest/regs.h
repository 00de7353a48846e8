/*
 * regs.h - the register state tests/guest/regs.S leaves its CPU in before
 * it halts: every register a value no other register holds, so that a view
 * of the registers that shows one under another's name is caught.
 * tests/integration/test_regs.py reads these #defines (NAME value, one a
 * line: keep it so) as its expectations.
 *
 * Segments are described as their descriptors hold them: base (32 bits for
 * code and data, 64 for LDT and TSS), the 20-bit limit, the access byte
 * (P, DPL, S, type) and the flags nibble (G, D/B, L, AVL).  Every accessed
 * bit is set already, so loading a segment writes nothing to the GDT.
 */
#ifndef KVMFS_TESTS_GUEST_REGS_H
#define KVMFS_TESTS_GUEST_REGS_H

#define REGS_RAX    0xa1a1a1a1a1a1a1a1
#define REGS_RBX    0xb2b2b2b2b2b2b2b2
#define REGS_RCX    0xc3c3c3c3c3c3c3c3
#define REGS_RDX    0xd4d4d4d4d4d4d4d4
#define REGS_RSI    0x5151515151515151
#define REGS_RDI    0xd1d1d1d1d1d1d1d1
#define REGS_RBP    0xbbbbbbbb0000b0b0
#define REGS_RSP    0xffff800012345670
#define REGS_R8     0x0808080808080808
#define REGS_R9     0x0909090909090909
#define REGS_R10    0x1010101010101010
#define REGS_R11    0x1111111111111111
#define REGS_R12    0x1212121212121212
#define REGS_R13    0x1313131313131313
#define REGS_R14    0x1414141414141414
#define REGS_R15    0x1515151515151515
/* CF, AF, SF, DF, OF, AC, ID and the fixed bit 1; IF clear: nothing wakes the hlt. */
#define REGS_RFLAGS 0x240c93

/* 64-bit conforming code, readable: [CRA]; AVL set. */
#define REGS_CS_SEL    0x18
#define REGS_CS_BASE   0x0
#define REGS_CS_LIMIT  0xcccc
#define REGS_CS_ACCESS 0x9f
#define REGS_CS_FLAGS  0xb
/* Data, DPL 1, D/B and AVL. */
#define REGS_ES_SEL    0x20
#define REGS_ES_BASE   0x00e5e500
#define REGS_ES_LIMIT  0xe5e5
#define REGS_ES_ACCESS 0xb3
#define REGS_ES_FLAGS  0x5
/* The stack: writable data, DPL 0 (= CPL), 4 KiB granular. */
#define REGS_SS_SEL    0x28
#define REGS_SS_BASE   0x0055a500
#define REGS_SS_LIMIT  0x5a5a5
#define REGS_SS_ACCESS 0x93
#define REGS_SS_FLAGS  0xc
/* Read-only data, DPL 2 and RPL 2, no D/B ("DS  " all the same in long mode). */
#define REGS_DS_SEL    0x32
#define REGS_DS_BASE   0x00d5d500
#define REGS_DS_LIMIT  0x0d5d
#define REGS_DS_ACCESS 0xd1
#define REGS_DS_FLAGS  0x0
/* Expand-down writable data: [EWA]; its base then set whole by MSR_FS_BASE. */
#define REGS_FS_SEL    0x38
#define REGS_FS_BASE   0x00f5f500
#define REGS_FS_LIMIT  0xf5f5
#define REGS_FS_ACCESS 0x97
#define REGS_FS_FLAGS  0x4
#define REGS_FS_MSR    0xffff8000f5f5f000
/* Data, DPL 3 and RPL 3; base then set by MSR_GS_BASE. */
#define REGS_GS_SEL    0x43
#define REGS_GS_BASE   0x006a6a00
#define REGS_GS_LIMIT  0x6a6a6
#define REGS_GS_ACCESS 0xf3
#define REGS_GS_FLAGS  0xc
#define REGS_GS_MSR    0xffff80006a6a6000
/* The LDT and the TSS: 16-byte descriptors, 64-bit bases (nothing is read there). */
#define REGS_LDT_SEL    0x50
#define REGS_LDT_BASE   0xffff80001dd1d000
#define REGS_LDT_LIMIT  0x1d7
#define REGS_LDT_ACCESS 0x82
#define REGS_LDT_FLAGS  0x0
#define REGS_TR_SEL     0x60
#define REGS_TR_BASE    0xffff800075575000
#define REGS_TR_LIMIT   0x2067
#define REGS_TR_ACCESS  0x89 /* available; ltr makes it busy (0x8b) */
#define REGS_TR_FLAGS   0x0

/* Loaded last, when no segment is loaded any more: nothing is read there. */
#define REGS_GDT_BASE  0xffff80009abcd000
#define REGS_GDT_LIMIT 0x0ab7
#define REGS_IDT_BASE  0xffff80001d7d7000
#define REGS_IDT_LIMIT 0x0d27

/* PE, MP, TS, ET, NE, WP, AM, PG. */
#define REGS_CR0  0x8005003b
#define REGS_CR2  0xffff8000c2c2c2c2
/* The PML4 at REGS_PML4_GPA, with PWT and PCD. */
#define REGS_CR3  0x10018
/* DE, PAE, PGE, OSFXSR, OSXMMEXCPT. */
#define REGS_CR4  0x6a8
#define REGS_CR8  0xb
/* SCE, LME, NXE as written; LMA set by the CPU: 0xd01. */
#define REGS_EFER 0x901
/* IA32_APIC_BASE: moved to 0xfed5a000, enabled, BSP. */
#define REGS_APIC_BASE 0xfed5a900

/* Where things are in RAM (the first 2 MiB, identity-mapped). */
#define REGS_GDT_GPA  0x800
#define REGS_PML4_GPA 0x10000
#define REGS_STACK    0x9000
#define REGS_DONE_GPA 0x700 /* "REGSDONE" once everything but the GPRs and RFLAGS is set */
/*
 * Linux's kernel text address, mapped to the 2 MiB of RAM from
 * REGS_KERNEL_GPA (and nothing else maps them): "KERNELVA" is written at
 * REGS_KERNEL_VA + REGS_KERNEL_MARK through it.
 */
#define REGS_KERNEL_VA   0xffffffff81000000
#define REGS_KERNEL_GPA  0x200000
#define REGS_KERNEL_MARK 0x5a8

#endif
