"""Reading guest memory must not allocate it (issue 12).

An idle `-M pc -m 8G` guest - paused before it ran (-S), or the built-in
guest running, which writes a 24-byte record at every MiB and nothing else
outside its first MiB - is read whole through ramblocks/pc.ram, a mapping of
it, phys, vmcore and vcpus/0/vmem, with memfd and anonymous backing.  kvmfs's
resident guest memory (RssShmem + RssAnon) must grow by less than 64 MiB in
all, where a read that populated the pages it touched would add 8 GiB per
file; and every byte must be right: zeros where nobody wrote, the records
where the guest did, the firmware in the ROMs (build/guest/firmware.bin),
and guest memory as /proc/PID/mem shows it for pages known to hold data.

Then the ordering that keeps a hole read honest: zeros read (and cached)
through one view, bytes written through another, and the first view must
show them - by a write through the tree (--writable), and by the guest
itself (its mailbox command `dirty 0xGPA N`).

The page cache of the files read is dropped as the reads go
(posix_fadvise DONTNEED), so that 30 GiB of zeros do not crowd out the
other users of the machine.

Run: python3 -m pytest -v tests/integration/test_holes.py
"""
import errno
import json
import mmap
import os
import struct
import time

import pytest

from conftest import (DIRTY_MAGIC, FIRMWARE, RECORD_MAGIC, STATUS_GPA, STATUS_PASS, command_acked,
                      elf_loads, extents, have_kvm, passthrough_expected, pwrite,
                      require_guest, send_command, wait_for)

MIB = 1 << 20
GIB = 1 << 30
PAGE = 4096
RAM = 8 * GIB
LOW = 3 * GIB            # -M pc -m 8G: pc.ram [0, 3G) at GPA 0, the rest at 4G
HIGH_GPA = 4 * GIB
DROP_EVERY = 64 * MIB    # page cache handed back this often while reading
LIMIT_KIB = 64 * 1024    # growth allowed for all the reads of one kvmfs

# Pages of the first MiB the running guest certainly wrote: record of MiB 0,
# status, boot data, per-CPU data, PML4, PDPT, the first page directory.
GUEST_DATA_PAGES = (0x0, 0x1000, 0x3000, 0x4000, 0xC000, 0xD000, 0x10000)
LEGACY_HOLE = 0xA0000    # RAM below it; VGA and ROMs from there to 1 MiB

# pc.bios (256 KiB, the firmware) is shown at the top of 4G and, its upper
# half, below 1 MiB (isa-bios); pc.rom at 0xc0000 holds nothing.
BIOS_SIZE = 0x40000
ROMS = ((0xFFFC0000, 0), (0xE0000, 0x20000))   # (GPA, offset in pc.bios)
# What vmcore's PT_LOADs cover: the RAM but what pc.rom and isa-bios hide
# (0xc0000-0xfffff), pc.rom (128 KiB), isa-bios (128 KiB), pc.bios.
CORE_BYTES = RAM - 0x40000 + 0x20000 + 0x20000 + BIOS_SIZE
# Records outside the first MiB, one per MiB of RAM.
RECORDS = RAM // MIB - 1


def resident_kib(pid):
    """Guest memory kvmfs holds: shared (memfd) plus anonymous pages."""
    total = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("RssShmem:", "RssAnon:")):
                total += int(line.split()[1])
    return total


def gpa_of(off):
    """GPA of a pc.ram offset with -m 8G."""
    return off if off < LOW else off - LOW + HIGH_GPA


def is_ram(gpa):
    return gpa < LOW or HIGH_GPA <= gpa < HIGH_GPA + RAM - LOW


