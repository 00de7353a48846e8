"""Dirty logging on demand: KVM logs a RAM block's dirty pages
(KVM_MEM_LOG_DIRTY_PAGES on its memslots) only while something holds the
block - an open dirty/ file of it, an open RAM file served through the page
cache, an open phys (every block), or `dirty-log on` written to ctl (every
block) - and stops after, so that a guest nobody watches pays no
write-protect faults.  memslots and memslots.json show the flag as it is.

The flags are KVM's: without /dev/kvm (-accel none) no slot is registered
and the tests that look at them skip; the ctl commands are checked
everywhere.  RELEASE reaches kvmfs after close() returns, so "off again"
is waited for.

Run: python3 -m pytest -q tests/integration/test_dirty_log.py
"""
import errno
import json
import os
import time

import pytest

from conftest import (command_acked, pread, read, require_guest, send_command, wait_for,
                      STATUS_GPA, STATUS_MAGIC)

PAGE = 4096
# -S: the vCPUs exist but do not run; logging is a property of the slots.
PARKED = ("-M", "pc", "-m", "256M", "-S")


def ctl(k, text):
    with open(k.path("ctl"), "w") as f:
        f.write(text + "\n")


def slots(k):
    return json.loads(read(k.path("memslots.json")))


def logged(k, block):
    """The dirty_log flag of each of block's slots, in GPA order (never empty)."""
    flags = [s["dirty_log"] for s in slots(k) if s["ramblock"] == block]
    assert flags, f"{block} has no memslot"
    return flags


def ram_blocks(k):
    """The blocks that have a slot the guest can write."""
    return sorted({s["ramblock"] for s in slots(k) if not s["readonly"]})


def text_flags(k, block):
    """The flags column of memslots (the text view) for block's slots."""
    lines = read(k.path("memslots")).decode().splitlines()[1:]
    return [l.split()[1] for l in lines if l.split()[5] == block]


def off(k, block):
    return not any(logged(k, block))


def on(k, block):
    return all(logged(k, block))


# ---- everywhere ----

def test_ctl_dirty_log_commands(kvmfs):
    """The two commands are accepted (repeated too), anything else after
    dirty-log is refused; without KVM they change no slot."""
    k = kvmfs("-accel", "none", "-M", "pc", "-m", "256M", accel=False)
    for cmd in ("dirty-log on", "dirty-log on", "dirty-log off", "dirty-log off"):
        ctl(k, cmd)
        assert not any(s["dirty_log"] for s in slots(k))
    for bad in ("dirty-log", "dirty-log maybe", "dirty-log on off", "dirty-log  on",
                "dirty-logon"):
        with pytest.raises(OSError) as e:
            ctl(k, bad)
        assert e.value.errno == errno.EINVAL, bad
    # ctl still answers, and the mount is alive.
    assert read(k.path("ctl"))
    assert k.proc.poll() is None


# ---- with KVM ----

@pytest.mark.guest
def test_nothing_logs_until_a_dirty_file_holds_it(kvmfs):
    require_guest("memslot flags are registered with KVM")
    k = kvmfs(*PARKED)
    assert off(k, "pc.ram")
    assert set(text_flags(k, "pc.ram")) == {"-"}
    # ROM never logs, whatever holds it.
    assert set(text_flags(k, "pc.bios")) == {"ro"}
    with open(k.path("dirty", "pc.ram"), "rb"):
        assert on(k, "pc.ram")
        assert set(text_flags(k, "pc.ram")) == {"log"}
        assert set(text_flags(k, "pc.bios")) == {"ro"}
        # Two users: the first to close leaves it on.
        with open(k.path("dirty", "pc.ram.bitmap"), "rb"):
            assert on(k, "pc.ram")
        time.sleep(0.3)  # the bitmap file's RELEASE, had it turned logging off
        assert on(k, "pc.ram")
    assert wait_for(lambda: off(k, "pc.ram"), 5.0)
    assert set(text_flags(k, "pc.ram")) == {"-"}
    # And on again for the next one.
    with open(k.path("dirty", "pc.ram.bitmap"), "rb"):
        assert on(k, "pc.ram")
    assert wait_for(lambda: off(k, "pc.ram"), 5.0)


@pytest.mark.guest
def test_ctl_dirty_log_holds_every_block(kvmfs):
    require_guest("memslot flags are registered with KVM")
    k = kvmfs(*PARKED)
    blocks = ram_blocks(k)
    assert "pc.ram" in blocks
    assert all(off(k, b) for b in blocks)
    ctl(k, "dirty-log on")
    assert all(on(k, b) for b in blocks)
    ctl(k, "dirty-log on")  # one hold, however often asked
    # A dirty/ file opened and closed meanwhile does not end the tool's hold.
    read(k.path("dirty", "pc.ram"))
    time.sleep(0.3)
    assert all(on(k, b) for b in blocks)
    ctl(k, "dirty-log off")
    assert all(off(k, b) for b in blocks)
    # Off with a dirty/ file open: that file still holds its block, only it.
    with open(k.path("dirty", "pc.ram"), "rb"):
        ctl(k, "dirty-log on")
        ctl(k, "dirty-log off")
        assert on(k, "pc.ram")
        assert all(off(k, b) for b in blocks if b != "pc.ram")
    assert wait_for(lambda: off(k, "pc.ram"), 5.0)


