"""Errors that say what to do (issue 22, §3): each mistake a new user makes
gets one stderr line naming the cause and the remedy, a non-zero exit and
nothing half-done - or, for a write the tree refuses, the reason read back
from the file - and a normal end prints nothing alarming.

  - an option after the mountpoint: options go before it;
  - /dev/kvm that the user may not open: the device's group to join, and
    -accel none - got from a real open() of a device node in a private
    /dev (a mount namespace), run as nobody: the kernel's own permission
    check, no KVM needed;
  - -m larger than can be reserved: why (the address space, ulimit -v) and
    the size that fits - which is then started, and must work;
  - -m 2049K: the ready line says the 2056K the guest has;
  - -bios files that cannot be firmware, each named for what it is;
  - ctl and vcpus/N/translate: a refused write fails, and the file then
    reads why until a write succeeds (a dump gives translate a vCPU here);
  - SIGINT while readers keep FUSE requests in flight: exit status 0, no
    libfuse "fuse: ..." line, the mount gone.

Run: python3 -m pytest -v -rs tests/integration/test_error_remedies.py
"""
import errno
import grp
import gzip
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import (KVMFS, READY, ROOT, STOP_TIMEOUT, have_kvm, is_mounted, read,
                      require_guest, wait_for)

GUEST_BINS = ROOT / "build" / "guest"
USAGE = "(usage: kvmfs [options] MOUNTPOINT)"


