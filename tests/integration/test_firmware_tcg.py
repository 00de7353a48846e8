"""test_firmware_tcg.py - runs the guest firmwares under QEMU (TCG, no KVM
needed) and checks them against the ABI in include/kvmfs/guest.h.

QEMU gives the firmware the same environment kvmfs does (pc.bios at
0xfffc0000, the RAM layout in CMOS, a 16550 at 0x3f8), so a firmware that
works here is known-good before kvmfs itself is involved.  Memory is read
through QMP (tools/qmp.py, human-monitor-command "xp"); the host side of
the mailbox is written through QEMU's gdbstub, the only way QEMU offers to
write guest RAM at run time ("M" packets of the GDB remote protocol, sent
by a tiny client below).

qemu-system-x86_64 ($QEMU_BIN overrides the binary) comes from
`tools/deps.sh check`; without it every test fails, saying so.  Every QEMU
started here is killed by its PID at the end.
"""

import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from qmp import Qmp  # noqa: E402  (tools/qmp.py, the tools' QMP client too)

QEMU = os.environ.get("QEMU_BIN", "qemu-system-x86_64")
GUEST_DIR = ROOT / "build" / "guest"

def guest_h():
    """The #defines of guest.h, so the test follows the ABI header."""
    defs = {}
    text = (ROOT / "include/kvmfs/guest.h").read_text()
    for name, value in re.findall(r"^#define (GUEST_\w+)\s+(\"[^\"]*\"|0x[0-9a-fA-F]+|\d+)(?=\s|$)", text, re.M):
        if value.startswith('"'):
            defs[name] = value.strip('"').encode()
        else:
            defs[name] = int(value, 0)
    return defs


G = guest_h()
MiB = 1 << 20
GiB = 1 << 30
HIGH = G["GUEST_HIGH_RAM_GPA"]


@pytest.fixture(scope="session")
def firmware():
    """Builds the three images with the guest's own make fragment."""
    subprocess.run(["make", "-s", "-f", "firmware/firmware.mk", "guest"],
                   cwd=ROOT, check=True, timeout=120)
    return GUEST_DIR


