"""MNT/phys read without a page cache: exact at every read(), mappable all
the same, and reading an idle guest whole costs no memory.

Where the kernel lets a direct_io FUSE file be mapped shared
(FUSE_DIRECT_IO_ALLOW_MMAP, Linux 6.6+), kvmfs opens phys direct_io: every
read() is answered from guest memory, so it equals /proc/PID/mem even
right after a write kvmfs never saw, and nothing lands in the page cache;
a shared mapping's pages still come through the page cache, kept true by
the invalidations of writes through the tree (--writable).  On an older
kernel phys stays cached (the page-cache tests skip, saying so); with
-o direct_io it is direct_io and unmappable, as documented.

Without /dev/kvm kvmfs runs with -accel none (no guest runs); with it the
tests pass -S, so the host alone decides what memory holds.

Run: python3 -m pytest -q tests/integration/test_phys_io.py
"""
import ctypes
import errno
import json
import mmap
import os
import random
import struct

import pytest

from conftest import proc_mem, pwrite, read

MIB = 1 << 20
PAGE = 4096
FOUR_G = 1 << 32
# -M pc -m 6G: pc.ram below 3G and at 4G..7G; phys is 7 GiB long.
PC_6G = ("-M", "pc", "-m", "6G", "-S")
# GPAs in RAM, below and above 4G, unaligned ones and the last page too.
GPAS = [0x1000, 200 * MIB + 123, 0xC0000000 - 3 * PAGE - 3, FOUR_G, FOUR_G + 0x12345679,
        FOUR_G + 0xC0000000 - PAGE]
# What a whole read of an idle guest's phys may add to the page cache.
CACHE_LIMIT = 64 * MIB


def kernel_at_least(major, minor):
    rel = os.uname().release.split("-")[0].split(".")
    return (int(rel[0]), int(rel[1])) >= (major, minor)


def direct_expected():
    """FUSE_DIRECT_IO_ALLOW_MMAP came with Linux 6.6: from then on phys is direct_io."""
    return kernel_at_least(6, 6)


def require_direct():
    if not direct_expected():
        pytest.skip("the kernel predates FUSE_DIRECT_IO_ALLOW_MMAP (6.6): phys stays cached")


def pattern(gpa, n):
    """n bytes that say where they were written (and when: the salt differs per write)."""
    salt = random.getrandbits(32)
    out = bytearray()
    while len(out) < n:
        out += struct.pack("<QI", gpa + len(out), salt) + b"phys"
    return bytes(out[:n])


def host_addr(k, gpa):
    """kvmfs's own address of guest-physical gpa, from the memslot that maps it."""
    for s in json.loads(read(k.path("memslots.json"))):
        if s["guest_phys_addr"] <= gpa < s["guest_phys_addr"] + s["memory_size"]:
            return s["userspace_addr"] + gpa - s["guest_phys_addr"]
    raise AssertionError(f"no memslot maps {gpa:#x}")


def proc_mem_write(pid, addr, data):
    """Write kvmfs's memory behind its back: no FUSE request, no invalidation."""
    with open(f"/proc/{pid}/mem", "r+b", buffering=0) as f:
        f.seek(addr)
        assert f.write(data) == len(data)


_libc = ctypes.CDLL(None, use_errno=True)
SYS_cachestat = 451  # x86_64, Linux 6.5+


def file_cached(path):
    """Bytes of path's page cache (cachestat), or None where the syscall is missing."""
    fd = os.open(path, os.O_RDONLY)
    try:
        rng = ctypes.create_string_buffer(struct.pack("<QQ", 0, 0))  # the whole file
        out = ctypes.create_string_buffer(5 * 8)
        if _libc.syscall(SYS_cachestat, fd, rng, out, 0) != 0:
            return None
        return struct.unpack("<5Q", out.raw)[0] * PAGE
    finally:
        os.close(fd)


def meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no {key} in /proc/meminfo")


def read_whole(path):
    """Read path with 1 MiB preads into one buffer; the bytes read."""
    buf = bytearray(MIB)
    fd = os.open(path, os.O_RDONLY)
    try:
        off = 0
        while True:
            n = os.preadv(fd, [buf], off)
            if n <= 0:
                return off
            off += n
    finally:
        os.close(fd)


# ---- read() is guest memory at every read ----

def test_phys_reads_equal_proc_mem(kvmfs):
    """Bytes written through the tree, and behind kvmfs's back, read back
    through phys exactly as /proc/PID/mem shows them."""
    k = kvmfs(*PC_6G, "--writable")
    phys, ram = k.path("phys"), k.path("ramblocks", "pc.ram")
    rnd = random.Random(21)
    fd = os.open(phys, os.O_RDWR)
    try:
        for i, gpa in enumerate(GPAS):
            end = 0xC0000000 if gpa < FOUR_G else FOUR_G + 0xC0000000  # of its RAM range
            data = pattern(gpa, min(3 * PAGE + 5, end - gpa))
            # Through phys, through pc.ram (GPA below 3G = its offset; above 4G + 3G - 4G), or both.
            if i % 2:
                assert os.pwrite(fd, data, gpa) == len(data)
            else:
                pwrite(ram, data, gpa if gpa < FOUR_G else gpa - FOUR_G + 0xC0000000)
            assert proc_mem(k.pid, host_addr(k, gpa), len(data)) == data, hex(gpa)
            assert os.pread(fd, len(data), gpa) == data, hex(gpa)
        # Random ranges in RAM, some running across what was written.
        for _ in range(40):
            gpa = rnd.choice(GPAS) + rnd.randrange(-2 * PAGE, 4 * PAGE)
            n = rnd.randrange(1, 64 * 1024)
            lo = 0x100000 if gpa < FOUR_G else FOUR_G
            hi = 0xC0000000 if gpa < FOUR_G else FOUR_G + 0xC0000000
            gpa = min(max(gpa, lo), hi - n)
            assert os.pread(fd, n, gpa) == proc_mem(k.pid, host_addr(k, gpa), n), hex(gpa)
    finally:
        os.close(fd)


