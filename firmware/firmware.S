/*
 * firmware.S - the built-in guest of kvmfs: a 256 KiB pc.bios image that
 * takes every vCPU from the reset vector to a ring-3 memory-writing
 * workload.  The ABI it implements (memory map, records, status page,
 * mailbox, ports) is in include/kvmfs/guest.h.
 *
 * It must run on three kinds of host: QEMU's TCG, KVM with hardware
 * virtualization, and kvm_pvm, where ring 3 runs natively but everything
 * at CPL 0 goes through KVM's instruction emulator (about 1.5 us each, and
 * some instructions fail there).  So ring 0 only does what cannot be done
 * elsewhere - GDT, IDT, page tables, long mode, TSS - in as few and as
 * plain instructions as possible, and all real work happens in ring 3.
 * Two facts of kvm_pvm shape it (../shared/HOSTS.md has the measurements):
 * IOPL never reaches ring 3, so ring 3 does its port I/O through the TSS's
 * I/O permission bitmap; and an exception without an IDT gate is a triple
 * fault, so all 32 exception vectors have a handler, which tells the VMM
 * what happened (GUEST_PORT_FAULT) instead.
 *
 * Boot sequence of vCPU 0 (the others wait in real mode, then follow):
 *   reset vector (real mode) -> copy GDT to RAM -> protected mode (32-bit)
 *   -> read CMOS -> build identity map, IDT, I/O bitmap -> flag "ready"
 *   -> PAE, CR3, EFER.LME, paging -> 64-bit mode -> own TSS -> IRETQ to
 *   ring 3 (IOPL 0, IF 0).
 * About 25000 ring-0 instructions for 6-8 GiB, nearly all of them in the
 * page-directory loop.
 */
#include <kvmfs/guest.h>

/*
 * GDT selectors; the template below has them in this order.  0x20 is
 * unused (it once served SYSEXIT's layout); it stays empty so that the
 * selectors, which tests and debuggers see, keep their values.
 */
#define SEL_CODE32 0x08
#define SEL_DATA 0x10
#define SEL_CODE64 0x18
#define SEL_UCODE64 0x28 /* used as 0x2b: RPL 3 */
#define SEL_UDATA 0x30 /* used as 0x33 */
#define SEL_TSS0 0x38 /* 16-byte TSS descriptors, one per vCPU */
#define GDT_SIZE (SEL_TSS0 + 16 * GUEST_MAX_CPUS)

/* IDT gate types: 64-bit interrupt gates, DPL 0, or DPL 3 where ring 3 may
 * raise the vector itself (int3, into), as Linux has them. */
#define GATE_KERNEL 0x8e00
#define GATE_USER 0xee00
#define FAULT_STUB_SIZE 16

#define BOOT(off) (GUEST_BOOT_GPA + (off))

#define CR0_PE 0x00000001
#define CR0_NW 0x20000000
#define CR0_CD 0x40000000
#define CR0_PG 0x80000000
#define CR4_PAE 0x20
#define MSR_EFER 0xc0000080
#define EFER_LME 0x100

/*
 * Page-table entry bits.  Accessed and Dirty are set up front so that the
 * CPU (here: the instruction emulator doing the page walk) never has to
 * write them back with a locked update.
 */
#define PTE_P 0x01
#define PTE_RW 0x02
#define PTE_US 0x04 /* ring 3 may touch everything */
#define PTE_A 0x20
#define PTE_D 0x40
#define PTE_PS 0x80 /* 2 MiB page */
#define PTE_TABLE (PTE_P | PTE_RW | PTE_US | PTE_A)
#define PTE_2M (PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D | PTE_PS)

#define RFLAGS_RING3 0x0002 /* IOPL 0, IF 0 (bit 1 is reserved, always 1) */

#define CMOS_INDEX 0x70
#define CMOS_DATA 0x71
/* Keeps NMIs masked at the RTC: there is no NMI handler, so one would be
 * fatal. */
#define CMOS_NMI_OFF 0x80

#define UART_LSR (GUEST_SERIAL_PORT + 5)
#define UART_LSR_THRE 0x20
#define UART_IER (GUEST_SERIAL_PORT + 1)
#define UART_LCR (GUEST_SERIAL_PORT + 3)
#define UART_POLLS 10000 /* a missing or stuck UART costs bounded time */

#define REAL_CS_BASE 0xffff0000
/* Offset of a ROM symbol in the reset code segment, for real-mode access. */
#define REAL(sym) ((sym) - REAL_CS_BASE)

/* The code indexes per-vCPU areas with shifts: keep guest.h in step. */
.if GUEST_STACK0_SIZE != (1 << 10) || GUEST_STACK3_SIZE != (1 << 12)
.error "stack sizes changed: fix the shifts in lm64_start"
.endif
.if GUEST_BOOT_TSS_SIZE != (1 << 7) || GUEST_PERCPU_SIZE != (1 << 8)
.error "TSS or per-CPU slot size changed: fix the shifts"
.endif
.if GDT_SIZE > GUEST_BOOT_READY || GUEST_BOOT_IDT + GUEST_IDT_VECTORS * 16 > GUEST_BOOT_TSS
.error "boot data page: GDT or IDT overlaps what follows"
.endif
.if GUEST_PERCPU_GPA + GUEST_MAX_CPUS * GUEST_PERCPU_SIZE > GUEST_IOBITMAP_GPA || \
	GUEST_IOBITMAP_GPA + GUEST_IOBITMAP_SIZE >= GUEST_STACK0_GPA
