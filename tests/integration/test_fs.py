"""The FUSE tree, through a real mount and real tools (ls, hexdump, dd, cat,
stat, python's mmap), checked against what kvmfs's own memory holds
(/proc/PID/mem at the host addresses memslots.json gives).

Without /dev/kvm kvmfs runs with -accel none: the machine, its RAM blocks and
the tree exist, no guest runs; the tests that need a guest skip.

Run: python3 -m pytest -q tests/integration/test_fs.py
"""
import ctypes
import errno
import json
import mmap
import os
import re
import select
import signal
import struct
import subprocess
import time

import pytest

from conftest import (FIRMWARE, MAILBOX_ACK_GPA, ROOT, STATUS_GPA, STATUS_MAGIC, command_acked,
                      have_kvm, is_mounted, maps_entry, proc_mem, read, require_guest,
                      ring0_emulated, send_command, wait_for)

# -S: these tests are about the filesystem; a running guest would rewrite the
# very bytes they write (its records, its status page).
PC_6G = ("-M", "pc", "-m", "6G", "-S")
GIB = 1 << 30
RAM_6G = 6 * GIB
SPLIT = 0xC0000000  # pc.ram offset that is mapped at 4G once RAM is split
ROM_SIZE = 0x20000
BIOS_SIZE = 0x40000
TEXT_FILES = ["ramblocks.json", "ramblocks.txt", "regions", "regions.json", "flatview",
              "flatview.json", "memslots", "memslots.json", "phys.json", "layout.svg"]
# QEMU 7.2's `info mtree -f` of -M pc -m 6G, its ranges as (start, last,
# region, type, priority, offset in the region): written out here, not read
# from kvmfs (tests/unit/test_layout.c checks kvmfs's model against QEMU).
FLATVIEW_PC_6G = [
    (0x0, 0xbffff, "pc.ram", "ram", 0, 0x0),
    (0xc0000, 0xdffff, "pc.rom", "rom", 1, 0x0),
    (0xe0000, 0xfffff, "pc.bios", "rom", 0, 0x20000),
    (0x100000, 0xbfffffff, "pc.ram", "ram", 0, 0x100000),
    (0xfffc0000, 0xffffffff, "pc.bios", "rom", 0, 0x0),
    (0x100000000, 0x1bfffffff, "pc.ram", "ram", 0, SPLIT),
]
ROOT_ENTRIES = sorted(TEXT_FILES + ["console", "ctl", "ramblocks", "phys", "vmcore", "dirty",
                                    "vcpus"])
C_ENV = dict(os.environ, LC_ALL="C")
# How long to wait for something that must happen.  Generous: the machine is
# shared and loaded, and how fast it happens is make bench's business.
WAIT = 60.0
GUEST_BINS = ROOT / "build" / "guest"
# include/kvmfs/guest.h


def slots_of(k):
    return json.loads(read(k.path("memslots.json")))


def host_addr(slots, block, offset):
    """Host address of `offset` in `block`, from the memslot that maps it."""
    for s in slots:
        if s["ramblock"] == block and s["offset"] <= offset < s["offset"] + s["memory_size"]:
            return s["userspace_addr"] + offset - s["offset"]
    raise AssertionError(f"no memslot maps {block}+{offset:#x}")


def dd(path, offset, size):
    return subprocess.run(["dd", f"if={path}", "bs=4096", "iflag=skip_bytes,count_bytes",
                           f"skip={offset}", f"count={size}", "status=none"],
                          capture_output=True, check=True).stdout


def pattern(offset, size):
    """Bytes that differ at every offset and between offsets (and are never all zero)."""
    seed = offset.to_bytes(8, "little")
    out = bytearray()
    i = 0
    while len(out) < size:
        out += seed + i.to_bytes(8, "little")
        i += 1
    return bytes(out[:size])


def expect_errno(codes, fn, *args):
    with pytest.raises(OSError) as e:
        fn(*args)
    assert e.value.errno in codes, f"{fn.__name__}{args}: {e.value}"


# ---- the tree and its views ----

def test_ls_R_lists_exactly_the_tree(kvmfs):
    k = kvmfs(*PC_6G)
    out = subprocess.run(["ls", "-R", k.mnt], capture_output=True, text=True, check=True,
                         env=C_ENV).stdout
    vcpus = ("0\n\n{m}/vcpus/0:\ncompletions\nregs\nregs.json\nsregs\nsregs.json\ntranslate\n"
             "vmem\n") if have_kvm() else ""
    expected = (f"{k.mnt}:\n" + "".join(f"{e}\n" for e in ROOT_ENTRIES) + "\n"
                f"{k.mnt}/dirty:\npc.ram\npc.ram.bitmap\n\n"
                f"{k.mnt}/ramblocks:\npc.bios\npc.ram\npc.rom\n\n"
                f"{k.mnt}/vcpus:\n" + vcpus.format(m=k.mnt))
    assert out == expected


