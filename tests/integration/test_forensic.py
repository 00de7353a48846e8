"""The forensic views through a real mount: phys (and its holes), phys.json,
vmcore (read back with readelf, pyelftools and gdb), dirty/, vcpus/, and the
two example scripts in tools/.

Without /dev/kvm kvmfs runs with -accel none: memory exists but no guest
runs, so the host writes what the tests look for (--writable); vcpus/ is
empty and the vmcore has no NT_PRSTATUS.  With /dev/kvm those tests pass -S,
so that the guest does not run either (but its vCPUs exist).  The tests that need a guest
(registers, translate, vmem, the guest's dirty pages) call require_guest().

Run: python3 -m pytest -q tests/integration/test_forensic.py
"""
import json
import os
import re
import struct
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from elftools.elf import elffile

from conftest import (FIRMWARE, ROOT, STATUS_GPA, STATUS_MAGIC, command_acked, extents, have_kvm,
                      pread, pwrite, read, require_guest, send_command, wait_for)

PC_6G = ("-M", "pc", "-m", "6G")
# With KVM, -S keeps the guest from running (and touching memory) in the tests
# where the host alone decides what memory holds.
QUIET = ("-S",)
GIB = 1 << 30
MIB = 1 << 20
PAGE = 4096
SPLIT = 0xC0000000  # pc.ram offset mapped at 4G with -m 6G
FOUR_G = 1 << 32
TOOLS = ROOT / "tools"
# QEMU 7.2's `info mtree -f` of -M pc -m 6G, its RAM and ROM ranges (start,
# size) - what vmcore's PT_LOADs must cover, written out here rather than
# read back from kvmfs (tests/unit/test_layout.c checks kvmfs against QEMU).
PC_6G_MEMORY = [(0x0, 0xC0000), (0xC0000, 0x20000), (0xE0000, 0x20000),
                (0x100000, 0xBFF00000), (0xFFFC0000, 0x40000), (FOUR_G, 0xC0000000)]


def covered(ext, start, end):
    return any(s <= start and end <= e for s, e in ext)


def phys_layout(k):
    return json.loads(read(k.path("phys.json")))


# ---- phys ----

def test_phys_json_is_the_flat_views_ram(kvmfs):
    k = kvmfs(*PC_6G)
    layout = phys_layout(k)
    flat = json.loads(read(k.path("flatview.json")))
    ram = [r for r in flat if r["type"] in ("ram", "rom")]
    assert [(r["start"], r["size"], r["ramblock"], r["offset"]) for r in layout["ranges"]] == \
        [(r["start"], r["size"], r["ramblock"], r["offset"]) for r in ram]
    top = max(r["start"] + r["size"] for r in ram)
    assert layout["size"] == top == FOUR_G + 6 * GIB - SPLIT
    assert os.stat(k.path("phys")).st_size == top


def test_phys_reads_what_ramblocks_hold(kvmfs):
    k = kvmfs(*PC_6G, *QUIET, "--writable")
    ram = k.path("ramblocks", "pc.ram")
    marks = {0x5000: b"low ram", 0x123456: b"above 1M", SPLIT + 0x7000: b"above 4G"}
    for off, text in marks.items():
        pwrite(ram, text, off)
    phys = k.path("phys")
    for off, text in marks.items():
        gpa = off if off < SPLIT else FOUR_G + off - SPLIT
        assert pread(phys, len(text), gpa) == text
    # The reset vector: pc.bios's last 16 bytes, at 4G-16 and through the ISA alias below 1M.
    bios = read(k.path("ramblocks", "pc.bios"))
    assert pread(phys, 16, FOUR_G - 16) == bios[-16:]
    assert pread(phys, 16, 0x100000 - 16) == bios[-16:]
    # Holes read as zeros: the VGA window and the PCI hole.
    assert pread(phys, PAGE, 0xA0000) == bytes(PAGE)
    assert pread(phys, PAGE, 0xD0000000) == bytes(PAGE)