class Expect:
    """What guest memory holds, by GPA: zeros, the ROMs, the guest's records."""

    def __init__(self, running):
        self.running = running
        self.bios = FIRMWARE.read_bytes()
        assert len(self.bios) == BIOS_SIZE
        self.records = 0

    def check(self, gpa, data, roms=True, what=""):
        want = bytearray(len(data))
        end = gpa + len(data)
        if roms:
            for rom_gpa, rom_off in ROMS:
                lo, hi = max(gpa, rom_gpa), min(end, rom_gpa + BIOS_SIZE - rom_off)
                if lo < hi:
                    want[lo - gpa:hi - gpa] = \
                        self.bios[rom_off + lo - rom_gpa:rom_off + hi - rom_gpa]
        if self.running:
            # The first MiB's RAM holds the firmware's data: compared elsewhere.
            if gpa < LEGACY_HOLE:
                n = min(end, LEGACY_HOLE) - gpa
                want[:n] = data[:n]
            rec = (gpa + MIB - 1) // MIB * MIB
            for r in range(max(rec, MIB), end, MIB):
                if not is_ram(r):
                    continue
                at = r - gpa
                magic, own, passes = struct.unpack_from("<8sQQ", data, at)
                assert (magic, own) == (RECORD_MAGIC, r), f"{what}: record at GPA {r:#x}"
                assert passes >= 1
                want[at:at + 24] = data[at:at + 24]
                self.records += 1
        if data != want:
            bad = next(i for i in range(len(data)) if data[i] != want[i])
            pytest.fail(f"{what}: byte at GPA {gpa + bad:#x} is {data[bad]:#x}, "
                        f"want {want[bad]:#x}")


def read_file(path, size, on_chunk, start=0):
    """1 MiB preads of [start, start+size), the page cache dropped behind them."""
    fd = os.open(path, os.O_RDONLY)
    try:
        off, dropped = start, start
        while off < start + size:
            n = min(MIB, start + size - off)
            data = os.pread(fd, n, off)
            assert len(data) == n, f"{path}: short read at {off:#x}"
            on_chunk(off, data)
            off += n
            if off - dropped >= DROP_EVERY:
                os.posix_fadvise(fd, dropped, off - dropped, os.POSIX_FADV_DONTNEED)
                dropped = off
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def read_mapping(path, exp, size=RAM, gpa=gpa_of, what="mmap of pc.ram", roms=False):
    with open(path, "rb") as f:
        m = mmap.mmap(f.fileno(), size, mmap.MAP_SHARED, mmap.PROT_READ)
        try:
            for off in range(0, size, MIB):
                exp.check(gpa(off), m[off:off + MIB], roms=roms, what=what)
                if (off + MIB) % DROP_EVERY == 0:
                    lo = off + MIB - DROP_EVERY
                    m.madvise(mmap.MADV_DONTNEED, lo, DROP_EVERY)
                    os.posix_fadvise(f.fileno(), lo, DROP_EVERY, os.POSIX_FADV_DONTNEED)
        finally:
            m.close()


def read_json(path):
    with open(path) as f:
        return json.load(f)


def guest_pass(k):
    fd = os.open(k.path("phys"), os.O_RDONLY)
    try:
        return struct.unpack("<Q", os.pread(fd, 8, STATUS_GPA + STATUS_PASS))[0]
    finally:
        os.close(fd)