def test_text_views_for_pc_6g(kvmfs):
    k = kvmfs(*PC_6G)
    accel = " KVM" if have_kvm() else ""
    flat = read(k.path("flatview")).decode()
    assert ("  0000000100000000-00000001bfffffff (prio 0, ram): pc.ram @00000000c0000000"
            + accel + "\n") in flat
    assert ("  00000000fffc0000-00000000ffffffff (prio 0, rom): pc.bios" + accel + "\n") in flat

    regions = read(k.path("regions")).decode()
    assert regions.startswith("address-space: memory\n")
    assert ("0000000100000000-00000001bfffffff (prio 0, ram): alias ram-above-4g @pc.ram "
            "00000000c0000000-000000017fffffff\n") in regions

    slots = read(k.path("memslots")).decode().splitlines()
    assert slots[0].split() == ["slot", "flags", "guest_phys_addr", "memory_size",
                                "userspace_addr", "ramblock", "offset"]
    above = [line.split() for line in slots[1:] if line.split()[2] == "0x0000000100000000"]
    assert len(above) == 1
    assert above[0][3] == "0x00000000c0000000"
    assert above[0][5:] == ["pc.ram", "0x00000000c0000000"]

    txt = read(k.path("ramblocks.txt")).decode()
    assert re.search(r"^\s+pc\.ram\s+4 KiB\s+0x0000000000000000 0x0000000180000000 "
                     r"0x0000000180000000$", txt, re.M), txt


def test_json_views_for_pc_6g(kvmfs):
    k = kvmfs(*PC_6G)
    docs = {name: json.loads(read(k.path(name))) for name in TEXT_FILES if
            name.endswith(".json")}

    slots = docs["memslots.json"]
    above = [s for s in slots if s["guest_phys_addr"] == 0x100000000]
    assert len(above) == 1
    assert above[0]["ramblock"] == "pc.ram"
    assert above[0]["offset"] == SPLIT
    assert above[0]["memory_size"] == RAM_6G - SPLIT
    assert not above[0]["readonly"]
    low = [s for s in slots if s["ramblock"] == "pc.ram" and s["guest_phys_addr"] == 0x100000]
    assert low and low[0]["offset"] == 0x100000 and low[0]["memory_size"] == SPLIT - 0x100000
    bios = [s for s in slots if s["guest_phys_addr"] == 0xFFFC0000]
    assert bios and bios[0]["ramblock"] == "pc.bios" and bios[0]["readonly"]

    blocks = {b["idstr"]: b for b in docs["ramblocks.json"]}
    assert set(blocks) == {"pc.ram", "pc.bios", "pc.rom"}
    assert blocks["pc.ram"]["used_length"] == RAM_6G
    assert blocks["pc.bios"]["used_length"] == BIOS_SIZE and blocks["pc.bios"]["readonly"]
    # The pc.ram slots are windows into pc.ram itself.
    assert above[0]["userspace_addr"] == blocks["pc.ram"]["host"] + SPLIT

    # Every range, every field: start and last from QEMU's own listing, so
    # that a `last` (or a size) off by one shows here, not only in a picture.
    flat = [(r["start"], r["last"], r["size"], r["region"], r["type"], r["priority"],
             r["offset"], r["readonly"], r["ramblock"]) for r in docs["flatview.json"]]
    assert flat == [(start, last, last - start + 1, region, kind, prio, off, kind == "rom",
                     region) for start, last, region, kind, prio, off in FLATVIEW_PC_6G]

    regions = docs["regions.json"]
    assert regions["address_space"] == "memory"
    assert regions["root"]["name"] == "system"
    names = {r["name"] for r in regions["root"]["subregions"]}
    assert {"ram-below-4g", "ram-above-4g", "pci"} <= names