.error "per-CPU data, I/O bitmap and ring-0 stacks overlap"
.endif
.if GUEST_BOOT_TSS + GUEST_MAX_CPUS * GUEST_BOOT_TSS_SIZE > 0x1000
.error "boot data page: TSSes do not fit"
.endif

	.section .text, "ax"

/* ---------------------------------------------------------------- 16-bit */
	.code16
real_start:
	cld
	xorl %eax, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss

	/* The initial APIC ID is the vCPU index (kvmfs numbers them 0..N-1). */
	movl $1, %eax
	cpuid
	shrl $24, %ebx
cpu_index_known:                /* (the test pretends to be vCPU 1 here) */
	cmpl $GUEST_MAX_CPUS, %ebx
	jae park16
	testl %ebx, %ebx
	jnz ap_wait16

	/*
	 * vCPU 0.  Clear the ready flag first: after a reset without a RAM
	 * wipe it may still be set, and the others must not go ahead before
	 * this boot's tables exist (stale ones would be the same, but the GDT
	 * copy below is about to be rewritten under them).
	 */
	movl $0, BOOT(GUEST_BOOT_READY)
	/* The GDT lives in RAM: loading TR and segments writes busy/accessed
	 * bits into it, and the ROM must never be written. */
	movw $REAL(gdt_template), %si
	movw $BOOT(GUEST_BOOT_GDT), %di
	movw $(gdt_template_end - gdt_template) / 2, %cx
	rep movsw %cs:(%si), %es:(%di)
	jmp enter_pm16

ap_wait16:
	/* Other vCPUs start here at the same time as vCPU 0 (no SIPI under
	 * kvmfs) and wait until the GDT and page tables are in RAM. */
	pause
	cmpl $GUEST_BOOT_READY_MAGIC, BOOT(GUEST_BOOT_READY)
	jne ap_wait16

enter_pm16:
	lgdtl %cs:REAL(gdt_pointer)
	movl %cr0, %eax
	/* Reset leaves caching disabled (CD, NW); the workload wants it on. */
	andl $~(CR0_CD | CR0_NW), %eax
	orl $CR0_PE, %eax
	movl %eax, %cr0
	/* A far jump is what actually switches to the 32-bit code segment; it
	 * also leaves the 0xffff0000-based reset segment behind. */
	ljmpl $SEL_CODE32, $pm32_start

park16:
	/* More vCPUs than the memory map has room for: stay out of the way. */
	cli
	hlt
	jmp park16

/* ---------------------------------------------------------------- 32-bit */
	.code32
pm32_start:
	movw $SEL_DATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw %ax, %fs
	movw %ax, %gs
	testl %ebx, %ebx
	jnz pm32_common

	/*
	 * vCPU 0 reads the RAM layout from the bytes QEMU (and kvmfs) set in
	 * the RTC CMOS for SeaBIOS.  Only vCPU 0 touches the CMOS index port,
	 * so there is no race on it.
	 */
.macro CMOS_READ index
	movb $(\index | CMOS_NMI_OFF), %al
	outb %al, $CMOS_INDEX
	inb $CMOS_DATA, %al
.endm
	/* Low RAM: 16 MiB + [0x35:0x34] * 64 KiB, or, when that is 0 (less
	 * than 16 MiB of RAM), 1 MiB + [0x31:0x30] KiB. */
	CMOS_READ 0x35
	movb %al, %ah
	CMOS_READ 0x34
	movzwl %ax, %eax
	xorl %edx, %edx
	testl %eax, %eax
	jz 1f
	shll $16, %eax
	addl $0x1000000, %eax
	adcl $0, %edx   /* 0xffff units + 16 MiB just exceeds 32 bits */
	jmp 2f
1:	CMOS_READ 0x31
	movb %al, %ah
	CMOS_READ 0x30
	movzwl %ax, %eax
	shll $10, %eax
	addl $0x100000, %eax
2:	movl %eax, BOOT(GUEST_BOOT_LOW_RAM)
	movl %edx, BOOT(GUEST_BOOT_LOW_RAM) + 4

	/* High RAM: [0x5d:0x5c:0x5b] * 64 KiB at 4G. */
	CMOS_READ 0x5d
	movzbl %al, %ecx
	shll $16, %ecx
	CMOS_READ 0x5c
	movb %al, %ch
	CMOS_READ 0x5b
	movb %al, %cl
	/* Only GUEST_MAX_GIB of guest-physical space have page directories:
	 * ignore RAM beyond that rather than fault on it. */
	cmpl $((GUEST_MAX_GIB - 4) << 14), %ecx
	jbe 3f
	movl $((GUEST_MAX_GIB - 4) << 14), %ecx
