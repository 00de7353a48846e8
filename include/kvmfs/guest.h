/*
 * guest.h - the built-in guest's ABI: its memory map, its records and the
 * paravirtual ports it talks to.  Shared by the firmware sources
 * (the firmware/ sources, included with __ASSEMBLER__ defined), the VMM and the
 * tests, so that all three agree on every address.
 *
 * Guest-physical map of the first MiB as the built-in guest uses it:
 *
 *   0x00000000  record of MiB 0 (24 bytes, see below)
 *   0x00001000  status page    "KVMFSSTA" u64 pass, u64 heartbeat, u64 RAM size
 *   0x00002000  mailbox        "KVMFSCMD" u64 seq, char text[201] (host writes)
 *   0x00002100  mailbox ack    u64 seq of the last command the guest handled,
 *               then the last "write" command's results (u64 cycles, u64 bytes)
 *   0x00003000  boot data      GDT, IDT, TSS and the RAM layout found in CMOS
 *   0x00004000  per-CPU data   one 256-byte slot per vCPU (pass, heartbeat)
 *   0x00005000  I/O bitmap     8 KiB of zero bits and a 0xff byte: every port
 *               open to ring 3 (the TSS's I/O permission bitmap; see below)
 *   0x00008000  ring-0 stacks  one 1 KiB stack per vCPU, growing down
 *   0x0000c000  PML4, 0x0000d000 PDPT (one page each)
 *   0x00010000  page directories, one 4 KiB page per GiB mapped (2 MiB pages),
 *               up to GUEST_MAX_GIB of guest-physical space
 *   0x00090000  ring-3 stacks  one 4 KiB stack per vCPU, growing down
 *   0x000a0000  (legacy hole: VGA window, option ROM, BIOS)
 *   k * 1 MiB   record of MiB k, for every MiB backed by RAM, below and
 *               above 4G
 *   0xfffc0000  pc.bios: the firmware itself (256 KiB ROM), reset vector at
 *               0xfffffff0
 *
 * Every record is rewritten on every pass by exactly one vCPU: with N vCPUs
 * the list of RAM MiBs (low RAM first, then RAM above 4G) is cut into N
 * contiguous shares, vCPU i rewriting share i.  vCPU 0 also owns the status
 * page, the mailbox and the console.
 *
 * The guest learns the RAM layout from the RTC CMOS, in the bytes QEMU sets
 * for SeaBIOS: 0x34/0x35 RAM between 16 MiB and 4G in 64 KiB units, 0x5b..0x5d
 * RAM above 4G in 64 KiB units, 0x5f number of CPUs - 1.  Its vCPU index is
 * the initial APIC ID from CPUID leaf 1 (EBX[31:24]).
 */
#ifndef KVMFS_GUEST_H
#define KVMFS_GUEST_H

/* Laid out by hand: the assembler reads it too, and tests parse its #defines. */
// clang-format off

#define GUEST_RECORD_MAGIC "KVMFSMEM"
#define GUEST_RECORD_SIZE 24
#define GUEST_RECORD_STRIDE 0x100000 /* one record per MiB */
#define GUEST_RECORD_GPA 8   /* u64: the record's own guest-physical address */
#define GUEST_RECORD_PASS 16 /* u64: pass of the vCPU that last rewrote it */
#define GUEST_HIGH_RAM_GPA 0x100000000 /* where RAM above 4G starts */

#define GUEST_STATUS_GPA 0x1000
#define GUEST_STATUS_MAGIC "KVMFSSTA"
#define GUEST_STATUS_PASS 8       /* u64: pass number of vCPU 0 */
#define GUEST_STATUS_HEARTBEAT 16 /* u64: bumped once per pass */
#define GUEST_STATUS_RAM_SIZE 24  /* u64: RAM bytes the guest found */

#define GUEST_MAILBOX_GPA 0x2000
#define GUEST_MAILBOX_MAGIC "KVMFSCMD"
#define GUEST_MAILBOX_SEQ 8   /* u64, written by the host */
#define GUEST_MAILBOX_TEXT 16 /* NUL-terminated, at most 200 bytes */
#define GUEST_MAILBOX_TEXT_MAX 200
#define GUEST_MAILBOX_ACK_GPA 0x2100 /* u64, written by the guest */
#define GUEST_WRITE_CYCLES_GPA 0x2108 /* u64: TSC cycles of the last "write" */
#define GUEST_WRITE_BYTES_GPA 0x2110  /* u64: bytes the last "write" stored */

#define GUEST_BOOT_GPA 0x3000
/* Offsets in the boot data page. */
#define GUEST_BOOT_GDT 0x000   /* the GDT; its TSS descriptors follow */
#define GUEST_BOOT_READY 0x200 /* u32: GUEST_BOOT_READY_MAGIC once vCPU 0
                                  has built the page tables */
