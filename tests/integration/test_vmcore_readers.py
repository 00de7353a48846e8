"""`vmcore` as every ELF reader walks it (issue 22 §6).

Readers do not agree on what a core's PT_LOADs mean:
  - gdb finds bytes by p_vaddr;
  - crash and drgn take p_paddr for physical memory and p_vaddr for kernel
    addresses (test_kernel_debug.py runs all three over vmcore);
  - Volatility 3's ELF layer builds physical memory from every PT_LOAD's
    p_paddr, in file order, and looks addresses up by bisection - a
    segment whose p_paddr is not where that reader expects makes physical
    memory seem to end there ("unable to read a requested page").

So kvmfs's vmcore gives one PT_LOAD per RAM/ROM range of the flat view,
p_paddr = its guest-physical address, in address order; the kernel-virtual
aliases that follow (the image's text mapping, vmalloc'd stacks) carry
p_paddr -1, as /proc/kcore's vmalloc and module segments do (kcore's and
kdump's text segment keeps its physical address: kvmfs's does not, for the
reader above; crash finds phys_base without it).  Checked here:
  - the PT_LOADs that claim a physical range (p_paddr != -1) are sorted and
    disjoint, are exactly phys.json's ranges, and their file bytes have the
    data and the holes that `phys` has there (SEEK_DATA/SEEK_HOLE on both);
  - every other PT_LOAD is a kernel-virtual alias: its p_vaddr translates
    (vcpus/0/translate) to a physical address whose bytes it repeats, at the
    file offset of the RAM segment holding it;
  - a reader built as Volatility's ELF layer is (p_paddr taken at its word,
    file order, bisect) reads what `phys` holds at the first and last page of
    every data extent, the kernel's banner among them.

On QEMU TCG dumps of Debian's kernel mounted with -dump (test_kernel_debug's
cached dumps, with and without KASLR), on the built-in machine's 6 GiB pc
layout (no kernel: no aliases), and on a live Linux guest (needs KVM: the
vmalloc'd stack alias).

Volatility 3 itself is no dependency of the suite: doc/volatility.md says how
to run it over kvmfs's files.
"""
import bisect
import json
import os
import re
from pathlib import Path

import pytest

from conftest import require_guest, system_map_symbol, wait_for
# The kernel, the initramfs and QEMU's dumps of it: made once, cached in build/.
from test_kernel_debug import (KDIR, LIVE_APPEND, LIVE_TIMEOUT, kaslr_dump,  # noqa: F401
                               live_console, nokaslr_dump, vmcore_notes)

NO_PADDR = (1 << 64) - 1  # /proc/kcore's p_paddr of vmalloc space
PAGE = 4096


def pt_loads(core):
    """Every PT_LOAD's header, in file order (pyelftools)."""
    elffile = pytest.importorskip("elftools.elf.elffile")
    with open(core, "rb") as f:
        return [s.header for s in elffile.ELFFile(f).iter_segments()
                if s.header.p_type == "PT_LOAD"]


def extents(path, start, end):
    """The data extents of [start, end) of a file, by SEEK_DATA / SEEK_HOLE."""
    out = []
    fd = os.open(path, os.O_RDONLY)
    try:
        pos = start
        while pos < end:
            try:
                data = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:  # ENXIO: no data after pos
                break
            if data >= end:
                break
            hole = min(os.lseek(fd, data, os.SEEK_HOLE), end)
            out.append((data, hole))
            pos = hole
    finally:
        os.close(fd)
    return out


def clip(exts, start, end):
    return [(max(s, start), min(e, end)) for s, e in exts if s < end and start < e]


def merged(exts):
    out = []
    for s, e in sorted(exts):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def pread(path, off, n):
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(n)


class ElfPhysLayer:
    """Physical memory as Volatility 3's Elf64Layer builds it: every PT_LOAD
    with p_filesz == p_memsz > 0 at its p_paddr, in file order, looked up by
    bisection (volatility3/framework/layers/elf.py and segmented.py)."""

    def __init__(self, core):
        self.core = core
        self.segments = [(h.p_paddr, h.p_offset, h.p_memsz) for h in pt_loads(core)
                         if h.p_filesz == h.p_memsz and h.p_filesz > 0]

    def read(self, addr, n):
        i = bisect.bisect_right(self.segments, (addr, 1 << 64))
        if i:
            start, off, size = self.segments[i - 1]
            if start <= addr and addr + n <= start + size:
                return pread(self.core, off + addr - start, n)
        raise LookupError(f"unable to read a requested page: {addr:#x}")


def translate(k, va):
    """The guest-physical address vCPU 0's page tables give va (None: not mapped)."""
    with open(k.path("vcpus", "0", "translate"), "r+") as f:
        f.write(hex(va))
        f.seek(0)
        m = re.search(r"^pa (0x[0-9a-f]+)", f.read(), re.M)
    return int(m.group(1), 16) if m else None