3:	movl %ecx, %eax
	shll $16, %eax
	movl %ecx, %edx
	shrl $16, %edx
	movl %eax, BOOT(GUEST_BOOT_HIGH_RAM)
	movl %edx, BOOT(GUEST_BOOT_HIGH_RAM) + 4

	/* Map 4 GiB (low RAM, PCI hole and this ROM, which ring 3 executes
	 * from) plus every GiB that has RAM above 4G: 16384 units per GiB. */
	addl $16383, %ecx
	shrl $14, %ecx
	addl $4, %ecx
	movl %ecx, BOOT(GUEST_BOOT_MAP_GIB)
	movl %ecx, %esi         /* GiB to map, kept for the PD loop */

	CMOS_READ 0x5f
	movzbl %al, %eax
	incl %eax
	movl %eax, BOOT(GUEST_BOOT_NCPUS)

	/*
	 * Identity map, 2 MiB pages.  PML4 and PDPT are zeroed as a whole
	 * (one rep stosl) so that nothing stale beyond the mapped GiBs
	 * survives a reset; the PDs need no zeroing as every entry of every
	 * mapped GiB is written.  This loop is the bulk of all ring-0 work:
	 * 6 instructions per 2 MiB, about 24000 for 8 GiB.
	 */
	movl $GUEST_PML4_GPA, %edi
	movl $(2 * 4096 / 4), %ecx /* PML4 and PDPT are adjacent pages */
	xorl %eax, %eax
	rep stosl
	movl $(GUEST_PDPT_GPA | PTE_TABLE), GUEST_PML4_GPA

	movl $GUEST_PDPT_GPA, %edi
	movl $(GUEST_PD_GPA | PTE_TABLE), %eax
	movl %esi, %ecx
4:	movl %eax, (%edi)
	addl $8, %edi
	addl $4096, %eax
	loop 4b

	movl $GUEST_PD_GPA, %edi
	movl $PTE_2M, %eax
	xorl %edx, %edx
	movl %esi, %ecx
	shll $9, %ecx           /* 512 PDEs per GiB */
5:	movl %eax, (%edi)
	movl %edx, 4(%edi)
	addl $8, %edi
	addl $0x200000, %eax
	adcl $0, %edx           /* PDE address bits above 4G */
	loop 5b

	/*
	 * The IDT: gate i -> fault_stubs + i * FAULT_STUB_SIZE, a 64-bit
	 * interrupt gate in SEL_CODE64 (offset bits 63:32 are 0: the ROM is
	 * below 4G).  Every exception thus reaches fault_common, which reports
	 * it, rather than becoming a triple fault.
	 */
	movl $BOOT(GUEST_BOOT_IDT), %edi
	movl $fault_stubs, %eax
	movl $GUEST_IDT_VECTORS, %ecx
6:	movl %eax, %edx
	andl $0xffff, %edx
	orl $(SEL_CODE64 << 16), %edx
	movl %edx, (%edi)
	movl %eax, %edx
	andl $0xffff0000, %edx
	orl $GATE_KERNEL, %edx
	movl %edx, 4(%edi)
	movl $0, 8(%edi)
	movl $0, 12(%edi)
	addl $FAULT_STUB_SIZE, %eax
	addl $16, %edi
	loop 6b
	orl $(GATE_USER ^ GATE_KERNEL), BOOT(GUEST_BOOT_IDT) + 3 * 16 + 4
	orl $(GATE_USER ^ GATE_KERNEL), BOOT(GUEST_BOOT_IDT) + 4 * 16 + 4

	/*
	 * The TSSes (RSP0 and iomap_base are filled per vCPU in long mode)
	 * and the I/O bitmap they all share: every port allowed, then the
	 * 0xff byte the CPU reads past the last one.
	 */
	movl $BOOT(GUEST_BOOT_TSS), %edi
	movl $(GUEST_MAX_CPUS * GUEST_BOOT_TSS_SIZE / 4), %ecx
	xorl %eax, %eax
	rep stosl
	movl $GUEST_IOBITMAP_GPA, %edi
	movl $(GUEST_IOBITMAP_SIZE / 4), %ecx
	rep stosl
	movb $0xff, GUEST_IOBITMAP_GPA + GUEST_IOBITMAP_SIZE

	/* The layout and tables are complete: let the other vCPUs go (x86
	 * stores are ordered, so they see everything written above). */
	movl $GUEST_BOOT_READY_MAGIC, BOOT(GUEST_BOOT_READY)

pm32_common:
	/* Long mode needs PAE paging with EFER.LME set before paging is
	 * enabled; turning on CR0.PG then activates it directly. */
	movl %cr4, %eax
	orl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $GUEST_PML4_GPA, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl %cr0, %eax
	orl $CR0_PG, %eax
	movl %eax, %cr0
	/* Still running 32-bit compatibility code: a far jump to the 64-bit
	 * code segment makes it 64-bit mode. */
	ljmpl $SEL_CODE64, $lm64_start

