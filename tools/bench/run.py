#!/usr/bin/python3
"""run.py - `make bench`: how fast kvmfs serves guest RAM and what reading it
costs, next to the ways of reading the same RAM that bypass it, measured side
by side in one run.

    make bench                       (builds kvmfs and the helpers, installs fio)
    /usr/bin/python3 tools/bench/run.py [--reps N] [--out build/bench.json]

It starts every kvmfs itself and runs each measurement once per repetition,
round robin, so that a kvmfs figure and its baseline are always taken seconds
apart on the same noisy machine.  Each figure is reported as median/min/max
over the repetitions and, where it has a baseline, as the ratio to it: the
ratio of each repetition's pair, then median/min/max of those.  The ratios
are the result; the absolute numbers only describe this machine at this
moment.

The guests:
  idle    a 4 GiB `-M pc -S` guest nothing ever wrote: all holes.  kvmfs reads
          them as zeros without allocating; the baselines allocate every page
          they read, so each of them gets a fresh idle guest.
  filled  a 4 GiB `-M pc` guest whose pc.ram was written whole through the
          filesystem (random data); with /dev/kvm the built-in guest runs.
  live    a 1 GiB `-M pc -flat-out` guest (needs /dev/kvm): freshness of
          read() and of a mapping, the guest's heartbeat alone and under two
          streaming readers.

Figures: throughput, and for reads of guest memory how much kvmfs's resident
guest memory grew (RssShmem + RssAnon) and how much of the file came to sit
in the page cache (mincore of a mapping).  "Cold" means the file's page cache
was dropped first (posix_fadvise DONTNEED), "warm" that all of it is cached.

Baselines (tools/bench/memread.c): pread() of /proc/PID/mem and
process_vm_readv() at the block's host address in kvmfs, and memcpy out of a
mapping of the memfd behind pc.ram (/proc/PID/fd/N).  kvmfs's figures come
from fio (filled guest) or memread's own pread loop on the file (idle guest,
the same loop as the baselines).

Which path serves pc.ram (issue 21): as root on a kernel with FUSE
passthrough, ramblocks.json says "io": "passthrough" and reads go straight
to the block's memfd; with -o no_passthrough or --writable it says "cached"
(kvmfs answers every read and the file has a page cache).  So the idle
guests above are read through passthrough where the host allows it, and
the filled 4 GiB guest (--writable, to fill it) through the cached path;
bench.json's "io" records what each said.

The passthrough section (2 GiB guests, to keep the run short; memread's
pread loop for every column, so that only the path differs):
  2G holes    an idle guest: pc.ram by passthrough cold (page cache dropped
              first) and warm, pread of the memfd itself (/proc/PID/fd/N,
              the limit of a file interface), `phys` cold and warm (it
              spans blocks, so kvmfs serves it), and /proc/PID/mem last,
              since it allocates what it reads; then pc.ram of a kvmfs with
              -o no_passthrough, the cached path, cold and warm.  Each
              read records what it allocated: Shmem and Cached from
              /proc/meminfo (system-wide, so other jobs add some MiB of
              noise either way) and kvmfs's VmRSS ("... +" figures).
  2G filled   two guests filled with random data through the memfd (read
              twice unrecorded, see PASSTHROUGH.md on LRU activation), one
              by passthrough and one with -o no_passthrough: sequential
              1 MiB reads cold and warm next to the memfd and
              /proc/PID/mem, and random 4 KiB reads (ops/s, p50, p99 per
              op) of the memfd, pc.ram, /proc/PID/mem and the cached path.
Each pc.ram figure has ratios to the memfd and to /proc/PID/mem, and
passthrough's to the cached path (the gain); latency ratios are this
figure's p50 (p99) over the memfd's.  The section first checks that
ramblocks.json says "passthrough" (bench.json "passthrough": what it said,
and kvmfs's own words about it); otherwise the passthrough columns are
recorded as not measured, with the reason.

Guest write throughput (needs /dev/kvm): the built-in guest's mailbox
command "write 0xGPA N" (include/kvmfs/guest.h) stores over 256 MiB of its
RAM and leaves the TSC cycles it took next to the ack; MiB/s uses the host's
TSC rate (memread tsc).  Measured with nothing holding dirty logging
(memslots' log flag recorded) and after `dirty-log on` on ctl (then
`dirty-log off`, and one unrecorded run); the ratio on / no reader is what
logging costs the guest.  Where ctl refuses `dirty-log on`, that column is
recorded as not measured, saying so.

Attach (issue 23; `--only attach` runs this section alone, into
build/bench-attach.json): two 4 GiB `-M pc` QEMU guests (TCG without
/dev/kvm) booted to the busybox shell and idle since, one with default
(anonymous) RAM, one with memory-backend-memfd share=on as its memory.
Whole reads of the RAM block by memread's pread loop: ramblocks/pc.ram next
to /proc/QEMU/mem at QEMU's own mapping of it, ramblocks/m next to pread of
QEMU's memfd (/proc/QEMU/fd/N); and the time from starting `kvmfs -attach`
to drgn's for_each_task list through vmcore, next to QMP's
dump-guest-memory of the whole guest plus the same drgn list on the dump
(both lists must agree; drgn reads the dump through `kvmfs -dump`'s vmcore,
as QEMU's dump of this guest has no VMCOREINFO of its own).  Without QEMU, the kernel or drgn the section is
recorded as not measured, saying why.

Linux guests as files (issue 24; `--only linux` runs this section alone, into
build/bench-linux.json): `kvmfs -dump build/kdump/tcg-nokaslr.core`, list
linux/tasks/ and read every tasks/*/maps - on the mounted tree, and from
kvmfs's start (finding the kernel, decoding kallsyms and BTF) to done - next
to a drgn script doing the same (for_each_task, each user task's VMAs from
mm_mt with d_path) with build/debian-kernel/vmlinux-dbg, timed from its
start-up, on that kvmfs's vmcore (QEMU's dump has no VMCOREINFO for drgn).
Without the dump, the -dbg vmlinux or drgn the section is recorded as not
measured, saying why.

Start-up: `-m 1G/64G/256G -S` to mounted, and RSS, with `-accel none` and,
with /dev/kvm, with KVM (whose memslot metadata grows with the guest).

Without /dev/kvm kvmfs runs with `-accel none`: the live and guest write
figures are recorded as not measured, saying why.  Writes build/bench.json and prints a table.
Only the kvmfs processes this script started are ever signalled.
"""
import argparse
import json
import mmap
import os
import platform
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
KVMFS = Path(os.environ.get("KVMFS") or BUILD / "kvmfs")
MEMREAD = BUILD / "tools" / "memread"
FRESH = BUILD / "tools" / "fresh"
sys.path.insert(0, str(ROOT / "include"))

GIB = 1 << 30
MIB = 1 << 20
RAM = 4 * GIB             # the idle and filled guests
LIVE_RAM = GIB            # the live guest
SEQ4K_LEN = GIB           # 4 KiB sequential reads cover the first GiB only (time)
MMAP_LEN = GIB            # mmap figures map the first GiB only (cold faults are slow)
RAND_SECONDS = 1.5
FRESH_SECONDS = 3.0
HEARTBEAT_SECONDS = 2.0
START_TIMEOUT = 30.0
SWEEP_MS = 5              # kvmfs's default -sweep-ms: the freshness bound is 2 of them
STARTUP_SIZES = ("1G", "64G", "256G")

# The guest ABI (include/kvmfs/guest.h): heartbeat u64 at the status page + 16.
GUEST_STATUS_GPA = 0x1000
GUEST_STATUS_HEARTBEAT = 16
HEARTBEAT_GPA = GUEST_STATUS_GPA + GUEST_STATUS_HEARTBEAT


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def have_kvm():
    return os.path.exists("/dev/kvm") and os.access("/dev/kvm", os.R_OK | os.W_OK)


# ---- kvmfs processes ----

def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


