"""kvmfs -dump: the tree over a file instead of a running guest, on any host.

ELF cores written here byte by byte (after the ELF and core-file layouts of
<elf.h> and QEMU's QEMUCPUState note), raw images copied from a tree's own
`phys`, kvmfs's own vmcore mounted again - and every kind of broken file,
each of which must be one line on stderr, exit status 1 and nothing mounted.
No KVM is needed: a dump never runs.  (A real kernel's dumps are
test_kernel_debug.py's.)

Run: /usr/bin/python3 -m pytest -v tests/integration/test_dump.py
"""
import json
import os
import re
import struct
import subprocess
from pathlib import Path

import pytest

from conftest import KVMFS, is_mounted

MIB = 1 << 20
PAGE = 4096
FOUR_G = 1 << 32
EM_X86_64, EM_AARCH64 = 62, 183
ET_EXEC, ET_CORE = 2, 4
PT_LOAD, PT_NOTE = 1, 4
NT_PRSTATUS = 1


def note(name, ntype, desc):
    n = name.encode() + b"\0"
    pad = lambda b: b + bytes(-len(b) % 4)
    return struct.pack("<III", len(n), len(desc), ntype) + pad(n) + pad(desc)


def prstatus(rip, rsp, rax):
    regs = [0] * 27
    regs[10], regs[16], regs[17], regs[19] = rax, rip, 0x10, rsp  # rax, rip, cs, rsp
    return bytes(32) + struct.pack("<I", 0) + bytes(76) + struct.pack("<27Q", *regs) + bytes(8)


def qemu_cpu(rip, cr0, cr3, cr4):
    """QEMU's QEMUCPUState, version 1: GPRs, rip, rflags, 10 segments, cr[5], kernel_gs_base."""
    gprs = [0] * 16
    seg = lambda sel, flags: struct.pack("<IIIIQ", sel, 0xFFFFFFFF, flags, 0, 0)
    cs = seg(0x10, 0x00A09B00)  # present, DPL 0, code, L
    segs = cs + seg(0x18, 0x00C09300) * 5 + seg(0, 0) * 2 + seg(0, 0) * 2
    return struct.pack("<II", 1, 440) + struct.pack("<16Q", *gprs) + \
        struct.pack("<QQ", rip, 0x2) + segs + struct.pack("<5Q", cr0, 0, 0, cr3, cr4) + \
        struct.pack("<Q", 0)


def elf_core(loads, notes=b"", cls=2, machine=EM_X86_64, etype=ET_CORE, skew=0x498):
    """An ELF64 core: loads = [(paddr, vaddr, data)]; data starts skew bytes in, as in QEMU's."""
    phnum = 1 + len(loads)
    off = 64 + 56 * phnum
    notes_off = off
    data_off = notes_off + len(notes) + skew
    ph = struct.pack("<IIQQQQQQ", PT_NOTE, 0, notes_off, 0, 0, len(notes), len(notes), 0)
    blobs, pos = [], data_off
    for paddr, vaddr, data in loads:
        ph += struct.pack("<IIQQQQQQ", PT_LOAD, 7, pos, vaddr, paddr, len(data), len(data), 0)
        blobs.append(data)
        pos += len(data)
    ident = b"\x7fELF" + bytes([cls, 1, 1, 0]) + bytes(8)
    eh = ident + struct.pack("<HHIQQQIHHHHHH", etype, machine, 1, 0, 64, 0, 0, 64, 56, phnum,
                             0, 0, 0)
    return eh + ph + notes + bytes(skew) + b"".join(blobs)


def pattern(n, seed):
    return bytes((i * 7 + seed + (i >> 12)) & 0xFF for i in range(n))


def read_at(path, off, n):
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(n)


# ---- good dumps ----