/* ---------------------------------------------------------------- 64-bit */
	.code64
lm64_start:
	/* ebx = vCPU index, 0 <= ebx < GUEST_MAX_CPUS */
	movl %ebx, %eax
	incl %eax
	shll $10, %eax          /* GUEST_STACK0_SIZE */
	addl $GUEST_STACK0_GPA, %eax
	movl %eax, %esp         /* own ring-0 stack top */

	/*
	 * Own TSS: RSP0 for every entry to ring 0 (an exception from ring 3),
	 * and the shared I/O bitmap, through which ring 3 reaches its ports.
	 * Each vCPU needs its own descriptor because LTR marks it busy.  TSS
	 * bases are below 64 KiB and limits below 64 KiB too, which keeps the
	 * descriptor a shift and two ors: limit[15:0], base[15:0] at bit 16,
	 * type 0x89 (present, available 64-bit TSS); the second quadword
	 * (base[63:32]) is 0.  The limit covers the bitmap's closing 0xff
	 * byte, which the CPU reads for the highest ports.
	 */
	movl %ebx, %edi
	shll $7, %edi           /* GUEST_BOOT_TSS_SIZE */
	addl $BOOT(GUEST_BOOT_TSS), %edi
	movq %rax, 4(%rdi)      /* RSP0 */
	movl $GUEST_IOBITMAP_GPA, %ecx
	subl %edi, %ecx
	movw %cx, 102(%rdi)     /* iomap_base */
	addl $GUEST_IOBITMAP_SIZE, %ecx /* limit */
	movq %rdi, %rax
	shlq $16, %rax
	orq %rcx, %rax
	movabsq $0x0000890000000000, %rcx
	orq %rcx, %rax
	movl %ebx, %edi
	shll $4, %edi
	addl $SEL_TSS0, %edi
	movq %rax, BOOT(GUEST_BOOT_GDT)(%rdi)
	movq $0, BOOT(GUEST_BOOT_GDT) + 8(%rdi)
	ltr %di
	lidt idt_pointer(%rip)

	/*
	 * To ring 3 with IRETQ, which every host runs (KVM's emulator on
	 * kvm_pvm included): CS/SS with RPL 3, the ring-3 stack, IOPL 0 and
	 * IF 0 - nothing in ring 3 needs interrupts or IOPL.
	 */
	movl %ebx, %ecx
	incl %ecx
	shll $12, %ecx          /* GUEST_STACK3_SIZE */
	addl $GUEST_STACK3_GPA, %ecx
	pushq $(SEL_UDATA | 3)
	pushq %rcx
	pushq $RFLAGS_RING3
	pushq $(SEL_UCODE64 | 3)
	leaq ring3_start(%rip), %rax
	pushq %rax
	iretq

/*
 * Exceptions.  One 16-byte stub per vector pushes a 0 where the CPU pushes
 * no error code, then the vector, so that fault_common sees one frame
 * shape.  It runs in ring 0 (emulated on kvm_pvm: a few dozen
 * instructions, once) and hands the frame to the VMM in registers (the
 * order guest.h gives), which stops the VM and names the fault; should the
 * port be unassigned (QEMU), the vCPU halts here, in ring 0, where HLT is
 * allowed.
 */
.macro FAULT_STUB vec
fault_stub_\vec:
	.if !(\vec == 8 || (\vec >= 10 && \vec <= 14) || \vec == 17 || \vec == 21 || \vec == 29 || \vec == 30)
	pushq $0
	.endif
	pushq $\vec
	jmp fault_common
	/* Fails to assemble ("backwards") should a stub outgrow its slot. */
	.org fault_stub_\vec + FAULT_STUB_SIZE, 0xcc
.endm
	.balign FAULT_STUB_SIZE, 0xcc
fault_stubs:
	.irp vec, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	FAULT_STUB \vec
	.endr

fault_common:
	movq (%rsp), %rax       /* vector */
	movq 8(%rsp), %rbx      /* error code */
	movq 16(%rsp), %rcx     /* RIP */
	movq 24(%rsp), %rsi     /* CS */
	movq 32(%rsp), %rdi     /* RFLAGS */
	movq 40(%rsp), %r8      /* RSP */
	movq 48(%rsp), %r9      /* SS */
	movq %cr2, %r10
	movl $GUEST_PORT_FAULT, %edx
	outl %eax, %dx
1:	cli
	hlt
	jmp 1b

/* ---------------------------------------------------------- 64-bit ring 3 */
/*
 * From here on the code runs natively.  Registers kept for the whole
 * workload:
 *   rbx  vCPU index          r12  number of low-RAM records
 *   r13  first record index  r14  end of this vCPU's share (exclusive)
 *   r15  per-CPU slot        rbp  pass number
 */
