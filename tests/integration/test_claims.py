"""README claims about options and tools, each checked against something
outside the code under test: QEMU's own `info ramblock`, /proc/PID/maps and
/proc/PID/task, the ELF symbols of a test firmware, the x86 reset vector,
the bytes of a -bios file.  (Claims about the tree itself are in
test_fs.py, refused option values in test_badinput.py.)

Tests that need a running guest skip, saying so, without /dev/kvm.

Run: python3 -m pytest -q tests/integration/test_claims.py
"""
import importlib.util
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time

import pytest

from conftest import (KVMFS, PERCPU_GPA, PERCPU_SIZE, READY, ROOT, STATUS_GPA, STATUS_MAGIC,
                      maps_entry, pread, read, require_guest, wait_for)

PC = ("-M", "pc", "-m", "64M")
GUEST_BINS = ROOT / "build" / "guest"
QEMU = os.environ.get("QEMU_BIN", "qemu-system-x86_64")
KIB, MIB = 1 << 10, 1 << 20
BIOS_SIZE = 256 * KIB
# include/kvmfs/guest.h
# Generous: how fast things happen is make bench's business.
WAIT = 60.0


def nm(elf, symbol):
    out = subprocess.run(["nm", str(elf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(rf"^([0-9a-f]+) \w {symbol}$", out, re.M)[1], 16)


# ---- -m: rounded up to 8 KiB, as QEMU 7.2 does ----

def qemu_ram_used(size):
    """pc.ram's Used column in QEMU's own `info ramblock` for -m size."""
    if shutil.which(QEMU) is None:
        pytest.fail(f"{QEMU} not found: tools/deps.sh check installs qemu-system-x86 "
                    "(or set QEMU_BIN)")
    r = subprocess.run([QEMU, "-M", "pc", "-m", size, "-S", "-nodefaults", "-display", "none",
                        "-monitor", "stdio"], input="info ramblock\nquit\n",
                       capture_output=True, text=True, timeout=120)
    m = re.search(r"^\s*pc\.ram\s+\S+ \S+\s+0x[0-9a-f]+ (0x[0-9a-f]+)", r.stdout, re.M)
    assert m, (r.returncode, r.stdout, r.stderr)
    return int(m[1], 16)


@pytest.mark.parametrize("size", ["2049K", "2055K", "2056K", "2057K", "3071K"])
def test_ram_size_rounded_up_to_8k_as_qemu_does(kvmfs, size):
    want = qemu_ram_used(size)
    # QEMU 7.2, hw/core/machine.c: ram_size = QEMU_ALIGN_UP(sz, 8192).
    asked = int(size[:-1]) * KIB
    assert want == -(-asked // 8192) * 8192
    k = kvmfs("-M", "pc", "-m", size, "-S")
    assert os.stat(k.path("ramblocks", "pc.ram")).st_size == want
    blocks = {b["idstr"]: b for b in json.loads(read(k.path("ramblocks.json")))}
    assert blocks["pc.ram"]["used_length"] == want


# ---- -bios up to 256 KiB: at the top of pc.bios ----

@pytest.mark.parametrize("size", [5000, 64 * KIB, BIOS_SIZE])
def test_small_bios_at_the_top(kvmfs, tmp_path, size):
    """pc.bios stays 256 KiB and the file fills its end: the x86 reset vector
    (GPA 0xfffffff0, 16 bytes below 4G) holds the file's last 16 bytes, and
    the isa-bios alias shows the same bytes just below 1 MiB."""
    fw = bytes((i * 7 + 3) & 0xff for i in range(size))
    path = tmp_path / "bios.bin"
    path.write_bytes(fw)
    k = kvmfs(*PC, "-S", "-bios", path)
    bios = read(k.path("ramblocks", "pc.bios"))
    assert len(bios) == BIOS_SIZE
    assert bios[BIOS_SIZE - size:] == fw
    phys = k.path("phys")
    assert pread(phys, 16, 0xfffffff0) == fw[-16:]
    assert pread(phys, size, (1 << 32) - size) == fw
    alias = min(size, 128 * KIB)  # isa-bios: pc.bios's last 128 KiB at 0xe0000
    assert pread(phys, alias, 0x100000 - alias) == fw[-alias:]


# ---- -mem-backing memfd|anon ----

@pytest.mark.parametrize("backing", ["memfd", "anon"])
def test_mem_backing(kvmfs, backing):
    """memfd: pc.ram is a shared mapping of a memfd named after it; anon:
    private anonymous memory.  Either way RAM nobody touched is a hole of
    phys: with -S nothing has written pc.ram, so the first data is the
    firmware's isa-bios window at 0xe0000 (pc.rom below it is empty too)."""
    k = kvmfs(*PC, "-S", "-mem-backing", backing)
    ram = {b["idstr"]: b for b in json.loads(read(k.path("ramblocks.json")))}["pc.ram"]
    perms, path = maps_entry(k.pid, ram["host"])
    fd = os.open(k.path("phys"), os.O_RDONLY)
    try:
        first_data = os.lseek(fd, 0, os.SEEK_DATA)
    finally:
        os.close(fd)
    if backing == "memfd":
        assert ram["fd_backed"] is True and ram["shared"] is True
        assert path.startswith("/memfd:pc.ram") and perms[3] == "s", (perms, path)
    else:
        assert ram["fd_backed"] is False and ram["shared"] is False
        assert not path.startswith("/") and perms[3] == "p", (perms, path)
    assert first_data == 0xE0000


# ---- -sweep-ms ----

def sweep_wakeups(pid):
    """Voluntary context switches of kvmfs's dirty-sweep thread: one per
    sleep, so one per sweep period while nothing else makes it wait."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            if read(f"/proc/{pid}/task/{tid}/comm").strip() != b"dirty-sweep":
                continue
            status = read(f"/proc/{pid}/task/{tid}/status").decode()
        except FileNotFoundError:
            continue
        return int(re.search(r"^voluntary_ctxt_switches:\s*(\d+)", status, re.M)[1])
    raise AssertionError("no dirty-sweep thread")


@pytest.mark.guest
def test_sweep_ms_is_the_sweep_period(kvmfs):
    """-sweep-ms sets how often the dirty log is swept.  Observed as the
    sweep thread's sleeps, not as a time: with 10000 ms it sleeps at most
    once per 10 s of the window the test measured (a loaded machine only
    makes that fewer), where the 5 ms default would be hundreds; with 1 ms
    it goes on to hundreds of sleeps however long that takes.  (What is not
    asserted: how stale a cached read is at a given moment; tools/bench/fresh
    measures that.)"""
    require_guest("the sweep thread runs only with KVM's dirty log")
    slow = kvmfs(*PC, "-S", "-sweep-ms", "10000")
    fast = kvmfs(*PC, "-S", "-sweep-ms", "1")
    c0, t0 = sweep_wakeups(slow.pid), time.monotonic()
    f0 = sweep_wakeups(fast.pid)
    time.sleep(3)
    c1, t1 = sweep_wakeups(slow.pid), time.monotonic()
    # Up to one sleep ending per period in the window, plus a few that are
    # not the period's (a lock or a page fault the first sweep waited for).
    assert c1 - c0 <= (t1 - t0) / 10 + 5, (c0, c1, t1 - t0)
    assert wait_for(lambda: sweep_wakeups(fast.pid) - f0 >= 300, WAIT), \
        (f0, sweep_wakeups(fast.pid))


# ---- without a mountpoint ----

def spawn_unmounted(args, tmp_path, name):
    out = open(tmp_path / f"{name}.out", "wb")
    err = open(tmp_path / f"{name}.err", "wb")
    try:
        return subprocess.Popen([str(KVMFS), *[str(a) for a in args]], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err)
    finally:
        out.close()
        err.close()


@pytest.mark.guest
def test_without_a_mountpoint(tmp_path):
    """No mountpoint: kvmfs runs the VM alone.  It ends with status 1 when the
    guest stops for good (nothing is left to inspect), and otherwise runs
    until a signal, which ends it with 0."""
    require_guest("without a mountpoint there is only the guest to run")
    procs = []
    try:
        dead = spawn_unmounted([*PC, "-bios", GUEST_BINS / "triplefault.bin"], tmp_path, "dead")
        procs.append(dead)
        assert dead.wait(timeout=WAIT) == 1
        assert "KVM_EXIT_SHUTDOWN (triple fault)" in (tmp_path / "dead.err").read_text()

        live = spawn_unmounted(PC, tmp_path, "live")
        procs.append(live)
        # Its console goes to stdout: two passes mean the guest runs.
        assert wait_for(lambda: re.search(rb"^pass 2$", read(tmp_path / "live.out"), re.M)
                        or live.poll() is not None, WAIT), (tmp_path / "live.err").read_text()
        assert live.poll() is None, (tmp_path / "live.err").read_text()
        assert READY in (tmp_path / "live.err").read_text()
        os.kill(live.pid, signal.SIGTERM)
        assert live.wait(timeout=WAIT) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)  # only the PIDs started here
                p.wait()


# ---- tools/guest-status.py --cpu N ----

def load_guest_status():
    spec = importlib.util.spec_from_file_location("guest_status",
                                                  ROOT / "tools" / "guest-status.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.guest
def test_guest_status_cpu(kvmfs, monkeypatch, capsys):
    """guest-status.py MNT --cpu 1 reads the status page through vCPU 1's
    view of memory (vcpus/1/vmem); with the guest's identity map that is the
    page in pc.ram at GUEST_STATUS_GPA, whose RAM size is -m's."""
    require_guest("the status page and vCPU 1's page tables are the running guest's")
    k = kvmfs(*PC, "-smp", "2")
    ram = k.path("ramblocks", "pc.ram")
    # vCPU 1 made a pass: it is in long mode on the guest's page tables.  And
    # vCPU 0 wrote the status page: it prints its banner first, so under load
    # vCPU 1 can be passes ahead of it.
    assert wait_for(lambda: struct.unpack("<Q", pread(ram, 8, PERCPU_GPA + PERCPU_SIZE))[0] >= 1
                    and pread(ram, 8, STATUS_GPA) == STATUS_MAGIC, WAIT), k.stderr()
    with open(k.path("ctl"), "w") as f:
        f.write("stop")
    magic, passno, beat, size = struct.unpack("<8s3Q", pread(ram, 32, STATUS_GPA))
    assert magic == STATUS_MAGIC and size == 64 * MIB
    want = f"magic KVMFSSTA\npass {passno}\nheartbeat {beat}\nram_size {size}\n"

    tool = ROOT / "tools" / "guest-status.py"
    r = subprocess.run([sys.executable, str(tool), k.mnt, "--cpu", "1"], capture_output=True,
                       text=True, timeout=WAIT)
    assert (r.returncode, r.stdout) == (0, want), r
    # Which file it read: vCPU 1's (both vCPUs share the guest's page tables,
    # so the bytes alone cannot tell).
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda p, *a, **kw: opened.append(str(p))
                        or real_open(p, *a, **kw))
    monkeypatch.setattr(sys, "argv", ["guest-status.py", k.mnt, "--cpu", "1"])
    assert load_guest_status().main() == 0
    monkeypatch.undo()
    assert capsys.readouterr().out == want
    assert opened == [k.path("vcpus", "1", "vmem")]
    # There is no vCPU 2.
    r = subprocess.run([sys.executable, str(tool), k.mnt, "--cpu", "2"], capture_output=True,
                       text=True, timeout=WAIT)
    assert r.returncode != 0 and "vcpus/2/vmem" in r.stderr, r


# ---- ROM is read-only to the guest ----

@pytest.mark.guest
def test_rom_is_read_only_to_the_guest(kvmfs):
    """tests/guest/romwrite.S stores over two strings of its own image,
    through 0xffff0000 and through the isa-bios alias at 0xf0000 (ELF
    symbols rom_data1/rom_data2), then reports what it reads back: the
    stores are dropped (a read-only memslot), pc.bios is byte for byte the
    file, and the guest read the original strings through both addresses
    (test_firmware_tcg.py: QEMU does the same)."""
    require_guest("the firmware must run to write")
    fw_path = GUEST_BINS / "romwrite.bin"
    fw = read(fw_path)
    k = kvmfs(*PC, "-bios", fw_path)
    ram = k.path("ramblocks", "pc.ram")
    assert wait_for(lambda: pread(ram, 8, 0x500) == b"ROMWRRES", WAIT), k.stderr()
    assert pread(ram, 32, 0x508) == b"ROMDATA1" * 2 + b"ROMDATA2" * 2
    assert read(k.path("ramblocks", "pc.bios")) == fw
    for sym, text in (("rom_data1", b"ROMDATA1"), ("rom_data2", b"ROMDATA2")):
        gpa = nm(GUEST_BINS / "romwrite.elf", sym)
        assert fw[gpa - ((1 << 32) - BIOS_SIZE):][:8] == text
        assert pread(k.path("phys"), 8, gpa) == text
        assert pread(k.path("phys"), 8, gpa - 0xffff0000 + 0xf0000) == text
    assert k.proc.poll() is None
