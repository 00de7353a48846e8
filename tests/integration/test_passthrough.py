"""RAM files as their memfds: FUSE passthrough (issue #21).

Where the kernel offers FUSE passthrough and kvmfs has CAP_SYS_ADMIN
(passthrough_expected(), judged from the kernel's config and this process's
capabilities, not from kvmfs), ramblocks/<idstr> of a memfd block is that
memfd: a write into kvmfs's guest memory is in the file at once, with no
sweep (there is none without KVM, so the old cached path would serve stale
bytes here), and a mapping of the file is the same physical page.
Elsewhere, and with --writable, -mem-backing anon or -o no_passthrough, the
file is served as before, and ramblocks.json and one stderr line say so.

The unprivileged fallback is in test_access.py (it needs a second user).

Run: python3 -m pytest -q tests/integration/test_passthrough.py
"""
import errno
import json
import mmap
import os
import random
import signal
import struct

import pytest

from conftest import (MAILBOX_ACK_GPA, MAILBOX_GPA, MAILBOX_MAGIC, STATUS_GPA, STATUS_MAGIC,
                      STATUS_PASS, is_mounted, passthrough_expected, proc_mem, read,
                      require_guest, wait_for)

PAGE = 4096
MIB = 1 << 20
GIB = 1 << 30
LIMIT_KIB = 64 * 1024


def blocks(k):
    return {b["idstr"]: b for b in json.loads(read(k.path("ramblocks.json")))}


def require_passthrough():
    if not passthrough_expected():
        pytest.skip("this host or process cannot pass FUSE files through (kernel without "
                    "CONFIG_FUSE_PASSTHROUGH, or no CAP_SYS_ADMIN in the initial namespace)")


def proc_mem_write(pid, addr, data):
    """Write into kvmfs's guest memory behind its back, as the guest would."""
    with open(f"/proc/{pid}/mem", "r+b", buffering=0) as f:
        f.seek(addr)
        assert f.write(data) == len(data)