ring3_start:
	movl $GUEST_PORT_EVENT, %edx
	movl $GUEST_EVENT_RING3, %eax
	outl %eax, %dx

	/* Records: one per MiB that has any RAM in it, low RAM first. */
	movq BOOT(GUEST_BOOT_LOW_RAM), %r12
	addq $0xfffff, %r12
	shrq $20, %r12
	movq BOOT(GUEST_BOOT_HIGH_RAM), %rcx
	addq $0xfffff, %rcx
	shrq $20, %rcx
	addq %r12, %rcx         /* total records */

	/* Share i of N is [i*T/N, (i+1)*T/N): contiguous, sizes within 1. */
	movl BOOT(GUEST_BOOT_NCPUS), %r8d
	xorl %r13d, %r13d
	xorl %r14d, %r14d
	cmpl %r8d, %ebx
	jae 1f                  /* a vCPU the CMOS does not count: no share */
	movq %rcx, %rax
	mulq %rbx
	divq %r8
	movq %rax, %r13
	leaq 1(%rbx), %rax
	mulq %rcx
	divq %r8
	movq %rax, %r14
1:
	movl %ebx, %r15d
	shll $8, %r15d          /* GUEST_PERCPU_SIZE */
	addl $GUEST_PERCPU_GPA, %r15d
	xorl %ebp, %ebp
	movq %rbp, GUEST_PERCPU_PASS(%r15)
	movq %rbp, GUEST_PERCPU_HEARTBEAT(%r15)

	testl %ebx, %ebx
	jnz pass_loop
	call console_init
	call print_banner
	/* Status page: counters and size first, magic last, so a host that
	 * sees the magic sees a consistent page. */
	movq %rbp, GUEST_STATUS_GPA + GUEST_STATUS_PASS
	movq %rbp, GUEST_STATUS_GPA + GUEST_STATUS_HEARTBEAT
	movq BOOT(GUEST_BOOT_LOW_RAM), %rax
	addq BOOT(GUEST_BOOT_HIGH_RAM), %rax
	movq %rax, GUEST_STATUS_GPA + GUEST_STATUS_RAM_SIZE
	movq status_magic(%rip), %rax
	movq %rax, GUEST_STATUS_GPA

pass_loop:
	incq %rbp
	movq %rbp, GUEST_PERCPU_PASS(%r15)

	/* Rewrite this vCPU's share of records. */
	movq record_magic(%rip), %rsi
	movabsq $GUEST_HIGH_RAM_GPA, %r9
	movq %r13, %rcx
2:	cmpq %r14, %rcx
	jae 4f
	movq %rcx, %rdi
	subq %r12, %rdi
	jae 3f                  /* index >= low records: above 4G */
	movq %rcx, %rdi
	shlq $20, %rdi
	jmp 5f
3:	shlq $20, %rdi
	addq %r9, %rdi
5:	movq %rsi, (%rdi)
	movq %rdi, GUEST_RECORD_GPA(%rdi)
	movq %rbp, GUEST_RECORD_PASS(%rdi)
	incq %rcx
	jmp 2b
4:
	incq GUEST_PERCPU_HEARTBEAT(%r15)
	testl %ebx, %ebx
	jnz 6f

	movq %rbp, GUEST_STATUS_GPA + GUEST_STATUS_PASS
	incq GUEST_STATUS_GPA + GUEST_STATUS_HEARTBEAT
	call check_mailbox
	leaq str_pass(%rip), %rsi
	call puts
	movq %rbp, %rax
	call putdec
	movl $'\n', %edi
	call putc
	movl $GUEST_PORT_EVENT, %edx
	movl $GUEST_EVENT_PASS, %eax
	outl %eax, %dx
6:
	/* Under kvmfs this sleeps; under QEMU the port is unassigned and the
	 * loop simply runs flat out. */
	movl $GUEST_PORT_DELAY, %edx
	movl $GUEST_PASS_DELAY_MS, %eax
	outl %eax, %dx
	jmp pass_loop

/* ------------------------------------------------------ ring-3 helpers */
/* These clobber rax, rcx, rdx, rsi, rdi, r8-r11 only. */

console_init:
	/* 8N1 and no interrupts; the baud divisor is irrelevant to virtual
	 * UARTs, so DLAB is never touched. */
	movl $UART_LCR, %edx
	movb $0x03, %al
	outb %al, %dx
	movl $UART_IER, %edx
	xorl %eax, %eax
	outb %al, %dx
	ret

/* putc: byte in dil. */
putc:
	movl $UART_LSR, %edx
	movl $UART_POLLS, %ecx
1:	inb %dx, %al
	testb $UART_LSR_THRE, %al
	jnz 2f
	pause
	decl %ecx
	jnz 1b
2:	movl $GUEST_SERIAL_PORT, %edx
	movl %edi, %eax
	outb %al, %dx
	ret

/* puts: NUL-terminated string at rsi. */
puts:
	movzbl (%rsi), %edi
	testl %edi, %edi
	jz 1f
	pushq %rsi
	call putc
	popq %rsi
	incq %rsi
	jmp puts
1:	ret

/* putdec: unsigned rax in decimal. */
putdec:
	subq $32, %rsp
	leaq 31(%rsp), %rsi
	movb $0, (%rsi)
	movl $10, %ecx