def test_sizes_owner_and_modes(kvmfs):
    k = kvmfs(*PC_6G)
    for name in TEXT_FILES + ["console", "ctl"]:
        st = os.stat(k.path(name))
        data = read(k.path(name))
        assert st.st_size == len(data), name
        assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid()), name
        assert st.st_mode & 0o7777 == (0o600 if name == "ctl" else 0o444), name
    # `stat` the tool agrees with os.stat.
    out = subprocess.run(["stat", "-c", "%s %a %F", k.path("ramblocks", "pc.ram")],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[:2] == [str(RAM_6G), "400"]
    for name, size in (("pc.ram", RAM_6G), ("pc.bios", BIOS_SIZE), ("pc.rom", ROM_SIZE)):
        st = os.stat(k.path("ramblocks", name))
        assert st.st_size == size
        assert st.st_mode & 0o7777 == 0o400
    assert os.stat(k.path("ramblocks")).st_mode & 0o7777 == 0o555
    # cat reads the same bytes python does.
    cat = subprocess.run(["cat", k.path("flatview.json")], capture_output=True, check=True)
    assert cat.stdout == read(k.path("flatview.json"))


def test_hexdump_shows_the_reset_vector(kvmfs):
    k = kvmfs(*PC_6G)
    fw = read(FIRMWARE)
    assert len(fw) == BIOS_SIZE
    assert fw[-16:] != b"\xff" * 16  # the reset vector's jump is there
    out = subprocess.run(["hexdump", "-C", "-n", "64", "-s", str(BIOS_SIZE - 64),
                          k.path("ramblocks", "pc.bios")],
                         capture_output=True, text=True, check=True).stdout
    data = bytearray()
    last = None
    for line in out.splitlines():
        if line == "*":  # hexdump folds repeated lines
            continue
        m = re.match(r"^([0-9a-f]{8})  ((?:[0-9a-f]{2} +)+)", line)
        if not m:
            continue
        off = int(m.group(1), 16)
        if last is not None:
            while BIOS_SIZE - 64 + len(data) < off:
                data += last
        last = bytes.fromhex(m.group(2).replace(" ", ""))
        data += last
    assert bytes(data[:64]) == fw[-64:]


# ---- RAM contents: FS, dd, mmap and the process's own memory agree ----

# Below and above the 4G split of pc.ram, unaligned ones too; 4 KiB at each, none overlapping.
OFFSETS = [0x1000, 0x100000 + 123, SPLIT - 3 * 4096 - 3, SPLIT - 4096, SPLIT, SPLIT + 0x12345679,
           RAM_6G - 4096]


@pytest.mark.parametrize("mode", [[], ["-o", "direct_io"]], ids=["cached", "direct_io"])
def test_written_pattern_reads_back_everywhere(kvmfs, mode):
    k = kvmfs(*PC_6G, "--writable", *mode)
    ram = k.path("ramblocks", "pc.ram")
    slots = slots_of(k)
    assert os.stat(ram).st_mode & 0o777 == 0o600

    fd = os.open(ram, os.O_RDWR)
    try:
        for off in OFFSETS:
            assert os.pwrite(fd, pattern(off, 4096), off) == 4096
    finally:
        os.close(fd)

    for off in OFFSETS:
        want = pattern(off, 4096)
        # The bytes really are in guest memory, where the memslot says.
        assert proc_mem(k.pid, host_addr(slots, "pc.ram", off), 4096) == want, hex(off)
        assert dd(ram, off, 4096) == want, hex(off)
        with open(ram, "rb") as f:
            f.seek(off)
            assert f.read(4096) == want, hex(off)

    with open(ram, "rb") as f:
        if mode:
            # direct_io files cannot be mapped shared: documented.
            expect_errno({errno.ENODEV}, mmap.mmap, f.fileno(), 0, mmap.MAP_SHARED,
                         mmap.PROT_READ)
        else:
            with mmap.mmap(f.fileno(), 0, mmap.MAP_SHARED, mmap.PROT_READ) as m:
                assert len(m) == RAM_6G
                for off in OFFSETS:
                    assert m[off:off + 4096] == pattern(off, 4096), hex(off)

    # A 1 MiB read across the 4G split returns both sides in order.
    big = dd(ram, SPLIT - 2048 - 512 * 1024, 1 << 20)
    want = (proc_mem(k.pid, host_addr(slots, "pc.ram", SPLIT - 2048 - 512 * 1024), 512 * 1024 + 2048)
            + proc_mem(k.pid, host_addr(slots, "pc.ram", SPLIT), 512 * 1024 - 2048))
    assert big == want
    assert pattern(SPLIT, 4096)[:64] in big


def test_shared_writable_mapping_reaches_guest_memory(kvmfs):
    k = kvmfs(*PC_6G, "--writable")
    ram = k.path("ramblocks", "pc.ram")
    slots = slots_of(k)
    win = SPLIT + 0x200000
    with open(ram, "r+b") as f:
        with mmap.mmap(f.fileno(), 0x200000, mmap.MAP_SHARED,
                       mmap.PROT_READ | mmap.PROT_WRITE, offset=win) as m:
            m[0x1234:0x1234 + 4096] = pattern(win, 4096)
            m.flush()
    assert proc_mem(k.pid, host_addr(slots, "pc.ram", win + 0x1234), 4096) == pattern(win, 4096)


def test_rom_blocks_writable_only_with_writable(kvmfs):
    k = kvmfs(*PC_6G, "--writable")
    bios = k.path("ramblocks", "pc.bios")
    slots = slots_of(k)
    fd = os.open(bios, os.O_WRONLY)
    try:
        assert os.pwrite(fd, b"KVMFSROM", 0x1000) == 8
    finally:
        os.close(fd)
    assert proc_mem(k.pid, host_addr(slots, "pc.bios", 0x1000), 8) == b"KVMFSROM"


def test_read_only_without_writable(kvmfs):
    k = kvmfs(*PC_6G)
    slots = slots_of(k)
    for name in ("pc.ram", "pc.bios", "pc.rom"):
        path = k.path("ramblocks", name)
        before = read(path) if name != "pc.ram" else dd(path, SPLIT, 65536)
        for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC, os.O_RDWR | os.O_APPEND):
            expect_errno({errno.EACCES, errno.EROFS}, os.open, path, flags)
        expect_errno({errno.EACCES, errno.EPERM, errno.EROFS}, os.truncate, path, 0)
        with open(path, "rb") as f:
            # No shared writable mapping through a read-only descriptor.
            expect_errno({errno.EACCES}, mmap.mmap, f.fileno(), 4096, mmap.MAP_SHARED,
                         mmap.PROT_READ | mmap.PROT_WRITE)
        after = read(path) if name != "pc.ram" else dd(path, SPLIT, 65536)
        assert after == before
        assert os.stat(path).st_size == {"pc.ram": RAM_6G, "pc.bios": BIOS_SIZE,
                                         "pc.rom": ROM_SIZE}[name]
    assert proc_mem(k.pid, host_addr(slots, "pc.ram", SPLIT), 65536) == dd(
        k.path("ramblocks", "pc.ram"), SPLIT, 65536)


