"""Booting Linux with -kernel: Debian's cloud kernel, and files that are no kernel.

The kernel is Debian's linux-image-*-cloud-amd64, fetched and unpacked by
tools/fetch-debian-kernel.sh into build/debian-kernel (vmlinuz, the vmlinux
extracted from it, the -dbg package's System.map); the tests fail if it
cannot be fetched.

Everywhere (no /dev/kvm needed): a bad -kernel file is one error line, a
non-zero exit and no mount; with `-S` (and `-accel none` where there is no
KVM) the loader's work is read back through ramblocks/pc.ram - the zero page
(e820 = the flat view's RAM, command line, type_of_loader, code32_start), the
kernel's segments and `linux_banner` at the physical address System.map
predicts, the initrd.

With /dev/kvm: the kernel's own console output (banner, BIOS-e820 map =
flat view RAM less the EBDA and the legacy hole), SMP through the ACPI
MADT, what kvmfs adds where ring 0 is emulated, the banner in guest memory
equal to the console's, and vcpus/0/translate.

Run: /usr/bin/python3 -m pytest -v tests/integration/test_linux.py
"""
import json
import os
import re
import struct
import subprocess
from pathlib import Path

import pytest

from conftest import (ROOT, elf_loads, is_mounted, require_guest, ring0_emulated,
                      system_map_symbol)

KDIR = ROOT / "build" / "debian-kernel"
FETCH = ROOT / "tools" / "fetch-debian-kernel.sh"
CMDLINE = "console=ttyS0 earlyprintk=serial nokaslr"
KERNEL_MAP_BASE = 0xffffffff80000000  # __START_KERNEL_map: phys = virt - this, without KASLR
# What kvmfs puts before the user's words where the host's KVM emulates ring
# 0 (and it runs with KVM): Linux 6.1's spellings for the CPUID bits kvm_pvm
# forces on the guest (../shared/HOSTS.md), measured to be used by Linux.
HOST_WORDS = ("noxsave clearcpuid=popcnt,ssse3,sse4_1,sse4_2,aes,pclmulqdq,sha_ni,smap "
              "cryptomgr.notests")


def written_cmdline():
    """The command line the zero page must carry on this host."""
    return f"{HOST_WORDS} {CMDLINE}" if ring0_emulated() else CMDLINE

ZERO_PAGE = 0x7000
# Never usable, whatever the flat view shows: SeaBIOS's 1 KiB EBDA below
# 640 KiB (where kvmfs keeps the ACPI tables) and the legacy hole above it.
# A QEMU guest's e820 has its low RAM end at the same 0x9fc00.
LOW_RESERVED = (0x9FC00, 0x100000)
# Generous: ring 0 is emulated on kvm_pvm (~1.5 us per instruction) and
# the host may be loaded; the waits end early when the VM stops.
BOOT_TIMEOUT = 900.0
# To the initramfs's /init: seconds with hardware virtualization, tens of
# minutes where ring 0 is emulated (README, "Booting Linux").
LINUX_USER_TIMEOUT = 3600.0


# ---- the Debian kernel ---------------------------------------------------

@pytest.fixture(scope="module")
def debian_kernel():
    files = [KDIR / n for n in ("vmlinuz", "vmlinux", "System.map")]
    if not all(f.exists() and f.stat().st_size for f in files):
        r = subprocess.run([str(FETCH), str(KDIR)], capture_output=True, text=True,
                           timeout=900)
        if r.returncode != 0:
            pytest.fail(f"Debian's cloud kernel could not be fetched: {r.stderr.strip()}")
    return KDIR


# ---- reading the model back ----------------------------------------------

def flatview_ram(k):
    """[start, end) of writable RAM in the flat view, adjacent ranges merged."""
    with open(k.path("flatview.json")) as f:
        fv = json.load(f)
    ranges = fv["ranges"] if isinstance(fv, dict) else fv
    out = []
    for r in ranges:
        if r["type"] != "ram" or r.get("readonly"):
            continue
        start, end = r["start"], r["last"] + 1
        if out and out[-1][1] == start:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def minus(ranges, hole):
    out = []
    for s, e in ranges:
        for a, b in ((s, min(e, hole[0])), (max(s, hole[1]), e)):
            if a < b:
                out.append((a, b))
    return out