1:	xorl %edx, %edx
	divq %rcx
	addb $'0', %dl
	decq %rsi
	movb %dl, (%rsi)
	testq %rax, %rax
	jnz 1b
	call puts
	addq $32, %rsp
	ret

/* "kvmfs guest: N MiB RAM (L MiB low, H MiB high), C cpus" */
print_banner:
	leaq str_banner1(%rip), %rsi
	call puts
	movq BOOT(GUEST_BOOT_LOW_RAM), %rax
	addq BOOT(GUEST_BOOT_HIGH_RAM), %rax
	shrq $20, %rax
	call putdec
	leaq str_banner2(%rip), %rsi
	call puts
	movq BOOT(GUEST_BOOT_LOW_RAM), %rax
	shrq $20, %rax
	call putdec
	leaq str_banner3(%rip), %rsi
	call puts
	movq BOOT(GUEST_BOOT_HIGH_RAM), %rax
	shrq $20, %rax
	call putdec
	leaq str_banner4(%rip), %rsi
	call puts
	movl BOOT(GUEST_BOOT_NCPUS), %eax
	call putdec
	leaq str_banner5(%rip), %rsi
	jmp puts

/*
 * Mailbox.  The text is copied to the stack first: that bounds it to
 * GUEST_MAILBOX_TEXT_MAX bytes whatever the host wrote, gives one snapshot
 * to both echo and parse, and lets control bytes be replaced so that one
 * command is always one console line.
 */
#define MB_SEQ 208 /* stack frame: text[0..200], then the seq */
check_mailbox:
	movq mailbox_magic(%rip), %rax
	cmpq %rax, GUEST_MAILBOX_GPA
	jne 9f
	movq GUEST_MAILBOX_GPA + GUEST_MAILBOX_SEQ, %rax
	cmpq %rax, GUEST_MAILBOX_ACK_GPA
	je 9f
	subq $216, %rsp
	movq %rax, MB_SEQ(%rsp)

	movl $GUEST_MAILBOX_GPA + GUEST_MAILBOX_TEXT, %esi
	xorl %ecx, %ecx
1:	movzbl (%rsi,%rcx), %eax
	testl %eax, %eax
	jz 3f
	cmpl $0x20, %eax
	jae 2f
	movl $' ', %eax         /* e.g. a trailing newline: still parses */
2:	cmpl $0x7f, %eax
	jb 4f
	movl $'?', %eax
4:	movb %al, (%rsp,%rcx)
	incl %ecx
	cmpl $GUEST_MAILBOX_TEXT_MAX, %ecx
	jb 1b
3:	movb $0, (%rsp,%rcx)

	leaq str_mailbox(%rip), %rsi
	call puts
	movq MB_SEQ(%rsp), %rax
	call putdec
	leaq str_colon(%rip), %rsi
	call puts
	movq %rsp, %rsi
	call puts
	movl $'\n', %edi
	call putc

	movq %rsp, %rsi
	movq MB_SEQ(%rsp), %r11
	call run_dirty
	movq %rsp, %rsi
	movq MB_SEQ(%rsp), %r11
	call run_write
	movq %rsp, %rsi
	movq MB_SEQ(%rsp), %r11
	call run_fault

	/* The ack goes last: once the host sees it, the command is done. */
	movq MB_SEQ(%rsp), %rax
	movq %rax, GUEST_MAILBOX_ACK_GPA
	addq $216, %rsp
9:	ret

/*
 * ram_bounds: where guest RAM ends, for the walks of run_dirty and
 * run_write: r10 = the end of low RAM, rcx = GUEST_HIGH_RAM_GPA, rdi = the
 * end of RAM above 4G, rax = the end of the walk (of high RAM if there is
 * any, else of low RAM).
 */
ram_bounds:
	movq BOOT(GUEST_BOOT_LOW_RAM), %r10
	movq BOOT(GUEST_BOOT_HIGH_RAM), %rdi
	movabsq $GUEST_HIGH_RAM_GPA, %rcx
	addq %rcx, %rdi
	movq %r10, %rax
	cmpq %rcx, %rdi
	je 1f
	movq %rdi, %rax
1:	ret

/*
 * run_dirty: if the text at rsi is "dirty 0xGPA N", stamp "KVMFSDRT" and
 * the seq (r11) at the start of each of the N pages from GPA that are RAM.
 * Anything that does not parse is left alone: it was only a message.
 */
run_dirty:
	leaq str_dirty(%rip), %rdi
	call skip_word
	jnz 9f
	call parse_gpa_count
	jnz 9f

	/*
	 * Stamp the pages.  The walk stops at the end of RAM above 4G (or of
	 * low RAM if there is none), which bounds it whatever N says.
	 */
	andq $~0xfff, %r8
	call ram_bounds
	movq %rax, %rdx                         /* end of the walk */
	movq dirty_magic(%rip), %rax