@pytest.mark.guest
def test_cached_ram_file_and_phys_hold_logging(kvmfs):
    require_guest("memslot flags are registered with KVM")
    k = kvmfs(*PARKED, "-o", "no_passthrough")
    io = {b["idstr"]: b["io"] for b in json.loads(read(k.path("ramblocks.json")))}
    assert io["pc.ram"] == "cached"
    assert off(k, "pc.ram")
    with open(k.path("ramblocks", "pc.ram"), "rb") as f:
        assert on(k, "pc.ram")
        f.read(PAGE)
    assert wait_for(lambda: off(k, "pc.ram"), 5.0)
    # phys shows every block at its GPAs: it holds them all.
    blocks = ram_blocks(k)
    with open(k.path("phys"), "rb") as f:
        assert all(on(k, b) for b in blocks)
        f.read(PAGE)
    assert wait_for(lambda: all(off(k, b) for b in blocks), 5.0)


@pytest.mark.guest
def test_direct_io_ram_file_holds_nothing(kvmfs):
    require_guest("memslot flags are registered with KVM")
    k = kvmfs(*PARKED, "-o", "no_passthrough,direct_io")
    io = {b["idstr"]: b["io"] for b in json.loads(read(k.path("ramblocks.json")))}
    assert io["pc.ram"] == "direct"
    with open(k.path("ramblocks", "pc.ram"), "rb") as f:
        f.read(PAGE)
        assert off(k, "pc.ram")


@pytest.mark.guest
def test_closing_the_last_holder_keeps_what_was_written(kvmfs):
    """The last release sweeps before logging goes off: the next open of
    dirty/ shows what the guest wrote while the file was held."""
    require_guest("the guest writes the pages")
    k = kvmfs("-M", "pc", "-m", "256M", "--writable")
    assert wait_for(lambda: pread(k.path("phys"), 8, STATUS_GPA) == STATUS_MAGIC, 10.0)
    held = open(k.path("dirty", "pc.ram"), "rb")
    try:
        first, n = 0x2080000, 4
        seq = (int(time.time() * 1000) & 0xFFFFFF) or 1
        send_command(k, seq, f"dirty 0x{first:x} {n}")
        assert wait_for(lambda: command_acked(k.path("ramblocks", "pc.ram"), seq), 5.0)
    finally:
        held.close()
    pages = set()
    for line in read(k.path("dirty", "pc.ram")).decode().splitlines():
        lo, rest = line.split("-")
        pages |= set(range(int(lo, 16), int(rest.split()[0], 16) + 1, PAGE))
    assert set(range(first, first + n * PAGE, PAGE)) <= pages


@pytest.mark.guest
def test_stat_of_dirty_text_is_what_an_open_reads(kvmfs):
    """stat of dirty/<idstr> reports the length of the text an open would
    take now, and stat takes nothing: two stats, then the read, agree.
    The guest is stopped first, so nothing changes between them."""
    require_guest("the guest writes the pages")
    k = kvmfs("-M", "pc", "-m", "256M", "--writable")  # the mailbox is written through pc.ram
    assert wait_for(lambda: pread(k.path("phys"), 8, STATUS_GPA) == STATUS_MAGIC, 10.0)
    with open(k.path("dirty", "pc.ram"), "rb"):  # holds logging, takes the old bits
        seq = (int(time.time() * 1000) & 0xFFFFFF) or 1
        send_command(k, seq, "dirty 0x2080000 3")
        assert wait_for(lambda: command_acked(k.path("ramblocks", "pc.ram"), seq), 5.0)
        ctl(k, "stop")
        path = k.path("dirty", "pc.ram")
        first = os.stat(path).st_size
        assert first > 0, "the guest wrote pages: the text is not empty"
        assert os.stat(path).st_size == first, "stat consumed the text"
        text = read(path)
        assert len(text) == first
        pages = set()
        for line in text.decode().splitlines():
            span, count = line.split()
            lo, hi = (int(x, 16) for x in span.split("-"))
            assert int(count) == (hi + 1 - lo) // PAGE, line
            pages |= set(range(lo, hi + 1, PAGE))
        assert set(range(0x2080000, 0x2083000, PAGE)) <= pages
        # The open took them: a stopped guest has written nothing since.
        assert os.stat(path).st_size == 0