def guest_read(k, gpa, n):
    """Bytes at a guest-physical address of low RAM or RAM above 4G (pc.ram)."""
    ram = flatview_ram(k)
    with open(k.path("ramblocks", "pc.ram"), "rb") as f:
        # pc.ram offset: low RAM is identity, RAM above 4G follows low RAM.
        low_end = max(e for s, e in ram if s < 1 << 32)
        f.seek(gpa if gpa < 1 << 32 else low_end + gpa - (1 << 32))
        return f.read(n)


def zero_page(k):
    bp = guest_read(k, ZERO_PAGE, 4096)
    n = bp[0x1E8]
    e820 = [struct.unpack_from("<QQI", bp, 0x2D0 + 20 * i) for i in range(n)]
    return bp, [(a, a + s, t) for a, s, t in e820]


def usable(e820):
    out = []
    for s, e, t in e820:
        if t != 1:
            continue
        if out and out[-1][1] == s:
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def check_e820(k, e820):
    want = minus(flatview_ram(k), LOW_RESERVED)
    assert usable(e820) == want
    # Nothing usable in the hole, the ROMs or below-4G MMIO, and the hole reserved.
    assert any(s <= LOW_RESERVED[0] and e >= LOW_RESERVED[1] and t == 2 for s, e, t in e820)
    assert any(e > 1 << 32 for s, e in want) == any(e > 1 << 32 for s, e in usable(e820))


# ---- files that are not kernels: the same everywhere -----------------------