@pytest.mark.parametrize("mode", [[], ["-o", "direct_io"]], ids=["cached", "direct_io"])
def test_eof_and_huge_offsets(kvmfs, mode):
    k = kvmfs("-M", "pc", "-m", "128M", "--writable", *mode)
    rom = k.path("ramblocks", "pc.rom")
    fd = os.open(rom, os.O_RDWR)
    try:
        assert os.pread(fd, 4096, ROM_SIZE) == b""
        assert os.pread(fd, 4096, ROM_SIZE + 10**9) == b""
        assert len(os.pread(fd, 100, ROM_SIZE - 10)) == 10
        assert len(os.pread(fd, 1 << 20, 0)) == ROM_SIZE
        # The largest offsets the kernel passes on (it refuses off + count > 2^63 - 1).
        assert os.pread(fd, 4095, 2**63 - 4096) == b""
        assert os.pread(fd, 1, 2**63 - 2) == b""
        assert os.pread(fd, 0, 2**63 - 1) == b""
        try:
            assert os.pread(fd, 1, 2**63 - 1) == b""
        except OSError as e:
            assert e.errno == errno.EINVAL  # the VFS's own overflow check

        # Writes never grow a RAM file.
        expect_errno({errno.ENOSPC, errno.EFBIG}, os.pwrite, fd, b"x" * 10, ROM_SIZE)
        expect_errno({errno.ENOSPC, errno.EFBIG}, os.pwrite, fd, b"x" * 10, 2**62)
        assert os.pwrite(fd, b"y" * 100, ROM_SIZE - 10) == 10
        assert os.pread(fd, 100, ROM_SIZE - 10) == b"y" * 10
        assert os.fstat(fd).st_size == ROM_SIZE
    finally:
        os.close(fd)
    # O_APPEND: the file is full, so every append fails; O_TRUNC and truncate are refused.
    fd = os.open(rom, os.O_WRONLY | os.O_APPEND)
    try:
        expect_errno({errno.ENOSPC, errno.EFBIG}, os.write, fd, b"z")
    finally:
        os.close(fd)
    expect_errno({errno.EPERM}, os.open, rom, os.O_RDWR | os.O_TRUNC)
    expect_errno({errno.EPERM}, os.truncate, rom, 0)
    expect_errno({errno.EPERM}, os.truncate, rom, 2 * ROM_SIZE)
    assert os.stat(rom).st_size == ROM_SIZE
    assert read(rom)[-10:] == b"y" * 10