class Kvmfs:
    """One kvmfs this script started, on its own empty mountpoint."""

    def __init__(self, args, tag, accel=None, ready="ramblocks.json"):
        """accel "none" forces -accel none, "" gives no -accel (-attach and -dump take no
        VM option); otherwise KVM where there is one.  ready: the file that is there once
        the tree is served (a dump's tree has no ramblocks.json: its vmcore)."""
        self.mnt = Path(tempfile.mkdtemp(prefix=f"kvmfs-bench-{tag}-"))
        self.err_path = self.mnt.with_suffix(".err")
        accel = [] if accel == "" or (have_kvm() and accel != "none") else ["-accel", "none"]
        self.cmd = [str(KVMFS)] + accel + list(args) + [str(self.mnt)]
        parent_dev = os.stat(self.mnt).st_dev
        with open(self.err_path, "wb") as err:
            self.t0 = time.monotonic()
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err)
        self.pid = self.proc.pid
        # Mounted and served: the mountpoint is another device, and the loop
        # answers (the stat of a file inside needs the INIT reply).
        deadline = self.t0 + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kvmfs exited with {self.proc.returncode}: "
                                   f"{self.err_path.read_text(errors='replace')}")
            try:
                if os.stat(self.mnt).st_dev != parent_dev:
                    os.stat(self.mnt / ready)
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"kvmfs not mounted after {START_TIMEOUT}s")
            time.sleep(0.0005)
        self.startup_s = time.monotonic() - self.t0
        if ready != "ramblocks.json":
            return
        self.blocks = {b["idstr"]: b for b in json.loads(self.read_text("ramblocks.json"))}
        self.slots = json.loads(self.read_text("memslots.json"))

    def path(self, *parts):
        return self.mnt.joinpath(*parts)

    def read_text(self, name):
        return self.path(name).read_text()

    def status_kib(self, *fields):
        total = 0
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.split(":")[0] in fields:
                    total += int(line.split()[1])
        return total

    def rss_kib(self):
        return self.status_kib("VmRSS")

    def guest_kib(self):
        """Resident guest memory: memfd pages (shmem) plus anonymous ones."""
        return self.status_kib("RssShmem", "RssAnon")

    def host_addr(self, gpa):
        """Host virtual address in kvmfs of a guest-physical address (memslots)."""
        for s in self.slots:
            if s["guest_phys_addr"] <= gpa < s["guest_phys_addr"] + s["memory_size"]:
                return s["userspace_addr"] + gpa - s["guest_phys_addr"]
        raise KeyError(f"GPA {gpa:#x} is in no memslot")

    def memfd(self, idstr):
        """/proc/PID/fd/N of the memfd behind a RAM block (memfd backing)."""
        for fd in os.listdir(f"/proc/{self.pid}/fd"):
            try:
                target = os.readlink(f"/proc/{self.pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith(f"/memfd:{idstr} "):
                return f"/proc/{self.pid}/fd/{fd}"
        raise KeyError(f"no memfd for {idstr}")

    def ctl(self, word):
        with open(self.path("ctl"), "w") as f:
            f.write(word + "\n")

    def stop(self):
        # Only ever the process started here.
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if is_mounted(self.mnt):
            subprocess.run(["fusermount3", "-u", "-z", str(self.mnt)], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.mnt, ignore_errors=True)
        self.err_path.unlink(missing_ok=True)


def fill(k, idstr="pc.ram"):
    """Write every byte of the block through the filesystem (needs --writable).

    Every page then holds data, so the filled guest measures reads of
    resident memory (the idle one measures holes).  The data is random, with
    each MiB's offset in its first 8 bytes; 1 MiB writes.  The first MiB is
    left alone: the built-in guest keeps its page tables, stacks and status
    there (and writes all of it itself).  Afterwards the file's page cache
    is dropped, so the first read is cold.
    """
    size = k.blocks[idstr]["used_length"]
    pattern = bytearray(os.urandom(MIB))
    t0 = time.monotonic()
    fd = os.open(k.path("ramblocks", idstr), os.O_WRONLY)
    try:
        for off in range(MIB, size, MIB):
            pattern[:8] = struct.pack("<Q", off)
            if os.pwrite(fd, pattern, off) != MIB:
                raise RuntimeError("short write while filling")
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return time.monotonic() - t0


# ---- one measurement ----

def fio(filename, rw, bs, size, jobs=1, cold=False, engine="psync", seconds=None):
    """One fio run; returns MB/s, ops/s, and p50/p99 completion latency in us.

    cold: the page cache is dropped here first, not by fio (invalidate=1),
    whose time-based runs count its setup: dropping 4 GiB of cache under a
    loaded machine once left one 4 KiB read in 1.5 s."""
    if cold:
        drop_cache(filename)
    cmd = ["fio", "--name=kvmfs", f"--filename={filename}", f"--rw={rw}", f"--bs={bs}",
           f"--size={size}", f"--ioengine={engine}", f"--numjobs={jobs}", "--group_reporting",
           "--invalidate=0", "--allow_file_create=0", "--thread",
           "--output-format=json", "--disable_slat=1", "--disable_lat=1"]
    if rw.startswith("rand"):
        cmd += ["--norandommap", "--randrepeat=0"]
    if engine == "mmap":
        # fio's hint is MADV_SEQUENTIAL, under which the FUSE file faults in
        # 4 KiB reads (10x slower); a plain mapping reads around 128 KiB.
        cmd += ["--fadvise_hint=0"]
    if seconds:
        cmd += ["--time_based", f"--runtime={int(seconds * 1000)}ms"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    r = json.loads(out[out.index("{"):])["jobs"][0]["read"]
    pct = r["clat_ns"].get("percentile", {})
    return {"MBps": r["bw_bytes"] / 1e6, "iops": r["iops"],
            "lat_p50_us": pct.get("50.000000", 0) / 1e3,
            "lat_p99_us": pct.get("99.000000", 0) / 1e3}


def memread(*args):
    out = subprocess.run([str(MEMREAD)] + [str(a) for a in args], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def cached(path):
    """Bytes of path in the page cache."""
    return memread("cached", path)["cached"]


def drop_cache(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def costs(k, path, run):
    """run(), and what it cost: kvmfs's guest memory and path's page cache, in MiB."""
    g0, c0 = k.guest_kib(), cached(path)
    r = run()
    return r, (k.guest_kib() - g0) / 1024, (cached(path) - c0) / MIB


def add_costs(res, name, mem_mib, cache_mib):
    res.add(f"{name}: guest memory growth", mem_mib, "MiB")
    res.add(f"{name}: page cache growth", cache_mib, "MiB")


def fresh(k):
    path = k.path("ramblocks", "pc.ram")
    off = HEARTBEAT_GPA  # pc.ram starts at GPA 0, so offset = GPA
    out = subprocess.run([str(FRESH), str(k.pid), str(k.host_addr(HEARTBEAT_GPA)), str(path),
                          str(off), str(FRESH_SECONDS)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def heartbeat(k):
    with open(f"/proc/{k.pid}/mem", "rb", buffering=0) as f:
        addr = k.host_addr(HEARTBEAT_GPA)
        v0 = struct.unpack("<Q", os.pread(f.fileno(), 8, addr))[0]
        t0 = time.monotonic()
        time.sleep(HEARTBEAT_SECONDS)
        v1 = struct.unpack("<Q", os.pread(f.fileno(), 8, addr))[0]
        return (v1 - v0) / (time.monotonic() - t0)


# ---- collecting figures ----

class Results:
    """name -> list of per-repetition values; ratios are formed per repetition.
    A figure may have several baselines: its first ratio is "ratio", all of
    them are "ratios"."""

    def __init__(self):
        self.values = {}
        self.units = {}
        self.ratios = {}    # name -> [(baseline name, higher_is_better), ...]
        self.order = []

    def add(self, name, value, unit):
        if name not in self.values:
            self.values[name] = []
            self.units[name] = unit
            self.order.append(name)
        self.values[name].append(value)

    def ratio(self, name, baseline, higher_is_better=True):
        pairs = self.ratios.setdefault(name, [])
        if (baseline, higher_is_better) not in pairs:
            pairs.append((baseline, higher_is_better))

    @staticmethod
    def stats(vals):
        return {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
                "n": len(vals), "values": vals}

    def ratio_stats(self, name, base, hib=True):
        if name not in self.values or base not in self.values:
            return None
        pairs = zip(self.values[name], self.values[base])
        rs = [(a / b if hib else b / a) for a, b in pairs if a and b]
        return {"to": base, **self.stats(rs)} if rs else None

    def figure(self, name):
        f = {"unit": self.units[name], **self.stats(self.values[name])}
        rs = [r for r in (self.ratio_stats(name, b, h) for b, h in self.ratios.get(name, ()))
              if r]
        if rs:
            f["ratio"] = rs[0]
            f["ratios"] = rs
        return f


def measure_startup(res, reps):
    """Start-up to mounted and RSS with -S, -accel none and with KVM."""
    accels = ["none"] + (["kvm"] if have_kvm() else [])
    for _ in range(reps):
        for accel in accels:
            for size in STARTUP_SIZES:
                k = Kvmfs(["-M", "pc", "-m", size, "-S"], f"start{size}", accel=accel)
                try:
                    res.add(f"startup -m {size} -S, {accel}", k.startup_s * 1e3, "ms")
                    res.add(f"RSS -m {size} -S, {accel}", k.rss_kib() / 1024, "MiB")
                finally:
                    k.stop()
    for accel in accels:
        for size in STARTUP_SIZES[1:]:
            res.ratio(f"startup -m {size} -S, {accel}", f"startup -m 1G -S, {accel}",
                      higher_is_better=False)
            res.ratio(f"RSS -m {size} -S, {accel}", f"RSS -m 1G -S, {accel}",
                      higher_is_better=False)


def idle_guest(tag):
    return Kvmfs(["-M", "pc", "-m", "4G", "-S"], tag)


def idle_round(res):
    """One repetition on idle guests: kvmfs first, then the baselines, each of
    which allocates what it reads and so needs a guest of its own."""
    k = idle_guest("idle")
    io = k.blocks["pc.ram"].get("io")
    try:
        f = str(k.path("ramblocks", "pc.ram"))
        pid, host = k.pid, k.blocks["pc.ram"]["host"]
        drop_cache(f)
        r, mem, cache = costs(k, f, lambda: memread("file", f, RAM))
        res.add("idle: kvmfs cold seq 1M", r["MBps"], "MB/s")
        add_costs(res, "idle: kvmfs cold seq 1M", mem, cache)
        res.add("idle: kvmfs warm seq 1M", memread("file", f, RAM)["MBps"], "MB/s")
        res.add("idle: kvmfs warm rand 4K",
                memread("file", f, RAM, "-b", 4096, "-r", "-t", RAND_SECONDS)["iops"], "ops/s")
        drop_cache(f)
        r, mem, cache = costs(k, f, lambda: memread("file", f, RAM, "-b", 4096, "-r", "-t",
                                                     RAND_SECONDS))
        res.add("idle: kvmfs cold rand 4K", r["iops"], "ops/s")
        add_costs(res, "idle: kvmfs cold rand 4K", mem, cache)
        drop_cache(f)
        r, mem, cache = costs(k, f, lambda: memread("file", f, RAM, "-d"))
        res.add("idle: kvmfs O_DIRECT seq 1M", r["MBps"], "MB/s")
        add_costs(res, "idle: kvmfs O_DIRECT seq 1M", mem, cache)
        # The same idle guest, read the way that bypasses kvmfs.
        r, mem, cache = costs(k, f, lambda: memread("procmem", pid, host, RAM))
        res.add("idle: /proc/pid/mem seq 1M", r["MBps"], "MB/s")
        add_costs(res, "idle: /proc/pid/mem seq 1M", mem, cache)
    finally:
        k.stop()
    for name, args in (("process_vm_readv seq 1M", ("vmreadv",)),
                       ("/proc/pid/mem rand 4K", ("procmem",))):
        k = idle_guest("idle-base")
        try:
            f = str(k.path("ramblocks", "pc.ram"))
            more = ("-b", 4096, "-r", "-t", RAND_SECONDS) if "rand" in name else ()
            r, mem, cache = costs(k, f, lambda: memread(*args, k.pid, k.blocks["pc.ram"]["host"],
                                                        RAM, *more))
            res.add(f"idle: {name}", r["iops" if "rand" in name else "MBps"],
                    "ops/s" if "rand" in name else "MB/s")
            add_costs(res, f"idle: {name}", mem, cache)
        finally:
            k.stop()
    return io


def idle_ratios(res):
    res.ratio("idle: kvmfs cold seq 1M", "idle: /proc/pid/mem seq 1M")
    res.ratio("idle: kvmfs warm seq 1M", "idle: /proc/pid/mem seq 1M")
    res.ratio("idle: kvmfs O_DIRECT seq 1M", "idle: /proc/pid/mem seq 1M")
    res.ratio("idle: process_vm_readv seq 1M", "idle: /proc/pid/mem seq 1M")
    res.ratio("idle: kvmfs cold rand 4K", "idle: /proc/pid/mem rand 4K")
    res.ratio("idle: kvmfs warm rand 4K", "idle: /proc/pid/mem rand 4K")


def file_round(res, k, suffix, full=True):
    """One repetition on the filled guest, each figure next to its baseline."""
    f = str(k.path("ramblocks", "pc.ram"))
    pid, host = k.pid, k.blocks["pc.ram"]["host"]
    memfd = k.memfd("pc.ram")
    s = suffix

    b = memread("procmem", pid, host, RAM)
    res.add(f"/proc/pid/mem seq 1M{s}", b["MBps"], "MB/s")
    if full:
        res.add(f"process_vm_readv seq 1M{s}", memread("vmreadv", pid, host, RAM)["MBps"],
                "MB/s")
        res.add(f"memcpy (mapped) seq 1M{s}", memread("map", memfd, RAM, "-p")["MBps"], "MB/s")
        r, mem, cache = costs(k, f, lambda: fio(f, "read", "1m", RAM, cold=True))
        res.add(f"kvmfs cold seq 1M{s}", r["MBps"], "MB/s")
        add_costs(res, f"kvmfs cold seq 1M{s}", mem, cache)
        res.add(f"kvmfs O_DIRECT seq 1M{s}", memread("file", f, RAM, "-d")["MBps"], "MB/s")
    else:
        fio(f, "read", "1m", RAM)  # whatever the stop dropped, back in the cache
    res.add(f"kvmfs warm seq 1M{s}", fio(f, "read", "1m", RAM)["MBps"], "MB/s")

    res.add(f"/proc/pid/mem seq 4K{s}", memread("procmem", pid, host, SEQ4K_LEN,
                                                 "-b", 4096)["MBps"], "MB/s")
    res.add(f"kvmfs warm seq 4K{s}", fio(f, "read", "4k", SEQ4K_LEN)["MBps"], "MB/s")

    for jobs in (1, 2):
        b = memread("procmem", pid, host, RAM, "-b", 4096, "-r", "-t", RAND_SECONDS,
                    "-j", jobs, "-l")
        res.add(f"/proc/pid/mem rand 4K {jobs}j{s}", b["iops"], "ops/s")
        if full and jobs == 1:
            res.add(f"process_vm_readv rand 4K 1j{s}",
                    memread("vmreadv", pid, host, RAM, "-b", 4096, "-r", "-t",
                            RAND_SECONDS)["iops"], "ops/s")
        r = fio(f, "randread", "4k", RAM, jobs=jobs, seconds=RAND_SECONDS)
        res.add(f"kvmfs warm rand 4K {jobs}j{s}", r["iops"], "ops/s")
        res.add(f"kvmfs warm rand 4K {jobs}j p50{s}", r["lat_p50_us"], "us")
        res.add(f"kvmfs warm rand 4K {jobs}j p99{s}", r["lat_p99_us"], "us")
        if full and jobs == 1:
            # The same loop as the baseline, on the kvmfs file: fio's own cost.
            res.add(f"kvmfs warm rand 4K 1j (memread){s}",
                    memread("file", f, RAM, "-b", 4096, "-r", "-t", RAND_SECONDS)["iops"],
                    "ops/s")
    if not full:
        return

    res.add(f"map+memcpy (fresh mapping){s}", memread("map", memfd, MMAP_LEN)["MBps"], "MB/s")
    res.add(f"kvmfs mmap warm{s}", fio(f, "read", "1m", MMAP_LEN, engine="mmap")["MBps"],
            "MB/s")

    for jobs in (1, 2):
        r = fio(f, "randread", "4k", RAM, jobs=jobs, cold=True, seconds=RAND_SECONDS)
        res.add(f"kvmfs cold rand 4K {jobs}j{s}", r["iops"], "ops/s")
        res.add(f"kvmfs cold rand 4K {jobs}j p50{s}", r["lat_p50_us"], "us")
        res.add(f"kvmfs cold rand 4K {jobs}j p99{s}", r["lat_p99_us"], "us")
    res.add(f"kvmfs mmap cold{s}",
            fio(f, "read", "1m", MMAP_LEN, engine="mmap", cold=True)["MBps"], "MB/s")


def file_ratios(res, s):
    base1m, base4k = f"/proc/pid/mem seq 1M{s}", f"/proc/pid/mem seq 4K{s}"
    for name in (f"kvmfs cold seq 1M{s}", f"kvmfs warm seq 1M{s}",
                 f"kvmfs O_DIRECT seq 1M{s}", f"process_vm_readv seq 1M{s}"):
        if name in res.values:
            res.ratio(name, base1m)
    res.ratio(f"kvmfs warm seq 4K{s}", base4k)
    for jobs in (1, 2):
        base = f"/proc/pid/mem rand 4K {jobs}j{s}"
        for name in (f"kvmfs warm rand 4K {jobs}j{s}", f"kvmfs cold rand 4K {jobs}j{s}"):
            if name in res.values:
                res.ratio(name, base)
    if f"kvmfs warm rand 4K 1j (memread){s}" in res.values:
        res.ratio(f"kvmfs warm rand 4K 1j (memread){s}", f"/proc/pid/mem rand 4K 1j{s}")
    for name in (f"kvmfs mmap warm{s}", f"kvmfs mmap cold{s}"):
        if name in res.values:
            res.ratio(name, f"map+memcpy (fresh mapping){s}")


def measure_direct_io(res, reps):
    """-o direct_io: every read goes to kvmfs; a separate kvmfs (and fill)."""
    k = Kvmfs(["-M", "pc", "-m", "4G", "--writable", "-o", "direct_io"], "dio")
    try:
        res.add("fill 4 GiB through the FS (direct_io)", fill(k), "s")
        f = str(k.path("ramblocks", "pc.ram"))
        for _ in range(reps):
            res.add("/proc/pid/mem seq 1M (direct_io run)",
                    memread("procmem", k.pid, k.blocks["pc.ram"]["host"], RAM)["MBps"], "MB/s")
            res.add("kvmfs -o direct_io seq 1M", fio(f, "read", "1m", RAM)["MBps"], "MB/s")
            r = fio(f, "randread", "4k", RAM, jobs=2, seconds=RAND_SECONDS)
            res.add("kvmfs -o direct_io rand 4K 2j", r["iops"], "ops/s")
        res.ratio("kvmfs -o direct_io seq 1M", "/proc/pid/mem seq 1M (direct_io run)")
    finally:
        k.stop()


def measure_exact(res, k):
    """After `ctl stop` every cache must equal guest memory: the status page,
    and the record of one MiB in every 64, through read() and a mapping."""
    k.ctl("stop")
    try:
        exact = True
        host = k.blocks["pc.ram"]["host"]
        with open(f"/proc/{k.pid}/mem", "rb", buffering=0) as mem, \
                open(k.path("ramblocks", "pc.ram"), "rb", buffering=0) as f:
            m = mmap.mmap(f.fileno(), RAM, prot=mmap.PROT_READ)
            for off in [GUEST_STATUS_GPA] + list(range(64 * MIB, RAM, 64 * MIB)):
                truth = os.pread(mem.fileno(), 24, host + off)
                if os.pread(f.fileno(), 24, off) != truth or m[off:off + 24] != truth:
                    exact = False
            m.close()
        res.add("exact after ctl stop", 1.0 if exact else 0.0, "bool")
    finally:
        k.ctl("cont")


LIVE_NAMES = ("freshness read()", "freshness mmap", "exact after ctl stop",
              "guest heartbeat rate", "guest heartbeat under 2 readers")


def measure_live(res, reps):
    """A guest running flat out: freshness of read() and of a mapping (its
    heartbeat changes every pass, so each poll is a sample), and its pass
    rate alone and while 2 readers stream pc.ram from a warm cache."""
    k = Kvmfs(["-M", "pc", "-m", "1G", "-flat-out"], "live")
    try:
        f = str(k.path("ramblocks", "pc.ram"))
        for _ in range(reps):
            r = fresh(k)
            for reader, name in (("read", "freshness read()"), ("mmap", "freshness mmap")):
                if r[reader]["samples"]:
                    res.add(f"{name} p50", r[reader]["p50_ms"], "ms")
                    res.add(f"{name} p99", r[reader]["p99_ms"], "ms")
        fio(f, "read", "1m", LIVE_RAM)  # the readers then stream from a warm cache
        for _ in range(reps):
            res.add("guest heartbeat rate", heartbeat(k), "passes/s")
            readers = subprocess.Popen(
                ["fio", "--name=stream", f"--filename={f}", "--rw=read", "--bs=1m",
                 f"--size={LIVE_RAM}", "--numjobs=2", "--thread", "--invalidate=0",
                 "--allow_file_create=0", "--time_based",
                 f"--runtime={HEARTBEAT_SECONDS + 1}", "--output-format=json"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                time.sleep(0.5)
                res.add("guest heartbeat under 2 readers", heartbeat(k), "passes/s")
            finally:
                readers.wait()
        res.ratio("guest heartbeat under 2 readers", "guest heartbeat rate")
    finally:
        k.stop()


# ---- passthrough (issue 21): pc.ram against the memfd behind it ----

PT_RAM = 2 * GIB          # the passthrough section's guests (time: 2 GiB, not 4)
WRITE_GPA = 256 * MIB     # the guest's "write" command: 256 MiB from 256 MiB
WRITE_MIB = 256
GUEST_MAILBOX_GPA = 0x2000
GUEST_MAILBOX_ACK_GPA = 0x2100
GUEST_WRITE_CYCLES_GPA = 0x2108   # then GUEST_WRITE_BYTES_GPA: guest.h


def meminfo_kib(*fields):
    total = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.split(":")[0] in fields:
                total += int(line.split()[1])
    return total


def alloc(k, run):
    """run(), and what it allocated, in MiB: the host's Shmem and Cached
    (/proc/meminfo, system-wide: other jobs add noise of some MiB) and
    kvmfs's VmRSS."""
    s0, c0, r0 = meminfo_kib("Shmem"), meminfo_kib("Cached"), k.rss_kib()
    r = run()
    return r, {"Shmem": (meminfo_kib("Shmem") - s0) / 1024,
               "Cached": (meminfo_kib("Cached") - c0) / 1024,
               "kvmfs RSS": (k.rss_kib() - r0) / 1024}


def add_alloc(res, name, grown):
    for what, mib in grown.items():
        res.add(f"{name}: {what} +", mib, "MiB")


def io_of(k, idstr="pc.ram"):
    """How ramblocks.json says the block is served, and kvmfs's own words
    about passthrough on stderr (it says once why it is off)."""
    said = [l.strip() for l in k.err_path.read_text(errors="replace").splitlines()
            if "passthrough" in l]
    return k.blocks[idstr].get("io"), said


def fill_memfd(k, idstr="pc.ram"):
    """Fill the block with random data through its memfd (kvmfs's RAM
    files stay read-only: --writable would serve them cached), leaving the
    first MiB alone as fill() does; then read it twice unrecorded: the first
    reads of a freshly written shmem page pay for its LRU activation
    (../shared/PASSTHROUGH.md, section 2), which must land on no figure."""
    memfd = k.memfd(idstr)
    size = k.blocks[idstr]["used_length"]
    pattern = bytearray(os.urandom(MIB))
    t0 = time.monotonic()
    fd = os.open(memfd, os.O_WRONLY)
    try:
        for off in range(MIB, size, MIB):
            pattern[:8] = struct.pack("<Q", off)
            if os.pwrite(fd, pattern, off) != MIB:
                raise RuntimeError("short write while filling")
    finally:
        os.close(fd)
    dt = time.monotonic() - t0
    for _ in range(2):
        memread("file", memfd, size)
    return dt


def pt_holes_round(res, pt_ok):
    """Idle 2 GiB guests (all holes): pc.ram served by passthrough (when
    pt_ok), pread of its memfd, phys, and /proc/PID/mem last (it allocates
    what it reads); then a kvmfs with -o no_passthrough for the cached path.
    Every read is memread's one 1 MiB pread loop; each records Shmem,
    Cached and kvmfs RSS growth."""
    H = "2G holes:"
    k = Kvmfs(["-M", "pc", "-m", "2G", "-S"], "pt-holes")
    try:
        f, memfd = str(k.path("ramblocks", "pc.ram")), k.memfd("pc.ram")
        if pt_ok:
            drop_cache(f)
            r, grown = alloc(k, lambda: memread("file", f, PT_RAM))
            res.add(f"{H} pc.ram passthrough cold", r["MBps"], "MB/s")
            add_alloc(res, f"{H} pc.ram passthrough cold", grown)
            res.add(f"{H} pc.ram passthrough warm", memread("file", f, PT_RAM)["MBps"], "MB/s")
        r, grown = alloc(k, lambda: memread("file", memfd, PT_RAM))
        res.add(f"{H} memfd pread", r["MBps"], "MB/s")
        add_alloc(res, f"{H} memfd pread", grown)
        phys = str(k.path("phys"))
        drop_cache(phys)
        r, grown = alloc(k, lambda: memread("file", phys, PT_RAM))
        res.add(f"{H} phys cold", r["MBps"], "MB/s")
        add_alloc(res, f"{H} phys cold", grown)
        res.add(f"{H} phys warm", memread("file", phys, PT_RAM)["MBps"], "MB/s")
        drop_cache(phys)
        r, grown = alloc(k, lambda: memread("procmem", k.pid, k.blocks["pc.ram"]["host"],
                                             PT_RAM))
        res.add(f"{H} /proc/pid/mem", r["MBps"], "MB/s")
        add_alloc(res, f"{H} /proc/pid/mem", grown)
    finally:
        k.stop()
    k = Kvmfs(["-M", "pc", "-m", "2G", "-S", "-o", "no_passthrough"], "cached-holes")
    try:
        f = str(k.path("ramblocks", "pc.ram"))
        drop_cache(f)
        r, grown = alloc(k, lambda: memread("file", f, PT_RAM))
        res.add(f"{H} pc.ram cached cold", r["MBps"], "MB/s")
        add_alloc(res, f"{H} pc.ram cached cold", grown)
        res.add(f"{H} pc.ram cached warm", memread("file", f, PT_RAM)["MBps"], "MB/s")
        drop_cache(f)
    finally:
        k.stop()


def pt_filled_round(res, kp, kc, pt_ok, rep):
    """One repetition on filled 2 GiB guests: kp serves pc.ram by
    passthrough, kc by the cached path (-o no_passthrough).  Odd
    repetitions read pc.ram before the memfd, even ones after, so that
    neither side of the ratio always goes first."""
    F = "2G filled:"
    memfd, host = kp.memfd("pc.ram"), kp.blocks["pc.ram"]["host"]
    fp, fc = str(kp.path("ramblocks", "pc.ram")), str(kc.path("ramblocks", "pc.ram"))
    rand = ("-b", 4096, "-r", "-t", RAND_SECONDS, "-l")

    # The memfd next to pc.ram, /proc/PID/mem right after: the pairs whose
    # ratios are the targets are taken seconds apart.
    if rep % 2 == 0:
        res.add(f"{F} memfd pread", memread("file", memfd, PT_RAM)["MBps"], "MB/s")
    if pt_ok:
        drop_cache(fp)
        res.add(f"{F} pc.ram passthrough cold", memread("file", fp, PT_RAM)["MBps"], "MB/s")
        res.add(f"{F} pc.ram passthrough warm", memread("file", fp, PT_RAM)["MBps"], "MB/s")
    if rep % 2:
        res.add(f"{F} memfd pread", memread("file", memfd, PT_RAM)["MBps"], "MB/s")
    res.add(f"{F} /proc/pid/mem", memread("procmem", kp.pid, host, PT_RAM)["MBps"], "MB/s")
    drop_cache(fc)
    res.add(f"{F} pc.ram cached cold", memread("file", fc, PT_RAM)["MBps"], "MB/s")
    res.add(f"{F} pc.ram cached warm", memread("file", fc, PT_RAM)["MBps"], "MB/s")

    def rand4k(name, *args):
        r = memread(*args, *rand)
        res.add(f"{F} {name} rand 4K", r["iops"], "ops/s")
        res.add(f"{F} {name} rand 4K p50", r["lat_p50_us"], "us")
        res.add(f"{F} {name} rand 4K p99", r["lat_p99_us"], "us")

    rand4k("memfd", "file", memfd, PT_RAM)
    if pt_ok:
        rand4k("pc.ram passthrough", "file", fp, PT_RAM)
    rand4k("/proc/pid/mem", "procmem", kp.pid, host, PT_RAM)
    rand4k("pc.ram cached warm", "file", fc, PT_RAM)   # all of it cached just above
    drop_cache(fc)
    rand4k("pc.ram cached cold", "file", fc, PT_RAM)


def pt_ratios(res):
    for H in ("2G holes:", "2G filled:"):
        for path in ("passthrough", "cached"):
            for t in ("cold", "warm"):
                name = f"{H} pc.ram {path} {t}"
                res.ratio(name, f"{H} memfd pread")
                res.ratio(name, f"{H} /proc/pid/mem")
        res.ratio(f"{H} pc.ram passthrough cold", f"{H} pc.ram cached cold")
        res.ratio(f"{H} pc.ram passthrough warm", f"{H} pc.ram cached warm")
    for H in ("2G holes:", "2G filled:"):
        # The ceiling of the pc.ram / /proc/PID/mem targets on this machine.
        res.ratio(f"{H} memfd pread", f"{H} /proc/pid/mem")
    for t in ("cold", "warm"):
        res.ratio(f"2G holes: phys {t}", "2G holes: /proc/pid/mem")
        res.ratio(f"2G holes: phys {t}", "2G holes: pc.ram passthrough cold")
    F = "2G filled:"
    for name in ("pc.ram passthrough", "/proc/pid/mem", "pc.ram cached warm",
                 "pc.ram cached cold"):
        res.ratio(f"{F} {name} rand 4K", f"{F} memfd rand 4K")
        # Latency: this figure over the memfd's (lower is better; <= 1.2 wanted).
        res.ratio(f"{F} {name} rand 4K p50", f"{F} memfd rand 4K p50")
        res.ratio(f"{F} {name} rand 4K p99", f"{F} memfd rand 4K p99")


def measure_passthrough(res, reps, not_measured, meta):
    """Issue 21's figures side by side: see the docstring."""
    k = Kvmfs(["-M", "pc", "-m", "2G", "-S"], "pt-check")
    try:
        io, said = io_of(k)
    finally:
        k.stop()
    pt_ok = io == "passthrough"
    meta["passthrough"] = {"pc.ram io": io, "kvmfs said": said, "euid": os.geteuid()}
    if not pt_ok:
        why = (f"not measured: ramblocks.json says pc.ram is served \"{io}\", not "
               f"\"passthrough\" (euid {os.geteuid()}; kvmfs: {' / '.join(said) or 'nothing'})")
        for n in ("2G holes: pc.ram passthrough", "2G filled: pc.ram passthrough"):
            not_measured[n] = why
    for rep in range(reps):
        log(f"passthrough: idle 2 GiB guests, repetition {rep + 1}/{reps}")
        pt_holes_round(res, pt_ok)
    log("passthrough: two filled 2 GiB guests (passthrough, -o no_passthrough)")
    kp = Kvmfs(["-M", "pc", "-m", "2G", "-S"], "pt-filled")
    kc = None
    try:
        kc = Kvmfs(["-M", "pc", "-m", "2G", "-S", "-o", "no_passthrough"], "cached-filled")
        meta["passthrough"]["filled io"] = {"passthrough guest": io_of(kp)[0],
                                            "no_passthrough guest": io_of(kc)[0]}
        res.add("fill 2 GiB through the memfd", fill_memfd(kp), "s")
        fill_memfd(kc)
        for rep in range(reps):
            log(f"passthrough: filled guests, repetition {rep + 1}/{reps}")
            pt_filled_round(res, kp, kc, pt_ok, rep)
    finally:
        kp.stop()
        if kc:
            kc.stop()
    pt_ratios(res)


WRITE_NAMES = ("guest write, no reader", "guest write, dirty-log on")


def measure_guest_write(res, reps, not_measured, meta):
    """The built-in guest's "write 0xGPA N" (guest.h): N MiB of stores,
    timed by the guest's TSC, with nothing holding dirty logging and with
    `dirty-log on` written to ctl.  The mailbox is written through the
    memfd, so pc.ram stays read-only (and served by passthrough)."""
    k = Kvmfs(["-M", "pc", "-m", "1G"], "write")
    try:
        tsc_hz = memread("tsc")["tsc_hz"]
        meta["guest_write"] = {"tsc_hz": tsc_hz, "area": [WRITE_GPA, WRITE_MIB * MIB]}
        fd = os.open(k.memfd("pc.ram"), os.O_RDWR)
        seq = [0]

        def u64(gpa):
            return struct.unpack("<Q", os.pread(fd, 8, gpa))[0]

        def command():
            seq[0] += 1
            text = f"write {WRITE_GPA:#x} {WRITE_MIB}".encode() + b"\0"
            os.pwrite(fd, text, GUEST_MAILBOX_GPA + 16)
            os.pwrite(fd, struct.pack("<Q", seq[0]), GUEST_MAILBOX_GPA + 8)
            os.pwrite(fd, b"KVMFSCMD", GUEST_MAILBOX_GPA)
            deadline = time.monotonic() + 60
            while u64(GUEST_MAILBOX_ACK_GPA) != seq[0]:
                if time.monotonic() > deadline or k.proc.poll() is not None:
                    raise RuntimeError(f"the guest never acknowledged write command {seq[0]}")
                time.sleep(0.005)
            cycles, stored = struct.unpack("<QQ", os.pread(fd, 16, GUEST_WRITE_CYCLES_GPA))
            return stored / MIB / (cycles / tsc_hz)

        def logging():
            slots = json.loads(k.read_text("memslots.json"))
            return any(s["dirty_log"] for s in slots
                       if s["guest_phys_addr"] <= WRITE_GPA < s["guest_phys_addr"]
                       + s["memory_size"])

        try:
            deadline = time.monotonic() + 60
            while os.pread(fd, 8, GUEST_STATUS_GPA) != b"KVMFSSTA":
                if time.monotonic() > deadline:
                    raise RuntimeError("the guest never wrote its status page")
                time.sleep(0.05)
            command()  # unrecorded: the area's pages get allocated and mapped
            meta["guest_write"]["log flag, no reader"] = []
            meta["guest_write"]["log flag, dirty-log on"] = []
            for _ in range(reps):
                meta["guest_write"]["log flag, no reader"].append(logging())
                res.add("guest write, no reader", command(), "MiB/s")
                try:
                    k.ctl("dirty-log on")
                except OSError as e:
                    not_measured["guest write, dirty-log on"] = (
                        f"not measured: kvmfs refused `dirty-log on` on ctl ({e.strerror}); "
                        "this kvmfs has no such ctl command")
                    break
                meta["guest_write"]["log flag, dirty-log on"].append(logging())
                res.add("guest write, dirty-log on", command(), "MiB/s")
                try:
                    k.ctl("dirty-log off")
                except OSError as e:
                    meta["guest_write"]["note"] = (f"`dirty-log off` refused ({e.strerror}): "
                                                   "one repetition only")
                    break
                command()  # unrecorded: huge mappings come back after logging
            res.ratio("guest write, dirty-log on", "guest write, no reader")
        finally:
            os.close(fd)
    finally:
        k.stop()


# ---- targets and output ----

def med(res, name):
    return statistics.median(res.values[name]) if name in res.values else None


def ratio_med(res, name):
    f = res.figure(name) if name in res.values else {}
    return f.get("ratio", {}).get("median")


def targets(res, not_measured, s, meta):
    """The issue's targets, as ratios of figures taken in this same run."""
    def t(what, want, got, ok, note=""):
        return {"target": what, "want": want, "got": got,
                "met": None if ok is None else bool(ok), "note": note}

    out = []
    io = f"pc.ram served {meta.get('io: filled 4 GiB guest (--writable)')} (--writable)"
    r = ratio_med(res, f"kvmfs cold seq 1M{s}")
    out.append(t("filled: cold seq 1M vs /proc/pid/mem", ">= 1.0x", r, r and r >= 1.0, io))
    r = ratio_med(res, f"kvmfs warm seq 1M{s}")
    out.append(t("filled: warm seq 1M vs /proc/pid/mem", ">= 2.5x", r, r and r >= 2.5, io))
    r = ratio_med(res, "idle: kvmfs cold seq 1M")
    out.append(t("idle: whole-file read vs /proc/pid/mem", ">= 10x", r, r and r >= 10,
                 "the same idle guest, kvmfs first"))
    g = max(res.values["idle: kvmfs cold seq 1M: guest memory growth"])
    base = med(res, "idle: /proc/pid/mem seq 1M: guest memory growth")
    out.append(t("idle: guest memory growth, whole file", "< 64 MiB", g, g < 64,
                 f"largest of the runs; /proc/pid/mem grew it {base:.0f} MiB"))
    v = med(res, "idle: kvmfs cold seq 1M")
    out.append(t("idle: hole reads, seq 1M", ">= 2000 MB/s", v, v >= 2000))
    bound = 2 * SWEEP_MS
    if "freshness read() p99" in res.values:
        v = max(med(res, "freshness read() p99"), med(res, "freshness mmap p99") or 0)
        out.append(t("freshness p99, guest running", f"<= {bound} ms", v, v <= bound,
                     f"2 sweep periods of {SWEEP_MS} ms; the worse of read() and mmap"))
    else:
        out.append(t("freshness p99, guest running", f"<= {bound} ms", None, None,
                     not_measured["freshness read()"]))
    if "exact after ctl stop" in res.values:
        v = min(res.values["exact after ctl stop"])
        out.append(t("exact after ctl stop", "exact", bool(v), v == 1.0))
    else:
        out.append(t("exact after ctl stop", "exact", None, None,
                     not_measured["exact after ctl stop"]))
    if "guest heartbeat under 2 readers" in res.values:
        r = ratio_med(res, "guest heartbeat under 2 readers")
        out.append(t("guest heartbeat under 2 readers", ">= 0.95x", r, r >= 0.95))
    else:
        out.append(t("guest heartbeat under 2 readers", ">= 0.95x", None, None,
                     not_measured["guest heartbeat rate"]))
    out += pt_targets(res, not_measured, meta)
    for accel in ("none", "kvm"):
        if f"startup -m 64G -S, {accel}" not in res.values:
            continue
        v = med(res, f"startup -m 64G -S, {accel}")
        out.append(t(f"start-up -m 64G -S, {accel}", "< 100 ms", v, v < 100))
        v = med(res, f"RSS -m 64G -S, {accel}")
        out.append(t(f"RSS -m 64G -S, {accel}", "< 64 MiB", v, v < 64))
    return out


def pt_targets(res, not_measured, meta):
    """Issue 21 item 7, from the passthrough section's figures."""
    def t(what, want, got, ok, note=""):
        return {"target": what, "want": want, "got": got,
                "met": None if ok is None else bool(ok), "note": note}

    def r(name, base):
        f = res.ratio_stats(name, base)
        return f and f["median"]

    out = []
    F, H = "2G filled:", "2G holes:"
    if f"{F} pc.ram passthrough cold" in res.values:
        for tmp in ("cold", "warm"):
            v = r(f"{F} pc.ram passthrough {tmp}", f"{F} memfd pread")
            out.append(t(f"filled: pc.ram {tmp} vs memfd pread", ">= 0.9x", v, v and v >= 0.9))
            v = r(f"{F} pc.ram passthrough {tmp}", f"{F} /proc/pid/mem")
            ceil = r(f"{F} memfd pread", f"{F} /proc/pid/mem")
            out.append(t(f"filled: pc.ram {tmp} vs /proc/pid/mem", ">= 1.5x", v, v and v >= 1.5,
                         f"the memfd itself: {ceil:.2f}x" if ceil else ""))
        v = r(f"{H} pc.ram passthrough cold", f"{H} /proc/pid/mem")
        out.append(t("holes: pc.ram cold vs /proc/pid/mem", ">= 5x", v, v and v >= 5))
        grown = {w: max(res.values[f"{H} pc.ram passthrough cold: {w} +"])
                 for w in ("Shmem", "Cached", "kvmfs RSS")}
        worst = max(grown.values())
        out.append(t("holes: pc.ram allocation, 2 GiB read", "< 64 MiB", worst, worst < 64,
                     "largest of Shmem, Cached (system-wide) and kvmfs RSS growth over the "
                     "runs: " + ", ".join(f"{w} {g:+.0f}" for w, g in grown.items())))
        v = r(f"{F} pc.ram passthrough rand 4K p50", f"{F} memfd rand 4K p50")
        out.append(t("filled: rand 4K p50 vs the memfd's", "<= 1.2x", v, v and v <= 1.2))
    else:
        why = not_measured.get("2G filled: pc.ram passthrough", "not measured")
        for what in ("filled: pc.ram vs memfd pread", "holes: pc.ram cold vs /proc/pid/mem",
                     "filled: rand 4K p50 vs the memfd's"):
            out.append(t(what, "", None, None, why))
    if "guest write, dirty-log on" in res.values:
        v = r("guest write, dirty-log on", "guest write, no reader")
        out.append(t("guest write: dirty-log on / no reader", "(cost)", v, None,
                     "what dirty logging costs the guest's stores"))
    if "guest write, no reader" in res.values:
        off = not any(meta.get("guest_write", {}).get("log flag, no reader", []))
        out.append(t("guest write, no reader vs logging off", ">= 0.95x",
                     1.0 if off else None, off,
                     "memslots show no log flag on the area with no reader, so the no-reader "
                     "runs are logging-off runs" if off else
                     "memslots show the log flag on with no reader: logging is not off"))
    else:
        out.append(t("guest write, no reader vs logging off", ">= 0.95x", None, None,
                     not_measured.get("guest write, no reader", "not measured")))
    return out


# ---- attach: a QEMU's guest through kvmfs -attach (issue 23, item 6) ----

ATTACH_RAM = 4 * GIB      # the booted QEMU guests of the attach section
ATTACH_BOOT_TIMEOUT = 900.0
ATTACH_NAMES = ("attach anon: kvmfs pc.ram seq 1M", "attach anon: /proc/pid/mem seq 1M",
                "attach memfd: kvmfs m seq 1M", "attach memfd: memfd pread seq 1M",
                "attach: kvmfs -attach + drgn ps", "attach: dump-guest-memory + drgn ps")
DRGN_PS = """
import json, sys, drgn
from drgn.helpers.linux.pid import for_each_task
prog = drgn.Program()
prog.set_core_dump(sys.argv[1])
prog.load_debug_info([sys.argv[2]])
print(json.dumps(sorted([t.pid.value_(), t.comm.string_().decode()] for t in for_each_task(prog))))
"""


class BootedQemu:
    """A QEMU (TCG or KVM) this script started, booted to the busybox shell:
    one QMP socket for kvmfs, one for the script."""

    def __init__(self, tag, args):
        sys.path.insert(0, str(ROOT / "tools"))
        from qmp import Qmp  # tools/qmp.py
        self.dir = Path(tempfile.mkdtemp(prefix=f"kvmfs-bench-{tag}-"))
        self.kvmfs_sock, self.sock = self.dir / "kvmfs.qmp", self.dir / "bench.qmp"
        self.console = self.dir / "console.txt"
        kdir = BUILD / "debian-kernel"
        accel = "kvm" if have_kvm() else "tcg"
        self.proc = subprocess.Popen(
            ["qemu-system-x86_64", "-accel", accel, "-nodefaults", "-display", "none",
             "-serial", f"file:{self.console}", "-M", "pc", "-m", f"{ATTACH_RAM >> 30}G",
             "-kernel", str(kdir / "vmlinuz"), "-initrd", str(BUILD / "initramfs.cpio"),
             "-append", "console=ttyS0 nokaslr panic=-1",
             "-qmp", f"unix:{self.kvmfs_sock},server=on,wait=off",
             "-qmp", f"unix:{self.sock},server=on,wait=off"] + list(args),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pid = self.proc.pid
        self.qmp = Qmp(self.sock, connect_timeout=30, timeout=None)

    def booted(self):
        try:
            return "kvmfs-initramfs: ready" in self.console.read_text(errors="replace")
        except OSError:
            return False

    def stop(self):
        # Only ever the QEMU started here.
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.qmp.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def kvmfs_plain(args, tag):
    """A kvmfs with args and no VM option (Kvmfs: startup_s is start to served)."""
    return Kvmfs(args, tag, accel="")


def dump_mount(dump):
    """kvmfs -dump FILE on a mountpoint of its own, served once its vmcore is there."""
    return Kvmfs(["-dump", str(dump)], "dump-mnt", accel="", ready="vmcore")


def attach_kvmfs(q, tag):
    return kvmfs_plain(["-attach", str(q.kvmfs_sock)], tag)


def anon_ram_mapping(pid, size):
    """Host address of QEMU's mapping of a private anonymous RAM block of size bytes:
    read-write, MADV_DONTFORK ("dc"), exactly that size; None unless exactly one."""
    found, cur = [], None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and len(head) >= 5 and ":" in head[3]:
                lo, hi = (int(x, 16) for x in head[0].split("-"))
                cur = (lo, hi - lo, head[1], len(head) == 5)
            elif head[0] == "VmFlags:" and cur and cur[1] == size and cur[2].startswith("rw") \
                    and cur[3] and "dc" in head[1:]:
                found.append(cur[0])
    return found[0] if len(found) == 1 else None


def qemu_memfd(pid):
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("/memfd:memory-backend-memfd"):
                return f"/proc/{pid}/fd/{fd}"
        except OSError:
            pass
    return None


def drgn_ps(core):
    r = subprocess.run(["/usr/bin/python3", "-c", DRGN_PS, str(core),
                        str(BUILD / "debian-kernel" / "vmlinux-dbg")],
                       capture_output=True, text=True, timeout=1800)
    if r.returncode:
        raise RuntimeError(f"drgn on {core}: {r.stderr.strip().splitlines()[-1:]}")
    return json.loads(r.stdout)


def attach_missing():
    kdir = BUILD / "debian-kernel"
    if not shutil.which("qemu-system-x86_64"):
        return "qemu-system-x86_64 missing (apt-get install qemu-system-x86)"
    for f in (kdir / "vmlinuz", kdir / "vmlinux-dbg", BUILD / "initramfs.cpio"):
        if not f.exists():
            return f"{f} missing (tools/fetch-debian-kernel.sh --debug, tools/make-initramfs.sh)"
    if subprocess.run(["/usr/bin/python3", "-c", "import drgn"], capture_output=True).returncode:
        return "python3-drgn missing"
    return None


def attach_read_round(res, anon, memfd):
    """Whole reads of each booted guest's RAM block through kvmfs, next to the same
    bytes read the way that bypasses it (memread's pread loop for both)."""
    k = attach_kvmfs(anon, "attach-anon")
    try:
        f = str(k.path("ramblocks", "pc.ram"))
        res.add("attach anon: kvmfs pc.ram seq 1M", memread("file", f, ATTACH_RAM)["MBps"], "MB/s")
        io = k.blocks["pc.ram"].get("io")
    finally:
        k.stop()
    host = anon_ram_mapping(anon.pid, ATTACH_RAM)
    if host is None:
        raise RuntimeError("QEMU's pc.ram mapping not found in its smaps")
    res.add("attach anon: /proc/pid/mem seq 1M",
            memread("procmem", anon.pid, host, ATTACH_RAM)["MBps"], "MB/s")
    k = attach_kvmfs(memfd, "attach-memfd")
    try:
        f = str(k.path("ramblocks", "m"))
        res.add("attach memfd: kvmfs m seq 1M", memread("file", f, ATTACH_RAM)["MBps"], "MB/s")
        mio = k.blocks["m"].get("io")
    finally:
        k.stop()
    res.add("attach memfd: memfd pread seq 1M",
            memread("file", qemu_memfd(memfd.pid), ATTACH_RAM)["MBps"], "MB/s")
    return io, mio


def attach_debug_round(res, q, tmp):
    """kvmfs -attach started to a drgn process list through its vmcore, next to
    QEMU's dump-guest-memory (QMP, the whole guest to an ELF file) + the same drgn
    on the dump.  Both lists are returned (they must be the same tasks)."""
    t0 = time.monotonic()
    k = attach_kvmfs(q, "attach-drgn")
    try:
        t_mounted = time.monotonic() - t0
        ours = drgn_ps(k.path("vmcore"))
        res.add("attach: kvmfs -attach + drgn ps", time.monotonic() - t0, "s")
    finally:
        k.stop()
    # drgn cannot open QEMU's dump of this guest by itself: it has no VMCOREINFO
    # (that needs -device vmcoreinfo and the guest's qemu_fw_cfg module, which the
    # busybox initramfs does not load).  kvmfs -dump's vmcore adds it (derived from
    # the kernel's own memory), so the dump is read through that: the fastest way
    # from a dump to drgn here.
    dump = tmp / "dump.elf"
    t0 = time.monotonic()
    q.qmp.cmd("dump-guest-memory", paging=False, protocol=f"file:{dump}")
    t_dump = time.monotonic() - t0
    kd = dump_mount(dump)
    try:
        theirs = drgn_ps(kd.mnt / "vmcore")
        res.add("attach: dump-guest-memory + drgn ps", time.monotonic() - t0, "s")
    finally:
        kd.stop()
    dump.unlink()
    res.add("attach: kvmfs -attach to mounted", t_mounted, "s")
    res.add("attach: dump-guest-memory alone", t_dump, "s")
    return ours, theirs


def measure_attach(res, reps, not_measured, meta):
    """Two 4 GiB QEMU guests booted to busybox (idle since): default anonymous RAM
    and memory-backend-memfd; reads and the debugger path, reps times each."""
    why = attach_missing()
    if why:
        for name in ATTACH_NAMES:
            not_measured[name] = f"not measured: {why}"
        return
    anon = BootedQemu("attach-anon", [])
    memfd = None
    try:
        memfd = BootedQemu("attach-memfd", [
            "-object", f"memory-backend-memfd,id=m,size={ATTACH_RAM >> 30}G,share=on",
            "-machine", "memory-backend=m"])
        log("attach: booting two 4 GiB QEMU guests to busybox")
        t0 = time.monotonic()
        while not (anon.booted() and memfd.booted()):
            if time.monotonic() - t0 > ATTACH_BOOT_TIMEOUT:
                raise RuntimeError("the QEMU guests did not reach their shell")
            time.sleep(1)
        meta["attach: boot seconds"] = round(time.monotonic() - t0, 1)
        tmp = Path(tempfile.mkdtemp(prefix="kvmfs-bench-dump-"))
        try:
            for rep in range(reps):
                log(f"attach: repetition {rep + 1}/{reps}")
                meta["io: attach anon pc.ram"], meta["io: attach memfd m"] = \
                    attach_read_round(res, anon, memfd)
                ours, theirs = attach_debug_round(res, anon, tmp)
                meta["attach: drgn ps agree"] = ours == theirs
                meta["attach: drgn tasks"] = len(ours)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        anon.stop()
        if memfd:
            memfd.stop()
    res.ratio("attach anon: kvmfs pc.ram seq 1M", "attach anon: /proc/pid/mem seq 1M")
    res.ratio("attach memfd: kvmfs m seq 1M", "attach memfd: memfd pread seq 1M")
    res.ratio("attach: kvmfs -attach + drgn ps", "attach: dump-guest-memory + drgn ps",
              higher_is_better=False)


def attach_targets(res, not_measured, meta):
    """Issue 23 item 6, from the attach section's figures."""
    out = []
    for what, name, base, want, hib in (
            ("attach anon read vs /proc/pid/mem", "attach anon: kvmfs pc.ram seq 1M",
             "attach anon: /proc/pid/mem seq 1M", 1.0, True),
            ("attach -> drgn ps vs dump + drgn", "attach: kvmfs -attach + drgn ps",
             "attach: dump-guest-memory + drgn ps", 10.0, False)):
        r = res.ratio_stats(name, base, hib)
        if r is None:
            out.append({"target": what, "want": f">= {want}x", "got": None, "met": None,
                        "note": not_measured.get(name, "not measured")})
        else:
            out.append({"target": what, "want": f">= {want}x", "got": r["median"],
                        "met": r["median"] >= want, "note": "median of per-repetition ratios"})
    return out


# ---- linux: MNT/linux/ of a dump next to drgn (issue 24, item 5) ----

LINUX_CORE = BUILD / "kdump" / "tcg-nokaslr.core"
LINUX_VMLINUX_DBG = BUILD / "debian-kernel" / "vmlinux-dbg"
LINUX_NAMES = ("linux: kvmfs ls tasks/ + read every maps (mounted)",
               "linux: kvmfs -dump start + ls tasks/ + read every maps",
               "linux: drgn start + for_each_task + VMA walk")
LINUX_METHOD = ("kvmfs -dump build/kdump/tcg-nokaslr.core (QEMU TCG dump of Debian's cloud "
                "kernel at the busybox shell): os.listdir(linux/tasks) and a read of every "
                "tasks/*/maps, on the mounted tree, and from starting kvmfs (finding the "
                "kernel, decoding kallsyms and BTF) to the same done; next to /usr/bin/python3 "
                "running a drgn script (start-up, build/debian-kernel/vmlinux-dbg's DWARF "
                "loaded, for_each_task, each user task's VMAs walked from mm_mt with their "
                "d_path) on that kvmfs's vmcore (QEMU's dump has no VMCOREINFO for drgn)")
sys.path.insert(0, str(ROOT / "tools"))
from drgn_maple import MT_VMAS  # noqa: E402  tools/drgn_maple.py: the walk the test uses too
LINUX_DRGN = r"""
import sys, drgn
from drgn import Object
from drgn.helpers.linux.fs import d_path
from drgn.helpers.linux.pid import for_each_task
prog = drgn.Program()
prog.set_core_dump(sys.argv[1])
prog.load_debug_info([sys.argv[2]])
""" + MT_VMAS + r"""
procs = lines = 0
for t in for_each_task(prog):
    if t.pid.value_() != t.tgid.value_() or not t.pid:
        continue
    procs += 1
    if not t.mm:
        continue
    for v in mt_vmas(t.mm):
        name = d_path(v.vm_file.f_path.address_of_()) if v.vm_file else b""
        lines += 1
print(procs, lines)
"""


def linux_ps_maps(mnt):
    """ls tasks/, read every maps: (processes, maps lines)."""
    tasks = mnt / "linux" / "tasks"
    procs = os.listdir(tasks)
    lines = 0
    for pid in procs:
        with open(tasks / pid / "maps", "rb") as f:
            lines += f.read().count(b"\n")
    return len(procs), lines


def measure_linux(res, reps, not_measured, meta):
    why = None
    if not LINUX_CORE.exists():
        why = f"{LINUX_CORE} missing (tests/integration/test_kernel_debug.py makes it)"
    elif not LINUX_VMLINUX_DBG.exists():
        why = f"{LINUX_VMLINUX_DBG} missing (tools/fetch-debian-kernel.sh --debug)"
    elif subprocess.run(["/usr/bin/python3", "-c", "import drgn"],
                        capture_output=True).returncode:
        why = "no drgn for /usr/bin/python3 (python3-drgn)"
    if why:
        for name in LINUX_NAMES:
            not_measured[name] = f"not measured: {why}"
        return
    for rep in range(reps):
        log(f"linux: repetition {rep + 1}/{reps}")
        k = dump_mount(LINUX_CORE)
        try:
            ours = linux_ps_maps(k.mnt)
            res.add(LINUX_NAMES[1], time.monotonic() - k.t0, "s")
            t0 = time.monotonic()
            again = linux_ps_maps(k.mnt)
            res.add(LINUX_NAMES[0], time.monotonic() - t0, "s")
            t0 = time.monotonic()
            r = subprocess.run(["/usr/bin/python3", "-c", LINUX_DRGN, str(k.mnt / "vmcore"),
                                str(LINUX_VMLINUX_DBG)], capture_output=True, text=True,
                               timeout=600)
            res.add(LINUX_NAMES[2], time.monotonic() - t0, "s")
            if r.returncode:
                raise RuntimeError(f"drgn: {r.stderr[-2000:]}")
            drgn = tuple(int(x) for x in r.stdout.split())
            meta["linux"] = {"processes": ours[0], "maps lines": ours[1],
                             "drgn processes": drgn[0], "drgn VMAs": drgn[1]}
            assert again == ours, (again, ours)
        finally:
            k.stop()
    for name in LINUX_NAMES[:2]:
        res.ratio(name, LINUX_NAMES[2], higher_is_better=False)


def linux_targets(res, not_measured, meta):
    if LINUX_NAMES[0] in not_measured:
        return []
    v = med(res, LINUX_NAMES[0])
    n = meta.get("linux", {}).get("processes")
    return [{"target": "linux: ls tasks/ + every maps", "want": "< 1 s", "got": v,
             "met": v < 1.0,
             "note": f"{n} processes in this dump, not the issue's 100 (mounted tree)"}]


def machine():
    def sh(*cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
        except OSError:
            return None

    cpu = None
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    return {"nproc": os.cpu_count(), "kernel": platform.release(), "cpu": cpu,
            "mem_gib": round(mem_kib / 2**20, 1),
            "libfuse": sh("pkg-config", "--modversion", "fuse3"),
            "fio": sh("fio", "--version"), "kvm": have_kvm(),
            "loadavg_at_start": os.getloadavg()}


def fmt(v):
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, dict):
        return ", ".join(f"{k}={fmt(x)}" for k, x in v.items())
    if abs(v) >= 1e5:
        return f"{v:,.0f}"
    return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"


def print_table(res, tgts, not_measured):
    w = max([48] + [len(n) for n in res.order])
    print(f"\n{'figure':{w}} {'unit':>8} {'median':>11} {'min':>11} {'max':>11}   ratio (median [min..max]) to")
    for name in res.order:
        f = res.figure(name)
        line = f"{name:{w}} {f['unit']:>8} {fmt(f['median']):>11} {fmt(f['min']):>11} {fmt(f['max']):>11}"
        for i, r in enumerate(f.get("ratios", ())):
            if i:
                line += "\n" + " " * (w + 45)
            line += f"   {r['median']:.2f}x [{r['min']:.2f}..{r['max']:.2f}] {r['to']}"
        print(line)
    for name, why in not_measured.items():
        print(f"{name:{w}} {why}")
    print(f"\n{'target':40} {'want':>10}  {'got':>16}  met")
    for t in tgts:
        met = {True: "yes", False: "NO", None: "-"}[t["met"]]
        print(f"{t['target']:40} {t['want']:>10}  {fmt(t['got']):>16}  {met}  {t['note']}")


ATTACH_METHOD = ("two 4 GiB -M pc QEMU guests (TCG without /dev/kvm) booted to the busybox "
                 "shell, idle: default RAM (anonymous) and memory-backend-memfd share=on; "
                 "whole reads of the RAM block by memread's 1 MiB pread loop: ramblocks/pc.ram "
                 "vs /proc/QEMU/mem at QEMU's mapping, ramblocks/m vs pread of QEMU's memfd "
                 "(/proc/QEMU/fd/N); kvmfs -attach started to drgn's for_each_task list "
                 "through vmcore done, vs QMP dump-guest-memory (paging false, to a file) "
                 "+ kvmfs -dump of it (drgn needs the VMCOREINFO QEMU's dump lacks here) started "
                 "to the same drgn list through that vmcore done (the dump deleted after)")


def write_doc(args, mach, res, tgts, not_measured, meta, method, t_start):
    """build/bench-SECTION.json of a run of one section (--only), and its table."""
    doc = {"machine": mach, "method": method,
           "io": {k_: v for k_, v in meta.items() if k_.startswith("io: ")},
           "meta": meta, "figures": {name: res.figure(name) for name in res.order},
           "not_measured": not_measured, "targets": tgts,
           "seconds": round(time.monotonic() - t_start, 1)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    print_table(res, tgts, not_measured)
    print(f"\nbench: {doc['seconds']} s; wrote {args.out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", default=None,
                    help="default build/bench.json (build/bench-SECTION.json with --only)")
    ap.add_argument("--only", choices=("attach", "linux"),
                    help="run one section alone, into build/bench-SECTION.json: attach "
                         "(kvmfs -attach on booted QEMU guests), linux (MNT/linux/ of a dump)")
    args = ap.parse_args()
    args.out = args.out or str(BUILD / (f"bench-{args.only}.json" if args.only else "bench.json"))
    for tool in (KVMFS, MEMREAD, FRESH):
        if not tool.exists():
            sys.exit(f"bench: {tool} is missing: run make bench")
    if not shutil.which("fio"):
        sys.exit("bench: fio is missing: tools/deps.sh bench installs it")
    if not os.path.exists("/dev/fuse"):
        sys.exit("bench: no /dev/fuse: kvmfs cannot mount here")

    t_start = time.monotonic()
    res, not_measured, meta = Results(), {}, {}
    mach = machine()
    log(f"{mach['nproc']} CPUs, kernel {mach['kernel']}, libfuse {mach['libfuse']}, "
        f"{'KVM' if mach['kvm'] else 'no /dev/kvm: -accel none'}; {args.reps} repetitions")
    if args.only == "linux":
        measure_linux(res, args.reps, not_measured, meta)
        tgts = linux_targets(res, not_measured, meta)
        out = Path(args.out)
        out.write_text(json.dumps({"machine": mach, "method": {"linux": LINUX_METHOD},
                                   "linux": meta.get("linux"),
                                   "figures": {n: res.figure(n) for n in res.order},
                                   "not_measured": not_measured, "targets": tgts}, indent=1)
                       + "\n")
        print_table(res, tgts, not_measured)
        print(f"\nbench: wrote {out}")
        return
    if args.only == "attach":
        measure_attach(res, args.reps, not_measured, meta)
        write_doc(args, mach, res, attach_targets(res, not_measured, meta), not_measured, meta,
                  {"attach": ATTACH_METHOD, "repetitions": args.reps}, t_start)
        return

    log("start-up and RSS: -m 1G, 64G, 256G with -S")
    measure_startup(res, args.reps)

    for rep in range(args.reps):
        log(f"idle 4 GiB guests, repetition {rep + 1}/{args.reps}")
        meta["io: idle 4 GiB guest"] = idle_round(res)
    idle_ratios(res)

    measure_passthrough(res, args.reps, not_measured, meta)

    log("filled 4 GiB guest: writing pc.ram through the filesystem")
    k = Kvmfs(["-M", "pc", "-m", "4G", "--writable"], "filled")
    state = " (guest running)" if have_kvm() else ""
    meta["io: filled 4 GiB guest (--writable)"] = k.blocks["pc.ram"].get("io")
    try:
        res.add("fill 4 GiB through the FS", fill(k), "s")
        for rep in range(args.reps):
            log(f"filled guest, repetition {rep + 1}/{args.reps}")
            file_round(res, k, state)
        file_ratios(res, state)
        if have_kvm():
            measure_exact(res, k)
            log("filled guest again, the guest stopped")
            k.ctl("stop")
            for rep in range(args.reps):
                file_round(res, k, " (guest stopped)", full=False)
            file_ratios(res, " (guest stopped)")
            k.ctl("cont")
    finally:
        k.stop()

    log("-o direct_io")
    measure_direct_io(res, args.reps)
    if have_kvm():
        log("live guest: freshness and heartbeat")
        measure_live(res, args.reps)
        log("guest write throughput: dirty logging off and on")
        measure_guest_write(res, args.reps, not_measured, meta)
    else:
        for name in LIVE_NAMES + WRITE_NAMES:
            not_measured[name] = "not measured: no /dev/kvm (kvmfs ran with -accel none)"

    log("attach: kvmfs -attach on booted QEMU guests")
    measure_attach(res, args.reps, not_measured, meta)

    log("linux: MNT/linux/ of a dump next to drgn")
    measure_linux(res, args.reps, not_measured, meta)

    tgts = (targets(res, not_measured, state, meta) + attach_targets(res, not_measured, meta)
            + linux_targets(res, not_measured, meta))
    doc = {"machine": mach,
           "method": {"idle": "4 GiB -M pc -S, nothing ever written; each baseline on a "
                               "guest of its own (they allocate what they read)",
                      "filled": "4 GiB -M pc; pc.ram filled through the FS with random data "
                                "(--writable) before anything is read; the guest runs where "
                                "there is /dev/kvm",
                      "live": "1 GiB -M pc -flat-out: freshness (tools/bench/fresh) and "
                              "heartbeat",
                      "cold": "page cache of the file dropped (posix_fadvise DONTNEED) "
                              "before the run",
                      "warm": "the whole file in the page cache",
                      "growth": "guest memory: kvmfs's RssShmem + RssAnon after minus before; "
                                "page cache: the file's cached bytes (mincore), after minus "
                                "before",
                      "mmap": "first GiB of pc.ram, fio mmap engine with fadvise_hint=0",
                      "seq_4k": "first GiB of pc.ram",
                      "repetitions": args.reps,
                      "ratio": "per repetition kvmfs/baseline (or 1G/larger for start-up and "
                               "RSS), then median/min/max",
                      "kvmfs_tool": "fio 1 job psync (filled), memread file (idle)",
                      "baseline_tool": "tools/bench/memread",
                      "2G holes": "passthrough section: 2 GiB -M pc -S, nothing written; pc.ram "
                                  "by passthrough, its memfd (/proc/PID/fd/N), phys, then "
                                  "/proc/PID/mem on the same guest; the cached path on a "
                                  "kvmfs of its own with -o no_passthrough; all with memread's "
                                  "1 MiB pread loop.  '+' figures: /proc/meminfo Shmem and "
                                  "Cached (system-wide) and kvmfs VmRSS, after minus before",
                      "2G filled": "passthrough section: two 2 GiB -M pc -S guests, one "
                                   "default (passthrough), one -o no_passthrough (cached), "
                                   "both filled with random data through the memfd and read "
                                   "twice unrecorded; memread for every column; rand 4K is "
                                   "1 job, 1.5 s, p50/p99 per op",
                      "guest write": "1 GiB -M pc guest: mailbox command "
                                     f"'write {WRITE_GPA:#x} {WRITE_MIB}' (firmware), "
                                     "MiB/s = bytes stored / (TSC cycles / host TSC Hz), "
                                     "no reader vs after `dirty-log on` on ctl",
                      "attach": ATTACH_METHOD, "linux": LINUX_METHOD},
           "io": {k_: v for k_, v in meta.items() if k_.startswith("io: ")},
           "passthrough": meta.get("passthrough"),
           "guest_write": meta.get("guest_write"),
           "attach": {k_: v for k_, v in meta.items() if k_.startswith("attach")},
           "linux": meta.get("linux"),
           "figures": {name: res.figure(name) for name in res.order},
           "not_measured": not_measured,
           "targets": tgts,
           "seconds": round(time.monotonic() - t_start, 1)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    print_table(res, tgts, not_measured)
    print(f"\nbench: {doc['seconds']} s; wrote {args.out}")


if __name__ == "__main__":
    main()