def check_readers(k, must_read=()):
    """Everything the module docstring lists, on mount k (must_read: more
    guest-physical addresses to read as Volatility would); returns the aliases."""
    core, phys = k.path("vmcore"), k.path("phys")
    size = os.stat(phys).st_size
    phys_data = extents(phys, 0, size)
    # First the symptom: a reader that takes every p_paddr at its word reads
    # what phys holds (Volatility: "unable to read a requested page").
    layer = ElfPhysLayer(core)
    for s, e in phys_data:
        for at in {s & ~(PAGE - 1), (e - 1) & ~(PAGE - 1)} | set(must_read):
            assert layer.read(at, 64) == pread(phys, at, 64), hex(at)

    loads = pt_loads(core)
    ram = [h for h in loads if h.p_paddr != NO_PADDR]
    aliases = [h for h in loads if h.p_paddr == NO_PADDR]
    # The RAM segments come first, in address order, none overlapping; then the aliases.
    assert loads[:len(ram)] == ram, [(hex(h.p_paddr), hex(h.p_vaddr)) for h in loads]
    claims = [(h.p_paddr, h.p_paddr + h.p_memsz) for h in ram]
    assert all(a[1] <= b[0] for a, b in zip(claims, claims[1:])), claims
    assert all(h.p_filesz == h.p_memsz for h in ram)
    # ... and they are the flat view's RAM/ROM ranges, exactly.
    ranges = json.loads(Path(k.path("phys.json")).read_text())["ranges"]
    assert claims == [(r["start"], r["start"] + r["size"]) for r in ranges]

    # phys's data is in the RAM segments, and their bytes have its data and holes.
    assert merged(sum((clip(phys_data, s, e) for s, e in claims), [])) == merged(phys_data)
    for h in ram:
        want = clip(phys_data, h.p_paddr, h.p_paddr + h.p_memsz)
        got = [(s - h.p_offset + h.p_paddr, e - h.p_offset + h.p_paddr)
               for s, e in extents(core, h.p_offset, h.p_offset + h.p_filesz)]
        assert merged(got) == merged(want), hex(h.p_paddr)

    # Each alias repeats the bytes of the guest-physical page its p_vaddr maps,
    # at that page's place in the RAM segments.
    for h in aliases:
        assert h.p_vaddr >> 63 and h.p_filesz == h.p_memsz > 0, hex(h.p_vaddr)
        for va in (h.p_vaddr, h.p_vaddr + h.p_memsz - PAGE):
            pa = translate(k, va)
            assert pa is not None, hex(va)
            seg = next(r for r in ram if r.p_paddr <= pa < r.p_paddr + r.p_memsz)
            assert h.p_offset + (va - h.p_vaddr) == seg.p_offset + (pa - seg.p_paddr), hex(va)
            assert pread(core, h.p_offset + (va - h.p_vaddr), PAGE) == pread(phys, pa, PAGE)

    return aliases


def test_qemu_dump_without_kaslr(kvmfs, kernel, nokaslr_dump):
    k = kvmfs("-dump", nokaslr_dump.core, accel=False)
    banner = system_map_symbol(KDIR / "System.map", "linux_banner") - 0xFFFFFFFF80000000
    aliases = check_readers(k, must_read=[banner])
    assert pread(k.path("phys"), banner, 14) == b"Linux version "
    # The image's text mapping is there for gdb and drgn, at _text.
    assert min(h.p_vaddr for h in aliases) == 0xFFFFFFFF81000000


def test_qemu_dump_with_kaslr(kvmfs, kernel, kaslr_dump):
    k = kvmfs("-dump", kaslr_dump.core, accel=False)
    _, vmci, _ = vmcore_notes(k)
    offset = int(vmci["KERNELOFFSET"], 16)
    assert offset
    aliases = check_readers(k)
    assert min(h.p_vaddr for h in aliases) == 0xFFFFFFFF81000000 + offset


def test_builtin_machine_layout(kvmfs):
    """No kernel: one PT_LOAD per range of pc's 6 GiB layout, around the PCI hole,
    with pages written here and there so that RAM segments hold data and holes."""
    k = kvmfs("-M", "pc", "-m", "6G", "--writable")
    marks = [0x20_0000, 0x2000_0000, 0x1_4000_0000]
    with open(k.path("phys"), "r+b") as f:
        for at in marks:
            f.seek(at)
            f.write(b"kvmfs was here")
    assert check_readers(k, must_read=marks + [0x100000, 0x1_0000_0000, 0x1_BFFF_F000]) == []


@pytest.mark.guest
def test_live_linux_guest(kvmfs, kernel, initramfs):  # noqa: F811
    """Debian's kernel under kvmfs, stopped: the same walk, vmalloc'd stacks included."""
    require_guest("a live guest needs KVM")
    k = kvmfs("-M", "pc", "-m", "1G", "-kernel", kernel / "vmlinux", "-initrd", initramfs,
              "-append", LIVE_APPEND)
    assert wait_for(lambda: "kvmfs-initramfs: ready" in live_console(k)
                    or "smp: Brought up" in live_console(k)
                    or "the VM is stopped" in k.stderr(), LIVE_TIMEOUT, 1.0), \
        live_console(k)[-2000:] + k.stderr()
    if "the VM is stopped" not in k.stderr():
        Path(k.path("ctl")).write_text("stop\n")
        assert Path(k.path("ctl")).read_text().startswith("paused")
    aliases = check_readers(k)
    assert any(h.p_vaddr == 0xFFFFFFFF81000000 for h in aliases)