# memfd: pc.ram passes through to its memfd where the kernel lets it (then a
# mapping of it is guest memory, whose untouched pages a touch populates: the
# mapping half reads phys instead); memfd-cached: -o no_passthrough keeps it a
# file served through kvmfs, mapping and all; anon: never passed through.
@pytest.mark.parametrize("backing", ["memfd", "memfd-cached", "anon"])
# Running: whole reads of a running 8 GiB guest (40 GiB of reads, a minute
# natively) would take hours under TCG, so that half stays out of check-nested.
@pytest.mark.parametrize("paused", [
    pytest.param(True, id="-S"),
    pytest.param(False, id="running", marks=[pytest.mark.guest, pytest.mark.nested_skip]),
])
def test_reading_an_idle_guest_allocates_nothing(kvmfs, backing, paused):
    if not paused:
        require_guest("the records are written by the running guest")
    k = kvmfs("-M", "pc", "-m", "8G", "-mem-backing", backing.split("-")[0],
              *(["-o", "no_passthrough"] if backing == "memfd-cached" else []),
              *(["-S"] if paused else []))
    exp = Expect(running=not paused)
    if not paused:
        # Two passes: every record written at least once, nothing new to come.
        assert wait_for(lambda: guest_pass(k) >= 2, 60.0), k.stderr()
    ram = k.path("ramblocks", "pc.ram")
    sparse = {f: extents(f) for f in (ram, k.path("phys"))}
    if paused:
        assert sparse[ram] == [], "nothing ran, yet pc.ram holds data"
    before = resident_kib(k.pid)

    read_file(ram, RAM, lambda off, d: exp.check(gpa_of(off), d, roms=False, what="pc.ram"))
    io = {b["idstr"]: b["io"] for b in read_json(k.path("ramblocks.json"))}["pc.ram"]
    assert io == ("passthrough" if backing == "memfd" and passthrough_expected() else "cached")
    if io == "passthrough":
        read_mapping(k.path("phys"), exp, size=LOW, gpa=lambda off: off, what="mmap of phys",
                     roms=True)
    else:
        read_mapping(ram, exp)
    phys_size = os.stat(k.path("phys")).st_size
    assert phys_size == HIGH_GPA + RAM - LOW
    read_file(k.path("phys"), phys_size, lambda off, d: exp.check(off, d, what="phys"))
    core = k.path("vmcore")
    loads = [(off, gpa, size) for off, gpa, size, _ in elf_loads(core)]
    assert sum(size for _, _, size in loads) == CORE_BYTES
    for file_off, gpa, size in loads:
        read_file(core, size,
                  lambda off, d, f=file_off, g=gpa: exp.check(g + off - f, d, what="vmcore"),
                  start=file_off)
    if not paused:
        # vCPU 0's address space: the running guest identity-maps its RAM,
        # so its first 4 GiB are GPA = VA.  (Paused: test_reading_vmem_allocates_nothing.)
        read_file(k.path("vcpus", "0", "vmem"), HIGH_GPA,
                  lambda off, d: exp.check(off, d, what="vmem"))

    grown = resident_kib(k.pid) - before
    assert grown < LIMIT_KIB, f"kvmfs's guest memory grew by {grown} KiB"
    # Reading turned no hole into data: the files are as sparse as before.
    for f, ext in sparse.items():
        assert extents(f) == ext, f
    if not paused:
        # Every record, in pc.ram, its mapping, phys and vmcore; below 3G in vmem.
        assert exp.records == 4 * RECORDS + LOW // MIB - 1
        with open(k.path("ctl"), "w") as c:
            c.write("stop")
    # Pages known to hold data read as guest memory itself shows them.
    blocks = {b["idstr"]: b["host"] for b in read_json(k.path("ramblocks.json"))}
    pages = [(k.path("ramblocks", "pc.bios"), BIOS_SIZE - PAGE,
              blocks["pc.bios"] + BIOS_SIZE - PAGE)]
    if not paused:
        pages += [(ram, p, blocks["pc.ram"] + p) for p in GUEST_DATA_PAGES]
    with open(f"/proc/{k.pid}/mem", "rb", buffering=0) as mem:
        for path, off, host in pages:
            fd = os.open(path, os.O_RDONLY)
            try:
                assert os.pread(fd, PAGE, off) == os.pread(mem.fileno(), PAGE, host), \
                    f"{path} at {off:#x}"
            finally:
                os.close(fd)


@pytest.mark.parametrize("backing", ["memfd", "memfd-cached", "anon"])
def test_reading_vmem_allocates_nothing(kvmfs, backing):
    """vcpus/0/vmem of a guest paused before it ran (-S): paging is off at
    reset, so its first 4 GiB are GPA = VA - zeros, and the firmware where
    the ROMs are - read whole, they allocate nothing and turn no hole of
    pc.ram into data."""
    if not have_kvm():
        pytest.skip("no KVM: -accel none makes no vCPU, so there is no vcpus/0/vmem")
    k = kvmfs("-M", "pc", "-m", "8G", "-mem-backing", backing.split("-")[0],
              *(["-o", "no_passthrough"] if backing == "memfd-cached" else []), "-S")
    exp = Expect(running=False)
    ram = k.path("ramblocks", "pc.ram")
    assert extents(ram) == [], "nothing ran, yet pc.ram holds data"
    before = resident_kib(k.pid)
    read_file(k.path("vcpus", "0", "vmem"), HIGH_GPA,
              lambda off, d: exp.check(off, d, what="vmem"))
    grown = resident_kib(k.pid) - before
    assert grown < LIMIT_KIB, f"kvmfs's guest memory grew by {grown} KiB"
    assert extents(ram) == []