10:	testq %r9, %r9
	jz 9f
	cmpq %rdx, %r8
	jae 9f
	cmpq $GUEST_DIRTY_MIN_GPA, %r8
	jb 11f
	cmpq %r10, %r8
	jb 12f                  /* low RAM */
	cmpq %rcx, %r8
	jb 11f                  /* the hole below 4G */
	cmpq %rdi, %r8
	jae 11f
12:	movq %rax, (%r8)
	movq %r11, GUEST_DIRTY_SEQ(%r8)
11:	addq $4096, %r8
	decq %r9
	jmp 10b
9:	ret

/*
 * run_fault: if the text at rsi is "fault N" and fault_table has vector N,
 * acknowledge the command (seq in r11) - the fault ends the guest, so the
 * ack cannot come last - and raise the exception, here in ring 3.
 * Anything else is left alone.
 */
run_fault:
	leaq str_fault(%rip), %rdi
	call skip_word
	jnz 9f
	call skip_spaces
	jz 9f
	call parse_dec
	jz 9f
	movq %rax, %r8
	call skip_spaces
	cmpb $0, (%rsi)
	jne 9f
	leaq fault_table(%rip), %rdi
1:	cmpq $-1, (%rdi)
	je 9f
	cmpq %r8, (%rdi)
	je 2f
	addq $16, %rdi
	jmp 1b
2:	movq %r11, GUEST_MAILBOX_ACK_GPA
	jmp *8(%rdi)

/* The faulting instructions, one per vector fault_table offers. */
fault_de:
	xorl %ecx, %ecx
fault_de_insn:
	divl %ecx
	jmp 9f
fault_bp_insn:
	int3                    /* a trap: the reported RIP is the next one */
	jmp 9f
fault_ud_insn:
	ud2
fault_gp_insn:
	cli                     /* #GP(0): IOPL is 0 */
	jmp 9f
fault_pf:
	movabsq $GUEST_FAULT_VA, %rax
fault_pf_insn:
	movq (%rax), %rax       /* #PF(4): a user read of a page not present */
9:	ret

/*
 * parse_gpa_count: the text at rsi must be " 0xGPA N" - blanks, the hex
 * GPA, blanks, decimal N, optional blanks, the end.  Then r8 = GPA, r9 = N
 * and ZF is set; otherwise ZF is clear.  Clobbers rax, rcx, rdx, rsi.
 */
parse_gpa_count:
	call skip_spaces
	jz 9f                   /* the command word must be followed by a space */
	cmpb $'0', (%rsi)
	jne 9f
	movzbl 1(%rsi), %eax
	orl $0x20, %eax         /* 'X' -> 'x' */
	cmpl $'x', %eax
	jne 9f
	addq $2, %rsi
	/* hex GPA -> r8 */
	xorl %r8d, %r8d
	xorl %ecx, %ecx         /* digits seen */
3:	movzbl (%rsi), %eax
	leal -'0'(%rax), %edx
	cmpl $9, %edx
	jbe 4f
	orl $0x20, %eax
	leal -'a'(%rax), %edx
	cmpl $5, %edx
	ja 5f
	addl $10, %edx
4:	shlq $4, %r8
	orq %rdx, %r8
	incl %ecx
	incq %rsi
	jmp 3b
5:	testl %ecx, %ecx
	jz 9f
	call skip_spaces
	jz 9f
	call parse_dec          /* N -> r9 */
	jz 9f
	movq %rax, %r9
	call skip_spaces
	cmpb $0, (%rsi)         /* ZF set: the whole text parsed */
	ret
9:	movl $1, %eax
	testl %eax, %eax        /* ZF clear */
	ret

/*
 * run_write: if the text at rsi is "write 0xGPA N", store to the N MiB
 * from GPA as guest.h says (each u64 its own GPA | seq << 48, seq in r11),
 * skipping pages that are not RAM, those below 1 MiB and the first page
 * of every MiB (its record), and leave the TSC cycles and the bytes
 * stored at GUEST_WRITE_CYCLES_GPA / GUEST_WRITE_BYTES_GPA for the host.
 * Anything that does not parse is left alone.
 */
run_write:
	leaq str_write(%rip), %rdi
	call skip_word
	jnz 9f
	call parse_gpa_count
	jnz 9f
	pushq %rbx
	pushq %r12
	pushq %r13
	andq $~0xfff, %r8
	movq %r9, %rax
	shrq $44, %rax
	jz 1f
	movq $-1, %r9           /* more MiB than pages can count: the walk bounds it */
	jmp 2f
1:	shlq $8, %r9            /* MiB -> pages */
2:	movq %r11, %r12
	shlq $GUEST_WRITE_SEQ_SHIFT, %r12
	xorl %r13d, %r13d       /* bytes stored */
	call ram_bounds
	movq %rax, %rbx                         /* end of the walk */
	/* rdtsc once all before it has executed (lfence), and at the end
	 * once every store is globally visible (mfence; lfence). */
3:	lfence
	rdtsc
	shlq $32, %rdx
	orq %rax, %rdx
	pushq %rdx              /* the start TSC */