class Gdb:
    """Just enough of the GDB remote protocol to write guest memory."""

    def __init__(self, path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(str(path))
        self.sock.settimeout(timeout)
        self.buf = b""
        # Physical addresses when QEMU knows that mode; otherwise virtual,
        # which the firmware's identity map makes the same thing.
        self.packet("Qqemu.PhyMemMode:1")

    def _byte(self):
        if not self.buf:
            self.buf = self.sock.recv(4096)
            if not self.buf:
                raise EOFError("gdbstub closed")
        b, self.buf = self.buf[:1], self.buf[1:]
        return b

    def packet(self, data, reply=True):
        raw = data.encode()
        frame = b"$%s#%02x" % (raw, sum(raw) & 0xff)
        self.sock.sendall(frame)
        while self._byte() != b"+":
            pass
        return self.reply() if reply else None

    def reply(self):
        while self._byte() != b"$":
            pass
        reply = b""
        while (b := self._byte()) != b"#":
            reply += b
        self._byte(), self._byte()  # checksum
        self.sock.sendall(b"+")
        return reply.decode()

    def write(self, addr, data):
        reply = self.packet(f"M{addr:x},{len(data):x}:{data.hex()}")
        assert reply == "OK", f"gdbstub M: {reply!r}"

    def detach(self):
        # Detaching the last (only) process resumes the VM that the stub
        # stopped when we connected.
        self.packet("D")
        self.sock.close()


class Qemu:
    def __init__(self, tmp, bios, machine="pc", mem="64M", smp=1,
                 extra=(), no_reboot=False, cpu=None, autostart=True):
        self.tmp = Path(tmp)
        self.serial_path = self.tmp / "serial.txt"
        self.qmp_path = self.tmp / "qmp.sock"
        self.gdb_path = self.tmp / "gdb.sock"
        cmd = [QEMU, "-accel", "tcg", "-M", machine, "-nodefaults",
               "-nographic", "-bios", str(bios), "-m", mem,
               "-smp", str(smp),
               "-serial", f"file:{self.serial_path}",
               "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
               "-gdb", f"unix:{self.gdb_path},server=on,wait=off",
               "-S"]
        if no_reboot:
            cmd.append("-no-reboot")
        if cpu:
            cmd += ["-cpu", cpu]
        cmd += list(extra)
        self.log = open(self.tmp / "qemu.log", "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        self.serial_pos = 0
        self.serial_text = ""
        try:
            self.qmp = Qmp(self.qmp_path)
        except Exception:
            self.kill()
            raise
        # Started with -S so that nothing the guest does can race the QMP
        # connection (the triple fault happens within milliseconds).
        if autostart:
            self.qmp.cmd("cont")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        finally:
            self.log.close()

    def hmp(self, line):
        return self.qmp.cmd("human-monitor-command", **{"command-line": line})

    def read_u64s(self, addr, n):
        out = self.hmp(f"xp /{n}gx {addr:#x}")
        vals = []
        for line in out.splitlines():
            if ":" in line:
                vals += [int(v, 16) for v in line.split(":", 1)[1].split()]
        assert len(vals) == n, out
        return vals

    def read_bytes(self, addr, n):
        return b"".join(struct.pack("<Q", v)
                        for v in self.read_u64s(addr, (n + 7) // 8))[:n]

    def serial(self):
        with open(self.serial_path, "rb") as f:
            f.seek(self.serial_pos)
            data = f.read()
        self.serial_pos += len(data)
        self.serial_text += data.decode("latin-1")
        return self.serial_text

    def wait_serial(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern, re.M)
        while True:
            m = rx.search(self.serial())
            if m:
                return m
            if self.proc.poll() is not None:
                raise AssertionError(f"QEMU exited ({self.proc.returncode})"
                                     f" waiting for {pattern!r}")
            if time.monotonic() > deadline:
                tail = self.serial_text[-500:]
                raise AssertionError(f"no {pattern!r} on the serial port "
                                     f"after {timeout}s; tail: {tail!r}")
            time.sleep(0.05)

    def wait_pass(self, n, timeout):
        return self.wait_serial(rf"^pass {n}$", timeout)

    def mailbox(self, seq, text):
        data = (G["GUEST_MAILBOX_MAGIC"] + struct.pack("<Q", seq)
                + text.encode() + b"\0")
        gdb = Gdb(self.gdb_path)
        try:
            gdb.write(G["GUEST_MAILBOX_GPA"], data)
        finally:
            gdb.detach()
        if self.qmp.cmd("query-status")["status"] != "running":
            self.qmp.cmd("cont")

    def wait_ack(self, seq, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            ack = self.read_u64s(G["GUEST_MAILBOX_ACK_GPA"], 1)[0]
            if ack == seq:
                return
            assert time.monotonic() < deadline, f"ack {ack}, want {seq}"
            time.sleep(0.05)


@pytest.fixture
def qemu(tmp_path_factory):
    if shutil.which(QEMU) is None:
        pytest.fail(f"{QEMU} not found: tools/deps.sh check installs qemu-system-x86 "
                    "(or set QEMU_BIN)")
    started = []

    def start(*args, **kw):
        # Unix socket paths must stay short: use a fresh /tmp directory.
        tmp = tempfile.mkdtemp(prefix="kvmfs-fw-")
        q = Qemu(tmp, *args, **kw)
        started.append((q, tmp))
        return q

    yield start
    for q, tmp in started:
        q.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def status(q):
    raw = q.read_bytes(G["GUEST_STATUS_GPA"], 32)
    magic = raw[:8]
    passno, heartbeat, ram = struct.unpack("<3Q", raw[8:])
    return magic, passno, heartbeat, ram


def record_gpas(low, high):
    return ([k * MiB for k in range((low + MiB - 1) // MiB)]
            + [HIGH + k * MiB for k in range((high + MiB - 1) // MiB)])


def check_records(q, gpas):
    """With the VM stopped, every record carries its magic and own GPA, and
    a pass number no older than the one before the status page's."""
    q.qmp.cmd("stop")
    try:
        _, passno, _, _ = status(q)
        magic = struct.unpack("<Q", G["GUEST_RECORD_MAGIC"])[0]
        bad = []
        for gpa in gpas:
            m, own, p = q.read_u64s(gpa, 3)
            # Records are rewritten before the status page gets the pass
            # number, so a record is at passno or, mid-pass, passno + 1.
            if m != magic or own != gpa or p not in (passno, passno + 1):
                bad.append((hex(gpa), hex(m), hex(own), p))
        assert not bad, f"{len(bad)} bad records (pass {passno}): {bad[:5]}"
    finally:
        q.qmp.cmd("cont")


LAYOUTS = [
    # machine, -m, low RAM, high RAM (QEMU 7.2 splits, see machine/pc.h)
    ("pc", "64M", 64 * MiB, 0),
    ("pc", "6G", 0xC0000000, 6 * GiB - 0xC0000000),
    ("q35", "6G", 0x80000000, 6 * GiB - 0x80000000),
]


@pytest.mark.parametrize("machine,mem,low,high", LAYOUTS,
                         ids=[f"{m}-{s}" for m, s, _, _ in LAYOUTS])
def test_firmware(firmware, qemu, machine, mem, low, high):
    q = qemu(firmware / "firmware.bin", machine=machine, mem=mem)
    total = low + high
    q.wait_serial(
        rf"^kvmfs guest: {total // MiB} MiB RAM \({low // MiB} MiB low, "
        rf"{high // MiB} MiB high\), 1 cpus$", 30)
    # The first pass faults in a host page per record: slow for 6G on TCG.
    q.wait_pass(2, 60)
    assert "\r" not in q.serial()

    magic, p1, hb1, ram = status(q)
    assert magic == G["GUEST_STATUS_MAGIC"]
    assert ram == total
    assert p1 >= 2
    q.wait_pass(p1 + 2, 30)
    _, p2, hb2, _ = status(q)
    assert hb2 > hb1 and p2 > p1
    # vCPU 0's per-CPU slot follows its pass counter.
    slot_pass = q.read_u64s(G["GUEST_PERCPU_GPA"] + G["GUEST_PERCPU_PASS"],
                            1)[0]
    assert slot_pass >= p2

    check_records(q, record_gpas(low, high))

    # Mailbox round trip: echo, then the ack.
    q.mailbox(1, "hello from the host")
    q.wait_serial(r"^mailbox 1: hello from the host$", 20)
    q.wait_ack(1)
    # The same seq again is not a new command.
    before = q.serial().count("mailbox ")
    q.wait_pass(status(q)[1] + 3, 30)
    assert q.serial().count("mailbox ") == before

    # dirty: a few pages in low RAM (one straddling into the next MiB) ...
    seq = 2
    start = low - 0x3000 if high == 0 else 0x12ff000
    q.mailbox(seq, f"dirty {start:#x} 3")
    q.wait_ack(seq)
    assert f"mailbox {seq}: dirty {start:#x} 3\n" in q.serial()
    pages = [start + i * 4096 for i in range(3)]
    q.qmp.cmd("stop")
    try:
        for page in pages:
            got = q.read_bytes(page, 16)
            if page % MiB:  # a page holding a record is rewritten each pass
                assert got == G["GUEST_DIRTY_MAGIC"] + struct.pack("<Q", seq)
    finally:
        q.qmp.cmd("cont")

    if high:
        # ... and above 4G, running past the end of RAM (those are skipped,
        # and the walk stops there).
        seq = 3
        start = HIGH + high - 0x2000
        q.mailbox(seq, f"dirty {start:#X} 1000\n")
        q.wait_ack(seq)
        for page in (start, start + 4096):
            assert q.read_bytes(page, 16) == (G["GUEST_DIRTY_MAGIC"]
                                              + struct.pack("<Q", seq))

    # Pages below 1 MiB hold the firmware's own tables: skipped, and the
    # guest lives on.  Malformed commands are only echoed.
    seq = 4
    q.mailbox(seq, "dirty 0xc000 1")
    q.wait_ack(seq)
    q.mailbox(seq + 1, "dirty 0xzz 1")
    q.wait_ack(seq + 1)
    _, p3, _, _ = status(q)
    q.wait_pass(p3 + 2, 30)


def expected_write(first, pages, seq):
    """What "write" leaves in `pages` pages from GPA first: each u64 its own
    GPA with the command's seq in the top bits (guest.h)."""
    top = seq << G["GUEST_WRITE_SEQ_SHIFT"]
    return b"".join(struct.pack("<512Q", *(top | a for a in range(p, p + 4096, 8)))
                    for p in range(first, first + pages * 4096, 4096))


def test_write_command(firmware, qemu, tmp_path):
    """ "write 0xGPA N" stores its pattern over the N MiB, skipping the page
    of every MiB's record and what is not RAM, and reports the TSC cycles
    and bytes next to the ack (make bench's guest write throughput).  The
    whole area is read back with pmemsave."""
    q = qemu(firmware / "firmware.bin", mem="64M")
    q.wait_pass(2, 30)
    ack, cycles_gpa, bytes_gpa = (G["GUEST_MAILBOX_ACK_GPA"], G["GUEST_WRITE_CYCLES_GPA"],
                                  G["GUEST_WRITE_BYTES_GPA"])
    assert (cycles_gpa, bytes_gpa) == (ack + 8, ack + 16)

    seq, start, mib = 7, 16 * MiB, 3
    q.mailbox(seq, f"write {start:#x} {mib}")
    q.wait_ack(seq)
    assert f"mailbox {seq}: write {start:#x} {mib}\n" in q.serial()
    q.qmp.cmd("stop")
    try:
        cycles, stored = q.read_u64s(cycles_gpa, 2)
        assert cycles > 0
        assert stored == mib * (MiB - 4096)  # each MiB's record page is left alone
        dump = tmp_path / "write.bin"
        q.qmp.cmd("pmemsave", val=start, size=mib * MiB, filename=str(dump))
        got = dump.read_bytes()
        for m in range(mib):
            base = start + m * MiB
            # The record page still holds the record (the guest rewrote it).
            rec = got[m * MiB:m * MiB + 16]
            assert rec == G["GUEST_RECORD_MAGIC"] + struct.pack("<Q", base), hex(base)
            assert got[m * MiB + 4096:(m + 1) * MiB] == expected_write(base + 4096, 255, seq), \
                hex(base)
        # Nothing past the area was written.
        after = q.read_u64s(start + mib * MiB + 4096, 1)[0]
        assert after >> G["GUEST_WRITE_SEQ_SHIFT"] != seq
    finally:
        q.qmp.cmd("cont")

    # Running past the end of RAM: only the 255 pages up to 64 MiB; an
    # unaligned GPA is rounded down to its page; the pages below 1 MiB are
    # skipped and the guest lives on.
    seq = 8
    q.mailbox(seq, "write 0x3F00800 4")
    q.wait_ack(seq)
    q.qmp.cmd("stop")
    try:
        cycles, stored = q.read_u64s(cycles_gpa, 2)
        assert cycles > 0 and stored == 255 * 4096
        assert q.read_bytes(64 * MiB - 4096, 4096) == expected_write(64 * MiB - 4096, 1, seq)
    finally:
        q.qmp.cmd("cont")
    seq = 9
    q.mailbox(seq, "write 0x0 1")
    q.wait_ack(seq)
    assert q.read_u64s(bytes_gpa, 1)[0] == 0
    # Malformed: only echoed, the results stay as they were.
    q.mailbox(seq + 1, "write 16 1")
    q.wait_ack(seq + 1)
    q.mailbox(seq + 2, "writes 0x1000000 1")
    q.wait_ack(seq + 2)
    assert q.read_u64s(bytes_gpa, 1)[0] == 0
    _, p, _, _ = status(q)
    q.wait_pass(p + 2, 30)


def test_firmware_smp_share(firmware, qemu):
    """CMOS says 2 CPUs; under QEMU the second never starts (it would need
    a SIPI, which kvmfs does not use), so only share 0 - the first half of
    the records - is written.  That still checks the banner's CPU count and
    the cut into shares."""
    q = qemu(firmware / "firmware.bin", mem="64M", smp=2)
    q.wait_serial(r"^kvmfs guest: 64 MiB RAM \(64 MiB low, 0 MiB high\), "
                  r"2 cpus$", 30)
    q.wait_pass(3, 30)
    gpas = record_gpas(64 * MiB, 0)
    check_records(q, gpas[:32])
    q.qmp.cmd("stop")
    magic = struct.unpack("<Q", G["GUEST_RECORD_MAGIC"])[0]
    assert all(q.read_u64s(gpa, 1)[0] != magic for gpa in gpas[32:])


def test_triplefault(firmware, qemu):
    q = qemu(firmware / "triplefault.bin", no_reboot=True)
    ev = q.qmp.wait_event("SHUTDOWN", 20)
    assert ev is not None, "no SHUTDOWN event after a triple fault"
    assert ev["data"]["guest"] is True
    assert ev["data"]["reason"] == "guest-reset"
    # With -no-reboot the guest's reset makes QEMU exit.
    assert q.proc.wait(timeout=20) == 0


def test_flood(firmware, qemu):
    """flood.bin writes '!'..'~' and a newline to the UART, forever, without
    waiting: a thousand lines arrive, nothing else and nothing lost, and
    QEMU's monitor still answers while the flood goes on.  How fast is not
    asserted (the machine is shared; the TCG rate is QEMU's, not kvmfs's)."""
    q = qemu(firmware / "flood.bin")
    line = "".join(map(chr, range(ord("!"), ord("~") + 1))) + "\n"
    deadline = time.monotonic() + 300
    while q.serial().count(line) < 1000:
        assert q.proc.poll() is None, f"QEMU exited ({q.proc.returncode})"
        assert time.monotonic() < deadline, f"{len(q.serial_text)} bytes in 300 s"
        time.sleep(0.1)
    text = q.serial()
    whole = text[:text.rfind("\n") + 1]
    assert whole == line * (len(whole) // len(line))
    # The VM is still up, the monitor answers, and the flood goes on.
    assert q.qmp.cmd("query-status")["status"] == "running"
    seen = len(q.serial())
    while len(q.serial()) <= seen:
        assert time.monotonic() < deadline + 300, "the flood stopped"
        time.sleep(0.1)


def test_romwrite(firmware, qemu):
    """tests/guest/romwrite.S stores over two strings of its own image,
    through 0xffff0000 and through the isa-bios alias at 0xf0000: QEMU
    keeps pc.bios read-only to the guest, so both read back unchanged
    through both addresses.  test_claims.py runs it under kvmfs."""
    q = qemu(firmware / "romwrite.bin")
    deadline = time.monotonic() + 60
    while "HLT=1" not in q.hmp("info registers"):
        assert time.monotonic() < deadline, "romwrite.bin never halted"
        time.sleep(0.05)
    assert q.read_bytes(0x500, 0x28) == (b"ROMWRRES" + b"ROMDATA1" * 2 + b"ROMDATA2" * 2)


def registers(q):
    """A few fields of HMP "info registers" for the (first) CPU."""
    info = q.hmp("info registers")
    idt = re.search(r"^IDT=\s*([0-9a-f]+) ([0-9a-f]+)", info, re.M)
    tr = re.search(r"^TR =([0-9a-f]+)", info, re.M)
    cpl = re.search(r"CPL=(\d)", info)
    return {"idt": (int(idt[1], 16), int(idt[2], 16)), "tr": int(tr[1], 16),
            "cpl": int(cpl[1])}


def symbol(name):
    out = subprocess.run(["nm", str(GUEST_DIR / "firmware.elf")],
                         capture_output=True, text=True, check=True).stdout
    return int(re.search(rf"^([0-9a-f]+) \w {name}$", out, re.M)[1], 16)


def tss_io_bitmap(q, tr):
    """(iomap_base, limit) of the TSS whose descriptor is at GDT + tr."""
    lo, hi = q.read_u64s(G["GUEST_BOOT_GPA"] + G["GUEST_BOOT_GDT"] + tr, 2)
    base = ((lo >> 16) & 0xffffff) | ((lo >> 56) & 0xff) << 24 | (hi & 0xffffffff) << 32
    limit = (lo & 0xffff) | ((lo >> 48) & 0xf) << 16
    iomap = q.read_u64s(base + 96, 1)[0] >> 48  # the u16 at offset 102
    return base, iomap, limit


@pytest.mark.parametrize("cpu", [None, "qemu64,vendor=GenuineIntel"], ids=["amd", "intel"])
def test_ring3_entry(firmware, qemu, cpu):
    """Ring 3 is entered with IRETQ on either vendor, with IOPL 0: its port
    I/O (the console, the pacing port) goes through the TSS's I/O bitmap,
    which covers every port; the IDT has all 32 exception vectors."""
    q = qemu(firmware / "firmware.bin", cpu=cpu)
    q.wait_pass(3, 30)
    info = q.hmp("info registers")
    assert re.search(r"CPL=3", info)
    assert (int(re.search(r"RFL=([0-9a-f]+)", info)[1], 16) >> 12) & 3 == 0  # IOPL 0
    regs = registers(q)
    assert regs["tr"] == 0x38  # vCPU 0's TSS descriptor
    assert regs["idt"] == (G["GUEST_BOOT_GPA"] + G["GUEST_BOOT_IDT"], 32 * 16 - 1)
    base, iomap, limit = tss_io_bitmap(q, 0x38)
    # The bitmap is where guest.h says, all ports allowed, closed by 0xff,
    # and the TSS limit reaches that closing byte (the CPU reads it for
    # the highest ports).
    assert base + iomap == G["GUEST_IOBITMAP_GPA"]
    assert limit == iomap + G["GUEST_IOBITMAP_SIZE"]
    bitmap = q.read_bytes(G["GUEST_IOBITMAP_GPA"], G["GUEST_IOBITMAP_SIZE"] + 1)
    assert bitmap == bytes(G["GUEST_IOBITMAP_SIZE"]) + b"\xff"


# vector, the label of the instruction that raises it, error code, trap?
FAULTS = [
    (0, "fault_de_insn", None, False),
    (3, "fault_bp_insn", None, True),  # #BP is a trap: RIP after the int3
    (6, "fault_ud_insn", None, False),
    (13, "fault_gp_insn", 0, False),
    (14, "fault_pf_insn", 4, False),   # user read, page not present
]


@pytest.mark.parametrize("vec,label,error,trap", FAULTS, ids=[f[1] for f in FAULTS])
def test_fault_reaches_the_handler(firmware, qemu, vec, label, error, trap):
    """Each exception the mailbox's "fault N" raises in ring 3 lands in the
    firmware's handler, which leaves the frame in the registers guest.h
    documents (QEMU ignores the fault port, so the CPU then halts in ring
    0 and its registers can be read).  RIPs come from the ELF's symbols."""
    q = qemu(firmware / "firmware.bin", mem="64M")
    q.wait_pass(2, 30)
    q.mailbox(9, f"fault {vec}")
    q.wait_ack(9)
    deadline = time.monotonic() + 20
    while "CPL=0" not in q.hmp("info registers"):
        assert time.monotonic() < deadline, "the handler never ran"
        time.sleep(0.05)
    q.qmp.cmd("stop")
    info = q.hmp("info registers")

    def reg(name):
        return int(re.search(rf"\b{name}=([0-9a-f]+)", info)[1], 16)

    rip = symbol(label)
    if trap:
        rip += 1  # int3 is one byte
    assert reg("RAX") == vec
    assert reg("RBX") == (error or 0)
    assert reg("RCX") == rip
    assert reg("RSI") & 3 == 3  # the frame's CS: from ring 3
    assert reg("R10") == (G["GUEST_FAULT_VA"] if vec == 14 else reg("CR2"))
    assert "HLT=1" in info




def test_secondary_vcpu_path(firmware, qemu, tmp_path):
    """The path of vCPUs other than 0 (wait for the ready flag, then long
    mode on vCPU 0's tables, own TSS and share) cannot run as such under
    QEMU, whose APs wait for a SIPI.  So: run vCPU 0 with -smp 2, save the
    low 640 KiB it set up, then boot again with that memory preloaded and
    make the boot CPU believe it is vCPU 1 (through the gdbstub, right
    after CPUID)."""
    q = qemu(firmware / "firmware.bin", mem="64M", smp=2)
    q.wait_pass(3, 30)
    q.qmp.cmd("stop")
    blob = tmp_path / "low.bin"
    q.qmp.cmd("pmemsave", val=0, size=0xa0000, filename=str(blob))
    q.kill()

    q = qemu(firmware / "firmware.bin", mem="64M", smp=2, autostart=False,
             extra=["-device", f"loader,file={blob},addr=0,force-raw=on"])
    gdb = Gdb(q.gdb_path)
    addr = symbol("cpu_index_known")
    assert gdb.packet(f"Z0,{addr:x},1") == "OK"
    stop = gdb.packet("c")
    assert stop.startswith("T05") or stop.startswith("S05"), stop
    # QEMU takes "P" (write one register) only from a client that has
    # read its target description, as a real GDB would have.
    gdb.packet("qXfer:features:read:target.xml:0,1000")
    assert gdb.packet("P1=" + (1).to_bytes(8, "little").hex()) == "OK"
    assert gdb.packet(f"z0,{addr:x},1") == "OK"
    gdb.detach()

    slot = G["GUEST_PERCPU_GPA"] + G["GUEST_PERCPU_SIZE"]
    deadline = time.monotonic() + 30
    while q.read_u64s(slot + G["GUEST_PERCPU_PASS"], 1)[0] < 3:
        assert time.monotonic() < deadline, "vCPU 1 makes no passes"
        time.sleep(0.1)
    regs = registers(q)
    assert regs["cpl"] == 3 and regs["tr"] == 0x48  # vCPU 1's TSS
    # Share 1 of 2: the upper 32 of the 64 records, with vCPU 1's passes.
    q.qmp.cmd("stop")
    passno = q.read_u64s(slot + G["GUEST_PERCPU_PASS"], 1)[0]
    magic = struct.unpack("<Q", G["GUEST_RECORD_MAGIC"])[0]
    for gpa in record_gpas(64 * MiB, 0)[32:]:
        m, own, p = q.read_u64s(gpa, 3)
        # The per-CPU pass is bumped before the records are rewritten.
        assert (m, own) == (magic, gpa) and p in (passno - 1, passno)
    # Only vCPU 0 talks: the console stays silent.
    assert q.serial() == ""


def test_ring0_firmware(firmware, qemu):
    """tests/guest/ring0.S under TCG with a CPU that has SMAP and POPCNT:
    every instruction runs natively, with the architectural results (SDM:
    stac sets EFLAGS.AC, clac clears it, popcnt(0xf0f0f0f1) = 17, popcnt(0)
    sets ZF and clears the other flags), and the xrstor, with CR4.OSXSAVE
    clear, raises #UD at its own address.  test_guest.py runs the same
    firmware under kvmfs."""
    q = qemu(firmware / "ring0.bin", cpu="max")
    deadline = time.monotonic() + 20
    while "HLT=1" not in q.hmp("info registers"):
        assert time.monotonic() < deadline, "ring0.bin never halted"
        time.sleep(0.05)
    raw = q.read_bytes(0x500, 0x34)
    bp, ac_set, ac_clr, pop, pflags, fwait, ud, ud_eip, done, cpuid, mxcsr = \
        struct.unpack("<11I", raw[8:])
    assert mxcsr == 0x9F80  # ldmxcsr's value, as fxsave stores it
    assert raw[:8] == b"RING0RES" and done == 1
    assert cpuid == 3  # -cpu max has SMAP and POPCNT
    assert bp == 1 and fwait == 1
    assert ac_set & (1 << 18) and not ac_clr & (1 << 18)
    assert pop == 17 and pflags & 0xff == 0x42  # ZF and the reserved bit 1
    out = subprocess.run(["nm", str(GUEST_DIR / "ring0.elf")], capture_output=True, text=True,
                         check=True).stdout
    assert ud == 1 and ud_eip == int(re.search(r"^([0-9a-f]+) T xrstor_insn$", out, re.M)[1], 16)