def test_writes_through_one_view_are_seen_in_the_others(kvmfs):
    k = kvmfs(*PC_6G, "--writable")
    phys, ram = k.path("phys"), k.path("ramblocks", "pc.ram")
    bios = k.path("ramblocks", "pc.bios")
    with open(phys, "rb") as p, open(ram, "rb") as r, open(bios, "rb") as b:
        # Fill every page cache first: the writes below must invalidate them.
        before = (os.pread(p.fileno(), PAGE, FOUR_G + 0x10000),
                  os.pread(r.fileno(), PAGE, SPLIT + 0x10000),
                  os.pread(p.fileno(), PAGE, 0xF0000), os.pread(b.fileno(), PAGE, 0x30000))
        assert before[0] == before[1] and before[2] == before[3]
        pwrite(ram, b"via ramblocks", SPLIT + 0x10000)
        assert os.pread(p.fileno(), 13, FOUR_G + 0x10000) == b"via ramblocks"
        pwrite(phys, b"via phys", FOUR_G + 0x10100)
        assert os.pread(r.fileno(), 8, SPLIT + 0x10100) == b"via phys"
        # One GPA of pc.bios written; its alias at 0xe0000 and the block file follow.
        pwrite(phys, b"alias", FOUR_G - 0x10000)
        assert os.pread(p.fileno(), 5, 0xF0000) == b"alias"
        assert os.pread(b.fileno(), 5, 0x30000) == b"alias"


def test_phys_write_rules(kvmfs):
    k = kvmfs(*PC_6G, "--writable")
    phys = k.path("phys")
    fd = os.open(phys, os.O_WRONLY)
    try:
        with pytest.raises(OSError) as e:
            os.pwrite(fd, b"x", 0xD0000000)  # the PCI hole
        assert e.value.errno == 6  # ENXIO
        # Running from RAM into the hole after it: short.
        assert os.pwrite(fd, b"y" * 0x2000, 0xC0000000 - 0x1000) == 0x1000
        with pytest.raises(OSError) as e:
            os.pwrite(fd, b"z", os.fstat(fd).st_size)
        assert e.value.errno == 28  # ENOSPC: the file never grows
    finally:
        os.close(fd)
    ro = kvmfs(*PC_6G)
    assert os.stat(ro.path("phys")).st_mode & 0o777 == 0o400
    with pytest.raises(PermissionError):
        open(ro.path("phys"), "r+b")