def one_line(r):
    """The one stderr line of a refused start (exit status 1)."""
    assert r.returncode == 1, (r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def nothing_left(mnt):
    assert not is_mounted(mnt)
    assert os.listdir(mnt) == []


def expect_errno(err, fn, *args):
    with pytest.raises(OSError) as e:
        fn(*args)
    assert e.value.errno == err, e.value


# ---- an option after the mountpoint ----

def test_option_after_the_mountpoint(run_kvmfs, kvmfs, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run([str(KVMFS), "-accel", "none", str(mnt), "-m", "1G"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=STOP_TIMEOUT)
    assert one_line(r) == (f"kvmfs: '-m' comes after the mountpoint {mnt}: options go "
                           f"before it {USAGE}")
    nothing_left(mnt)
    # A second word that is no option is a second mountpoint, and says the usage too.
    r = run_kvmfs("-m", "64M", tmp_path, mnt=mnt)
    assert one_line(r) == f"kvmfs: '{mnt}': only one mountpoint may be given {USAGE}"
    nothing_left(mnt)
    # The remedy, as said: the same words, options first.
    k = kvmfs("-m", "1G", mnt=mnt)
    assert f"-m 1G -smp 1" in k.stderr()


# ---- /dev/kvm that may not be opened ----

def _private_dev_run(tmp_path, node_group, node_mode, as_nobody):
    """kvmfs -m 64M (no mountpoint: the VM is all) in a mount namespace whose
    /dev is a tmpfs holding /dev/null and a /dev/kvm node (10:232, KVM's
    misc device number) with the group and mode given; as nobody or root.
    The host's /dev is untouched."""
    if os.geteuid() != 0:
        pytest.skip("needs root: a mount namespace and mknod")
    for tool in ("unshare", "setpriv", "mknod"):
        if not shutil.which(tool):
            pytest.skip(f"no {tool}")
    run_as = "setpriv --reuid 65534 --regid 65534 --clear-groups" if as_nobody else ""
    script = f"""set -e
mount --make-rprivate /
mount -t tmpfs -o mode=755 kvmfs-test-dev /dev
mknod -m 666 /dev/null c 1 3
mknod -m {node_mode:o} /dev/kvm c 10 232
chgrp {node_group} /dev/kvm
exec {run_as} {KVMFS} -m 64M </dev/null
"""
    r = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True,
                       timeout=STOP_TIMEOUT)
    if "unshare:" in r.stderr or "mknod:" in r.stderr or "mount:" in r.stderr:
        pytest.skip(f"no private /dev here: {r.stderr.strip()}")
    return r


def _a_group():
    """kvm where it exists (udev's group for the device), else any group not root's."""
    try:
        return grp.getgrnam("kvm").gr_name
    except KeyError:
        return next(g.gr_name for g in grp.getgrall() if g.gr_gid not in (0, 65534)
                    and g.gr_name != "nogroup")


def test_kvm_permission_names_the_group(tmp_path):
    group = _a_group()
    r = _private_dev_run(tmp_path, group, 0o660, as_nobody=True)
    assert one_line(r) == (
        f"kvmfs: open /dev/kvm: Permission denied (it belongs to group {group}: sudo adduser "
        f"$USER {group}, then log in again; or run without a guest: -accel none)")


def test_kvm_permission_root_only(tmp_path):
    r = _private_dev_run(tmp_path, "root", 0o600, as_nobody=True)
    line = one_line(r)
    assert line.startswith("kvmfs: open /dev/kvm: Permission denied (only root may open it: "
                           "run kvmfs as root, or give /dev/kvm to group kvm"), line
    assert line.endswith("or run without a guest: -accel none)"), line


def test_kvm_node_without_driver(tmp_path):
    """Root may open the node, but no KVM driver is behind it (on a host
    whose KVM registered no misc device only: elsewhere root's open would
    reach real KVM)."""
    if os.path.exists("/sys/class/misc/kvm"):
        pytest.skip("KVM's misc device is registered here: the node would open")
    r = _private_dev_run(tmp_path, "root", 0o600, as_nobody=False)
    assert re.fullmatch(r"kvmfs: open /dev/kvm: (No such device|No such device or address) "
                        r"\(no KVM driver behind the device: modprobe kvm_intel or kvm_amd; or "
                        r"run without a guest: -accel none\)", one_line(r)), r.stderr


# ---- -m that cannot be reserved ----

def _no_rlimit_as():
    if resource.getrlimit(resource.RLIMIT_AS)[0] != resource.RLIM_INFINITY:
        pytest.skip("ulimit -v is set: it, not the address space, is the limit here")


def _meminfo(key):
    with open("/proc/meminfo") as f:
        return next(int(l.split()[1]) << 10 for l in f if l.startswith(key + ":"))


BITMAPS = 4  # a mounted tree's page bitmaps, -accel none (vm.c, ram_limits.h)


def _bitmap_bound():
    """The most guest RAM whose page bitmaps heuristic overcommit allows
    (ram_limits.h): the bitmaps, as one mapping, within RAM and swap; None
    where the overcommit mode sets no such bound."""
    if Path("/proc/sys/vm/overcommit_memory").read_text().strip() != "0":
        return None
    return (_meminfo("MemTotal") + _meminfo("SwapTotal")) // BITMAPS * 32768


SIZE = re.compile(r"(\d+)([KMGT])")
UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def size_bytes(text):
    n, unit = SIZE.fullmatch(text).groups()
    return int(n) * UNITS[unit]


def size_text(n):
    """As kvmfs writes a size: the largest unit that divides it."""
    unit = next(u for u in "TGMK" if n % UNITS[u] == 0)
    return f"{n // UNITS[unit]}{unit}"


@pytest.mark.parametrize("how", ["-m", "-object"])
def test_ram_beyond_the_address_space(run_kvmfs, kvmfs, tmp_path, how):
    """100T cannot be one mapping in x86-64's 128T of user space beside the
    program: the line says so, with the overcommit mode read from /proc, and
    a size that does fit - which starts.  Tight, too: the size plus twice
    what address randomization moves a program, plus the unit, never fits
    (ram_limits.c).  As -m where the CPU can address 100T of guest RAM; as
    an -object block, mapped nowhere, on every host."""
    _no_rlimit_as()
    bound = _bitmap_bound()
    if bound is not None and bound < 100 * UNITS["T"]:
        pytest.skip(f"RAM and swap bound guest RAM to {bound / UNITS['T']:.1f} TiB before the "
                    "address space does (test_ram_beyond_what_its_bitmaps_may_take)")
    if how == "-m" and (1 << _phys_bits()) < 128 * UNITS["T"]:
        pytest.skip(f"{_phys_bits()} physical address bits: -m 100T is refused before it is "
                    "reserved (test_m_beyond_guest_physical_space)")
    mnt = tmp_path / "mnt"
    mnt.mkdir()

    def args(size):
        if how == "-m":
            return ["-accel", "none", "-m", size]
        return ["-accel", "none", "-m", "64M", "-object",
                f"memory-backend-ram,id=big,size={size}"]

    what, opt = ("-m ", "-m ") if how == "-m" else ("-object id=big,size=", "size=")
    overcommit = Path("/proc/sys/vm/overcommit_memory").read_text().strip()
    line = one_line(run_kvmfs(*args("100T"), mnt=mnt, accel=False))
    m = re.fullmatch(
        re.escape(f"kvmfs: {what}100T: cannot reserve 100T of guest RAM: no free range that "
                  "large in kvmfs's address space (128T on x86-64, shared with its program "
                  "and libraries; memory and overcommit are not the limit: the reservation "
                  f"is MAP_NORESERVE, vm.overcommit_memory={overcommit}); {opt}") +
        r"(\d+[KMGT]) fits here, allowing for address randomization", line)
    assert m, line
    nothing_left(mnt)
    fits = m.group(1)
    k = kvmfs(*args(fits), mnt=mnt, accel=False)
    block = "pc.ram" if how == "-m" else "big"
    assert os.stat(k.path("ramblocks", block)).st_size == size_bytes(fits)
    k.signal(signal.SIGTERM)
    assert k.wait() == 0
    span = 4096 << int(Path("/proc/sys/vm/mmap_rnd_bits").read_text())
    over = size_text(size_bytes(fits) + 2 * span + UNITS[fits[-1]])
    line = one_line(run_kvmfs(*args(over), mnt=mnt, accel=False))
    assert line.startswith(f"kvmfs: {what}{over}: cannot reserve {over} of guest RAM: no free "
                           "range that large"), line
    nothing_left(mnt)


def test_ram_beyond_what_its_bitmaps_may_take(run_kvmfs, kvmfs, tmp_path):
    """Where RAM and swap are small (a 4 GiB host: about 32T of guest RAM),
    heuristic overcommit refuses kvmfs's page bitmaps for a large block -
    once at the fork() that mounts, with only libfuse's "fork() failed" to
    say so.  The line says it before anything is reserved, and the size it
    suggests mounts.  (An -object block: the CPU's physical address bits do
    not limit it.)"""
    _no_rlimit_as()
    bound = _bitmap_bound()
    if bound is None or bound > 80 * UNITS["T"]:
        pytest.skip("RAM and swap are large enough here that the address space binds first")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    asked = size_text((bound + 4 * UNITS["T"]) // UNITS["T"] * UNITS["T"])
    args = lambda size: ["-accel", "none", "-m", "64M", "-object",
                         f"memory-backend-ram,id=big,size={size}"]
    memory = (_meminfo("MemTotal") + _meminfo("SwapTotal")) // UNITS["M"] * UNITS["M"]
    line = one_line(run_kvmfs(*args(asked), mnt=mnt, accel=False))
    m = re.fullmatch(
        re.escape(f"kvmfs: -object id=big,size={asked}: cannot keep {asked} of guest RAM: "
                  f"kvmfs keeps {BITMAPS} page bitmaps for it (a bit per 4 KiB page each, ") +
        r"\d+[MGT]" + re.escape(" of memory), and vm.overcommit_memory=0 refuses a mapping "
                                "larger than RAM and swap together (" + size_text(memory) +
                                " here); size=") + r"(\d+[KMGT]) fits here", line)
    assert m, line
    nothing_left(mnt)
    fits = m.group(1)
    assert size_bytes(fits) <= bound
    k = kvmfs(*args(fits), mnt=mnt, accel=False)
    assert os.stat(k.path("ramblocks", "big")).st_size == size_bytes(fits)


def _phys_bits():
    with open("/proc/cpuinfo") as f:
        for line in f:
            m = re.match(r"address sizes\s*:\s*(\d+) bits physical", line)
            if m:
                return int(m.group(1))
    pytest.skip("/proc/cpuinfo gives no address sizes")


@pytest.mark.parametrize("machine, below_4g", [("pc", 3 << 30), ("q35", 2 << 30)])
def test_m_beyond_guest_physical_space(run_kvmfs, tmp_path, machine, below_4g):
    """More RAM than the CPU's physical address bits reach, RAM above 4G
    included: the line names the space and the most it can address (what
    stays below 4G, plus the rest up to the limit); that size then passes
    this check (and meets only the address space's or the bitmaps', or none)."""
    space = 1 << _phys_bits()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    asked = size_text(2 * space)
    most = size_text(space - (4 << 30) + below_4g)
    line = one_line(run_kvmfs("-accel", "none", "-M", machine, "-m", asked, mnt=mnt,
                              accel=False))
    assert line == (f"kvmfs: -m {asked}: more than this host can address ({size_text(space)} "
                    f"of guest-physical space, RAM above 4G included); -m {most} is the most "
                    f"it can address for -M {machine}"), line
    nothing_left(mnt)
    proc = subprocess.Popen([str(KVMFS), "-accel", "none", "-M", machine, "-m", most, str(mnt)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: proc.poll() is not None or is_mounted(mnt), 20.0)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=STOP_TIMEOUT)
    assert "more than this host can address" not in err, err
    assert err.startswith(READY) or re.match(r"kvmfs: -m \S+: cannot (reserve|keep) ", err), err
    nothing_left(mnt)


def _limit_as(limit):
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))


def _sanitized():
    """An ASan build (make asan): its shadow memory alone is terabytes of
    address space, so it cannot start under any ulimit -v."""
    with open(KVMFS, "rb") as f:
        return b"__asan_init" in f.read()


def test_m_beyond_ulimit_v(tmp_path):
    """Under ulimit -v 4G, -m 8G is refused naming the limit; the size it
    suggests starts under the same limit and serves the tree."""
    if _sanitized():
        pytest.skip("an ASan build cannot start under ulimit -v (its shadow memory)")
    limit = 4 << 30
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run([str(KVMFS), "-accel", "none", "-m", "8G", str(mnt)],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=STOP_TIMEOUT, preexec_fn=_limit_as(limit))
    line = one_line(r)
    m = re.fullmatch(r"kvmfs: -m 8G: cannot reserve 8G of guest RAM: kvmfs's address-space "
                     r"limit \(ulimit -v\) is 4G, \d+M of it in use; raise it \(ulimit -v "
                     r"unlimited\), or -m (\d+[KMGT]) fits under it, leaving room for kvmfs's "
                     r"threads and page bitmaps", line)
    assert m, line
    nothing_left(mnt)
    fits = m.group(1)
    err = tmp_path / "err"
    with open(err, "wb") as e:
        proc = subprocess.Popen([str(KVMFS), "-accel", "none", "-m", fits, str(mnt)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=e,
                                preexec_fn=_limit_as(limit))
    try:
        assert wait_for(lambda: proc.poll() is not None or
                        (READY in err.read_text() and is_mounted(mnt)), 20.0), err.read_text()
        assert proc.poll() is None, err.read_text()
        assert os.stat(mnt / "ramblocks" / "pc.ram").st_size == size_bytes(fits)
        # Readers in parallel: the session's worker threads find room too.
        readers = [subprocess.Popen(["cat", str(mnt / f)], stdout=subprocess.DEVNULL)
                   for f in ("ramblocks.txt", "flatview", "layout.svg", "regions.json")]
        assert all(r.wait(timeout=STOP_TIMEOUT) == 0 for r in readers)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=STOP_TIMEOUT) == 0, err.read_text()
    assert err.read_text().splitlines()[0].startswith(f"kvmfs: ready: -M pc -m {fits} ")
    nothing_left(mnt)


# ---- the ready line ----

@pytest.mark.parametrize("asked, has", [("2049K", "2056K"), ("2049M", "2049M"), ("1024", "1G"),
                                        ("8193K", "8200K")])
def test_ready_line_says_the_size_the_guest_has(kvmfs, asked, has):
    """QEMU rounds -m up to 8 KiB; the ready line says the result exactly,
    the size pc.ram has, in a form -m takes back."""
    k = kvmfs("-m", asked)
    assert f"kvmfs: ready: -M pc -m {has} -smp 1" in k.stderr(), k.stderr()
    assert os.stat(k.path("ramblocks", "pc.ram")).st_size == size_bytes(has)


# ---- -bios files that cannot be firmware ----

def _bzimage(path):
    """A bzImage's first sector: the EFI stub's MZ, the boot header's HdrS."""
    head = bytearray(4096)
    head[0:2] = b"MZ"
    head[0x202:0x206] = b"HdrS"
    path.write_bytes(bytes(head))


BIOS_CASES = {
    "elf": (lambda p: shutil.copyfile("/bin/true", p),
            "an ELF file, not firmware: -bios takes raw bytes whose end is the reset vector "
            "(objcopy -O binary makes them from an ELF); a Linux vmlinux boots with -kernel"),
    "bzimage": (_bzimage, "a Linux bzImage, not firmware: boot it with -kernel"),
    "text": (lambda p: p.write_text("this is not firmware\n" * 100),
             "a text file, not firmware: -bios takes raw bytes whose last 16 are the code at "
             "the reset vector"),
    "script": (lambda p: p.write_bytes(b"#!/bin/sh\n\xf4\xf4\n"),
               "a script (#!), not firmware: -bios takes raw bytes whose end is the reset "
               "vector"),
    "gzip": (lambda p: p.write_bytes(gzip.compress(bytes(range(256)) * 256)),
             "gzip-compressed: uncompress it first (gunzip)"),
    # Larger than pc.bios may be: what the file is comes before its size.
    "big-elf": (lambda p: p.write_bytes(b"\x7fELF" + bytes((17 << 20) - 4)),
                "an ELF file, not firmware"),
}


@pytest.mark.parametrize("kind", list(BIOS_CASES))
def test_bios_that_is_not_firmware(run_kvmfs, tmp_path, kind):
    make, why = BIOS_CASES[kind]
    path = tmp_path / "bios.bin"
    make(path)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    line = one_line(run_kvmfs("-bios", path, mnt=mnt))
    assert line.startswith(f"kvmfs: -bios {path}: {why}"), line
    nothing_left(mnt)


def test_bios_with_an_empty_reset_vector_is_noted(kvmfs, tmp_path):
    """All zeros: taken (it may be meant for reading only, -S), with one
    line saying that nothing will run from it; the built-in firmware gets
    no such line."""
    zero = tmp_path / "zero.bin"
    zero.write_bytes(bytes(64 << 10))
    k = kvmfs("-S", "-bios", zero)
    assert k.stderr().splitlines()[0] == (
        f"kvmfs: -bios {zero}: its last 16 bytes, the reset vector at 0xfffffff0 where the vCPU "
        "starts, are all 0x00: as it stands nothing runs (firmware ends with its reset code)")
    if not (GUEST_BINS / "firmware.bin").exists():
        pytest.skip("build/guest/firmware.bin is not built")
    k = kvmfs("-S", "-bios", GUEST_BINS / "firmware.bin")
    assert k.stderr().startswith(READY), k.stderr()


# ---- ctl: why a write was refused ----

CMDS = "stop, cont, dirty-log on, dirty-log off"


def ctl_write(k, data):
    fd = os.open(k.path("ctl"), os.O_WRONLY)
    try:
        return os.write(fd, data)
    finally:
        os.close(fd)


def test_ctl_says_why_it_refused(kvmfs):
    k = kvmfs("-accel", "none", accel=False)
    ctl = k.path("ctl")
    state = "no vcpus (-accel none)\n"
    assert read(ctl).decode() == state
    expect_errno(errno.EINVAL, ctl_write, k, b"bogus\n")
    refused = state + f"refused: 'bogus': not a command; ctl takes {CMDS}, one per write\n"
    # Read twice, and stat: reading changes nothing.
    assert read(ctl).decode() == refused
    assert read(ctl).decode() == refused
    assert os.stat(ctl).st_size == len(refused)
    # The shell's way: two processes, two opens.
    r = subprocess.run(["sh", "-c", f"echo cont > '{ctl}'"], capture_output=True, text=True)
    assert r.returncode != 0, r
    out = subprocess.run(["cat", ctl], capture_output=True, text=True, check=True).stdout
    assert out == state + (
        "refused: 'cont': there is no vCPU to run: kvmfs was started with -accel none (the "
        "machine and its tree, no guest); start it without -accel none where /dev/kvm is\n")
    # Too long, and bytes that are no text: quoted as one line.
    expect_errno(errno.EINVAL, ctl_write, k, b"stop\0\x1b" + b"x" * 100)
    assert read(ctl).decode() == state + (
        f"refused: 'stop??{'x' * 34}...': a write of 106 bytes; a command is at most 64, one "
        f"per write: {CMDS}\n")
    # A command that succeeds clears it.
    assert ctl_write(k, b"dirty-log on\n") == 13
    assert read(ctl).decode() == state


@pytest.mark.guest
def test_ctl_cont_of_a_guest_that_stopped_for_good(kvmfs):
    require_guest("the guest must triple-fault")
    k = kvmfs("-M", "pc", "-m", "64M", "-bios", GUEST_BINS / "triplefault.bin")
    assert wait_for(lambda: read(k.path("ctl")).startswith(b"paused (shutdown)"), 60.0), \
        k.stderr()
    before = read(k.path("ctl")).decode()
    expect_errno(errno.EPERM, ctl_write, k, b"cont\n")
    assert read(k.path("ctl")).decode() == before + (
        "refused: 'cont': the guest stopped for good (paused (shutdown)) and cannot resume; "
        "its memory stays readable until kvmfs ends; start kvmfs again for a new guest\n")


# ---- a dump: ctl refuses stop, translate gets a vCPU ----

def _note(name, ntype, desc):
    n = name.encode() + b"\0"
    pad = lambda b: b + bytes(-len(b) % 4)
    return struct.pack("<III", len(n), len(desc), ntype) + pad(n) + pad(desc)


def _core(path):
    """An ELF core of 1 MiB of zeros and one vCPU in long mode, CR3 0x1000:
    every walk ends at an empty PML4."""
    regs = [0] * 27
    regs[16], regs[17] = 0xFFFFFFFF81000000, 0x10  # rip, cs
    prstatus = bytes(32) + struct.pack("<I", 0) + bytes(76) + struct.pack("<27Q", *regs) + \
        bytes(8)
    seg = lambda sel, flags: struct.pack("<IIIIQ", sel, 0xFFFFFFFF, flags, 0, 0)
    segs = seg(0x10, 0x00A09B00) + seg(0x18, 0x00C09300) * 5 + seg(0, 0) * 4
    qemu = struct.pack("<II", 1, 440) + struct.pack("<16Q", *[0] * 16) + \
        struct.pack("<QQ", 0xFFFFFFFF81000000, 2) + segs + \
        struct.pack("<5Q", 0x80050033, 0, 0, 0x1000, 0x6B0) + struct.pack("<Q", 0)
    notes = _note("CORE", 1, prstatus) + _note("QEMU", 0, qemu)
    data = bytes(1 << 20)
    off = 64 + 56 * 2
    ph = struct.pack("<IIQQQQQQ", 4, 0, off, 0, 0, len(notes), len(notes), 0)
    ph += struct.pack("<IIQQQQQQ", 1, 7, off + len(notes), 0, 0, len(data), len(data), 0)
    eh = b"\x7fELF\x02\x01\x01\0" + bytes(8) + struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, 64,
                                                           0, 0, 64, 56, 2, 0, 0, 0)
    path.write_bytes(eh + ph + notes + data)
    return path


