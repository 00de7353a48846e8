"""Stress: four readers (read() and mmap, sequential and random) and a writer
through the mailbox, with the guest running flat out where there is one,
for KVMFS_STRESS_SECONDS (CI: 60; `make stress DURATION=600` for longer).

Afterwards, with the VM stopped, every byte of pc.ram read through the FS
must equal kvmfs's own memory (/proc/PID/mem at the block's host address);
the run prints how many bytes it compared and how many differed (must be
0).  kvmfs must not crash and its anonymous memory must not grow with the
number of requests it served (a leak per request would show).

With a guest, it must have run the whole time: its pass counter and
heartbeat moved, it acknowledged the writer's last mailbox command and
echoed the commands on its console.  Without /dev/kvm it runs with
-accel none and --writable: the writer's mailbox and pattern writes are
then the only changes to guest memory.

Run: python3 -m pytest -q -s tests/integration/test_stress.py
"""
import json
import os
import random
import signal
import struct
import subprocess
import sys
import time

import pytest

from conftest import (MAILBOX_ACK_GPA, STATUS_GPA, STATUS_HEARTBEAT, STATUS_PASS, have_kvm,
                      post_command, proc_mem, require_guest)

RAM = 256 << 20
CHUNK = 4 << 20

READER = r"""
import mmap, os, random, sys, time
path, how, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
end = time.monotonic() + seconds
size = os.stat(path).st_size
fd = os.open(path, os.O_RDONLY)
m = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ) if how.startswith("mmap") else None
rng = random.Random(how)
done = off = 0
while time.monotonic() < end:
    n = 1 << 20 if how.endswith("seq") else rng.choice((512, 4096, 65536, 1 << 20))
    if how.endswith("random"):
        off = rng.randrange(0, size)
    n = min(n, size - off)
    b = m[off:off + n] if m else os.pread(fd, n, off)
    if len(b) != n:
        sys.exit(f"{how}: short read at {off}: {len(b)} of {n}")
    done += n
    off = (off + n) % size
print(f"{how}: {done} bytes")
"""


def rss_anon_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


def guest_u64(ram, gpa):
    with open(ram, "rb") as f:
        f.seek(gpa)
        return struct.unpack("<Q", f.read(8))[0]


@pytest.mark.guest
def test_stress(kvmfs):
    seconds = float(os.environ.get("KVMFS_STRESS_SECONDS", "60"))
    guest = have_kvm()
    if guest:
        require_guest()  # fails at once, with the reason, if the guest cannot run here
    k = kvmfs("-M", "pc", "-m", str(RAM >> 20), "--writable", *(["-flat-out"] if guest else []))
    ram = k.path("ramblocks", "pc.ram")
    if guest:
        k.wait_guest(lambda: guest_u64(ram, STATUS_GPA + STATUS_PASS) >= 1,
                     "the guest's first pass")
        passes_before = guest_u64(ram, STATUS_GPA + STATUS_PASS)
        beat_before = guest_u64(ram, STATUS_GPA + STATUS_HEARTBEAT)
    readers = [subprocess.Popen([sys.executable, "-c", READER, ram, how, str(seconds)],
                                stdout=subprocess.PIPE, text=True)
               for how in ("read-seq", "read-random", "mmap-seq", "mmap-random")]
    time.sleep(min(2.0, seconds / 10))
    anon_before = rss_anon_kib(k.pid)

    # The writer: mailbox commands, and patterns at random places above the first MiB.
    rng = random.Random(1)
    fd = os.open(ram, os.O_RDWR)
    seq = writes = 0
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            seq += 1
            post_command(fd, seq, f"stress {seq}")
            off = rng.randrange(1 << 20, RAM - 4096)
            os.pwrite(fd, struct.pack("<QQ", seq, off) * 16, off)
            writes += 4
            time.sleep(0.001)
    finally:
        os.close(fd)

    for r in readers:
        out, _ = r.communicate(timeout=seconds + 60)
        assert r.returncode == 0, out
        print(out.strip())
    assert k.proc.poll() is None, k.stderr()
    if guest:
        # The guest lived through it: it takes the writer's last command.
        k.wait_guest(lambda: guest_u64(ram, MAILBOX_ACK_GPA) == seq, f"the ack of command {seq}")
        passes = guest_u64(ram, STATUS_GPA + STATUS_PASS)
        beat = guest_u64(ram, STATUS_GPA + STATUS_HEARTBEAT)
        assert passes > passes_before and beat > beat_before, (passes, beat)
        assert f"mailbox {seq}: stress {seq}\n" in open(k.path("console")).read()
        print(f"stress: the guest made {passes - passes_before} passes, acked command {seq}")
        with open(k.path("ctl"), "w") as f:
            f.write("stop\n")

    host = next(b["host"] for b in json.loads(open(k.path("ramblocks.json"), "rb").read())
                if b["idstr"] == "pc.ram")
    compared = mismatches = 0
    with open(ram, "rb", buffering=0) as f:
        for off in range(0, RAM, CHUNK):
            fs = f.read(CHUNK)
            mem = proc_mem(k.pid, host + off, CHUNK)
            compared += len(fs)
            if fs != mem:
                mismatches += sum(a != b for a, b in zip(fs, mem)) + abs(len(fs) - len(mem))
    print(f"stress: {seconds:g} s, {writes} writes, compared {compared} bytes, "
          f"{mismatches} mismatches")
    assert compared == RAM
    assert mismatches == 0

    # Requests served must not cost memory that stays (a leak per request).
    anon_after = rss_anon_kib(k.pid)
    assert anon_after - anon_before < 64 * 1024, (anon_before, anon_after)
    k.signal(signal.SIGTERM)
    assert k.wait(timeout=30) == 0, k.stderr()