#define GUEST_BOOT_READY_MAGIC 0x59444552
#define GUEST_BOOT_LOW_RAM 0x208  /* u64: RAM bytes at 0 (from CMOS) */
#define GUEST_BOOT_HIGH_RAM 0x210 /* u64: RAM bytes at 4G (from CMOS) */
#define GUEST_BOOT_NCPUS 0x218    /* u32: CMOS 0x5f + 1 */
#define GUEST_BOOT_MAP_GIB 0x21c  /* u32: GiB identity-mapped from 0 */
#define GUEST_BOOT_IDT 0x400      /* 32 gates: every exception is reported */
#define GUEST_IDT_VECTORS 32
#define GUEST_BOOT_TSS 0x800      /* one 64-bit TSS per vCPU */
#define GUEST_BOOT_TSS_SIZE 0x80
/*
 * Ring 3 does its port I/O through the TSS's I/O permission bitmap, not
 * IOPL: hosts whose KVM emulates ring 0 (kvm_pvm) never let IOPL reach
 * ring 3.  Every TSS points at this one bitmap (iomap_base = bitmap - TSS
 * base) and its limit covers the 0xff byte that ends it.
 */
#define GUEST_IOBITMAP_GPA 0x5000
#define GUEST_IOBITMAP_SIZE 0x2000 /* one bit per port, 0 = allowed */
#define GUEST_PERCPU_GPA 0x4000
#define GUEST_PERCPU_SIZE 256
#define GUEST_PERCPU_PASS 0      /* u64: the vCPU's pass number */
#define GUEST_PERCPU_HEARTBEAT 8 /* u64: bumped once per pass */
#define GUEST_STACK0_GPA 0x8000
#define GUEST_STACK0_SIZE 0x400
#define GUEST_PML4_GPA 0xc000
#define GUEST_PDPT_GPA 0xd000
#define GUEST_PD_GPA 0x10000
#define GUEST_MAX_GIB 128 /* PDs fill 0x10000..0x90000 */
#define GUEST_STACK3_GPA 0x90000
#define GUEST_STACK3_SIZE 0x1000
#define GUEST_MAX_CPUS 16

/*
 * Paravirtual ports (unused by QEMU's PC, so the same firmware runs there
 * too, where they read as all-ones and writes vanish).
 *   GUEST_PORT_DELAY  outl N: "pause this vCPU for N ms" - the VMM sleeps
 *                     (or returns at once when told to run flat out);
 *   GUEST_PORT_EVENT  outl code: progress markers, see GUEST_EVENT_*.
 *   GUEST_PORT_FAULT  outl vector: an exception reached the firmware's IDT.
 *                     Written from the ring-0 handler with the CPU's frame
 *                     in registers (below); the VMM stops the VM and names
 *                     the fault.  The handler then halts in ring 0.
 */
#define GUEST_PORT_DELAY 0xd00
#define GUEST_PORT_EVENT 0xd04
#define GUEST_PORT_FAULT 0xd08
#define GUEST_EVENT_RING3 1    /* a vCPU entered its ring-3 workload */
#define GUEST_EVENT_PASS 2     /* vCPU 0 finished a pass */
#define GUEST_PASS_DELAY_MS 100 /* pause between passes, unless flat out */

/*
 * Registers at the GUEST_PORT_FAULT write: eax the vector, rbx the error
 * code (0 for vectors without one), and the CPU's exception frame - rcx
 * RIP (of the faulting instruction; after it, for traps such as #BP), rsi
 * CS, rdi RFLAGS, r8 RSP, r9 SS - and r10 CR2.
 */

/*
 * Mailbox commands the guest understands (anything else is only echoed):
 *   "dirty 0xGPA N"   write "KVMFSDRT" + seq at the start of each of the N
 *                     4 KiB pages from GPA (RAM only), then acknowledge.
 *                     GPA is hex, N decimal; pages below 1 MiB (the
 *                     firmware's own data and the legacy hole) are skipped.
 *   "write 0xGPA N"   store to the N MiB from GPA (rounded down to a page):
 *                     every u64 of every page that is RAM, at or above
 *                     1 MiB and not the first page of a MiB (which holds
 *                     that MiB's record) gets its own GPA | seq << 48
 *                     (GUEST_WRITE_SEQ_SHIFT).  The walk stops at the end
 *                     of RAM.  Then the TSC cycles the stores took (rdtsc
 *                     around the loop, fenced) go to GUEST_WRITE_CYCLES_GPA
 *                     and the bytes stored to GUEST_WRITE_BYTES_GPA, and
 *                     the command is acknowledged: the guest's memory-write
 *                     throughput, for `make bench` (dirty logging off vs
 *                     on).  GPA is hex, N decimal.
 *   "fault N"         acknowledge, then raise exception N in ring 3, on
 *                     purpose: 0 (#DE, div by zero), 3 (#BP, int3), 6 (#UD,
 *                     ud2), 13 (#GP(0), cli without IOPL) or 14 (#PF(4), a
 *                     read of GUEST_FAULT_VA, which is never mapped).  A test
 *                     instrument for the fault path; other N are ignored.
 */
#define GUEST_DIRTY_MAGIC "KVMFSDRT"
#define GUEST_DIRTY_SEQ 8 /* u64 after the magic: the command's seq */
#define GUEST_DIRTY_MIN_GPA 0x100000 /* "dirty" and "write" skip below */
#define GUEST_WRITE_SEQ_SHIFT 48
#define GUEST_FAULT_VA 0x7f0000000000

#define GUEST_SERIAL_PORT 0x3f8

#ifndef __ASSEMBLER__
/* The built-in firmware image, linked into kvmfs (src/boot/firmware_blob.S). */
extern const unsigned char guest_firmware[];
extern const unsigned char guest_firmware_end[];
#endif

// clang-format on

#endif
