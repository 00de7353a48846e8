"""A Linux guest in crash, drgn and gdb: the `vmcore` of a live guest, and of a dump.

The guest is Debian's cloud kernel (tools/fetch-debian-kernel.sh --debug:
vmlinuz, vmlinux, System.map and the -dbg package's vmlinux with DWARF, cached
in build/debian-kernel) with tools/make-initramfs.sh's busybox /init.

Everywhere (no KVM needed): QEMU TCG boots it fully and dumps it
(tools/qemu-dump.py --idle: the CPU stopped in the idle loop; cached in
build/kdump), `kvmfs -dump` mounts QEMU's core, and crash, drgn and gdb read
the mount's vmcore - once without KASLR, with the kernel's own VMCOREINFO, and
once with KASLR and the kernel's VMCOREINFO never filled in
(initcall_blacklist=crash_save_vmcoreinfo_init), so that kvmfs must derive
it.  Then kvmfs's own vmcore, copied, is mounted again (the round trip).

With /dev/kvm: the kernel booted by kvmfs itself, stopped by `ctl stop` once
past its SMP setup, read live through vmcore.

What the tools show is checked against what lies outside kvmfs: QEMU's own
`info registers`, the guest's console, System.map, the -dbg vmlinux's own
value of a variable, and each tool against the others.

crash 8.0.2 (Debian 12) has two limits of its own, met on QEMU's dump read
directly as well: plain `bt` of an active task fails ("read of stack at
fffffe0000014000 failed": no #MC exception stack in this kernel), so
`bt -S <rsp>` is used; and `ps` lists only the active tasks of this kernel,
whose struct pid ends in a flexible array crash 8.0.2 sizes wrongly, so the
task list is read with `list task_struct.tasks`.

Run: /usr/bin/python3 -m pytest -v tests/integration/test_kernel_debug.py
"""
import hashlib
import json
import os
import re
import struct
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, require_guest, system_map_symbol

KDIR = ROOT / "build" / "debian-kernel"
KDUMP = ROOT / "build" / "kdump"
FETCH = ROOT / "tools" / "fetch-debian-kernel.sh"
QEMU_DUMP = ROOT / "tools" / "qemu-dump.py"
MKINITRAMFS = ROOT / "tools" / "make-initramfs.sh"
INITRAMFS = ROOT / "build" / "initramfs.cpio"
PYTHON = "/usr/bin/python3"  # Debian's, where python3-drgn is

START_KERNEL = 0xFFFFFFFF81000000  # _text without KASLR (System.map)
INITIAL_JIFFIES = (1 << 32) - 300 * 250  # -300 s at Debian's HZ=250: the vmlinux file's value
NOKASLR_APPEND = "console=ttyS0 nokaslr panic=-1 ignore_loglevel"
KASLR_APPEND = ("console=ttyS0 panic=-1 ignore_loglevel "
                "initcall_blacklist=crash_save_vmcoreinfo_init")
LIVE_APPEND = "console=ttyS0 earlyprintk=serial nokaslr ignore_loglevel"
LIVE_TIMEOUT = 900.0  # ring 0 is emulated on kvm_pvm hosts: minutes to get anywhere


# ---- fixtures: the kernel, the initramfs, QEMU's dumps (cached in build/) ----

# kernel and initramfs: conftest.py's session fixtures (fetched and made once per build tree).


class TcgDump:
    def __init__(self, core):
        self.core = core
        self.console = Path(f"{core}.console").read_text(errors="replace")
        self.info = json.loads(Path(f"{core}.json").read_text())
        regs = self.info["info_registers"]
        self.qemu_regs = {k: int(v, 16) for k, v in
                          re.findall(r"\b(R[A-Z0-9]{1,2}|CR[0-4]|EFER)\s*=([0-9a-f]+)", regs)}


