"""The fault matrix: signals and unmounts while readers are busy, a reader
killed mid-read, stop/cont under load, and guests that misbehave.

Every row asserts that kvmfs ends (or stays up) as promised, that no mount
is left behind, and that the tree still serves the right bytes where it
should.  Rows that need a running guest call require_guest() and skip
without /dev/kvm.

Run: python3 -m pytest -q tests/integration/test_faults.py
"""
import json
import mmap
import os
import select
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, is_mounted, read, require_guest, wait_for

PC = ("-M", "pc", "-m", "512M")
# How long a reader may take to open pc.ram and read it whole once: generous,
# the machine is shared (and under make check-nested the host is emulated).
READER_TIMEOUT = 120.0
GUEST_DIR = ROOT / "build" / "guest"

# A reader that loops over pc.ram with read() until the tree goes away.  A
# read error while the tree is still mounted is a failure (exit 1, with the
# error) - but once kvmfs is known dead (SIGKILL: its mount stays until
# auto_unmount takes it) for ECONNABORTED, which the kernel gives a READ in
# flight when the connection dies, and ENOTCONN, which it gives every READ
# after; once the mount is gone it ends with 0, whether its reads failed or
# still came from the page cache.  It must never hang.  It says "open" once
# it holds the file and "reading" once it has read the whole file and goes
# on: from then on it is reading whenever the test looks.
READER = r"""
import errno, os, sys
path, mnt, dead_ok = sys.argv[1], os.path.realpath(sys.argv[2]), sys.argv[3] == "dead-ok"

def mounted():
    with open("/proc/self/mountinfo") as f:
        return any(l.split()[4] == mnt for l in f)

fd = os.open(path, os.O_RDONLY)
print("open", flush=True)
said = False
while mounted():
    off = 0
    try:
        while True:
            b = os.pread(fd, 1 << 20, off)
            if not b:
                break
            off += len(b)
    except OSError as e:
        if dead_ok and e.errno in (errno.ECONNABORTED, errno.ENOTCONN):
            break
        if mounted():
            sys.exit(f"read at {off} failed while mounted: {e}")
    if not said:
        print("reading", flush=True)
        said = True
"""


def read_line(r, timeout=READER_TIMEOUT):
    """The next line a reader prints, or what it printed of it by the
    deadline (or before it ended).  Byte by byte from the pipe itself: no
    buffer of Python's holds back what select() would wait for."""
    line, deadline = b"", time.monotonic() + timeout
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([r.stdout], [], [], left)[0]:
            break
        byte = os.read(r.stdout.fileno(), 1)
        if not byte:
            break
        line += byte
    return line


