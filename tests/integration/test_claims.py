"""README claims about options and tools, each checked against something
outside the code under test: QEMU's own `info ramblock`, /proc/PID/maps and
/proc/PID/task, the ELF symbols of a test firmware, the x86 reset vector,
the bytes of a -bios file; /proc/PID/smaps's VmFlags (no THP on guest RAM),
QEMU's own page walk (vmem's offsets), the boot_params and ACPI tables as
Linux reads them (the RSDP pointer, ISA IRQ 4), Linux's /proc/interrupts.
(Claims about the tree itself are in test_fs.py, refused option values in
test_badinput.py.)

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
                      lazy_unmount, maps_entry, pread, read, require_guest, ring0_emulated,
                      wait_for)

PC = ("-M", "pc", "-m", "64M")
GUEST_BINS = ROOT / "build" / "guest"
QEMU = os.environ.get("QEMU_BIN", "qemu-system-x86_64")
KIB, MIB = 1 << 10, 1 << 20
BIOS_SIZE = 256 * KIB
# include/kvmfs/guest.h
# Generous: how fast things happen is make bench's business.
WAIT = 60.0
# Linux to its initramfs's shell: seconds natively, minutes under nested KVM.
LINUX_TIMEOUT = 1800.0


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
    # One line that names the missing vCPU and the ones there are (grep's status 2: trouble).
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r
    assert "no vCPU 2 in" in r.stderr and "the VM has 2 vCPUs: --cpu 0..1" in r.stderr, r


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


# ---- guest RAM without transparent huge pages (MADV_NOHUGEPAGE) ----

def smaps_vmflags(pid, lo, hi):
    """The VmFlags of every mapping of /proc/PID/smaps that overlaps [lo, hi)."""
    out, cur = [], None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) ", line)
            if m:
                start, end = int(m[1], 16), int(m[2], 16)
                cur = (start, end) if start < hi and lo < end else None
            elif cur and line.startswith("VmFlags:"):
                out.append((cur, line.split()[1:]))
    return out


@pytest.mark.parametrize("backing", ["memfd", "anon"])
def test_guest_ram_has_no_transparent_huge_pages(kvmfs, backing):
    """README: guest RAM is mapped with MADV_NOHUGEPAGE - the kernel's "nh"
    VmFlag on every mapping that holds a RAM block (pc.ram, an -object's
    block, the firmware's), whichever the backing and the host's THP setting."""
    k = kvmfs(*PC, "-S", "-mem-backing", backing, "-object", "memory-backend-ram,id=extra,size=1M")
    blocks = json.loads(read(k.path("ramblocks.json")))
    assert {b["idstr"] for b in blocks} >= {"pc.ram", "extra", "pc.bios"}
    for b in blocks:
        maps = smaps_vmflags(k.pid, b["host"], b["host"] + b["max_length"])
        assert maps, (b["idstr"], hex(b["host"]))
        covered = sum(min(hi, b["host"] + b["max_length"]) - max(lo, b["host"])
                      for (lo, hi), _ in maps)
        assert covered == b["max_length"], b["idstr"]  # the mappings found hold all of it
        for (lo, hi), flags in maps:
            assert "nh" in flags and "hg" not in flags, (b["idstr"], hex(lo), hex(hi), flags)


# ---- vcpus/N/vmem: offset = the address with its sign-extension bits cleared ----

def test_vmem_offset_of_a_kernel_address(kvmfs, tmp_path):
    """README: vmem's offset is the virtual address with its sign-extension
    bits cleared (0xffffffff81000000 is at 0xffff81000000).  tests/guest/regs.S
    maps 2 MiB of RAM at REGS_KERNEL_VA, Linux's kernel text address, and
    writes "KERNELVA" through it; QEMU's own page walk (gva2gpa) of the
    halted CPU says where that is in RAM, and vmem of the dump QEMU wrote at
    that stop reads it at the cleared address - and nowhere in the low half."""
    from test_regs import Firmware, qemu_dump_of_halted_firmware

    fw = Firmware()
    base, mark = fw.h["KERNEL_VA"], fw.h["KERNEL_MARK"]
    assert base == 0xffffffff81000000  # the README's example
    core, _, gpa = qemu_dump_of_halted_firmware(fw, tmp_path, translate=[base, base + mark])
    assert gpa == {base: fw.h["KERNEL_GPA"], base + mark: fw.h["KERNEL_GPA"] + mark}
    k = kvmfs("-dump", core, accel=False)
    assert pread(k.path("phys"), 8, gpa[base + mark]) == b"KERNELVA"
    vmem = k.path("vcpus", "0", "vmem")
    assert os.stat(vmem).st_size == 1 << 48
    assert pread(vmem, 8, 0xffff81000000 + mark) == b"KERNELVA"
    assert pread(vmem, 4096, 0xffff81000000) == pread(k.path("phys"), 4096, gpa[base])
    # Not at the physical address (unmapped in the low half: a hole); and
    # nothing from 2^48 on, where the address itself would be.
    assert pread(vmem, 8, gpa[base + mark]) == bytes(8)
    assert pread(vmem, 8, 1 << 48) == b""
    # The low half is the address itself: REGSDONE through the identity map.
    assert pread(vmem, 8, fw.h["DONE_GPA"]) == b"REGSDONE"


# ---- what Linux is given: the zero page's RSDP pointer, IRQ 4 in the MADT ----

def tiny_vmlinux(path):
    """An ELF vmlinux as the loader takes one: ET_EXEC x86-64, one PT_LOAD at
    16 MiB physical, the entry its first byte (a hlt loop, never run)."""
    code = b"\xf4\xeb\xfd".ljust(4096, b"\0")
    paddr, vaddr = 0x1000000, 0xffffffff81000000
    eh = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8) + struct.pack(
        "<HHIQQQIHHHHHH", 2, 62, 1, paddr, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    ph = struct.pack("<IIQQQQQQ", 1, 5, 4096, vaddr, paddr, len(code), len(code), 4096)
    path.write_bytes((eh + ph).ljust(4096, b"\0") + code)
    return path


def acpi_table(phys, gpa, sig):
    """The ACPI table at gpa: its signature, length and checksum checked."""
    head = pread(phys, 36, gpa)
    assert head[:4] == sig, (hex(gpa), head[:4])
    length = struct.unpack_from("<I", head, 4)[0]
    table = pread(phys, length, gpa)
    assert sum(table) % 256 == 0, f"{sig} checksum"
    return table


def zero_page_and_rsdp(k, cmdline):
    """The zero page, found as a boot loader leaves it (boot_params in a page
    of low RAM: 0xAA55 at 0x1fe, "HdrS" at 0x202, the command line where
    cmd_line_ptr says), and the RSDP its acpi_rsdp_addr (0x070) points at."""
    phys = k.path("phys")
    low = pread(phys, 0xa0000, 0)
    pages = [p for p in range(0, len(low), 4096)
             if low[p + 0x1fe:p + 0x200] == b"\x55\xaa" and low[p + 0x202:p + 0x206] == b"HdrS"]
    assert len(pages) == 1, [hex(p) for p in pages]
    zp = low[pages[0]:pages[0] + 4096]
    ptr = struct.unpack_from("<I", zp, 0x228)[0]
    assert low[ptr:ptr + len(cmdline) + 1] == cmdline.encode() + b"\0"
    rsdp = struct.unpack_from("<Q", zp, 0x070)[0]
    assert rsdp, "acpi_rsdp_addr is 0"
    return rsdp


def test_zero_page_points_at_the_rsdp(kvmfs, tmp_path):
    """README: ACPI tables in the EBDA, and the zero page points at the RSDP.
    Built without a vCPU (-accel none: the loader places everything), read
    through phys: boot_params.acpi_rsdp_addr is an ACPI 2.0 RSDP (both
    checksums), inside the EBDA the BIOS data area names (segment at 0x40e),
    whose XSDT leads to the MADT."""
    cmdline = "console=ttyS0 kvmfs-claims"
    k = kvmfs(*PC, "-accel", "none", "-kernel", tiny_vmlinux(tmp_path / "vmlinux"),
              "-append", cmdline, accel=False)
    phys = k.path("phys")
    rsdp_gpa = zero_page_and_rsdp(k, cmdline)
    rsdp = pread(phys, 36, rsdp_gpa)
    assert rsdp[:8] == b"RSD PTR "
    assert sum(rsdp[:20]) % 256 == 0 and sum(rsdp) % 256 == 0
    assert rsdp[15] == 2 and struct.unpack_from("<I", rsdp, 20)[0] == 36  # ACPI 2.0+
    ebda = struct.unpack("<H", pread(phys, 2, 0x40e))[0] << 4
    assert ebda <= rsdp_gpa < ebda + 1024 <= 0xa0000, (hex(ebda), hex(rsdp_gpa))
    xsdt = acpi_table(phys, struct.unpack_from("<Q", rsdp, 24)[0], b"XSDT")
    entries = [struct.unpack_from("<Q", xsdt, o)[0] for o in range(36, len(xsdt), 8)]
    assert [pread(phys, 4, e) for e in entries] == [b"APIC"]


def test_serial_irq_4_in_the_madt(kvmfs, tmp_path):
    """README: serial IRQ 4 - as the guest's firmware tables route it.  The
    MADT the zero page leads to has one IOAPIC with GSI base 0, the 8259s
    present (PCAT_COMPAT), and no interrupt source override for ISA IRQ 4:
    ISA IRQ 4 is GSI 4, pin 4 of that IOAPIC and input 4 of the 8259 - where
    kvmfs raises the UART's line (that it does: the guest test below)."""
    k = kvmfs(*PC, "-accel", "none", "-kernel", tiny_vmlinux(tmp_path / "vmlinux"),
              "-append", "console=ttyS0", accel=False)
    phys = k.path("phys")
    rsdp = pread(phys, 36, zero_page_and_rsdp(k, "console=ttyS0"))
    xsdt = acpi_table(phys, struct.unpack_from("<Q", rsdp, 24)[0], b"XSDT")
    madt = acpi_table(phys, struct.unpack_from("<Q", xsdt, 36)[0], b"APIC")
    assert struct.unpack_from("<I", madt, 40)[0] & 1  # PCAT_COMPAT
    ioapics, overrides, off = [], [], 44
    while off < len(madt):
        kind, length = madt[off], madt[off + 1]
        assert length >= 2, madt[off:].hex()
        if kind == 1:  # I/O APIC: id, reserved, address, GSI base
            ioapics.append(struct.unpack_from("<I", madt, off + 8)[0])
        elif kind == 2:  # interrupt source override: bus, source, GSI, flags
            overrides.append((madt[off + 3], struct.unpack_from("<I", madt, off + 4)[0]))
        off += length
    assert ioapics == [0]
    assert not [o for o in overrides if o[0] == 4 or o[1] == 4], overrides


@pytest.mark.guest
def test_linux_takes_its_serial_interrupts_on_irq_4(tmp_path):
    """README: serial IRQ 4.  Linux's own count: Debian's kernel boots to the
    initramfs's shell, which is given `cat /proc/interrupts` on kvmfs's stdin
    (fed to the UART): the ttyS0 line is IRQ 4 and has taken interrupts -
    the console's transmit and receive interrupts reach the guest there."""
    require_guest("Linux must run to count its interrupts")
    if ring0_emulated():
        pytest.skip("ring 0 emulated (kvm_pvm): the initramfs's user space does not run there "
                    "(test_linux.py, test_linux_user_space)")
    kernel = ROOT / "build" / "debian-kernel" / "vmlinux"
    if not kernel.exists():
        pytest.skip(f"{kernel} missing: tools/fetch-debian-kernel.sh (test_linux.py fetches it)")
    initramfs = ROOT / "build" / "initramfs.cpio"
    if not initramfs.exists():
        subprocess.run([str(ROOT / "tools" / "make-initramfs.sh"), str(initramfs)], check=True,
                       capture_output=True, timeout=120)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    err_path = tmp_path / "kvmfs.err"
    with open(tmp_path / "kvmfs.out", "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen([str(KVMFS), "-M", "pc", "-m", "256M", "-kernel", str(kernel),
                                 "-initrd", str(initramfs), "-append", "console=ttyS0 nokaslr",
                                 str(mnt)], stdin=subprocess.PIPE, stdout=out, stderr=err)
    console = mnt / "console"

    def text():
        try:
            return console.read_text(errors="replace")
        except OSError:
            return ""

    try:
        assert wait_for(lambda: "kvmfs-initramfs: ready" in text() or proc.poll() is not None,
                        LINUX_TIMEOUT), err_path.read_text() + text()[-2000:]
        assert proc.poll() is None, err_path.read_text()
        proc.stdin.write(b"cat /proc/interrupts; echo irq4-$((2+2))\n")
        proc.stdin.flush()
        assert wait_for(lambda: re.search(r"^irq4-4\r?$", text(), re.M), WAIT), text()[-2000:]
        line = re.search(r"^\s*(\d+):\s+(\d+)\s.*\bttyS0\r?$", text(), re.M)
        assert line, text()[-3000:]
        assert line[1] == "4" and int(line[2]) > 0, line[0]
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)  # only the PID started here
            try:
                proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        proc.stdin.close()
        lazy_unmount(mnt)