def test_ctl_of_a_dump(kvmfs, tmp_path):
    core = _core(tmp_path / "guest.core")
    k = kvmfs("-dump", core, accel=False)
    expect_errno(errno.EROFS, ctl_write, k, b"stop\n")
    assert read(k.path("ctl")).decode() == (
        f"dump {core}\nrefused: 'stop': a dump never runs: there is nothing to stop or "
        "continue\n")


def translate(k, text):
    """Write text to vcpus/0/translate and read it back on the same open
    file (python's r+), as the README shows; (errno or 0, what it reads)."""
    with open(k.path("vcpus", "0", "translate"), "r+b", buffering=0) as f:
        try:
            f.write(text)
            err = 0
        except OSError as e:
            err = e.errno
        f.seek(0)
        return err, f.read().decode()


def test_translate_says_why_it_refused(kvmfs, tmp_path):
    k = kvmfs("-dump", _core(tmp_path / "guest.core"), accel=False)
    tr = k.path("vcpus", "0", "translate")
    # The last address there is: translated like any other, not taken for "none".
    err, walk = translate(k, b"0xffffffffffffffff\n")
    assert err == 0 and "va 0xffffffffffffffff" in walk, walk
    assert "fault at PML4E: not present" in walk, walk
    for text, why in (
            (b"0x1ffffffffffffffff", "more than 64 bits; the largest address is "
                                     "0xffffffffffffffff"),
            (b"zz\n", "not an address; write one, hex 0x... or decimal"),
            (b"0x1000 0x2000", "not an address; write one, hex 0x... or decimal"),
            (b"-1", "a negative number; write the address itself (0xffffffff81000000)"),
            (b"\n", "not an address; write one, hex 0x... or decimal")):
        err, out = translate(k, text)
        assert err == errno.EINVAL, (text, out)
        shown = text.decode().rstrip("\n")
        # The walk written before stays; the reason follows it, to any reader.
        assert out == walk + f"refused: '{shown}': {why}\n", out
        assert read(tr).decode() == out
    assert read(tr).decode() == out  # reading changed nothing
    err, out = translate(k, b" 4096 ")
    assert err == 0 and "refused" not in out and "va 0x0000000000001000" in out, out