def _bzimage(protocol=0x020F, cut=None):
    setup = 5 * 512
    payload = 0x2000
    b = bytearray(setup + payload)
    b[0x1F1] = 4
    struct.pack_into("<I", b, 0x1F4, payload // 16)
    struct.pack_into("<H", b, 0x1FE, 0xAA55)
    b[0x200:0x202] = b"\xeb\x6a"
    b[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", b, 0x206, protocol)
    b[0x211] = 1
    struct.pack_into("<I", b, 0x214, 0x100000)
    struct.pack_into("<I", b, 0x238, 255)
    return bytes(b[:cut] if cut else b)


BAD_FILES = [
    ("text", b"#!/bin/sh\necho hello\n" * 40, "not a Linux kernel"),
    ("old-protocol", _bzimage(protocol=0x0204), "boot protocol 2.04 is too old"),
    ("truncated", _bzimage(cut=4000), "truncated"),
    ("empty", b"", "empty"),
    ("elf32", b"\x7fELF\x01\x01\x01" + bytes(60), "32-bit"),
]


@pytest.mark.parametrize("name,data,msg", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_kernel_is_one_line(run_kvmfs, tmp_path, name, data, msg):
    bad = tmp_path / name
    bad.write_bytes(data)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = run_kvmfs("-kernel", bad, mnt=mnt)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"kvmfs: -kernel {bad}: ") and msg in lines[0], lines[0]
    assert not is_mounted(mnt)
    assert not os.listdir(mnt)


def test_kernel_too_big_for_ram(run_kvmfs, tmp_path, debian_kernel):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = run_kvmfs("-m", "16M", "-kernel", debian_kernel / "vmlinux", mnt=mnt)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs RAM at 0x1000000-" in lines[0], r.stderr
    assert not is_mounted(mnt)


# ---- what the loader wrote: -S, readable here -------------------------------

LAYOUTS = [("pc", "128M"), ("pc", "6G"), ("q35", "2G"), ("q35", "6G")]


@pytest.mark.parametrize("machine,size", LAYOUTS, ids=[f"{m}-{s}" for m, s in LAYOUTS])
def test_vmlinux_zero_page(kvmfs, debian_kernel, machine, size):
    k = kvmfs("-S", "-M", machine, "-m", size, "-kernel", debian_kernel / "vmlinux",
              "-append", CMDLINE)
    bp, e820 = zero_page(k)
    assert struct.unpack_from("<H", bp, 0x1FE)[0] == 0xAA55
    assert bp[0x202:0x206] == b"HdrS"
    assert bp[0x210] == 0xFF  # type_of_loader: undefined
    cmd_ptr, = struct.unpack_from("<I", bp, 0x228)
    want = written_cmdline()
    assert guest_read(k, cmd_ptr, len(want) + 1) == want.encode() + b"\0"
    check_e820(k, e820)

    # Every segment at its physical address, bss zeroed.
    data = (debian_kernel / "vmlinux").read_bytes()
    for off, paddr, filesz, memsz in elf_loads(debian_kernel / "vmlinux"):
        assert guest_read(k, paddr, 4096) == data[off:off + 4096]
        assert guest_read(k, paddr + filesz - 4096, 4096) == data[off + filesz - 4096:off + filesz]
        if memsz > filesz:
            assert guest_read(k, paddr + filesz, min(memsz - filesz, 4096)) == \
                bytes(min(memsz - filesz, 4096))

    # linux_banner where System.map says, without KASLR.
    phys = system_map_symbol(debian_kernel / "System.map", "linux_banner") - KERNEL_MAP_BASE
    banner = guest_read(k, phys, 512).split(b"\0")[0]
    version = (debian_kernel / "version").read_text().strip()
    assert banner.startswith(f"Linux version {version} ".encode()), banner


def test_bzimage_zero_page_and_initrd(kvmfs, debian_kernel, tmp_path):
    vmlinuz = (debian_kernel / "vmlinuz").read_bytes()
    initrd = tmp_path / "initrd"
    blob = os.urandom(300 * 1024 + 123)
    initrd.write_bytes(blob)
    k = kvmfs("-S", "-m", "512M", "-kernel", debian_kernel / "vmlinuz", "-initrd", initrd,
              "-append", CMDLINE)
    bp, e820 = zero_page(k)
    setup = ((vmlinuz[0x1F1] or 4) + 1) * 512
    hdr_end = 0x202 + vmlinuz[0x201]
    # The file's setup header, except the fields a loader fills in.
    filled = {0x210, 0x218, 0x219, 0x21A, 0x21B, 0x21C, 0x21D, 0x21E, 0x21F,
              0x228, 0x229, 0x22A, 0x22B}
    for off in range(0x1F1, hdr_end):
        if off not in filled:
            assert bp[off] == vmlinuz[off], hex(off)
    assert struct.unpack_from("<H", bp, 0x206)[0] >= 0x0206
    assert bp[0x210] == 0xFF
    assert struct.unpack_from("<I", bp, 0x214)[0] == 0x100000  # code32_start
    assert guest_read(k, 0x100000, 65536) == vmlinuz[setup:setup + 65536]
    check_e820(k, e820)

    image, size = struct.unpack_from("<II", bp, 0x218)
    addr_max, = struct.unpack_from("<I", bp, 0x22C)
    low_end = max(e for s, e, t in e820 if t == 1 and e <= 1 << 32)
    assert size == len(blob)
    assert image % 4096 == 0
    assert image + size - 1 <= addr_max and image + size <= low_end
    assert guest_read(k, image, size) == blob


# ---- a real boot: needs /dev/kvm ---------------------------------------------

def console(k):
    try:
        return Path(k.path("console")).read_text(errors="replace")
    except OSError:
        return ""


E820_LINE = re.compile(r"BIOS-e820: \[mem (0x[0-9a-f]+)-(0x[0-9a-f]+)\] (\w+)")


def map_complete(text):
    """The e820 map is printed whole: some other line follows its entries.
    Only whole lines count: the console may end mid-way through an entry."""
    i = text.find("BIOS-provided physical RAM map")
    return i >= 0 and any("BIOS-e820" not in l for l in text[i:].split("\n")[1:-1])


def boot(kvmfs, debian_kernel, machine, size, *args):
    require_guest("booting Debian's kernel needs KVM")
    k = kvmfs("-M", machine, "-m", size, *args, "-kernel", debian_kernel / "vmlinux",
              "-append", CMDLINE)
    k.wait_guest(lambda: map_complete(console(k)), "Linux's e820 map on the console",
                 BOOT_TIMEOUT)
    return k


@pytest.mark.parametrize("machine,size", [("pc", "6G"), ("q35", "6G"), ("pc", "1G")],
                         ids=["pc-6G", "q35-6G", "pc-1G"])
@pytest.mark.guest
def test_boot_banner_and_e820(kvmfs, debian_kernel, machine, size):
    k = boot(kvmfs, debian_kernel, machine, size)
    text = console(k)
    assert "Linux version " in text, text[-2000:] + k.stderr()
    assert "Linux version " in k.stdout()  # the console is echoed to stdout too
    assert "BIOS-provided physical RAM map" in text
    got = [(int(a, 16), int(b, 16) + 1) for a, b, t in E820_LINE.findall(text) if t == "usable"]
    want = minus(flatview_ram(k), LOW_RESERVED)
    assert got == want
    assert any(s >= 1 << 32 for s, e in got) == (size == "6G")


@pytest.mark.guest
def test_smp_acpi_and_host_words(kvmfs, debian_kernel):
    """Linux finds both vCPUs and the IOAPIC through kvmfs's ACPI MADT and
    brings the second one up.  Where the host's KVM emulates ring 0, kvmfs
    says so and Linux's command line starts with the words that keep it off
    the features the host forces (noxsave, clearcpuid=...), which Linux
    acts on; kvmfs finished the int3 of Linux's own self-test.  Elsewhere
    the command line is the user's alone."""
    k = boot(kvmfs, debian_kernel, "pc", "1G", "-smp", "2")
    brought_up = re.compile(r"^\[ *[0-9.]+\] smp: Brought up ([^\r\n]*)\r?\n", re.M)
    k.wait_guest(lambda: brought_up.search(console(k)), "smp: Brought up", BOOT_TIMEOUT)
    text = console(k)
    assert brought_up.search(text).group(1) == "1 node, 2 CPUs", text[-3000:]
    assert "ACPI: Using ACPI (MADT) for SMP configuration information" in text
    assert re.search(r"IOAPIC\[0\]: apic_id 2, version 17, address 0xfec00000, GSI 0-23", text)
    cmdline = re.search(r"^\[ *[0-9.]+\] Command line: (.*)$", text, re.M).group(1)
    if ring0_emulated():
        assert "guest ring 0 is emulated" in k.stderr()
        assert cmdline == f"{HOST_WORDS} {CMDLINE}", cmdline
        assert "Clearing CPUID bits: popcnt ssse3 sse4_1 sse4_2 aes pclmulqdq sha_ni smap" in text
        assert "x87 FPU will use FXSAVE" in text
        with open(k.path("vcpus", "0", "completions")) as f:
            done = dict(l.split() for l in f)
        assert int(done["int3"]) >= 1, done  # alternatives' int3 self-test
    else:
        assert "ring 0 is emulated" not in k.stderr()
        assert cmdline == CMDLINE, cmdline


@pytest.mark.guest
def test_banner_in_guest_memory(kvmfs, debian_kernel):
    k = boot(kvmfs, debian_kernel, "pc", "1G")
    m = re.search(r"(Linux version [^\n]*)", console(k))
    assert m, console(k)[-2000:]
    Path(k.path("ctl")).write_text("stop\n")
    virt = system_map_symbol(debian_kernel / "System.map", "linux_banner")
    phys = virt - KERNEL_MAP_BASE
    mem = guest_read(k, phys, 1024).split(b"\0")[0].decode(errors="replace")
    assert mem.rstrip("\n") == m.group(1).rstrip()

    with open(k.path("vcpus", "0", "translate"), "r+") as f:
        f.write(hex(virt))
        f.seek(0)
        walk = f.read()
    pa = re.search(r"^pa (0x[0-9a-f]+)", walk, re.M)
    assert pa, walk
    assert int(pa.group(1), 16) == phys


# ---- user space: Debian's kernel with a busybox initramfs -----------------------

INITRAMFS = ROOT / "build" / "initramfs.cpio"
MAKE_INITRAMFS = ROOT / "tools" / "make-initramfs.sh"
MARKER = b"KVMFS_MARKER=kvmfs-userspace-marker-7f3a9c21"  # tools/make-initramfs.sh
# Whole lines only (the "\n"): the console may end in the middle of the address.
MARKER_LINE = re.compile(r"kvmfs-initramfs: marker pid (\d+) env (0x[0-9a-f]+)-(0x[0-9a-f]+)\r?\n")


@pytest.fixture(scope="module")
def initramfs():
    r = subprocess.run([str(MAKE_INITRAMFS), str(INITRAMFS)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return INITRAMFS


def phys_find(path, needle):
    """Every GPA where needle is in phys, visiting only its data (SEEK_DATA)."""
    found, chunk = [], 1 << 20
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        off = 0
        while off < size:
            try:
                off = os.lseek(fd, off, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(fd, off, os.SEEK_HOLE)
            while off < end:
                data = os.pread(fd, min(chunk + len(needle), end - off), off)
                i = data.find(needle)
                while i >= 0:
                    found.append(off + i)
                    i = data.find(needle, i + 1)
                off += chunk
    finally:
        os.close(fd)
    return sorted(set(found))


INIT_DIES_AT_SYSCALL = re.compile(
    r"init\[1\]: segfault at ([0-9a-f]+) ip ([0-9a-f]+) sp [0-9a-f]+ error (\d+)")


# Left out under ASan: Linux to /init runs the same kvmfs code as the other
# guest tests (the loader, exits, completions), and where ring 0 is emulated
# it takes a quarter of an hour; the plain run has it.
@pytest.mark.asan_skip
@pytest.mark.guest
def test_linux_user_space(kvmfs, debian_kernel, initramfs):
    """Debian's kernel runs the busybox initramfs's /init (its marker line on
    the console); the string its marker process keeps in its environment is
    found through phys, and that process's page tables, walked through
    vcpus/0/translate from the environment's virtual address, lead to the
    same bytes.

    Where ring 0 is emulated (kvm_pvm) the initcalls end and /init starts,
    but its first SYSCALL arrives at entry_SYSCALL_64 still in user mode
    (measured with a probe: kvm_pvm does not take a guest that is not a PVM
    kernel to ring 0 on SYSCALL), and the kernel panics: there that stop is
    checked, against System.map, and the test then skips, saying that user
    space could not run - unless the host has learnt to do it, in which case
    the marker is checked as everywhere else."""
    require_guest("booting Debian's kernel needs KVM")
    k = kvmfs("-M", "pc", "-m", "1G", "-kernel", debian_kernel / "vmlinux", "-initrd", initramfs,
              "-append", CMDLINE)
    k.wait_guest(lambda: MARKER_LINE.search(console(k)) or INIT_DIES_AT_SYSCALL.search(console(k)),
                 "the initramfs's marker line, or /init's end", LINUX_USER_TIMEOUT)
    assert "Run /init as init process" in console(k)
    if not MARKER_LINE.search(console(k)):
        assert ring0_emulated(), console(k)[-3000:]
        addr, ip, _ = INIT_DIES_AT_SYSCALL.search(console(k)).groups()
        assert int(addr, 16) == int(ip, 16) == system_map_symbol(debian_kernel / "System.map", "entry_SYSCALL_64")
        assert k.proc.poll() is None and is_mounted(k.mnt)
        pytest.skip("ring 0 is emulated here (kvm_pvm): /init's first SYSCALL reaches "
                    "entry_SYSCALL_64 in user mode and the kernel panics (checked); no user "
                    "space runs, so the marker, phys and translate checks cannot")
    assert "kvmfs-initramfs: /init running (pid 1," in console(k)
    pid, start, end = MARKER_LINE.search(console(k)).groups()
    start, end = int(start, 16), int(end, 16)

    # Stopped while the marker process runs (it spins; the shell waits for
    # input), vCPU 0's CR3 is its page tables; if not, let it run again, to
    # its next timer tick (jiffies_64, read through phys), and stop it there.
    jiffies_pa = system_map_symbol(debian_kernel / "System.map", "jiffies_64") - KERNEL_MAP_BASE
    walk = ""
    for _ in range(20):
        Path(k.path("ctl")).write_text("stop\n")
        with open(k.path("vcpus", "0", "translate"), "r+") as f:
            f.write(hex(start))
            f.seek(0)
            walk = f.read()
        if re.search(r"^pa 0x", walk, re.M):
            break
        jiffies = guest_read(k, jiffies_pa, 8)
        Path(k.path("ctl")).write_text("cont\n")
        k.wait_guest(lambda: guest_read(k, jiffies_pa, 8) != jiffies, "a timer tick after cont")
    pa = re.search(r"^pa (0x[0-9a-f]+)", walk, re.M)
    assert pa, walk
    pa = int(pa.group(1), 16)
    with open(k.path("phys"), "rb") as f:
        f.seek(pa)
        env = f.read(min(end - start, 4096 - (start & 4095)))
    assert MARKER in env, env
    # phys has it where the walk says (and perhaps elsewhere: /init's copy).
    assert pa + env.index(MARKER) in phys_find(k.path("phys"), MARKER)