def test_text_files_and_tree_refuse_changes(kvmfs):
    k = kvmfs(*PC_6G, "--writable")
    for name in TEXT_FILES + ["console"]:
        for flags in (os.O_WRONLY, os.O_RDWR):
            expect_errno({errno.EACCES}, os.open, k.path(name), flags)
        r = subprocess.run(["sh", "-c", f"echo x > '{k.path(name)}'"], capture_output=True)
        assert r.returncode != 0
        expect_errno({errno.EPERM, errno.EACCES}, os.chmod, k.path(name), 0o666)
    changes = [
        (os.open, k.path("new"), os.O_CREAT | os.O_WRONLY, 0o644),
        (os.mkdir, k.path("ramblocks", "d")),
        (os.unlink, k.path("flatview")),
        (os.unlink, k.path("ramblocks", "pc.rom")),
        (os.rmdir, k.path("ramblocks")),
        (os.rename, k.path("regions"), k.path("regions2")),
        (os.symlink, "flatview", k.path("link")),
        (os.link, k.path("flatview"), k.path("hard")),
        (os.chmod, k.path("ramblocks", "pc.ram"), 0o666),
    ]
    for fn, *args in changes:
        expect_errno({errno.EPERM, errno.EACCES}, fn, *args)
    out = subprocess.run(["ls", k.mnt], capture_output=True, text=True, check=True,
                         env=C_ENV).stdout.split()
    assert out == ROOT_ENTRIES


# ---- ctl ----

def ctl_lines(k):
    return read(k.path("ctl")).decode().splitlines()


def ctl_write(k, word):
    with open(k.path("ctl"), "w") as f:
        f.write(word + "\n")


