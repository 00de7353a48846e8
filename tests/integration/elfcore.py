"""A small x86-64 ELF core of the built-in guest's state, for `kvmfs -dump`:
one vCPU in long mode on 4-level page tables that identity-map the first
2 MiB, and the guest's status page at GUEST_STATUS_GPA (include/kvmfs/guest.h).

With it the tools that read through a vCPU (vcpus/<n>/vmem: guest-status.py)
and the man page's vcpus/ entries are tested on any host, no KVM needed: a
dump never runs.  Written byte by byte after <elf.h>'s Elf64_Ehdr/Elf64_Phdr,
the kernel's struct elf_prstatus and QEMU's QEMUCPUState note (version 1),
the formats kvmfs -dump reads.
"""
import struct

from conftest import STATUS_GPA, STATUS_MAGIC

RAM_SIZE = 1 << 20            # one PT_LOAD: guest-physical 0..1 MiB
PML4, PDPT, PD = 0x10000, 0x11000, 0x12000
CR0 = 0x80050033              # PG, WP, NE, ET, MP, PE
CR4 = 0x6B0                   # PAE, PSE, PGE, OSFXSR, OSXMMEXCPT
RIP = 0x8000
PT_LOAD, PT_NOTE = 1, 4
NT_PRSTATUS = 1


def _note(name, ntype, desc):
    n = name.encode() + b"\0"
    pad = lambda b: b + bytes(-len(b) % 4)
    return struct.pack("<III", len(n), len(desc), ntype) + pad(n) + pad(desc)


def _prstatus(rip, rsp):
    """struct elf_prstatus (336 bytes): pr_reg is 27 u64 from offset 112."""
    regs = [0] * 27
    regs[16], regs[17], regs[19], regs[20] = rip, 0x10, rsp, 0x18  # rip, cs, rsp, ss
    return bytes(32) + struct.pack("<I", 1) + bytes(76) + struct.pack("<27Q", *regs) + bytes(8)


def _qemu_cpu(rip, rsp):
    """QEMUCPUState v1: GPRs, rip, rflags, 10 segments, cr[5], kernel_gs_base."""
    gprs = [0] * 16
    gprs[4] = rsp
    seg = lambda sel, flags: struct.pack("<IIIIQ", sel, 0xFFFFFFFF, flags, 0, 0)
    segs = seg(0x10, 0x00A09B00) + seg(0x18, 0x00C09300) * 5 + seg(0, 0) * 4
    return struct.pack("<II", 1, 440) + struct.pack("<16Q", *gprs) + \
        struct.pack("<QQ", rip, 0x2) + segs + struct.pack("<5Q", CR0, 0, 0, PML4, CR4) + \
        struct.pack("<Q", 0)


def status_page(passno, heartbeat):
    """The 32 bytes the built-in guest keeps at GUEST_STATUS_GPA."""
    return STATUS_MAGIC + struct.pack("<3Q", passno, heartbeat, RAM_SIZE)


def one_cpu_core(passno=7, heartbeat=9):
    """The core's bytes: RAM with page tables and the status page, one vCPU."""
    ram = bytearray(RAM_SIZE)
    struct.pack_into("<Q", ram, PML4, PDPT | 3)       # present, writable
    struct.pack_into("<Q", ram, PDPT, PD | 3)
    struct.pack_into("<Q", ram, PD, 0 | 0x83)         # a 2 MiB page at 0 (PS)
    ram[STATUS_GPA:STATUS_GPA + 32] = status_page(passno, heartbeat)
    notes = _note("CORE", NT_PRSTATUS, _prstatus(RIP, 0x9000)) + \
        _note("QEMU", 0, _qemu_cpu(RIP, 0x9000))
    phnum = 2
    notes_off = 64 + 56 * phnum
    data_off = (notes_off + len(notes) + 4095) & ~4095
    ph = struct.pack("<IIQQQQQQ", PT_NOTE, 0, notes_off, 0, 0, len(notes), len(notes), 0)
    ph += struct.pack("<IIQQQQQQ", PT_LOAD, 7, data_off, 0, 0, RAM_SIZE, RAM_SIZE, 0)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)    # ELF64, LSB, version 1
    eh = ident + struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, 64, 0, 0, 64, 56, phnum, 0, 0, 0)
    head = eh + ph + notes
    return head + bytes(data_off - len(head)) + bytes(ram)