def test_elf_core_mounts_with_its_memory_and_vcpu(kvmfs, tmp_path):
    low, high = pattern(MIB, 1), pattern(64 * 1024, 2)
    cpu = note("CORE", NT_PRSTATUS, prstatus(0xFFFFFFFF81234567, 0xFFFFC90000003F00, 42)) + \
        note("QEMU", 0, qemu_cpu(0xFFFFFFFF81234567, 0x80050033, 0x1234000, 0x6B0))
    # The third PT_LOAD repeats the first's bytes at a kernel address: an alias, left out.
    core = tmp_path / "guest.core"
    core.write_bytes(elf_core([(0, 0, low), (FOUR_G, FOUR_G, high),
                               (0x1000, 0xFFFFFFFF81001000, low[0x1000:0x3000])], cpu))
    k = kvmfs("-dump", core, accel=False)
    phys = json.loads(Path(k.path("phys.json")).read_text())
    assert phys["size"] == FOUR_G + len(high)
    assert [(r["start"], r["size"], r["ramblock"]) for r in phys["ranges"]] == \
        [(0, MIB, "pt_load.1"), (FOUR_G, len(high), "pt_load.2")]
    assert read_at(k.path("phys"), 0, MIB) == low
    assert read_at(k.path("phys"), FOUR_G, len(high)) == high
    assert read_at(k.path("phys"), MIB, 4096) == bytes(4096)  # a hole reads zeros
    regs = Path(k.path("vcpus", "0", "regs")).read_text()
    assert "RIP=ffffffff81234567" in regs and "RSP=ffffc90000003f00" in regs
    assert "RAX=000000000000002a" in regs and regs.rstrip().endswith("CPL=0")
    sregs = Path(k.path("vcpus", "0", "sregs")).read_text()
    assert re.search(r"^CR0=80050033 CR2=0{16} CR3=0000000001234000 CR4=000006b0$", sregs, re.M)
    # QEMU's note has no EFER: long mode with paging implies what Linux runs with.
    assert re.search(r"^EFER=0000000000000d01$", sregs, re.M)
    assert re.search(r"^CS =0010 0{16} ffffffff 00a09b00 DPL=0 CS64", sregs, re.M)
    assert json.loads(Path(k.path("vcpus", "0", "regs.json")).read_text())["exact"] is True
    assert sorted(os.listdir(k.mnt)) == ["ctl", "phys", "phys.json", "vcpus", "vmcore"]
    assert Path(k.path("ctl")).read_text() == f"dump {core}\n"
    with pytest.raises(OSError) as e:
        Path(k.path("ctl")).write_text("stop\n")
    assert e.value.errno == 30  # EROFS


def test_raw_image_has_the_layout_it_is_given(kvmfs, tmp_path):
    """A copy of a tree's phys, mounted with -M/-m: the board's whole layout, its bytes."""
    vm = kvmfs("-accel", "none", "-M", "q35", "-m", "64M", "--writable", accel=False)
    fd = os.open(vm.path("phys"), os.O_WRONLY)
    os.pwrite(fd, b"raw-image-marker", 0x345678)
    os.close(fd)
    image = tmp_path / "guest.phys"
    subprocess.run(["cp", "--sparse=always", vm.path("phys"), image], check=True)
    assert os.stat(image).st_size == FOUR_G and os.stat(image).st_blocks * 512 < 16 * MIB
    k = kvmfs("-dump", image, "-M", "q35", "-m", "64M", accel=False)
    assert read_at(k.path("ramblocks", "pc.ram"), 0x345678, 16) == b"raw-image-marker"
    # The firmware ROM, where the image has it.
    assert read_at(k.path("ramblocks", "pc.bios"), 0, 256 << 10) == \
        read_at(vm.path("ramblocks", "pc.bios"), 0, 256 << 10)
    for f in ("flatview", "regions", "ramblocks.txt"):
        assert Path(k.path(f)).read_text() == Path(vm.path(f)).read_text().replace(" KVM", ""), f
    blocks = {b["idstr"]: b for b in json.loads(Path(k.path("ramblocks.json")).read_text())}
    assert blocks["pc.ram"]["readonly"] and blocks["pc.ram"]["used_length"] == 64 * MIB
    assert Path(k.path("memslots")).read_text()
    assert not os.path.exists(k.path("console")) and not os.path.exists(k.path("dirty"))
    assert os.listdir(k.path("vcpus")) == []
    # The image's holes are the tree's: above 1 MiB only the marker's page is data.
    fd = os.open(k.path("phys"), os.O_RDONLY)
    try:
        assert os.lseek(fd, MIB, os.SEEK_DATA) == 0x345000
        assert os.lseek(fd, 0x345000, os.SEEK_HOLE) == 0x346000
    finally:
        os.close(fd)
    with pytest.raises(PermissionError):
        open(k.path("ramblocks", "pc.ram"), "r+b")