def test_holes_are_untouched_memory_and_no_ram(kvmfs):
    k = kvmfs(*PC_6G, *QUIET, "--writable")
    phys = k.path("phys")
    layout = phys_layout(k)
    before = extents(phys)
    # Nothing touched pc.ram: only the firmware's ROM is data.
    for s, e in before:
        assert any(r["start"] <= s and e <= r["start"] + r["size"] and r["type"] == "rom"
                   for r in layout["ranges"]), (hex(s), hex(e))
    pwrite(k.path("ramblocks", "pc.ram"), b"\1", 0x300000 + 5)
    pwrite(phys, b"\2", FOUR_G + 5 * MIB + 7)
    after = extents(phys)
    assert covered(after, 0x300000, 0x300000 + PAGE)
    assert covered(after, FOUR_G + 5 * MIB, FOUR_G + 5 * MIB + PAGE)
    # A hole reads as zeros; the pages next to the written ones stay holes.
    assert not covered(after, 0x300000 + PAGE, 0x300000 + 2 * PAGE)
    assert not any(s < 0xC0000 and e > 0xA0000 for s, e in after)  # VGA window
    fd = os.open(phys, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        assert os.lseek(fd, size - 1, os.SEEK_HOLE) == size - 1  # untouched
        pwrite(phys, b"\3", size - 1)
        assert os.lseek(fd, size - 1, os.SEEK_DATA) == size - 1
        assert os.lseek(fd, size - 1, os.SEEK_HOLE) == size  # the end's virtual hole
        with pytest.raises(OSError):
            os.lseek(fd, size, os.SEEK_DATA)
    finally:
        os.close(fd)
    # The block file has the same holes, in block offsets.
    ram_ext = extents(k.path("ramblocks", "pc.ram"))
    assert covered(ram_ext, 0x300000, 0x300000 + PAGE)
    assert covered(ram_ext, SPLIT + 5 * MIB, SPLIT + 5 * MIB + PAGE)
    assert len(ram_ext) == 3  # and the last byte, written above


def test_sparse_copy_of_a_16g_guest_reads_only_what_was_touched(kvmfs, tmp_path):
    k = kvmfs("-M", "pc", "-m", "16G", *QUIET, "--writable")
    phys, ram = k.path("phys"), k.path("ramblocks", "pc.ram")
    chunks = {FOUR_G + i * GIB + 0x1234000: os.urandom(MIB) for i in range(4)}
    for gpa, data in chunks.items():
        pwrite(phys, data, gpa)
    st = os.stat(phys)
    # coreutils asks for holes only when st_blocks says the file is sparse.
    assert st.st_blocks * 512 < 64 * MIB < st.st_size
    assert os.stat(ram).st_blocks * 512 < 64 * MIB
    for src in (phys, ram):
        dst = tmp_path / "copy"
        subprocess.run(["cp", "--sparse=always", src, dst], check=True)
        cst = os.stat(dst)
        assert cst.st_size == os.stat(src).st_size
        assert cst.st_blocks * 512 < 64 * MIB, f"{src}: {cst.st_blocks} blocks"
        with open(dst, "rb") as f:
            for gpa, data in chunks.items():
                # pc keeps 3G of RAM below 4G: pc.ram offset 3G is GPA 4G.
                f.seek(gpa if src == phys else gpa - FOUR_G + SPLIT)
                assert f.read(len(data)) == data
        dst.unlink()


# ---- vmcore ----

def test_vmcore_with_readelf(kvmfs):
    # Two vCPUs where KVM is (their registers are notes), none without.
    k = kvmfs(*PC_6G, *QUIET, "-smp", "2")
    cpus = 2 if have_kvm() else 0
    out = subprocess.run(["readelf", "-h", "-l", "-n", "-W", k.path("vmcore")], check=True,
                         capture_output=True, text=True, env=dict(os.environ, LC_ALL="C")).stdout
    assert re.search(r"Type:\s+CORE", out)
    assert re.search(r"Machine:\s+Advanced Micro Devices X86-64", out)
    loads = re.findall(r"^\s+LOAD\s+(0x[0-9a-f]+) (0x[0-9a-f]+) (0x[0-9a-f]+) (0x[0-9a-f]+)",
                       out, re.M)
    assert [(int(p, 16), int(sz, 16)) for _, _, p, sz in loads] == PC_6G_MEMORY
    assert len(re.findall(r"^\s+NOTE\s", out, re.M)) == 1
    assert "KVMFS" in out
    # One NT_PRSTATUS per vCPU, of the size the ELF ABI's elf_prstatus has (0x150).
    notes = out.split("Displaying notes")[1]
    assert len(re.findall(r"^\s+CORE\s+0x00000150\s+NT_PRSTATUS", notes, re.M)) == cpus


def test_vmcore_opened_and_read_by_many_at_once(kvmfs):
    """Files built at open (vmcore, regions) read and closed by four
    threads at once: every read gets the whole header, the same for all,
    and kvmfs stays up.  A RELEASE may reach kvmfs before the thread that
    sent a READ's reply is done with it (under make asan this is where a
    header freed too early shows)."""
    k = kvmfs("-M", "pc", "-m", "1G", *QUIET)
    files = [k.path("vmcore"), k.path("regions")]
    want = {f: read(f)[:PAGE] for f in files}
    assert want[files[0]][:4] == b"\x7fELF" and want[files[1]].startswith(b"address-space: ")
    bad = []

    def worker():
        for i in range(400):
            f = files[i % 2]
            fd = os.open(f, os.O_RDONLY)
            try:
                got = os.pread(fd, PAGE, 0)
            finally:
                os.close(fd)
            if got != want[f]:
                bad.append((f, got[:64]))
                return

    with ThreadPoolExecutor(4) as pool:
        for fut in [pool.submit(worker) for _ in range(4)]:
            fut.result()
    assert not bad, bad[0]
    assert k.proc.poll() is None


def test_vmcore_pt_loads_are_guest_bytes(kvmfs):
    """The PT_LOADs hold the guest's bytes: what the test wrote where it
    wrote it, the firmware image (build/guest/firmware.bin) in both places
    the ROM shows, and zeros where nothing was written - expectations from
    the test's own knowledge, not from another view of kvmfs."""
    # Two vCPUs, so that a note per vCPU is counted against -smp, not against
    # kvmfs's own vcpus/ (none without KVM: no vCPU exists).
    k = kvmfs(*PC_6G, *QUIET, "--writable", "-smp", "2")
    pwrite(k.path("phys"), b"marker in low RAM", 0x345678)
    pwrite(k.path("phys"), b"marker above 4G", FOUR_G + 0x9abcd)
    firmware = FIRMWARE.read_bytes()
    # What each byte of the machine must read, as far as the test knows it.
    known = {0x345678: b"marker in low RAM", FOUR_G + 0x9abcd: b"marker above 4G",
             0xFFFC0000: firmware[:MIB], 0xE0000: firmware[-0x20000:],
             0x100000: bytes(MIB), FOUR_G + 2 * GIB: bytes(MIB)}
    notes = []
    with open(k.path("vmcore"), "rb") as f:
        elf = elffile.ELFFile(f)
        assert elf.header.e_type == "ET_CORE"
        segs = list(elf.iter_segments())
        assert segs[0].header.p_type == "PT_NOTE"
        notes = [(n.n_name, n.n_type) for n in segs[0].iter_notes()]
        descs = [(n.n_name, n.n_descdata) for n in segs[0].iter_notes()]
        loads = [s for s in segs if s.header.p_type == "PT_LOAD"]
        assert [(s.header.p_paddr, s.header.p_filesz) for s in loads] == PC_6G_MEMORY
        seen = set()
        for s in loads:
            h = s.header
            assert h.p_memsz == h.p_filesz
            for gpa, want in known.items():
                if h.p_paddr <= gpa < h.p_paddr + h.p_filesz:
                    f.seek(h.p_offset + gpa - h.p_paddr)
                    assert f.read(len(want)) == want, hex(gpa)
                    seen.add(gpa)
        assert seen == set(known)
    nr_cpus = 2 if have_kvm() else 0
    assert sorted(os.listdir(k.path("vcpus"))) == [str(i) for i in range(nr_cpus)]
    # QEMU's order: every vCPU's NT_PRSTATUS, then every vCPU's QEMU CPU state.
    assert [n for n, _ in notes] == ["CORE"] * nr_cpus + ["QEMU"] * nr_cpus + ["KVMFS"]
    for name, desc in descs:
        if name == "CORE":  # pr_pid (offset 32 of elf_prstatus): 0, not QEMU's CPU + 1
            assert len(desc) == 336 and struct.unpack_from("<I", desc, 32)[0] == 0
        elif name == "QEMU":  # QEMUCPUState: version 1, 440 bytes
            assert struct.unpack_from("<II", desc, 0) == (1, 440)
    with open(k.path("vmcore"), "rb") as f:
        elf = elffile.ELFFile(f)
        seg = elf.get_segment(0)
        f.seek(seg.header.p_offset)
        raw = f.read(seg.header.p_filesz)
    assert b"machine=pc\nram_size=6442450944\ncpus=2\n" in raw


def test_vmcore_with_gdb(kvmfs):
    k = kvmfs(*PC_6G)
    out = subprocess.run(["gdb", "-nx", "-batch", "-c", k.path("vmcore"),
                          "-ex", "x/16xb 0xfffffff0"], capture_output=True, text=True,
                         timeout=60).stdout
    got = bytes(int(b, 16) for b in re.findall(r"0x([0-9a-f]{2})\b", out.split(":", 1)[1]))
    assert got[:16] == FIRMWARE.read_bytes()[-16:]  # the reset vector, as linked


def test_vmcore_is_sparse_like_phys(kvmfs, tmp_path):
    k = kvmfs("-M", "pc", "-m", "16G", *QUIET, "--writable")
    pwrite(k.path("phys"), os.urandom(MIB), FOUR_G + 3 * GIB)
    st = os.stat(k.path("vmcore"))
    assert st.st_blocks * 512 < 64 * MIB < st.st_size
    dst = tmp_path / "vmcore"
    subprocess.run(["cp", "--sparse=always", k.path("vmcore"), dst], check=True)
    assert os.stat(dst).st_blocks * 512 < 64 * MIB
    out = subprocess.run(["readelf", "-l", "-W", dst], capture_output=True, text=True,
                         check=True, env=dict(os.environ, LC_ALL="C")).stdout
    # The copy is the same core: the memory of -m 16G in its PT_LOADs (pc.ram below 3G, 13 GiB above 4G).
    sizes = [int(x, 16) for x in re.findall(r"^\s+LOAD\s+\S+ \S+ \S+ (0x[0-9a-f]+)", out, re.M)]
    assert 0xBFF00000 in sizes and 13 * GIB in sizes


# ---- dirty ----

def test_dirty_files_without_a_guest(kvmfs):
    k = kvmfs(*PC_6G, *QUIET, "--writable")
    assert sorted(os.listdir(k.path("dirty"))) == ["pc.ram", "pc.ram.bitmap"]
    pages = 6 * GIB // PAGE
    assert os.stat(k.path("dirty", "pc.ram.bitmap")).st_size == (pages + 63) // 64 * 8
    # Host writes through the FS are not the guest's: KVM's log never sees them.
    pwrite(k.path("phys"), b"host", 0x200000)
    assert read(k.path("dirty", "pc.ram")) == b""
    assert read(k.path("dirty", "pc.ram.bitmap")) == bytes((pages + 63) // 64 * 8)


# ---- tools ----

def run_tool(name, *args):
    return subprocess.run([sys.executable, TOOLS / name, *args], capture_output=True, text=True,
                          timeout=120)


def test_find_pattern(kvmfs):
    k = kvmfs(*PC_6G, *QUIET, "--writable")
    needle = b"needle-%d" % os.getpid()
    pwrite(k.path("ramblocks", "pc.ram"), needle, 0x1234567)
    pwrite(k.path("ramblocks", "pc.ram"), needle, SPLIT + 0x89ab0)
    # In the BIOS's last 128 KiB (below the firmware): mapped at 0xe0000 and below 4G.
    pwrite(k.path("ramblocks", "pc.bios"), needle, 0x21000)
    r = run_tool("find-pattern.py", k.mnt, needle.decode())
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "0xe1000 pc.bios+0x21000",
        "0x1234567 pc.ram+0x1234567",
        "0xfffe1000 pc.bios+0x21000",
        f"0x{FOUR_G + 0x89ab0:x} pc.ram+0x{SPLIT + 0x89ab0:x}",
    ]
    r = run_tool("find-pattern.py", k.mnt, "--hex", "6e6f2d737563682d7468696e67")
    assert r.returncode == 1 and r.stdout == ""


# ---- a running guest: vcpus/, translate, vmem, the guest's dirty pages ----

def command(k, text):
    """A mailbox command the guest has acknowledged."""
    seq = (int(time.time() * 1000) & 0xFFFFFF) or 1
    send_command(k, seq, text)
    assert wait_for(lambda: command_acked(k.path("ramblocks", "pc.ram"), seq), 5.0)
    return seq


def booted(k):
    return wait_for(lambda: pread(k.path("phys"), 8, STATUS_GPA) == STATUS_MAGIC, 10.0)


def stop(k):
    with open(k.path("ctl"), "w") as f:
        f.write("stop\n")


@pytest.mark.guest
def test_dirty_shows_exactly_the_pages_the_guest_wrote(kvmfs):
    require_guest("the guest writes the pages")
    k = kvmfs("-M", "pc", "-m", "256M", "--writable")
    assert booted(k)
    # KVM logs pc.ram only while something holds it: this open does, from
    # before it forgets everything so far until the end, so every write of
    # the guest in between is counted.  (The RAM file the commands go
    # through, cached with --writable, holds it too, but only while open.)
    held = open(k.path("dirty", "pc.ram"), "rb")
    try:
        # 8 pages far from the per-MiB records the workload rewrites every pass.
        first, n = 0x1080000, 8
        command(k, f"dirty 0x{first:x} {n}")
        stop(k)
        # A second open: what the guest wrote since the held one's.
        text = read(k.path("dirty", "pc.ram")).decode()
        bm = read(k.path("dirty", "pc.ram.bitmap"))
    finally:
        held.close()
    runs = []
    for line in text.splitlines():
        lo, rest = line.split("-")
        hi, count = rest.split()
        runs.append((int(lo, 16), int(hi, 16) + 1, int(count)))
        assert (int(hi, 16) + 1 - int(lo, 16)) // PAGE == int(count)
    pages = {p for lo, hi, _ in runs for p in range(lo, hi, PAGE)}
    # Exactly the commanded pages in their MiB (its record page aside) ...
    assert {p for p in pages if 0x1001000 <= p < 0x1100000} == \
        set(range(first, first + n * PAGE, PAGE))
    # ... the status page, and otherwise only what the firmware rewrites anyway.
    assert STATUS_GPA in pages
    assert all(p < 0x100000 or p % MIB == 0 or 0x1001000 <= p < 0x1100000 for p in pages)
    # The bitmap file's first open: everything counted since the guest started,
    # while anything held pc.ram - the held file's time included.
    bits = {i * PAGE for i in range(len(bm) * 8) if bm[i // 8] >> (i % 8) & 1}
    assert set(range(first, first + n * PAGE, PAGE)) <= bits


@pytest.mark.guest
def test_vcpu_registers_of_a_stopped_guest(kvmfs):
    require_guest("registers need a vCPU")
    k = kvmfs("-M", "pc", "-m", "256M")
    assert booted(k)
    stop(k)
    regs = read(k.path("vcpus", "0", "regs")).decode()
    assert re.match(r"RAX=[0-9a-f]{16} RBX=[0-9a-f]{16} RCX=[0-9a-f]{16} RDX=[0-9a-f]{16}\n",
                    regs)
    assert re.search(r"^RIP=([0-9a-f]{16}) RFL=[0-9a-f]{8} \[[-DOSZAPC]{7}\] CPL=3$", regs, re.M)
    rj = json.loads(read(k.path("vcpus", "0", "regs.json")))
    assert rj["exact"] is True
    assert f"RIP={rj['rip']:016x}" in regs
    sj = json.loads(read(k.path("vcpus", "0", "sregs.json")))
    assert sj["cr3"] & ~0xFFF == 0xC000  # GUEST_PML4_GPA
    assert sj["efer"] & (1 << 10)  # long mode active
    sregs = read(k.path("vcpus", "0", "sregs")).decode()
    assert re.search(r"^CS =\w{4} [0-9a-f]{16} [0-9a-f]{8} [0-9a-f]{8} DPL=3 CS64", sregs, re.M)
    assert re.search(r"^CR0=[0-9a-f]{8} CR2=[0-9a-f]{16} CR3=0000000000000?c000", sregs, re.M)
    # Stopped in its ring-3 workload: RIP between ring3_start and the ROM's
    # data that follows the code, as the firmware's own symbols place them.
    syms = dict((n, int(a, 16)) for a, _, n in (l.split() for l in subprocess.run(
        ["nm", str(FIRMWARE.with_suffix(".elf"))], capture_output=True, text=True,
        check=True).stdout.splitlines()))
    assert syms["ring3_start"] <= rj["rip"] < syms["gdt_template"], hex(rj["rip"])
    # The vmcore's NT_PRSTATUS holds the same RIP (pr_reg[16] at 112 + 128).
    core = read(k.path("vmcore"))[:PAGE]
    at = core.find(b"CORE\0\0\0\0")
    assert at > 0
    assert struct.unpack_from("<Q", core, at + 8 + 112 + 16 * 8)[0] == rj["rip"]


@pytest.mark.guest
def test_translate_walks_the_guests_page_tables(kvmfs):
    require_guest("translation needs the guest's CR3")
    k = kvmfs("-M", "pc", "-m", "256M")
    assert booted(k)
    stop(k)
    tr = k.path("vcpus", "0", "translate")
    with open(tr, "w") as f:
        f.write("0x1008\n")
    out = read(tr).decode()
    assert "PML4E[  0] at 0x000000000000c000" in out
    assert "PDPTE[  0] at 0x000000000000d000" in out
    assert re.search(r"^pa 0x0000000000001008 2M page rw user", out, re.M)
    with open(tr, "w") as f:
        f.write("0x7f0000000000")
    assert "fault at PML4E: not present" in read(tr).decode()
    with open(tr, "w") as f:
        f.write("0x0000800000000000")
    assert "non-canonical" in read(tr).decode()


@pytest.mark.guest
def test_vmem_and_guest_status(kvmfs):
    require_guest("vmem needs the guest's page tables")
    k = kvmfs("-M", "pc", "-m", "256M")
    assert booted(k)
    stop(k)
    vmem = k.path("vcpus", "0", "vmem")
    assert os.stat(vmem).st_size == 1 << 48
    # Identity-mapped: virtual == physical for every mapped byte.
    assert pread(vmem, 64, 0x1000) == pread(k.path("phys"), 64, 0x1000)
    assert pread(vmem, 64, 0x5000000) == pread(k.path("phys"), 64, 0x5000000)
    ext = extents(vmem)
    assert ext and ext[0][0] == 0  # the identity map starts at 0
    assert not covered(ext, 1 << 40, (1 << 40) + PAGE)
    r = run_tool("guest-status.py", k.mnt)
    assert r.returncode == 0, r.stderr
    lines = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    assert lines["magic"] == STATUS_MAGIC.decode()
    # The guest is stopped: the page reads the same through phys.
    status = struct.unpack_from("<3Q", pread(k.path("phys"), 32, STATUS_GPA), 8)
    assert (int(lines["pass"]), int(lines["heartbeat"])) == status[:2]
    assert int(lines["ram_size"]) == status[2] == 256 * MIB