def test_phys_read_sees_a_write_kvmfs_never_saw(kvmfs):
    """direct_io: a read after a read is asked of guest memory again, so a
    write through /proc/PID/mem (no FUSE request, no invalidation) shows at
    once; a cached phys would return the first read's bytes."""
    require_direct()
    k = kvmfs(*PC_6G)
    with open(k.path("phys"), "rb", buffering=0) as f:
        for gpa in (300 * MIB + 17, FOUR_G + 5 * MIB):
            before = os.pread(f.fileno(), 2 * PAGE, gpa)
            assert before == proc_mem(k.pid, host_addr(k, gpa), 2 * PAGE)
            data = pattern(gpa, 2 * PAGE)
            proc_mem_write(k.pid, host_addr(k, gpa), data)
            assert os.pread(f.fileno(), 2 * PAGE, gpa) == data, hex(gpa)


# ---- mappings of phys ----

def test_shared_mapping_of_phys_sees_and_makes_writes(kvmfs):
    """A shared mapping of phys works, sees writes made through ramblocks/
    and through phys itself, and what is stored through it reaches guest
    memory and every other view."""
    k = kvmfs(*PC_6G, "--writable")
    phys, ram = k.path("phys"), k.path("ramblocks", "pc.ram")
    for gpa, ram_off in ((120 * MIB, 120 * MIB), (FOUR_G + 7 * MIB, 0xC0000000 + 7 * MIB)):
        fd = os.open(phys, os.O_RDWR)
        try:
            with mmap.mmap(fd, 4 * PAGE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE,
                           offset=gpa) as m:
                assert m[:] == bytes(4 * PAGE), "never-touched memory reads as zeros"
                # Through ramblocks/pc.ram: kvmfs invalidates phys's copy.
                via_ram = pattern(gpa, 100)
                pwrite(ram, via_ram, ram_off + 10)
                assert m[10:110] == via_ram, hex(gpa)
                # Through phys itself, while mapped.
                via_phys = pattern(gpa + PAGE, 200)
                assert os.pwrite(fd, via_phys, gpa + PAGE + 20) == 200
                assert m[PAGE + 20:PAGE + 220] == via_phys, hex(gpa)
                # Through the mapping: written back to guest memory.
                via_map = pattern(gpa + 2 * PAGE, 300)
                m[2 * PAGE + 30:2 * PAGE + 330] = via_map
                m.flush()
                assert proc_mem(k.pid, host_addr(k, gpa + 2 * PAGE + 30), 300) == via_map
                assert os.pread(fd, 300, gpa + 2 * PAGE + 30) == via_map
                with open(ram, "rb") as r:
                    r.seek(ram_off + 2 * PAGE + 30)
                    assert r.read(300) == via_map
        finally:
            os.close(fd)


def test_direct_io_option_keeps_phys_unmappable(kvmfs):
    """-o direct_io: phys reads right, and a shared mapping is refused (documented)."""
    k = kvmfs("-M", "pc", "-m", "256M", "-S", "--writable", "-o", "direct_io")
    phys = k.path("phys")
    data = pattern(5 * MIB, 999)
    pwrite(phys, data, 5 * MIB + 1)
    with open(phys, "rb") as f:
        assert os.pread(f.fileno(), 999, 5 * MIB + 1) == data
        with pytest.raises(OSError) as e:
            mmap.mmap(f.fileno(), PAGE, mmap.MAP_SHARED, mmap.PROT_READ)
        assert e.value.errno == errno.ENODEV


# ---- no page cache ----

def rss_shmem(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("RssShmem:"))


def test_reading_idle_phys_whole_adds_no_page_cache(kvmfs):
    """An idle 4 GiB guest's phys (5 GiB, nearly all holes) read whole with
    1 MiB preads: phys holds no page cache after, kvmfs's memfds grew by
    nothing, and Cached grew < 64 MiB (a cached phys adds its whole size)."""
    require_direct()
    k = kvmfs("-M", "pc", "-m", "4G", "-S")
    phys = k.path("phys")
    size = os.stat(phys).st_size
    assert size >= 4 << 30
    shmem = rss_shmem(k.pid)
    # Other processes on a shared host move Cached as well, their memfds
    # (Shmem, part of Cached) most: Cached less Shmem is counted, kvmfs's own
    # memfds apart, and the least growth of up to five reads.
    grew = []
    for _ in range(5):
        before = meminfo("Cached") - meminfo("Shmem")
        assert read_whole(phys) == size
        grew.append(meminfo("Cached") - meminfo("Shmem") - before)
        cached = file_cached(phys)
        if cached is not None:
            assert cached < CACHE_LIMIT, f"phys holds {cached >> 20} MiB of page cache"
        assert rss_shmem(k.pid) - shmem < MIB, "the read populated guest memory"
        if grew[-1] < CACHE_LIMIT:
            break
    assert min(grew) < CACHE_LIMIT, f"Cached grew by {[g >> 20 for g in grew]} MiB"