def test_kvmfs_vmcore_mounts_again(kvmfs, tmp_path):
    vm = kvmfs("-accel", "none", "-M", "pc", "-m", "64M", "--writable", accel=False)
    fd = os.open(vm.path("phys"), os.O_WRONLY)
    os.pwrite(fd, b"elf-round-trip", 0x1234567)
    os.close(fd)
    core = tmp_path / "vm.core"
    subprocess.run(["cp", "--sparse=always", vm.path("vmcore"), core], check=True)
    k = kvmfs("-dump", core, accel=False)
    assert read_at(k.path("phys"), 0x1234567, 14) == b"elf-round-trip"
    want = [(r["start"], r["size"]) for r in json.loads(Path(vm.path("phys.json")).read_text())["ranges"]]
    got = [(r["start"], r["size"]) for r in json.loads(Path(k.path("phys.json")).read_text())["ranges"]]
    assert got == want
    assert read_at(k.path("phys"), FOUR_G - 16, 16) == read_at(vm.path("phys"), FOUR_G - 16, 16)


# ---- broken dumps and refused command lines: one line, exit 1, nothing mounted ----

def good_core():
    return elf_core([(0, 0, pattern(64 * 1024, 3))], note("CORE", NT_PRSTATUS, prstatus(1, 2, 3)))


def bad(kind):
    c = bytearray(good_core())
    if kind == "short-header":
        return bytes(c[:40])
    if kind == "elf32":
        c[4] = 1
    elif kind == "aarch64":
        struct.pack_into("<H", c, 18, EM_AARCH64)
    elif kind == "executable":
        struct.pack_into("<H", c, 16, ET_EXEC)
    elif kind == "phdrs-past-end":
        struct.pack_into("<H", c, 56, 4000)
    elif kind == "load-past-end":
        return bytes(c[:-1000])
    elif kind == "corrupt-note":
        struct.pack_into("<I", c, 64 + 2 * 56 + 4, 0x7FFFFFF0)  # the note's n_descsz
    elif kind == "unaligned-load":
        ph = 64 + 56
        struct.pack_into("<Q", c, ph + 24, 0x800)  # p_paddr of the PT_LOAD
    elif kind == "garbage":
        return os.urandom(8192).replace(b"\x7fELF", b"xELF")
    elif kind == "empty":
        return b""
    return bytes(c)


BAD = [
    ("short-header", "truncated: 40 bytes, less than an ELF header"),
    ("elf32", "a 32-bit ELF file"),
    ("aarch64", "an ELF file for machine 183, not x86-64"),
    ("executable", "an ELF file of type 2, not a core (ET_CORE)"),
    ("phdrs-past-end", "truncated: 4000 program headers from byte 64"),
    ("load-past-end", "truncated: PT_LOAD 1 (GPA 0x0) ends at byte"),
    ("corrupt-note", "a corrupt note at byte"),
    ("unaligned-load", "PT_LOAD 1: GPA 0x800 and size 0x10000 are not whole 4 KiB pages"),
    ("garbage", "not an ELF core; for a raw memory image"),
    ("empty", "the file is empty"),
]


def one_line_failure(run_kvmfs, tmp_path, args, msg):
    mnt = tmp_path / "mnt"
    mnt.mkdir(exist_ok=True)
    r = run_kvmfs(*args, mnt=mnt, accel=False)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1, r.stderr
    assert lines[0].startswith("kvmfs: ") and msg in lines[0], lines[0]
    assert not is_mounted(mnt) and not os.listdir(mnt)
    return lines[0]


