"""The built-in guest under KVM, seen through the filesystem (issue 4).

The guest's ABI (include/kvmfs/guest.h) makes it a test instrument: every
MiB of RAM carries a record naming its own guest-physical address, a status
page counts passes and heartbeats, and its console says what it does.  These
tests read all of that back through ramblocks/pc.ram at the offsets the flat
view gives, for both machines, below and above 4G.

They need /dev/kvm and skip, saying so, where it is absent.
"""
import json
import os
import struct
import time

import pytest

import re
import subprocess

from conftest import (MAILBOX_ACK_GPA, PERCPU_GPA, PERCPU_SIZE, RECORD_MAGIC, ROOT, STATUS_GPA,
                      STATUS_MAGIC, proc_mem, require_guest, ring0_emulated, send_command,
                      wait_for)

MIB = 1 << 20
GUEST_BINS = ROOT / "build" / "guest"


def status(k):
    with open(k.path("ramblocks", "pc.ram"), "rb") as f:
        f.seek(STATUS_GPA)
        magic, passes, beat, ram = struct.unpack("<8sQQQ", f.read(32))
    return magic, passes, beat, ram


def host_cpu_flags():
    with open("/proc/cpuinfo") as f:
        return next((l.split(":", 1)[1].split() for l in f if l.startswith("flags")), [])


def beat_pace(k, beats=2):
    """Seconds the running guest takes for `beats` heartbeats, timed from
    one heartbeat to another: the guest's own pace on this host (a few
    tenths of a second natively, seconds under check-nested's emulation)."""
    k.wait_guest(lambda: status(k)[0] == STATUS_MAGIC, "the status page")
    first = status(k)[2]
    k.wait_guest(lambda: status(k)[2] > first, "a heartbeat")
    start, t0 = status(k)[2], time.monotonic()
    k.wait_guest(lambda: status(k)[2] >= start + beats, f"{beats} heartbeats")
    return time.monotonic() - t0


def assert_frozen(k, pace, what):
    """The guest's heartbeat stays where it is for twice `pace`: as long as
    the running guest took, just before, for four heartbeats.  (A fixed
    window says nothing where one heartbeat takes longer than it.)"""
    frozen = status(k)[2]
    end = time.monotonic() + 2 * pace
    while time.monotonic() < end:
        assert status(k)[2] == frozen, f"{what}: the heartbeat moved on"
        time.sleep(0.05)


def ram_ranges(k):
    """(gpa, size, block offset) of every pc.ram range of the flat view."""
    with open(k.path("flatview.json")) as f:
        fv = json.load(f)
    return [(r["start"], r["size"], r["offset"]) for r in fv
            if r.get("ramblock") == "pc.ram"]


@pytest.mark.guest
def test_banner_records_everywhere(kvmfs):
    require_guest("the records are written by the running guest")
    for machine, size, low, high in (("pc", "4G", 3 << 30, 1 << 30),
                                     ("q35", "3G", 2 << 30, 1 << 30)):
        k = kvmfs("-M", machine, "-m", size)
        k.wait_guest(lambda: b"kvmfs guest:" in open(k.path("console"), "rb").read(),
                     "the banner on the console")
        assert b"kvmfs guest:" in k.stdout().encode()
        # Two passes of vCPU 0 mean every record was written at least once.
        k.wait_guest(lambda: status(k)[1] >= 2, "two passes")
        with open(k.path("ctl"), "w") as c:
            c.write("stop")
        assert open(k.path("ctl")).read().startswith("paused")
        magic, passes, _, ram = status(k)
        assert magic == STATUS_MAGIC
        assert ram == low + high

        ranges = ram_ranges(k)
        assert any(gpa >= 1 << 32 for gpa, _, _ in ranges), ranges
        seen = 0
        with open(k.path("ramblocks", "pc.ram"), "rb") as f:
            for gpa, size_, off in ranges:
                first = (gpa + MIB - 1) // MIB * MIB
                for rec in range(first, gpa + size_, MIB):
                    f.seek(off + rec - gpa)
                    magic, own, npass = struct.unpack("<8sQQ", f.read(24))
                    assert (magic, own) == (RECORD_MAGIC, rec), (machine, hex(rec), magic, own)
                    assert 1 <= npass <= passes + 1
                    seen += 1
        # Every MiB of RAM: the first MiB's record sits at GPA 0.
        assert seen == (low + high) // MIB
        k.signal(15)
        assert k.wait() == 0