def start_readers(k, n=3, dead_ok=False):
    """n readers, each with pc.ram open and, by the time this returns,
    past its first whole read of it and reading on."""
    ram = k.path("ramblocks", "pc.ram")
    readers = [subprocess.Popen([sys.executable, "-c", READER, ram, k.mnt,
                                 "dead-ok" if dead_ok else "alive"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for _ in range(n)]
    for want in (b"open\n", b"reading\n"):
        for r in readers:
            got = read_line(r)
            if got != want:
                for x in readers:
                    x.kill()  # only the readers started here
                    x.wait()
                pytest.fail(f"a reader printed {got!r}, not {want!r}, within "
                            f"{READER_TIMEOUT:.0f} s; kvmfs said: {k.stderr()}", pytrace=False)
    return readers


def stop_readers(readers, timeout=60):
    for r in readers:
        try:
            _, err = r.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            r.kill()
            r.wait()
            pytest.fail("a reader hung after the tree went away")
        assert r.returncode == 0, err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_during_heavy_reading(kvmfs, sig):
    k = kvmfs(*PC)
    readers = start_readers(k)
    assert all(r.poll() is None for r in readers)
    k.signal(sig)
    assert k.wait(timeout=30) == 0, k.stderr()
    stop_readers(readers)
    assert not is_mounted(k.mnt)
    assert os.listdir(k.mnt) == []


def test_sigkill_during_heavy_reading(kvmfs):
    k = kvmfs(*PC)
    readers = start_readers(k, dead_ok=True)
    k.signal(signal.SIGKILL)
    k.wait()
    stop_readers(readers)
    # fusermount3, kvmfs's auto_unmount watchdog, unmounts once it sees us gone.
    assert wait_for(lambda: not is_mounted(k.mnt), 30.0)
    # The same path mounts again at once.
    k2 = kvmfs(*PC, mnt=k.mnt)
    assert os.stat(k2.path("ramblocks", "pc.ram")).st_size == 512 << 20


@pytest.mark.parametrize("how", ["fusermount3", "umount-l"])
def test_unmount_with_open_files_and_live_mappings(kvmfs, how):
    # Paused (-S): the mapped page must stay what it was, and a running
    # guest would rewrite it.
    k = kvmfs(*PC, "-S")
    ram = k.path("ramblocks", "pc.ram")
    readers = start_readers(k, 2)
    f = open(ram, "rb")
    m = mmap.mmap(f.fileno(), 1 << 20, mmap.MAP_SHARED, mmap.PROT_READ)
    first = m[:4096]  # faulted in while the tree is there
    try:
        if how == "fusermount3":
            r = subprocess.run(["fusermount3", "-u", k.mnt], capture_output=True, text=True)
            if r.returncode != 0:
                # Busy: the kernel refuses a plain unmount; -z detaches it.
                assert "busy" in r.stderr.lower(), r.stderr
                subprocess.run(["fusermount3", "-u", "-z", k.mnt], check=True)
        else:
            if os.geteuid() != 0:
                pytest.skip("not root: umount -l needs root")
            subprocess.run(["umount", "-l", k.mnt], check=True)
        assert wait_for(lambda: not is_mounted(k.mnt), 10.0)
        # The pages already mapped stay readable in this process.
        assert m[:4096] == first
    finally:
        m.close()
        f.close()
    stop_readers(readers)
    # Once the last file is closed the session ends, and kvmfs with it.
    assert k.wait(timeout=30) == 0, k.stderr()
    assert os.listdir(k.mnt) == []


def in_read_of(pid, path):
    """Whether process pid is blocked in a read(2) of path, now: the
    syscall it sleeps in (/proc/PID/syscall: number, then the arguments;
    0 is read on x86-64) on a descriptor of that file."""
    try:
        with open(f"/proc/{pid}/syscall") as f:
            fields = f.read().split()
        return (fields[0] == "0"
                and os.readlink(f"/proc/{pid}/fd/{int(fields[1], 16)}") == path)
    except (OSError, IndexError, ValueError):  # gone, running, or no such fd
        return False


def test_reader_killed_mid_read(kvmfs):
    k = kvmfs(*PC, "--writable")
    ram = k.path("ramblocks", "pc.ram")
    # Not at a MiB boundary: the running guest rewrites its record there.
    fd = os.open(ram, os.O_RDWR)
    try:
        os.pwrite(fd, b"still here", (200 << 20) + 4096)
    finally:
        os.close(fd)
    kills = 0
    for _ in range(50):
        r = subprocess.Popen(["dd", f"if={ram}", "of=/dev/null", "bs=64M", "count=8",
                              "iflag=direct"], stderr=subprocess.DEVNULL)
        # Killed inside a READ of kvmfs's file, not before or after one (a
        # dd that read all 512 MiB before it was seen there does not count).
        caught = wait_for(lambda: in_read_of(r.pid, os.path.realpath(ram)) or
                          r.poll() is not None, 30.0, 0.001) and r.poll() is None
        r.kill()
        r.wait()
        kills += caught
        if kills == 5:
            break
    assert kills == 5, f"dd was seen in a read of pc.ram only {kills} times of 50"
    assert k.proc.poll() is None, k.stderr()
    with open(ram, "rb") as f:
        f.seek((200 << 20) + 4096)
        assert f.read(10) == b"still here"
    assert json.loads(read(k.path("ramblocks.json")))


@pytest.mark.guest
def test_stop_cont_toggled_under_load(kvmfs):
    require_guest("stop and cont need vCPUs")
    k = kvmfs(*PC, "-flat-out")
    readers = start_readers(k, 2)
    ctl = k.path("ctl")
    try:
        for i in range(1000):
            with open(ctl, "w") as f:
                f.write("stop\n" if i % 2 == 0 else "cont\n")
        assert read(ctl).decode().startswith("running")
        assert k.proc.poll() is None
    finally:
        k.signal(signal.SIGTERM)
        assert k.wait(timeout=30) == 0, k.stderr()
        stop_readers(readers)


@pytest.mark.guest
def test_triple_fault_guest(kvmfs):
    require_guest("a triple fault needs a vCPU")
    k = kvmfs("-M", "pc", "-m", "128M", "-bios", GUEST_DIR / "triplefault.bin")
    assert wait_for(lambda: read(k.path("ctl")).decode().startswith("paused (shutdown)\n"),
                    60.0), k.stderr()
    # The memory stays inspectable: the firmware is where it was put.
    assert read(k.path("ramblocks", "pc.bios")) == read(GUEST_DIR / "triplefault.bin")
    assert k.proc.poll() is None
    k.signal(signal.SIGTERM)
    assert k.wait() == 0


@pytest.mark.guest
def test_serial_flood_guest(kvmfs):
    require_guest("a flood needs a running guest")
    k = kvmfs("-M", "pc", "-m", "128M", "-bios", GUEST_DIR / "flood.bin")
    console = k.path("console")
    # Past the 8 MiB the console keeps (src/hw/console.h), so the ring has wrapped.
    # One byte per exit (a rep outsb was no faster on kvm_pvm): ~100 KB/s
    # where ring 0 is emulated, ~10 KB/s under check-nested's TCG - 16 minutes.
    k.wait_guest(lambda: os.stat(console).st_size > (9 << 20), "9 MiB of console",
                 timeout=1800.0)
    # The tree stays responsive and the history bounded.
    assert read(k.path("ctl")).decode().startswith("running")
    size = os.stat(console).st_size
    with open(console, "rb") as f:
        head = f.read(4096)
        f.seek(size - 4096)
        tail = f.read(4096)
    assert b"!\"#$%" in tail
    assert head == bytes(4096)  # bytes that fell out of the window read as NUL
    with open(f"/proc/{k.pid}/status") as f:
        rss_kib = int(next(l for l in f if l.startswith("VmRSS")).split()[1])
    assert rss_kib < 512 * 1024
    k.signal(signal.SIGTERM)
    assert k.wait(timeout=30) == 0