def tcg_dump(kernel, initramfs, name, append):
    """QEMU's dump of the kernel booted to the initramfs, idle; made once per build tree."""
    core = KDUMP / f"{name}.core"
    # Made anew when what it is made of changed - by content, not by time: a fresh
    # clone or worktree has newer files with the same bytes, and remaking a cache
    # another tree reads pulls it from under that tree.
    made_of = hashlib.sha256(append.encode())
    for src in (kernel / "vmlinuz", initramfs, QEMU_DUMP):
        made_of.update(Path(src).read_bytes())
    stamp = Path(f"{core}.sources")
    fresh = core.exists() and Path(f"{core}.json").exists() and stamp.exists() and \
        stamp.read_text() == made_of.hexdigest()
    if not fresh:
        r = subprocess.run([PYTHON, str(QEMU_DUMP), "--idle", "--kernel", str(kernel / "vmlinuz"),
                            "--initrd", str(initramfs), "--append", append, str(core)],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        stamp.write_text(made_of.hexdigest())
    return TcgDump(core)


@pytest.fixture(scope="module")
def nokaslr_dump(kernel, initramfs):
    return tcg_dump(kernel, initramfs, "tcg-nokaslr", NOKASLR_APPEND)


@pytest.fixture(scope="module")
def kaslr_dump(kernel, initramfs):
    return tcg_dump(kernel, initramfs, "tcg-kaslr-derived", KASLR_APPEND)


# ---- what the core says about itself (read with struct, not with kvmfs) ----

def notes(core):
    """{name: [desc bytes]} of the core's PT_NOTE."""
    with open(core, "rb") as f:
        eh = f.read(64)
        phoff, = struct.unpack_from("<Q", eh, 0x20)
        phnum, = struct.unpack_from("<H", eh, 0x38)
        f.seek(phoff)
        ph = f.read(56 * phnum)
        out = {}
        for i in range(phnum):
            p_type, _, off, _, _, size, _, _ = struct.unpack_from("<IIQQQQQQ", ph, 56 * i)
            if p_type != 4:
                continue
            f.seek(off)
            data = f.read(size)
            pos = 0
            while pos + 12 <= len(data):
                nsz, dsz, _ = struct.unpack_from("<III", data, pos)
                name = data[pos + 12:pos + 12 + nsz].rstrip(b"\0").decode()
                d = pos + 12 + ((nsz + 3) & ~3)
                out.setdefault(name, []).append(data[d:d + dsz])
                pos = d + ((dsz + 3) & ~3)
        return out


def keyvals(text):
    return dict(l.split("=", 1) for l in text.splitlines() if "=" in l)


def vmcore_notes(k):
    n = notes(k.path("vmcore"))
    vmci = keyvals(n["VMCOREINFO"][0].decode()) if "VMCOREINFO" in n else {}
    return n, vmci, keyvals(n["KVMFS"][0].rstrip(b"\0").decode())


def last_kernel_line(console):
    """The last whole kernel line: one still being printed when the console
    was read is not yet a line (seen under nested KVM: "[    2.549598] Hu")."""
    whole = console[:console.rfind("\n") + 1]
    lines = [l.rstrip("\r") for l in whole.splitlines() if re.match(r"\[\s*\d+\.\d+\] ", l)]
    return lines[-1]


# ---- the three tools ----

def run_crash(core, cmds):
    """{command: output} of one crash session running cmds in order."""
    # A marker line before each command's output (an output may end without a newline).
    script = "".join(f"!echo\n!echo '=== {c}'\n{c}\n" for c in cmds) + "!echo\n!echo '=== end'\nq\n"
    r = subprocess.run(["crash", "-s", str(KDIR / "vmlinux-dbg"), str(core)], input=script,
                       capture_output=True, text=True, timeout=600)
    parts = re.split(r"^=== (.*)$", r.stdout, flags=re.M)
    out = {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}
    assert "end" in out, f"crash ended early ({r.returncode}):\n{r.stdout[-3000:]}{r.stderr}"
    return out


DRGN = r"""
import json, sys, drgn
from drgn.helpers.linux.percpu import per_cpu
from drgn.helpers.linux.pid import for_each_task
prog = drgn.Program()
prog.set_core_dump(sys.argv[1])
prog.load_debug_info([sys.argv[2]])
out = {
    "banner": prog["linux_banner"].string_().decode(),
    "jiffies_64": prog["jiffies_64"].value_(),
    "init_task_comm": prog["init_task"].comm.string_().decode(),
    "page_offset_base": prog["page_offset_base"].value_(),
    "init_top_pgt": prog.symbol("init_top_pgt").address,
    "text": prog.symbol("_text").address,
    "arch_task_struct_size": prog["arch_task_struct_size"].value_(),
    "tasks": [[t.pid.value_(), t.comm.string_().decode()] for t in for_each_task(prog)],
}
current = per_cpu(prog["current_task"], 0)  # the task on CPU 0
out["current"] = [current.value_(), current.pid.value_(), current.comm.string_().decode()]
out["rq_curr"] = per_cpu(prog["runqueues"], 0).curr.value_()  # the task crash takes for it
def pc(frame):  # an unwinder's last frame may have none
    try:
        return frame.pc
    except LookupError:
        return None
thread = prog.crashed_thread()
out["crashed_tid"] = thread.tid
out["frames"] = [[pc(f), f.name] for f in thread.stack_trace()]
print(json.dumps(out))
"""


def run_drgn(core):
    r = subprocess.run([PYTHON, "-c", DRGN, str(core), str(KDIR / "vmlinux-dbg")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def run_gdb(core, offset=0):
    """(jiffies_64, [frame function names]) as gdb shows them."""
    load = ["-ex", f"symbol-file -o {offset:#x} {KDIR / 'vmlinux-dbg'}"] if offset else \
        [str(KDIR / "vmlinux-dbg")]
    r = subprocess.run(["gdb", "-nx", "-batch", "-c", str(core)] + load +
                       ["-ex", "p jiffies_64", "-ex", "echo === bt\\n", "-ex", "bt"],
                       capture_output=True, text=True, timeout=600)
    m = re.search(r"^\$1 = (\d+)$", r.stdout, re.M)
    assert m and "=== bt" in r.stdout, r.stdout + r.stderr
    bt = r.stdout.split("=== bt", 1)[1]
    frames = re.findall(r"^#\d+\s+(?:0x[0-9a-f]+ in )?(\S+) \(", bt, re.M)
    return int(m.group(1)), frames


def crash_frames(bt):
    return re.findall(r"^\s*#\d+ \[[0-9a-f]+\] (\S+) at ", bt, re.M)


def drgn_names(d):
    return [name for _, name in d["frames"] if name]


def gdb_file_jiffies():
    """jiffies_64 as the vmlinux file holds it: what gdb shows when it reads no core."""
    r = subprocess.run(["gdb", "-nx", "-batch", str(KDIR / "vmlinux-dbg"), "-ex", "p jiffies_64"],
                       capture_output=True, text=True, timeout=600)
    return int(re.search(r"^\$1 = (\d+)$", r.stdout, re.M).group(1))


# ---- a fully booted kernel: QEMU's dump, mounted ----

def test_crash_drgn_gdb_on_a_dump(kvmfs, kernel, nokaslr_dump):
    qregs = nokaslr_dump.qemu_regs
    k = kvmfs("-dump", nokaslr_dump.core, accel=False)
    n, vmci, kv = vmcore_notes(k)
    # QEMU's dump has no VMCOREINFO; the kernel's own is found in its memory.
    assert "VMCOREINFO" not in notes(nokaslr_dump.core)
    assert kv["vmcoreinfo"] == "guest" and vmci["OSRELEASE"] == (kernel / "version").read_text().strip()
    assert vmci["KERNELOFFSET"] == "0" and vmci["NUMBER(phys_base)"] == "0"
    assert int(vmci["SYMBOL(swapper_pg_dir)"], 16) == system_map_symbol(KDIR / "System.map", "init_top_pgt")

    rsp = qregs["RSP"]
    c = run_crash(k.path("vmcore"), ["sys", "log", "ps", "p jiffies_64",
                                     "list task_struct.tasks -s task_struct.pid,comm -h init_task",
                                     f"bt -S {rsp:#x}"])
    d = run_drgn(k.path("vmcore"))
    gdb_jiffies, gdb_frames = run_gdb(k.path("vmcore"))

    release = (kernel / "version").read_text().strip()
    assert re.search(rf"^\s+RELEASE: {re.escape(release)}$", c["sys"], re.M)
    log = [l for l in c["log"].splitlines() if l.strip()]
    assert log[-1] == last_kernel_line(nokaslr_dump.console)
    # The idle task is the one running on the CPU (">"): QEMU saw it halted.
    assert re.search(r"^>\s+0\s+0\s+0\s+ffffffff[0-9a-f]+\s+RU .*\[swapper/0\]$", c["ps"], re.M)

    # jiffies_64: the same in the three tools, and the guest's, not the file's.
    crash_jiffies = int(re.search(r"jiffies_64 = (?:\$\d+ = )?(\d+)", c["p jiffies_64"]).group(1))
    assert crash_jiffies == d["jiffies_64"] == gdb_jiffies
    assert gdb_jiffies != gdb_file_jiffies() == INITIAL_JIFFIES

    # The banner the console printed; init_task; the task list of crash and of drgn.
    first = re.search(r"Linux version [^\r\n]*", nokaslr_dump.console).group(0)
    assert d["banner"].rstrip("\n") == first.rstrip()
    assert d["init_task_comm"] == "swapper/0"
    listed = {(int(p), comm) for p, comm in
              re.findall(r"^\s+pid = (\d+),\n\s+comm = \"([^\"\\]*)", c["list task_struct.tasks -s "
                                                                          "task_struct.pid,comm -h "
                                                                          "init_task"], re.M)}
    tasks = {(p, comm) for p, comm in d["tasks"]}
    assert (1, "init") in tasks and (2, "kthreadd") in tasks and len(tasks) > 20
    assert listed - {(0, "swapper/0")} == tasks

    # The stopped CPU: halted in the idle loop (QEMU: HLT=1), pid 0 in NT_PRSTATUS.
    assert "HLT=1" in nokaslr_dump.info["info_registers"]
    assert struct.unpack_from("<I", n["CORE"][0], 32)[0] == 0
    assert d["crashed_tid"] == 0
    assert d["frames"][0][0] == qregs["RIP"]
    names = drgn_names(d)
    assert {"do_idle", "cpu_startup_entry", "start_kernel"} <= set(names)
    # gdb unwinds the same frames (inlined ones too); crash the real ones among them.
    assert gdb_frames[:len(names)] == names
    frames = crash_frames(c[f"bt -S {rsp:#x}"])
    assert frames[-3:] == ["arch_call_rest_init", "start_kernel",
                           "secondary_startup_64_no_verify"]
    assert set(frames[1:-1]) <= set(names)


def test_kaslr_kernel_without_its_vmcoreinfo(kvmfs, kernel, kaslr_dump):
    """KASLR, and no VMCOREINFO in the guest: everything kvmfs derives must be right."""
    assert "blacklisting initcall crash_save_vmcoreinfo_init" in kaslr_dump.console
    k = kvmfs("-dump", kaslr_dump.core, accel=False)
    n, vmci, kv = vmcore_notes(k)
    assert kv["vmcoreinfo"] == "derived"
    offset = int(vmci["KERNELOFFSET"], 16)
    text = START_KERNEL + offset
    assert vmci["SYMBOL(_stext)"] == f"{text:x}" and kv["text"].startswith(f"{text:#x}@")
    text_pa = int(kv["text"].split("@")[1], 16)
    # _text's physical address is QEMU's too: its page walk through the dump's CR3.
    with open(k.path("vcpus", "0", "translate"), "r+") as f:
        f.write(hex(text))
        f.seek(0)
        assert int(re.search(r"^pa (0x[0-9a-f]+)", f.read(), re.M).group(1), 16) == text_pa

    c = run_crash(k.path("vmcore"), ["sys", "rd -64 phys_base", "rd -64 page_offset_base",
                                     "p jiffies_64"])
    d = run_drgn(k.path("vmcore"))
    gdb_jiffies, gdb_frames = run_gdb(k.path("vmcore"), offset)

    # The kernel's own variables, read through the derived note, say the same.
    phys_base = int(re.search(r":\s+([0-9a-f]{16})", c["rd -64 phys_base"]).group(1), 16)
    assert phys_base == int(vmci["NUMBER(phys_base)"]) & (2**64 - 1)
    assert phys_base == (text_pa - (text - 0xFFFFFFFF80000000)) & (2**64 - 1)
    page_offset = int(re.search(r":\s+([0-9a-f]{16})", c["rd -64 page_offset_base"]).group(1), 16)
    assert page_offset == d["page_offset_base"] == int(kv["page_offset"], 16)
    assert int(vmci["SYMBOL(swapper_pg_dir)"], 16) == d["init_top_pgt"] == \
        system_map_symbol(KDIR / "System.map", "init_top_pgt") + offset
    assert d["text"] == text
    release = (kernel / "version").read_text().strip()
    assert vmci["OSRELEASE"] == release
    assert re.search(rf"^\s+RELEASE: {re.escape(release)}$", c["sys"], re.M)
    assert d["banner"].startswith(f"Linux version {release} ")
    crash_jiffies = int(re.search(r"jiffies_64 = (?:\$\d+ = )?(\d+)", c["p jiffies_64"]).group(1))
    assert crash_jiffies == d["jiffies_64"] == gdb_jiffies != INITIAL_JIFFIES
    assert d["frames"][0][0] == kaslr_dump.qemu_regs["RIP"]
    assert gdb_frames[:len(drgn_names(d))] == drgn_names(d)


def test_round_trip_through_kvmfs_vmcore(kvmfs, kernel, nokaslr_dump, tmp_path):
    """kvmfs's own vmcore of a dump, copied and mounted again: the same guest."""
    a = kvmfs("-dump", nokaslr_dump.core, accel=False)
    copy = tmp_path / "guest.core"
    subprocess.run(["cp", "--sparse=always", a.path("vmcore"), copy], check=True)
    assert os.stat(copy).st_blocks * 512 < os.stat(copy).st_size  # holes stayed holes
    b = kvmfs("-dump", copy, accel=False)
    for f in ("regs", "sregs", "regs.json", "sregs.json"):
        assert Path(b.path("vcpus", "0", f)).read_bytes() == Path(a.path("vcpus", "0", f)).read_bytes()
    assert json.loads(Path(b.path("phys.json")).read_text())["size"] == \
        json.loads(Path(a.path("phys.json")).read_text())["size"]
    with open(a.path("phys"), "rb") as pa, open(b.path("phys"), "rb") as pb:
        for at in (0, 0x1000000, 0x2A00000, 0x1FF00000):
            pa.seek(at)
            pb.seek(at)
            assert pa.read(1 << 20) == pb.read(1 << 20), hex(at)
    _, vmci_a, _ = vmcore_notes(a)
    _, vmci_b, kv_b = vmcore_notes(b)
    assert kv_b["vmcoreinfo"] == "dump" and vmci_b == vmci_a
    da, db = run_drgn(a.path("vmcore")), run_drgn(b.path("vmcore"))
    assert db == da
    c = run_crash(b.path("vmcore"), ["sys"])
    assert f"RELEASE: {(kernel / 'version').read_text().strip()}" in c["sys"]


def test_dump_tree_is_qemus_guest(kvmfs, nokaslr_dump):
    """The tree over QEMU's dump: its files, its vCPU as QEMU saw it, its memory, read-only."""
    elffile = pytest.importorskip("elftools.elf.elffile")
    k = kvmfs("-dump", nokaslr_dump.core, accel=False)
    names = set(os.listdir(k.mnt))
    assert names == {"ctl", "phys", "phys.json", "vmcore", "vcpus", "linux"}
    assert Path(k.path("ctl")).read_text() == f"dump {nokaslr_dump.core}\n"
    with pytest.raises(OSError) as e:
        Path(k.path("ctl")).write_text("cont\n")
    assert e.value.errno == 30  # EROFS
    with pytest.raises(OSError):
        open(k.path("phys"), "r+b")
    # Registers as QEMU's `info registers` printed them.
    regs = Path(k.path("vcpus", "0", "regs")).read_text()
    sregs = Path(k.path("vcpus", "0", "sregs")).read_text()
    q = nokaslr_dump.qemu_regs
    for r in ("RAX", "RBX", "RCX", "RDX", "RSI", "RDI", "RBP", "RSP", "RIP"):
        assert re.search(rf"\b{r}={q[r]:016x}\b", regs), r
    for r in ("CR0", "CR3", "CR4"):
        assert int(re.search(rf"\b{r}=([0-9a-f]+)", sregs).group(1), 16) == q[r], r
    assert int(re.search(r"\bEFER=([0-9a-f]+)", sregs).group(1), 16) == q["EFER"]
    # Memory: the PT_LOADs of QEMU's core (pyelftools), the banner where System.map says.
    with open(nokaslr_dump.core, "rb") as f:
        loads = [(s.header.p_paddr, s.header.p_memsz) for s in elffile.ELFFile(f).iter_segments()
                 if s.header.p_type == "PT_LOAD"]
    phys = json.loads(Path(k.path("phys.json")).read_text())
    assert [(r["start"], r["size"]) for r in phys["ranges"]] == loads
    banner = system_map_symbol(KDIR / "System.map", "linux_banner")
    with open(k.path("vcpus", "0", "translate"), "r+") as f:
        f.write(hex(banner))
        f.seek(0)
        pa = int(re.search(r"^pa (0x[0-9a-f]+)", f.read(), re.M).group(1), 16)
    assert pa == banner - 0xFFFFFFFF80000000
    with open(k.path("phys"), "rb") as f:
        f.seek(pa)
        assert f.read(14) == b"Linux version "


# ---- the guest kvmfs runs itself ----

def live_console(k):
    try:
        return Path(k.path("console")).read_text(errors="replace")
    except OSError:
        return ""


def translate(k, va):
    """The physical address vcpus/0/translate gives for va (the VM stopped)."""
    with open(k.path("vcpus", "0", "translate"), "r+") as f:
        f.write(hex(va))
        f.seek(0)
        walk = f.read()
    m = re.search(r"^pa (0x[0-9a-f]+)", walk, re.M)
    assert m, walk
    return int(m.group(1), 16)


def phys_u64(k, pa):
    with open(k.path("phys"), "rb") as f:
        f.seek(pa)
        return struct.unpack("<Q", f.read(8))[0]


@pytest.mark.guest
def test_live_guest_with_crash_drgn_gdb(kvmfs, kernel, initramfs):
    """Debian's kernel under kvmfs, stopped where it is, read live through vmcore.

    The kernel must get past its SMP setup (or to user space) running, and
    the VM must stop because the test said `stop` - nowhere else: a kernel
    that dies on the way (kvmfs's "the VM is stopped", a panic, a triple
    fault) fails the test, with kvmfs's diagnostic."""
    require_guest("a live guest needs KVM")
    k = kvmfs("-M", "pc", "-m", "1G", "-kernel", kernel / "vmlinux", "-initrd", initramfs,
              "-append", LIVE_APPEND)
    # Past the FPU and SMP setup, user space perhaps: the kernel then has a task on the
    # CPU (crash's `ps`, drgn's current_task) and a full task_struct (crash's sizes).
    k.wait_guest(lambda: "kvmfs-initramfs: ready" in live_console(k)
                 or "smp: Brought up" in live_console(k),
                 "Linux past its SMP setup", LIVE_TIMEOUT)
    # crash 8.0.2 takes a CPU's task from its runqueue's curr, drgn from current_task;
    # inside a context switch they differ and crash's bt has no task whose stack RSP is
    # on.  kvmfs stopped a running guest: let it run on (to its next timer tick, seen in
    # jiffies_64) and stop it elsewhere.
    jiffies_pa = None
    for _ in range(20):
        Path(k.path("ctl")).write_text("stop\n")
        state = Path(k.path("ctl")).read_text()
        assert state == "paused\n", f"not the stop asked for: {state}{k.stderr()}"
        d = run_drgn(k.path("vmcore"))
        if d["current"][0] == d["rq_curr"]:
            break
        if jiffies_pa is None:
            jiffies_pa = translate(k, system_map_symbol(KDIR / "System.map", "jiffies_64"))
        jiffies = phys_u64(k, jiffies_pa)
        Path(k.path("ctl")).write_text("cont\n")
        k.wait_guest(lambda: phys_u64(k, jiffies_pa) != jiffies, "a timer tick after cont")
    assert d["current"][0] == d["rq_curr"], "stopped inside a context switch 20 times"
    console = live_console(k)
    regs = Path(k.path("vcpus", "0", "regs")).read_text()
    rip = int(re.search(r"RIP=([0-9a-f]{16})", regs).group(1), 16)
    rsp = int(re.search(r"RSP=([0-9a-f]{16})", regs).group(1), 16)
    in_kernel = rip >> 63 == 1

    n, vmci, kv = vmcore_notes(k)
    assert kv["kernel"] == (kernel / "version").read_text().strip()
    assert kv["vmcoreinfo"] in ("guest", "derived")
    assert vmci["KERNELOFFSET"] == "0"
    assert int(vmci["SYMBOL(swapper_pg_dir)"], 16) == system_map_symbol(KDIR / "System.map", "init_top_pgt")
    prstatus_rip, = struct.unpack_from("<Q", n["CORE"][0], 112 + 16 * 8)
    assert prstatus_rip == rip  # exact: the VM is stopped

    gdb_jiffies, gdb_frames = run_gdb(k.path("vmcore"))
    first = re.search(r"Linux version [^\r\n]*", console).group(0)
    assert d["banner"].rstrip("\n") == first.rstrip()
    assert d["init_task_comm"] == "swapper/0"
    assert gdb_jiffies == d["jiffies_64"]
    assert d["frames"][0][0] == rip
    if in_kernel:
        # Both name the function RIP is in.  How far each unwinds from an arbitrary
        # stop differs (drgn's ORC stops at an assembler thunk where gdb goes on).
        assert gdb_frames[0] == drgn_names(d)[0], (drgn_names(d), gdb_frames)

    # crash sizes task_struct by arch_task_struct_size, which the kernel sets in its
    # FPU init, long before SMP.
    assert d["arch_task_struct_size"] > 0
    # The task CPU 0 runs (drgn reads it from current_task): crash 8.0.2 may not take it
    # for the CPU's active task (see above), so bt is told whose stack it is.
    task, pid, comm = d["current"]
    bt = f"bt -S {rsp:#x} {task:#x}"
    cmds = ["log", "rd -64 jiffies_64", "rd -a linux_banner", "sys", "ps"] + \
        ([bt] if in_kernel else [])
    c = run_crash(k.path("vmcore"), cmds)
    # The console may be a line behind the log at the instant the VM stopped.
    log = [l for l in c["log"].splitlines() if l.strip()]
    assert last_kernel_line(console) in log[-3:]
    assert int(c["rd -64 jiffies_64"].split()[1], 16) == d["jiffies_64"]
    assert "Linux version " in c["rd -a linux_banner"]
    assert f"RELEASE: {kv['kernel']}" in c["sys"]
    if in_kernel:
        assert re.search(rf"^PID: {pid}\s+TASK: {task:x}\s.*\"{re.escape(comm)}\"$", c[bt],
                         re.M), c[bt] + c["ps"] + c["sys"]
        assert crash_frames(c[bt]), c[bt]