def test_ctl(kvmfs):
    k = kvmfs(*PC_6G)
    ctl = k.path("ctl")
    # -S: built, not started; QEMU's `info status` says "paused (prelaunch)".
    status = read(ctl).decode()
    assert status == ("paused (prelaunch)\n" if have_kvm() else "no vcpus (-accel none)\n")

    fd = os.open(ctl, os.O_WRONLY)
    try:
        for bad in (b"bogus", b"stop now", b"\n", b"STOP", b"stop\n\n", b"stop" + b" " * 61,
                    b"cont" * 20):
            expect_errno({errno.EINVAL}, os.write, fd, bad)
        assert os.write(fd, b"stop\n") == 5
        assert os.write(fd, b"stop") == 4
    finally:
        os.close(fd)
    # The shell's way: open with O_TRUNC, one write with a newline.
    r = subprocess.run(["sh", "-c", f"echo stop > '{ctl}'"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    if have_kvm():
        # As in QEMU, stop before the first cont leaves the VM in prelaunch.
        assert read(ctl) == b"paused (prelaunch)\n"
        ctl_write(k, "cont")
        assert read(ctl) == b"running\n"
        ctl_write(k, "stop")
        assert read(ctl) == b"paused\n"
        ctl_write(k, "cont")
        assert read(ctl) == b"running\n"
    else:
        fd = os.open(ctl, os.O_WRONLY)
        try:
            # Nothing to run without a VM.
            expect_errno({errno.ENODEV}, os.write, fd, b"cont")
        finally:
            os.close(fd)
        # The state, then why cont was refused (test_error_remedies.py has the words).
        lines = read(ctl).decode().splitlines()
        assert lines[0] == "no vcpus (-accel none)" and lines[1].startswith("refused: 'cont'")
    assert os.stat(ctl).st_size == len(read(ctl))


def ram_pread(k, off, size):
    fd = os.open(k.path("ramblocks", "pc.ram"), os.O_RDONLY)
    try:
        return os.pread(fd, size, off)
    finally:
        os.close(fd)


@pytest.mark.parametrize("how", ["triple-fault", "guest-exception", "ring0"])
@pytest.mark.guest
def test_ctl_after_the_guest_stops_for_good(kvmfs, how):
    """A guest that stops for good: ctl reads the state line as QEMU names
    it, then one diagnostic line, and cont is refused (EPERM)."""
    require_guest("the guest must run to stop")
    if how == "triple-fault":
        k = kvmfs("-M", "pc", "-m", "64M", "-bios", GUEST_BINS / "triplefault.bin")
        state, what = "paused (shutdown)", "KVM_EXIT_SHUTDOWN (triple fault)"
    elif how == "guest-exception":
        # The built-in guest's "fault 13": #GP in ring 3, caught by its IDT.
        k = kvmfs("-M", "pc", "-m", "64M", "--writable")
        assert wait_for(lambda: ram_pread(k, STATUS_GPA, 8) == STATUS_MAGIC, WAIT), k.stderr()
        send_command(k, 7, "fault 13")
        state, what = "paused (guest-panicked)", "guest exception #GP(0)"
    else:
        # tests/guest/ring0.S ends with an xrstor that KVM's emulator cannot
        # run where ring 0 is emulated (kvm_pvm); elsewhere it raises #UD in
        # the guest, which halts and stays "running" (test_guest.py's
        # test_ring0_instructions checks that).
        if not ring0_emulated():
            pytest.skip("ring 0 runs natively here: ring0.bin's xrstor raises #UD in the "
                        "guest, which does not stop the VM")
        k = kvmfs("-M", "pc", "-m", "64M", "-bios", GUEST_BINS / "ring0.bin")
        state, what = "paused (internal-error)", "KVM_EXIT_INTERNAL_ERROR"
    assert wait_for(lambda: ctl_lines(k)[0] != "running", WAIT), k.stderr()
    lines = ctl_lines(k)
    assert lines[0] == state and len(lines) == 2, lines
    assert what in lines[1], lines
    fd = os.open(k.path("ctl"), os.O_WRONLY)
    try:
        expect_errno({errno.EPERM}, os.write, fd, b"cont")
    finally:
        os.close(fd)
    # Unchanged, but for the last line: why cont was refused.
    assert ctl_lines(k)[:-1] == lines
    assert ctl_lines(k)[-1].startswith("refused: 'cont': the guest stopped for good")
    # With a mountpoint kvmfs stays, so that the stopped guest can be read.
    assert k.proc.poll() is None


# ---- mountpoints and ending ----

def _one_line_error(r, path):
    assert r.returncode != 0
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert str(path) in lines[0]
    return lines[0]


def test_bad_mountpoints(kvmfs, run_kvmfs, tmp_path):
    missing = tmp_path / "missing"
    line = _one_line_error(run_kvmfs(*PC_6G, mnt=missing), missing)
    assert "does not exist" in line
    assert not missing.exists()

    afile = tmp_path / "afile"
    afile.write_text("x")
    line = _one_line_error(run_kvmfs(*PC_6G, mnt=afile), afile)
    assert "not a directory" in line
    assert afile.read_text() == "x"

    full = tmp_path / "full"
    full.mkdir()
    (full / "f").write_text("x")
    line = _one_line_error(run_kvmfs(*PC_6G, mnt=full), full)
    assert "not empty" in line
    assert not is_mounted(full) and os.listdir(full) == ["f"]

    k = kvmfs(*PC_6G)
    line = _one_line_error(run_kvmfs(*PC_6G, mnt=k.mnt), k.mnt)
    assert "already a FUSE mount" in line
    # The first kvmfs is untouched.
    assert k.proc.poll() is None and is_mounted(k.mnt)
    assert sorted(os.listdir(k.mnt)) == ROOT_ENTRIES


def _make_dead_fuse_mount(path):
    """Mount a FUSE connection whose server is already gone: stat gives ENOTCONN."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/dev/fuse", os.O_RDWR)
    try:
        opts = f"fd={fd},rootmode=40000,user_id={os.getuid()},group_id={os.getgid()}"
        if libc.mount(b"kvmfs-test-dead", str(path).encode(), b"fuse", 0, opts.encode()):
            e = ctypes.get_errno()
            pytest.fail(f"root could not mount a FUSE connection by hand: {os.strerror(e)}")
    finally:
        os.close(fd)  # the "server" dies: the mount stays, dead


def test_dead_fuse_mount_is_reported(run_kvmfs, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("not root: making a dead FUSE mount by hand needs root")
    dead = tmp_path / "dead"
    dead.mkdir()
    _make_dead_fuse_mount(dead)
    try:
        assert is_mounted(dead)
        expect_errno({errno.ENOTCONN}, os.stat, dead)
        r = run_kvmfs(*PC_6G, mnt=dead)
        line = _one_line_error(r, dead)
        assert "dead FUSE mount" in line and "fusermount3 -u" in line
    finally:
        subprocess.run(["fusermount3", "-u", "-z", str(dead)], check=False,
                       stderr=subprocess.DEVNULL)
    assert not is_mounted(dead)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP],
                         ids=["SIGTERM", "SIGINT", "SIGHUP"])
def test_signal_ends_cleanly(kvmfs, sig):
    k = kvmfs(*PC_6G)
    k.signal(sig)
    assert k.wait() == 0, k.stderr()
    assert not is_mounted(k.mnt)
    assert os.listdir(k.mnt) == []


def test_sigkill_leaves_no_dead_mount(kvmfs):
    k = kvmfs(*PC_6G)
    k.signal(signal.SIGKILL)
    k.wait()
    # auto_unmount: fusermount3 notices and unmounts.
    assert wait_for(lambda: not is_mounted(k.mnt), WAIT)
    assert os.listdir(k.mnt) == []
    k2 = kvmfs(*PC_6G, mnt=k.mnt)
    assert sorted(os.listdir(k2.mnt)) == ROOT_ENTRIES


def test_fusermount_u_ends_kvmfs(kvmfs):
    k = kvmfs(*PC_6G)
    subprocess.run(["fusermount3", "-u", k.mnt], check=True)
    assert k.wait() == 0, k.stderr()
    assert not is_mounted(k.mnt)


# ---- a running guest ----

@pytest.mark.guest
def test_guest_sees_mailbox_and_cache_follows_guest(kvmfs):
    require_guest("the mailbox and the heartbeat need a guest that runs")
    k = kvmfs("-M", "pc", "-m", "256M", "--writable")
    ram = k.path("ramblocks", "pc.ram")
    seq = int(time.time()) & 0xFFFFFF or 1
    text = b"hello from the host"

    with open(ram, "rb") as r, mmap.mmap(r.fileno(), 1 << 20, mmap.MAP_SHARED,
                                         mmap.PROT_READ) as m:
        assert wait_for(lambda: m[STATUS_GPA:STATUS_GPA + 8] == STATUS_MAGIC, WAIT)
        beat = struct.unpack_from("<Q", m, STATUS_GPA + 16)[0]
        # The guest's writes reach a mapping through the dirty-log
        # invalidation (how soon: tools/bench/fresh, make bench).
        assert wait_for(lambda: struct.unpack_from("<Q", m, STATUS_GPA + 16)[0] != beat, WAIT)

        send_command(k, seq, text.decode())
        assert wait_for(lambda: command_acked(ram, seq), WAIT)
        assert struct.unpack_from("<Q", m, MAILBOX_ACK_GPA)[0] == seq
    line = f"mailbox {seq}: {text.decode()}"
    assert wait_for(lambda: line in read(k.path("console")).decode(errors="replace"), WAIT)


@pytest.mark.guest
def test_regs_json_exact_only_while_stopped(kvmfs):
    """vcpus/N/regs.json says "exact": false while the guest runs (KVM's copy
    from the vCPU's last exit) and true once ctl stop has returned."""
    require_guest("registers are approximate only while a guest runs")
    k = kvmfs("-M", "pc", "-m", "64M")
    regs = k.path("vcpus", "0", "regs.json")
    assert read(k.path("ctl")) == b"running\n"
    assert json.loads(read(regs))["exact"] is False
    ctl_write(k, "stop")
    assert json.loads(read(regs))["exact"] is True
    ctl_write(k, "cont")
    assert json.loads(read(regs))["exact"] is False


@pytest.mark.guest
def test_translate_takes_decimal(kvmfs):
    """translate takes an address in decimal as well as 0x... hex, and
    walks the same: the built-in guest identity-maps its RAM (guest.h), so
    the walk ends at the physical address equal to the virtual one."""
    require_guest("translate walks a running guest's page tables")
    k = kvmfs("-M", "pc", "-m", "64M")
    assert wait_for(lambda: ram_pread(k, STATUS_GPA, 8) == STATUS_MAGIC, WAIT), k.stderr()
    ctl_write(k, "stop")
    va = 0x123457  # 1193047: reads differently as hex digits
    walks = []
    for text in (str(va), hex(va), f"{va}\n"):
        with open(k.path("vcpus", "0", "translate"), "r+") as f:
            f.write(text)
            f.flush()
            f.seek(0)
            walks.append(f.read())
    assert walks[0] == walks[1] == walks[2], walks
    assert f"va 0x{va:016x} " in walks[0], walks[0]
    assert f"pa 0x{va:016x} " in walks[0], walks[0]


@pytest.mark.guest
def test_text_file_is_one_snapshot_per_open(kvmfs):
    """An open text file keeps the snapshot rendered when it was opened,
    even after the state it shows changed; a new open renders anew."""
    require_guest("ctl must change from prelaunch to running")
    k = kvmfs("-M", "pc", "-m", "64M", "-S")
    fd = os.open(k.path("ctl"), os.O_RDONLY)
    try:
        assert os.pread(fd, 4096, 0) == b"paused (prelaunch)\n"
        ctl_write(k, "cont")
        assert read(k.path("ctl")) == b"running\n"
        assert os.pread(fd, 4096, 0) == b"paused (prelaunch)\n"
        assert os.pread(fd, 4096, 7) == b"(prelaunch)\n"
        assert os.fstat(fd).st_size == len(b"running\n")  # stat renders anew
    finally:
        os.close(fd)


def test_memslot_flags(kvmfs):
    """memslots' flags column: ro for the ROM blocks (pc.bios and pc.rom are
    ROM in QEMU's `info mtree -f`), log for RAM where KVM logs dirty pages,
    - where there is no KVM; memslots.json carries KVM's own flag bits
    (linux/kvm.h: KVM_MEM_LOG_DIRTY_PAGES 1, KVM_MEM_READONLY 2)."""
    k = kvmfs(*PC_6G)
    ram = "log" if have_kvm() else "-"
    want_text = {"pc.ram": ram, "pc.bios": "ro", "pc.rom": "ro"}
    want_bits = {"pc.ram": 1 if have_kvm() else 0, "pc.bios": 2, "pc.rom": 2}
    rows = [line.split() for line in read(k.path("memslots")).decode().splitlines()[1:]]
    assert rows and {r[5] for r in rows} == set(want_text)
    for r in rows:
        assert r[1] == want_text[r[5]], r
    for s in slots_of(k):
        assert s["flags"] == want_bits[s["ramblock"]], s


def test_ramblocks_json_flags(kvmfs):
    """ramblocks.json's flags against what the process really has: every
    block is a shared mapping of a memfd named after it (/proc/PID/maps);
    readonly exactly for the ROMs; none resizeable (QEMU's are only the
    fw_cfg blobs, which kvmfs has none of)."""
    k = kvmfs(*PC_6G)
    blocks = json.loads(read(k.path("ramblocks.json")))
    assert {b["idstr"] for b in blocks} == {"pc.ram", "pc.bios", "pc.rom"}
    for b in blocks:
        perms, path = maps_entry(k.pid, b["host"])
        assert b["fd_backed"] is True and path.startswith(f"/memfd:{b['idstr']}"), (b, path)
        assert b["shared"] is True and perms[3] == "s", (b, perms)
        assert b["readonly"] is (b["idstr"] in ("pc.bios", "pc.rom")), b
        assert b["resizeable"] is False, b


def test_readahead_is_1_mib(kvmfs):
    """As root kvmfs raises the mount's readahead to 1 MiB, in the kernel's
    own knob for the mount's device: /sys/class/bdi/MAJ:MIN/read_ahead_kb."""
    if os.geteuid() != 0:
        pytest.skip("not root: only root may set the mount's readahead")
    k = kvmfs(*PC_6G)
    dev = os.stat(k.mnt).st_dev
    with open(f"/sys/class/bdi/{os.major(dev)}:{os.minor(dev)}/read_ahead_kb") as f:
        assert int(f.read()) == 1024


@pytest.mark.guest
def test_tail_f_console(kvmfs):
    """tail -f MNT/console shows the guest's lines as they come."""
    require_guest("the console lines are the running guest's")
    k = kvmfs("-M", "pc", "-m", "64M")
    # Whole lines: the console may end in the middle of a number.
    assert wait_for(lambda: re.search(rb"^pass \d+\n", read(k.path("console")), re.M), WAIT)
    before = max(int(n) for n in re.findall(rb"^pass (\d+)\n", read(k.path("console")), re.M))
    tail = subprocess.Popen(["tail", "-n", "0", "-f", k.path("console")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        out = b""
        deadline = time.monotonic() + WAIT
        # Two passes later than any the file had when tail started: written
        # after tail was following it.
        while not any(int(n) >= before + 2 for n in re.findall(rb"^pass (\d+)$", out, re.M)):
            assert time.monotonic() < deadline, out
            ready, _, _ = select.select([tail.stdout], [], [], 1.0)
            if ready:
                chunk = os.read(tail.stdout.fileno(), 65536)
                assert chunk, "tail ended"
                out += chunk
        assert tail.poll() is None
    finally:
        tail.kill()  # that PID only
        tail.wait()