@pytest.mark.guest
def test_heartbeat_advances_and_stop_freezes_it(kvmfs):
    require_guest("the heartbeat is the running guest's")
    k = kvmfs("-M", "pc", "-m", "256M")
    pace = beat_pace(k)
    with open(k.path("ctl"), "w") as c:
        c.write("stop\n")
    frozen = status(k)[2]
    assert_frozen(k, pace, "stopped")
    with open(k.path("ctl"), "w") as c:
        c.write("cont\n")
    assert open(k.path("ctl")).read() == "running\n"
    k.wait_guest(lambda: status(k)[2] > frozen, "a heartbeat after cont")


@pytest.mark.guest
def test_smp_shares_the_records(kvmfs):
    require_guest("the vCPUs must run")
    k = kvmfs("-M", "q35", "-m", "3G", "-smp", "2")
    k.wait_guest(lambda: status(k)[1] >= 2, "two passes of vCPU 0")

    def percpu_pass(cpu):
        with open(k.path("ramblocks", "pc.ram"), "rb") as f:
            f.seek(PERCPU_GPA + PERCPU_SIZE * cpu)
            return struct.unpack("<Q", f.read(8))[0]

    # vCPU 1 has rewritten its share at least once (its per-CPU pass, guest.h).
    k.wait_guest(lambda: percpu_pass(1) >= 2, "two passes of vCPU 1")
    with open(k.path("ctl"), "w") as c:
        c.write("stop")
    with open(k.path("ramblocks", "pc.ram"), "rb") as f:
        for gpa, size, off in ram_ranges(k):
            for rec in range((gpa + MIB - 1) // MIB * MIB, gpa + size, MIB):
                f.seek(off + rec - gpa)
                assert f.read(16) == RECORD_MAGIC + struct.pack("<Q", rec), hex(rec)


@pytest.mark.guest
def test_triple_fault_stops_the_vm_and_keeps_the_tree(kvmfs):
    require_guest("the firmware must run to triple-fault")
    k = kvmfs("-M", "pc", "-m", "64M", "-bios", GUEST_BINS / "triplefault.bin")
    assert wait_for(lambda: "KVM_EXIT_SHUTDOWN" in k.stderr(), 60.0), k.stderr()
    # One diagnostic: the exit, RIP and CPL; the VM stays stopped, the tree mounted.
    diag = [l for l in k.stderr().splitlines() if "KVM_EXIT_SHUTDOWN" in l]
    assert len(diag) == 1 and "RIP 0x" in diag[0] and "CPL" in diag[0]
    state = open(k.path("ctl")).read()
    assert state.startswith("paused (shutdown)") and "KVM_EXIT_SHUTDOWN" in state
    assert k.proc.poll() is None
    assert os.path.getsize(k.path("ramblocks", "pc.ram")) == 64 * MIB
    # cont cannot bring a dead guest back.
    fd = os.open(k.path("ctl"), os.O_WRONLY)
    try:
        try:
            os.write(fd, b"cont")
            resumed = True
        except OSError:
            resumed = False
    finally:
        os.close(fd)
    assert not resumed
    k.signal(15)
    assert k.wait() == 0


@pytest.mark.guest
def test_fs_equals_guest_memory_after_stop(kvmfs):
    """100 random (offset, length) pairs of a guest that ran: FS == /proc/PID/mem."""
    require_guest("the guest must run and write")
    import random
    for machine, above_4g_at in (("pc", 0xC0000000), ("q35", 0x80000000)):
        k = kvmfs("-M", machine, "-m", "6G")
        k.wait_guest(lambda: status(k)[1] >= 2, "two passes")
        with open(k.path("ctl"), "w") as c:
            c.write("stop")
        # The flat view says where GPA 4G lives in pc.ram; the guest's record agrees.
        gpa4g = [r for r in ram_ranges(k) if r[0] == 1 << 32]
        assert gpa4g and gpa4g[0][2] == above_4g_at
        with open(k.path("ramblocks", "pc.ram"), "rb") as f:
            f.seek(above_4g_at)
            assert f.read(16) == RECORD_MAGIC + struct.pack("<Q", 1 << 32)
        with open(k.path("ramblocks.json")) as f:
            host = [b["host"] for b in json.load(f) if b["idstr"] == "pc.ram"][0]
        rng = random.Random(machine)
        with open(k.path("ramblocks", "pc.ram"), "rb") as f:
            for _ in range(100):
                # Half the pairs start on a record, where the guest wrote last.
                off = rng.randrange(0, 6 << 30)
                if rng.random() < 0.5:
                    off = off // MIB * MIB
                n = min(rng.randrange(1, 1 << 16), (6 << 30) - off)
                f.seek(off)
                assert f.read(n) == proc_mem(k.pid, host + off, n), (machine, hex(off), n)
        k.signal(15)
        assert k.wait() == 0


def nm(elf, name):
    out = subprocess.run(["nm", str(elf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(rf"^([0-9a-f]+) \w {name}$", out, re.M)[1], 16)


def completions(k, cpu=0):
    with open(k.path("vcpus", str(cpu), "completions")) as f:
        return {kind: int(n) for kind, n in (l.split() for l in f)}


# vector, the firmware's label for the instruction raising it, the line kvmfs must print
FAULTS = [
    (0, "fault_de_insn", "#DE"),
    (3, "fault_bp_insn", "#BP"),
    (6, "fault_ud_insn", "#UD"),
    (13, "fault_gp_insn", "#GP(0)"),
    (14, "fault_pf_insn", "#PF(0x4)"),
]


@pytest.mark.parametrize("vec,label,name", FAULTS, ids=[f[2] for f in FAULTS])
@pytest.mark.guest
def test_guest_exception_is_one_diagnostic(kvmfs, vec, label, name):
    """An exception in the guest's ring 3 (raised on purpose with the mailbox
    command "fault N") reaches the firmware's IDT instead of becoming a
    triple fault; kvmfs names it in one line, stops the VM as
    paused (guest-panicked) and keeps the tree.  RIPs come from the ELF."""
    require_guest("the guest must run to fault")
    k = kvmfs("-M", "pc", "-m", "64M", "--writable")
    pace = beat_pace(k)
    send_command(k, 5, f"fault {vec}")
    assert wait_for(lambda: "guest exception" in k.stderr(), 60.0), k.stderr()
    rip = nm(GUEST_BINS / "firmware.elf", label) + (1 if vec == 3 else 0)  # #BP is a trap
    lines = [l for l in k.stderr().splitlines() if "guest exception" in l]
    assert len(lines) == 1, k.stderr()
    assert f"vcpu 0: guest exception {name} at RIP {rip:#x}, CPL 3" in lines[0], lines[0]
    if vec == 14:
        assert "CR2 0x7f0000000000" in lines[0]
    state = open(k.path("ctl")).read()
    assert state.startswith("paused (guest-panicked)\n") and name in state, state
    assert k.proc.poll() is None
    # The guest acknowledged the command before it faulted, and is stopped.
    with open(k.path("ramblocks", "pc.ram"), "rb") as f:
        f.seek(MAILBOX_ACK_GPA)
        assert struct.unpack("<Q", f.read(8))[0] == 5
    assert_frozen(k, pace, "paused (guest-panicked)")


WRITE_CYCLES_GPA = MAILBOX_ACK_GPA + 8  # guest.h: GUEST_WRITE_CYCLES_GPA, then _BYTES_GPA
WRITE_SEQ_SHIFT = 48                    # GUEST_WRITE_SEQ_SHIFT


@pytest.mark.guest
def test_write_command_reports_cycles(kvmfs):
    """The mailbox command "write 0xGPA N" (make bench's guest write
    throughput) stores its pattern - each u64 its own GPA | seq << 48 - over
    the N MiB but for each MiB's record page, and leaves the TSC cycles and
    the bytes it stored next to the ack; the bytes read back through
    pc.ram equal kvmfs's own memory.  test_firmware_tcg.py checks the
    same command under QEMU."""
    require_guest("the guest must run the command")
    k = kvmfs("-M", "pc", "-m", "256M", "--writable")
    k.wait_guest(lambda: status(k)[1] >= 1, "a first pass")
    seq, start, mib = 11, 64 * MIB, 8
    send_command(k, seq, f"write {start:#x} {mib}")
    ram = k.path("ramblocks", "pc.ram")

    def acked():
        with open(ram, "rb") as f:
            f.seek(MAILBOX_ACK_GPA)
            return struct.unpack("<Q", f.read(8))[0] == seq

    k.wait_guest(acked, f"the ack of command {seq}")
    with open(k.path("ctl"), "w") as c:
        c.write("stop")
    with open(ram, "rb") as f:
        f.seek(WRITE_CYCLES_GPA)
        cycles, stored = struct.unpack("<QQ", f.read(16))
        assert cycles > 0
        assert stored == mib * (MIB - 4096)
        f.seek(start)
        area = f.read(mib * MIB)
    top = seq << WRITE_SEQ_SHIFT
    for m in range(mib):
        base = start + m * MIB
        assert area[m * MIB:m * MIB + 16] == RECORD_MAGIC + struct.pack("<Q", base)
        vals = struct.unpack_from(f"<{(MIB - 4096) // 8}Q", area, m * MIB + 4096)
        assert vals == tuple(top | a for a in range(base + 4096, base + MIB, 8)), hex(base)
    host = next(b["host"] for b in json.loads(open(k.path("ramblocks.json")).read())
                if b["idstr"] == "pc.ram")
    assert proc_mem(k.pid, host + start, mib * MIB) == area
    with open(k.path("ctl"), "w") as c:
        c.write("cont")


RING0_RESULTS = 0x500


@pytest.mark.guest
def test_ring0_instructions(kvmfs):
    """tests/guest/ring0.S executes at CPL 0 the instructions Linux needed
    finished on kvm_pvm, then an xrstor.  Whatever the host, the guest sees
    their architectural results (SDM: stac sets EFLAGS.AC, clac clears it;
    popcnt(0xf0f0f0f1) = 17; popcnt(0) sets ZF; ldmxcsr loads MXCSR).  Where ring 0 is emulated
    kvmfs finished them - counted in vcpus/0/completions - and the xrstor
    is one emulation-failure diagnostic; elsewhere they ran natively and the
    xrstor raised #UD in the guest."""
    require_guest("the firmware must run")
    k = kvmfs("-M", "pc", "-m", "64M", "-bios", GUEST_BINS / "ring0.bin")

    def results():
        with open(k.path("ramblocks", "pc.ram"), "rb") as f:
            f.seek(RING0_RESULTS)
            raw = f.read(0x34)
        return raw[:8], struct.unpack("<11I", raw[8:52])

    xrstor = nm(GUEST_BINS / "ring0.elf", "xrstor_insn")
    if ring0_emulated():
        assert wait_for(lambda: "the VM is stopped" in k.stderr(), 60.0), k.stderr()
        line = [l for l in k.stderr().splitlines() if "the VM is stopped" in l]
        assert len(line) == 1
        assert "KVM_EXIT_INTERNAL_ERROR (suberror 1: emulation failure)" in line[0], line
        assert f"RIP {xrstor:#x}" in line[0] and "CPL 0" in line[0], line
        assert f"code at GPA {xrstor:#x}: 0f ae 2f" in line[0], line
        assert open(k.path("ctl")).read().startswith("paused (internal-error)\n")
    else:
        k.wait_guest(lambda: results()[1][6] == 1, "the xrstor's #UD in the guest")
        # The #UD reached the firmware's handler, which halts: the VM runs on.
        assert open(k.path("ctl")).read() == "running\n"
    magic, (bp, ac_set, ac_clr, pop, pflags, fwait, ud, ud_eip, done, cpuid, mxcsr) = results()
    assert magic == b"RING0RES" and done == 1 and bp == 1 and fwait == 1
    assert mxcsr == 0x9F80  # what ldmxcsr loaded, as fxsave stores it
    # What the guest's CPUID offered decided what it tried: kvm_pvm forces
    # SMAP and POPCNT on it; with hardware virtualization KVM offers what
    # the host CPU has.
    host = host_cpu_flags()
    offered = 3 if ring0_emulated() else ("smap" in host) | ("popcnt" in host) << 1
    assert cpuid == offered, (cpuid, offered)
    if cpuid & 1:
        assert ac_set & (1 << 18) and not ac_clr & (1 << 18)
    if cpuid & 2:
        assert pop == 17 and pflags & 0x40 and not pflags & 0x8d5 & ~0x40
    got = completions(k)
    if ring0_emulated():
        assert got == {"int3": 1, "clac": 1, "stac": 1, "popcnt": 2, "fwait": 1, "ldmxcsr": 1}, got
        assert ud == 0
    else:
        assert set(got.values()) == {0}, got
        assert ud == 1 and ud_eip == xrstor
    untried = [(feature, insns) for bit, feature, insns in ((1, "SMAP", "stac, clac"),
                                                             (2, "POPCNT", "popcnt"))
               if not cpuid & bit]
    if untried:
        pytest.skip(f"the host CPU offers the guest no {' and no '.join(f for f, _ in untried)}: "
                    f"{', '.join(i for _, i in untried)} not tried, everything else checked")