10:	testq %r9, %r9
	jz 17f
	cmpq %rbx, %r8
	jae 17f
	cmpq $GUEST_DIRTY_MIN_GPA, %r8
	jb 16f
	testl $0xfffff, %r8d
	jz 16f                  /* the page of a record */
	cmpq %r10, %r8
	jb 13f                  /* low RAM */
	cmpq %rcx, %r8
	jb 16f                  /* the hole below 4G */
	cmpq %rdi, %r8
	jae 16f
13:	movq %r8, %rax
	orq %r12, %rax
	movq %r8, %rsi
	movl $4096 / 32, %edx
14:	movq %rax, (%rsi)
	addq $8, %rax
	movq %rax, 8(%rsi)
	addq $8, %rax
	movq %rax, 16(%rsi)
	addq $8, %rax
	movq %rax, 24(%rsi)
	addq $8, %rax
	addq $32, %rsi
	decl %edx
	jnz 14b
	addq $4096, %r13
16:	addq $4096, %r8
	decq %r9
	jmp 10b
17:	mfence
	lfence
	rdtsc
	shlq $32, %rdx
	orq %rax, %rdx
	popq %rax
	subq %rax, %rdx
	movq %rdx, GUEST_WRITE_CYCLES_GPA
	movq %r13, GUEST_WRITE_BYTES_GPA
	popq %r13
	popq %r12
	popq %rbx
9:	ret

/*
 * skip_word: if the text at rsi begins with the NUL-terminated word at
 * rdi, advance rsi past it and set ZF; otherwise clear ZF, rsi unchanged.
 */
skip_word:
	movq %rsi, %rax
1:	movzbl (%rdi), %ecx
	testl %ecx, %ecx
	jz 2f                   /* the whole word matched: ZF is set */
	cmpb (%rsi), %cl
	jne 3f
	incq %rsi
	incq %rdi
	jmp 1b
3:	movq %rax, %rsi         /* ZF stays clear from the cmpb */
2:	ret

/* parse_dec: a decimal number at rsi -> rax, rsi past it; ZF set if no digit. */
parse_dec:
	xorl %eax, %eax
	xorl %ecx, %ecx         /* digits seen */
1:	movzbl (%rsi), %edx
	subl $'0', %edx
	cmpl $9, %edx
	ja 2f
	imulq $10, %rax
	addq %rdx, %rax
	incl %ecx
	incq %rsi
	jmp 1b
2:	testl %ecx, %ecx
	ret

/* skip_spaces: advance rsi over blanks; ZF set if there were none. */
skip_spaces:
	movq %rsi, %rax
1:	cmpb $' ', (%rsi)
	jne 2f
	incq %rsi
	jmp 1b
2:	cmpq %rax, %rsi
	ret

/* ---------------------------------------------------------------- data */
	.section .rodata, "a"
	.balign 8
/* TSS slots follow in RAM only.  Accessed bits are preset so that loading
 * a segment writes nothing. */
gdt_template:
	.quad 0
	.quad 0x00cf9b000000ffff /* 0x08 SEL_CODE32 */
	.quad 0x00cf93000000ffff /* 0x10 SEL_DATA */
	.quad 0x00af9b000000ffff /* 0x18 SEL_CODE64 */
	.quad 0                  /* 0x20 unused */
	.quad 0x00affb000000ffff /* 0x28 SEL_UCODE64 */
	.quad 0x00cff3000000ffff /* 0x30 SEL_UDATA */
gdt_template_end:
gdt_pointer:
	.word GDT_SIZE - 1
	.long BOOT(GUEST_BOOT_GDT)
	.balign 8
idt_pointer:
	.word GUEST_IDT_VECTORS * 16 - 1
	.quad BOOT(GUEST_BOOT_IDT)

	.balign 8
record_magic:	.ascii GUEST_RECORD_MAGIC
status_magic:	.ascii GUEST_STATUS_MAGIC
mailbox_magic:	.ascii GUEST_MAILBOX_MAGIC
dirty_magic:	.ascii GUEST_DIRTY_MAGIC

str_banner1:	.asciz "kvmfs guest: "
str_banner2:	.asciz " MiB RAM ("
str_banner3:	.asciz " MiB low, "
str_banner4:	.asciz " MiB high), "
str_banner5:	.asciz " cpus\n"
str_pass:	.asciz "pass "
str_mailbox:	.asciz "mailbox "
str_colon:	.asciz ": "
str_dirty:	.asciz "dirty"
str_write:	.asciz "write"
str_fault:	.asciz "fault"

/* Vector, then where ring 3 raises it; -1 ends the table. */
	.balign 8
fault_table:
	.quad 0, fault_de
	.quad 3, fault_bp_insn
	.quad 6, fault_ud_insn
	.quad 13, fault_gp_insn
	.quad 14, fault_pf
	.quad -1

/* --------------------------------------------------------- reset vector */
	.section .resetvector, "ax"
	.code16
	.globl reset_vector
reset_vector:
	/* CS base 0xffff0000, IP 0xfff0: a near jump stays in this segment,
	 * whose 64 KiB hold all of the firmware. */
	cli
	jmp real_start
	.balign 16, 0xff