# ---- SIGINT with readers active ----

# Keeps kvmfs's workers busy until the tree goes: 1 MiB direct reads of
# MNT/phys (always served by kvmfs, never passed through), or opens of
# layout.svg (rendered by the worker that answers the open).  A read error
# while the tree is still mounted is a failure.
READER = r"""
import os, sys
mnt, what = os.path.realpath(sys.argv[1]), sys.argv[2]
def mounted():
    with open("/proc/self/mountinfo") as f:
        return any(l.split()[4] == mnt for l in f)
fd = os.open(os.path.join(mnt, "phys"), os.O_RDONLY)
print("open", flush=True)
while mounted():
    try:
        if what == "svg":
            with open(os.path.join(mnt, "layout.svg"), "rb") as f:
                f.read()
        else:
            for off in range(0, 64 << 20, 1 << 20):
                os.pread(fd, 1 << 20, off)
    except OSError as e:
        if mounted():
            sys.exit(f"read failed while mounted: {e}")
"""


@pytest.mark.parametrize("round_", range(2))
def test_sigint_with_readers_is_quiet(kvmfs, tmp_path, round_):
    """libfuse's "fuse: writing device: Bad file descriptor" (or "reading")
    came when the mount was taken down while workers still answered (the
    old order printed it in 15 of 16 such runs, and once hung); a Ctrl-C is
    a normal end: status 0, nothing from libfuse, no mount."""
    k = kvmfs("-accel", "none", "-m", "64M", "-o", "direct_io,no_passthrough", accel=False)
    readers = [subprocess.Popen([sys.executable, "-c", READER, k.mnt, what],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for what in ("phys", "svg") * 4]
    tail = subprocess.Popen(["tail", "-f", k.path("console")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for r in readers:
            assert r.stdout.readline() == "open\n", r.communicate()
        time.sleep(0.3)  # requests in flight: not a timing of kvmfs, a load on it
        k.signal(signal.SIGINT)
        assert k.wait() == 0, k.stderr()
        for r in readers:
            _, err = r.communicate(timeout=STOP_TIMEOUT)
            assert r.returncode == 0, err
    finally:
        tail.kill()
        tail.wait()
        for r in readers:
            if r.poll() is None:
                r.kill()
                r.wait()
    lines = k.stderr().splitlines()
    assert not [l for l in lines if l.startswith("fuse:")], lines
    assert lines[0].startswith(READY) and all(l.startswith("kvmfs: ") for l in lines), lines
    assert not is_mounted(k.mnt)
    assert os.listdir(k.mnt) == []