def pfn(pid, addr):
    """The physical frame behind addr in pid (root reads PFNs in pagemap)."""
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(addr // PAGE * 8)
        entry = struct.unpack("<Q", f.read(8))[0]
    assert entry >> 63, f"page at {addr:#x} of {pid} not present"
    return entry & ((1 << 55) - 1)


def meminfo():
    with open("/proc/meminfo") as f:
        return {l.split(":")[0]: int(l.split()[1]) for l in f}


@pytest.mark.parametrize("machine", ["pc", "q35"])
def test_memfd_blocks_pass_through(kvmfs, machine):
    k = kvmfs("-M", machine, "-m", "6G", "-S")
    bl = blocks(k)
    want = "passthrough" if passthrough_expected() else "cached"
    assert {name: b["io"] for name, b in bl.items()} == {name: want for name in bl}, bl
    # The first fallback, if any, is said once: never when all pass through.
    said = [l for l in k.stderr().splitlines() if "passthrough off" in l]
    assert len(said) == (0 if want == "passthrough" else 1), k.stderr()


@pytest.mark.parametrize("args,io,reason", [
    (("--writable",), "cached", "--writable"),
    (("-o", "no_passthrough"), "cached", "-o no_passthrough"),
    (("-mem-backing", "anon"), "cached", "anonymous memory"),
    (("-mem-backing", "anon", "-o", "direct_io"), "direct", "anonymous memory"),
], ids=["writable", "no_passthrough", "anon", "anon-direct_io"])
def test_fallback_is_said_once_and_listed(kvmfs, args, io, reason):
    k = kvmfs("-M", "pc", "-m", "256M", "-S", *args)
    for _ in range(2):  # deciding twice says nothing new
        assert {b["io"] for b in blocks(k).values()} == {io}
        with open(k.path("ramblocks", "pc.ram"), "rb") as f:
            assert f.read(PAGE) == bytes(PAGE)
    said = [l for l in k.stderr().splitlines() if "passthrough off" in l]
    assert len(said) == 1, k.stderr()
    assert said[0].startswith("kvmfs: FUSE passthrough off for ") and reason in said[0], said


@pytest.mark.parametrize("machine", ["pc", "q35"])
def test_bytes_are_guest_memory_at_every_moment(kvmfs, machine):
    """Random ranges below and above 4G, written into kvmfs's memory behind
    the filesystem's back, read through the file at once - and again after
    the file has been read (no cache can hold the old bytes)."""
    require_passthrough()
    k = kvmfs("-M", machine, "-m", "6G", "-S")
    rb = blocks(k)["pc.ram"]
    assert rb["io"] == "passthrough"
    host, size = rb["host"], rb["used_length"]
    rng = random.Random(21)
    ranges = [(rng.randrange(0, size - 3 * MIB), rng.randrange(1, 3 * MIB)) for _ in range(12)]
    ranges += [(size - 4096 - 5, 4096), (2 * GIB + 17, 70000), (0, 1)]
    path = k.path("ramblocks", "pc.ram")
    with open(path, "rb") as f:
        for off, n in ranges:
            for round_ in range(2):
                data = rng.randbytes(n)
                proc_mem_write(k.pid, host + off, data)
                assert os.pread(f.fileno(), n, off) == data, (hex(off), n, round_)
                assert proc_mem(k.pid, host + off, n) == data
        # The used length is the end: nothing past it.
        assert os.pread(f.fileno(), PAGE, size) == b""
        assert len(os.pread(f.fileno(), 2 * PAGE, size - PAGE)) == PAGE


def _my_mapping_of(path, length):
    """Start of this process's one mapping of path, length bytes long."""
    found = []
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split(None, 5)
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            if fields[5:] and fields[5].strip() == path and hi - lo == length:
                found.append(lo)
    assert len(found) == 1, found
    return found[0]


def test_mapping_is_the_guests_own_page(kvmfs):
    require_passthrough()
    k = kvmfs("-M", "pc", "-m", "1G", "-S")
    rb = blocks(k)["pc.ram"]
    base, at = 0x1000000, 0x234567
    addr = rb["host"] + base + at
    proc_mem_write(k.pid, addr, b"before")
    path = k.path("ramblocks", "pc.ram")
    with open(path, "rb") as f:
        m = mmap.mmap(f.fileno(), 16 * MIB, mmap.MAP_SHARED, mmap.PROT_READ, offset=base)
        try:
            assert m[at:at + 6] == b"before"
            # The same physical page as kvmfs's (the guest's) mapping ...
            mine = _my_mapping_of(path, 16 * MIB) + at
            assert pfn(os.getpid(), mine) == pfn(k.pid, addr)
            # ... so a store into guest memory is in the mapping at once.
            proc_mem_write(k.pid, addr, b"after!")
            assert m[at:at + 6] == b"after!"
        finally:
            m.close()


def _memfd_kib(pid, name):
    """KiB the memfd called name holds in process pid (its st_blocks)."""
    fds = f"/proc/{pid}/fd"
    for fd in os.listdir(fds):
        if os.readlink(os.path.join(fds, fd)).startswith(f"/memfd:{name} "):
            return os.stat(os.path.join(fds, fd)).st_blocks // 2
    raise AssertionError(f"no memfd {name} in {pid}")


def test_reading_an_idle_8g_guest_allocates_nothing(kvmfs):
    """Guest memory (the memfd's own blocks) stays empty, and Shmem and
    Cached grow by less than 64 MiB.  The last two are the whole machine's:
    another process's file reads count too, so the page cache is dropped
    first and a noisy attempt is tried again, up to three times - a read
    that filled a page cache of its own would fill it again each time."""
    require_passthrough()
    k = kvmfs("-M", "pc", "-m", "8G", "-S")
    assert blocks(k)["pc.ram"]["io"] == "passthrough"
    path = k.path("ramblocks", "pc.ram")
    size = os.stat(path).st_size
    assert size == 8 * GIB
    for attempt in range(3):
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("1\n")
        before = meminfo()
        fd = os.open(path, os.O_RDONLY)
        try:
            off = 0
            while off < size:
                data = os.pread(fd, 8 * MIB, off)
                assert len(data) == 8 * MIB and data.count(0) == len(data), hex(off)
                off += len(data)
        finally:
            os.close(fd)
        after = meminfo()
        assert _memfd_kib(k.pid, "pc.ram") == 0
        grown = {key: after[key] - before[key] for key in ("Shmem", "Cached")}
        if all(v < LIMIT_KIB for v in grown.values()):
            break
    assert all(v < LIMIT_KIB for v in grown.values()), (attempt, grown)


def test_nothing_writes_without_writable(kvmfs):
    """Passthrough writes would never reach kvmfs: the gate is the open."""
    k = kvmfs("-M", "pc", "-m", "256M", "-S")
    for name in ("pc.ram", "pc.bios"):
        path = k.path("ramblocks", name)
        for flags in (os.O_RDWR, os.O_WRONLY):
            with pytest.raises(PermissionError):
                os.close(os.open(path, flags))
        with open(path, "rb") as f:
            head = os.pread(f.fileno(), 5, 0)
            with pytest.raises(OSError) as e:
                mmap.mmap(f.fileno(), PAGE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            assert e.value.errno == errno.EACCES
            # A private mapping may be written: it is the reader's own copy.
            with mmap.mmap(f.fileno(), PAGE, mmap.MAP_PRIVATE,
                           mmap.PROT_READ | mmap.PROT_WRITE) as m:
                m[:5] = b"mine!"
            assert os.pread(f.fileno(), 5, 0) == head != b"mine!"


def test_sigkill_with_files_open_leaves_no_mount(kvmfs, tmp_path):
    """auto_unmount still works with passthrough files open and mapped."""
    for i in range(5):
        mnt = tmp_path / f"kill{i}"
        mnt.mkdir()
        k = kvmfs("-M", "pc", "-m", "256M", "-S", mnt=mnt)
        f = open(k.path("ramblocks", "pc.ram"), "rb")
        m = mmap.mmap(f.fileno(), MIB, mmap.MAP_SHARED, mmap.PROT_READ)
        try:
            assert m[:16] == bytes(16)
            k.signal(signal.SIGKILL)
            k.wait()
            assert wait_for(lambda: not is_mounted(mnt), 10.0), f"{mnt} still mounted"
        finally:
            m.close()
            try:
                f.close()
            except OSError as e:  # the connection died with kvmfs
                assert e.errno == errno.ENOTCONN, e


class _ProcMemAtGpa:
    """An fd-like view of guest RAM through kvmfs's /proc/PID/mem, at pc.ram
    offsets: how a test hands the guest a mailbox command while pc.ram is
    read-only (no --writable, so it passes through)."""

    def __init__(self, pid, host):
        self.fd = os.open(f"/proc/{pid}/mem", os.O_RDWR)
        self.host = host

    def pwrite(self, data, off):
        return os.pwrite(self.fd, data, self.host + off)


@pytest.mark.guest
def test_a_guest_store_is_in_the_mapping_at_once(kvmfs):
    """The running guest stores (mailbox "write 0xGPA N"); a shared mapping
    of pc.ram holds the stores as soon as the guest acks, with no stop and no
    sweep: it is the guest's page (same PFN)."""
    require_guest("the guest must store")
    require_passthrough()
    k = kvmfs("-M", "pc", "-m", "256M")
    rb = blocks(k)["pc.ram"]
    assert rb["io"] == "passthrough"
    seq, start, shift = 31, 64 * MIB, 48  # GUEST_WRITE_SEQ_SHIFT
    with open(k.path("ramblocks", "pc.ram"), "rb") as f:
        m = mmap.mmap(f.fileno(), 128 * MIB, mmap.MAP_SHARED, mmap.PROT_READ)
        mem = _ProcMemAtGpa(k.pid, rb["host"])
        try:
            k.wait_guest(lambda: m[STATUS_GPA:STATUS_GPA + 8] == STATUS_MAGIC and
                         struct.unpack_from("<Q", m, STATUS_GPA + STATUS_PASS)[0] >= 1,
                         "a first pass, seen through the mapping")
            text = f"write {start:#x} 1".encode() + b"\0"
            mem.pwrite(text, MAILBOX_GPA + 16)
            mem.pwrite(struct.pack("<Q", seq), MAILBOX_GPA + 8)
            mem.pwrite(MAILBOX_MAGIC, MAILBOX_GPA)
            k.wait_guest(lambda: struct.unpack_from("<Q", m, MAILBOX_ACK_GPA)[0] == seq,
                         f"the ack of command {seq}, seen through the mapping")
            page = start + 4096  # the MiB's first page is its record's
            want = struct.pack("<Q", seq << shift | page)
            assert m[page:page + 8] == want
            mine = _my_mapping_of(k.path("ramblocks", "pc.ram"), 128 * MIB) + page
            assert pfn(os.getpid(), mine) == pfn(k.pid, rb["host"] + page)
        finally:
            os.close(mem.fd)
            m.close()