@pytest.mark.parametrize("kind,msg", BAD, ids=[b[0] for b in BAD])
def test_bad_dump_is_one_line(run_kvmfs, tmp_path, kind, msg):
    f = tmp_path / kind
    f.write_bytes(bad(kind))
    line = one_line_failure(run_kvmfs, tmp_path, ["-dump", f], msg)
    assert line.startswith(f"kvmfs: -dump {f}: ")


REFUSED = [
    (["--writable"], "--writable cannot be used with -dump: a dump never runs and is read-only"),
    (["-kernel", "/bin/true"], "-kernel cannot be used with -dump"),
    (["-smp", "2"], "-smp cannot be used with -dump"),
    (["-M", "pc", "-m", "64M"], "an ELF core says its own layout: -M and -m are for raw images"),
]


@pytest.mark.parametrize("args,msg", REFUSED, ids=["writable", "kernel", "smp", "layout"])
def test_refused_with_a_dump(run_kvmfs, tmp_path, args, msg):
    f = tmp_path / "good.core"
    f.write_bytes(good_core())
    one_line_failure(run_kvmfs, tmp_path, ["-dump", f] + args, msg)


def test_raw_image_shorter_than_its_ram(run_kvmfs, tmp_path):
    f = tmp_path / "short.raw"
    f.write_bytes(pattern(MIB, 4))
    one_line_failure(run_kvmfs, tmp_path, ["-dump", f, "-M", "pc", "-m", "64M"],
                     "truncated: -M pc -m 64M has RAM up to 0x4000000, the image is 1048576 bytes")


def test_missing_file_and_missing_mountpoint(run_kvmfs, tmp_path):
    one_line_failure(run_kvmfs, tmp_path, ["-dump", tmp_path / "nope"],
                     f"-dump {tmp_path / 'nope'}: No such file or directory")
    f = tmp_path / "good.core"
    f.write_bytes(good_core())
    # KVMFS, as every other test runs it: under make asan, the sanitized build.
    r = subprocess.run([str(KVMFS), "-dump", str(f)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and r.stderr == \
        "kvmfs: -dump needs a mountpoint: a dump is only there to be read\n"


def test_vmcoreinfo_file_is_checked(run_kvmfs, tmp_path):
    f = tmp_path / "vmcoreinfo"
    f.write_text("PAGESIZE=4096\n")
    one_line_failure(run_kvmfs, tmp_path, ["-accel", "none", "-vmcoreinfo", f],
                     "not a VMCOREINFO text (KEY=value lines, OSRELEASE= first)")
    f.write_text("OSRELEASE=x\n" + "A" * 5000)
    one_line_failure(run_kvmfs, tmp_path, ["-accel", "none", "-vmcoreinfo", f],
                     "more than 4096 bytes")


def test_vmcoreinfo_file_goes_into_vmcore(kvmfs, tmp_path):
    """-vmcoreinfo: its text is vmcore's VMCOREINFO note, newline-terminated."""
    f = tmp_path / "vmcoreinfo"
    text = "OSRELEASE=6.1.0-given\nPAGESIZE=4096\nKERNELOFFSET=0"
    f.write_text(text)
    core = tmp_path / "given.core"
    core.write_bytes(good_core())
    k = kvmfs("-dump", core, "-vmcoreinfo", f, accel=False)
    out = subprocess.run(["readelf", "-n", "-W", k.path("vmcore")], capture_output=True,
                         text=True, check=True, env=dict(os.environ, LC_ALL="C")).stdout
    assert re.search(rf"^\s+VMCOREINFO\s+{len(text) + 1:#010x}\s", out, re.M), out
    raw = read_at(k.path("vmcore"), 0, 8192)
    assert b"OSRELEASE=6.1.0-given\nPAGESIZE=4096\nKERNELOFFSET=0\n" in raw
    assert b"\nvmcoreinfo=file\n" in raw