# ---- a hole read, then a write: the zeros read must not outlive it ----

def is_hole(path, off):
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.lseek(fd, off, os.SEEK_DATA) != off
    except OSError as e:
        assert e.errno == errno.ENXIO
        return True
    finally:
        os.close(fd)


def test_hole_read_then_write_through_another_view(kvmfs):
    """Zeros read from never-touched memory, cached by read() and by a mapping,
    give way to bytes written through another file of the same memory."""
    k = kvmfs("-M", "pc", "-m", "256M", "--writable", "-S")
    ram, phys = k.path("ramblocks", "pc.ram"), k.path("phys")
    before = resident_kib(k.pid)
    # pc.ram's offsets are GPAs below 3G: one page per direction.
    for i, (reader, writer) in enumerate(((phys, ram), (ram, phys))):
        at = 200 * MIB + i * PAGE
        payload = f"written after a hole read, case {i}".encode()
        with open(reader, "rb") as f, \
                mmap.mmap(f.fileno(), PAGE, mmap.MAP_SHARED, mmap.PROT_READ,
                          offset=at) as m:
            assert os.pread(f.fileno(), PAGE, at) == bytes(PAGE)
            assert m[:] == bytes(PAGE)
            assert is_hole(ram, at), "the read populated the page"
            pwrite(writer, payload, at + 100)
            assert os.pread(f.fileno(), len(payload), at + 100) == payload
            assert m[100:100 + len(payload)] == payload
        assert not is_hole(ram, at)
    # Two pages written, nothing else: well under a MiB.
    assert resident_kib(k.pid) - before < 1024


def mailbox(k, seq, text):
    """Hand the running guest a command (include/kvmfs/guest.h); wait for its ack."""
    send_command(k, seq, text)
    assert wait_for(lambda: command_acked(k.path("ramblocks", "pc.ram"), seq), 10.0), k.stderr()


# --writable: pc.ram is served through kvmfs (cached) with either backing.
@pytest.mark.parametrize("backing", ["memfd", "anon"])
@pytest.mark.guest
def test_guest_write_after_a_hole_read_becomes_visible(kvmfs, backing):
    """The guest populates and writes a page that was read as a hole: the
    dirty-log sweep must drop the cached zeros, from read() and mappings."""
    require_guest("the guest writes the page on request")
    k = kvmfs("-M", "pc", "-m", "256M", "--writable", "-mem-backing", backing)
    ram, phys = k.path("ramblocks", "pc.ram"), k.path("phys")
    assert wait_for(lambda: guest_pass(k) >= 2, 30.0), k.stderr()
    at = 100 * MIB + 5 * PAGE        # not a record page: nobody touched it
    with open(ram, "rb") as fr, open(phys, "rb") as fp, \
            mmap.mmap(fr.fileno(), PAGE, mmap.MAP_SHARED, mmap.PROT_READ, offset=at) as m:
        assert os.pread(fr.fileno(), PAGE, at) == bytes(PAGE)
        assert os.pread(fp.fileno(), PAGE, at) == bytes(PAGE)
        assert m[:] == bytes(PAGE)
        assert is_hole(ram, at), "the read populated the page"
        seq = int(time.time()) & 0xFFFFFF or 1
        mailbox(k, seq, f"dirty {at:#x} 1")
        stamp = DIRTY_MAGIC + struct.pack("<Q", seq)
        assert wait_for(lambda: os.pread(fr.fileno(), 16, at) == stamp, 5.0)
        assert wait_for(lambda: os.pread(fp.fileno(), 16, at) == stamp, 5.0)
        assert wait_for(lambda: m[:16] == stamp, 5.0)
    assert not is_hole(ram, at)
