"""MNT/linux/: a Linux guest as files, from its own kallsyms and BTF, checked against drgn.

QEMU TCG's dumps of Debian's cloud kernel booted to the busybox initramfs
(build/kdump: made by test_kernel_debug.py's fixtures, here too if missing),
one without KASLR and one with it and no VMCOREINFO, are each mounted once
with `kvmfs -dump` for every test of this file.  What kvmfs shows is held
against references kvmfs did not compute:

  - drgn 0.0.22 with the -dbg vmlinux (DWARF, not BTF) on the mount's vmcore:
    for_each_task (pid, tgid, comm, ppid, state), the module list, every
    user task's VMAs (a walk of mm_mt written here in Python over DWARF
    types, paths from drgn's own d_path, and the kernel's own map_count),
    its cmdline (drgn's cmdline()) and its memory (access_remote_vm, drgn's
    own page walk);
  - System.map for kallsyms (1000 symbols sampled, one shared offset);
  - `objcopy --only-section=.BTF` of the vmlinux for btf;
  - the console QEMU logged for dmesg.

The same kernel booted with vsyscall=xonly (its own dump, made in a temporary
directory unless build/kdump has tcg-vsyscall-xonly.core) has the gate area in
every process's maps, as drgn evaluates get_gate_vma() over DWARF.

A copy of the no-KASLR dump with its .BTF bytes zeroed (in the test's own
temporary directory) stands for a kernel built without BTF.

Run: /usr/bin/python3 -m pytest -v tests/integration/test_linux_files.py
"""
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import types
from pathlib import Path

import pytest

from conftest import (KVMFS, READY, ROOT, START_TIMEOUT, STOP_TIMEOUT, _spawn, is_mounted,
                      lazy_unmount, require_fuse, require_guest, wait_for)

import sys
sys.path.insert(0, str(ROOT / "tools"))
from drgn_maple import MT_VMAS  # noqa: E402  tools/drgn_maple.py

KDIR = ROOT / "build" / "debian-kernel"
KDUMP = ROOT / "build" / "kdump"
PYTHON = "/usr/bin/python3"  # Debian's, where python3-drgn is
START_KERNEL_MAP = 0xFFFFFFFF80000000

DRGN = r"""
import json, sys, drgn
from drgn import Object, cast
from drgn.helpers.linux.fs import d_path
from drgn.helpers.linux.list import list_for_each_entry
from drgn.helpers.linux.mm import access_remote_vm, cmdline
from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.sched import task_state_to_char

prog = drgn.Program()
prog.set_core_dump(sys.argv[1])
prog.load_debug_info([sys.argv[2]])

""" + MT_VMAS + r"""

special = prog["special_mapping_vmops"].address_
def vma_name(mm, v):
    if v.vm_file:
        return d_path(v.vm_file.f_path.address_of_()).decode()
    if v.vm_ops.value_() == special:
        return cast("struct vm_special_mapping *", v.vm_private_data).name.string_().decode()
    if v.vm_start <= mm.brk and v.vm_end >= mm.start_brk:
        return "[heap]"
    if v.vm_start <= mm.start_stack and v.vm_end >= mm.start_stack:
        return "[stack]"
    return ""


def perms_of(f):
    return ("r" if f & 1 else "-") + ("w" if f & 2 else "-") + ("x" if f & 4 else "-") + \
        ("s" if f & 0x80 else "p")


# get_gate_vma() (arch/x86/entry/vsyscall/vsyscall_64.c), evaluated here over DWARF:
# vsyscall_mode is not NONE and, with CONFIG_COMPAT (task_struct.compat_robust_list
# exists only then), mm->context.flags has MM_CONTEXT_HAS_VSYSCALL (bit 1).
mode = prog["vsyscall_mode"]
none = dict((e.name, e.value) for e in mode.type_.enumerators)["NONE"]
compat = prog.type("struct task_struct").has_member("compat_robust_list")
gate_vma = prog["gate_vma"]
def gate(mm):
    if mode.value_() == none or (compat and not mm.context.flags.value_() & 2):
        return None
    return [gate_vma.vm_start.value_(), gate_vma.vm_end.value_(),
            perms_of(gate_vma.vm_flags.value_()), 0, 0, "[vsyscall]"]


out = {"tasks": [], "maps": {}, "map_count": {}, "mem": {}, "cmdline": {}, "modules": [],
       "gate": {}, "vsyscall_mode": mode.format_(type_name=False)}
for t in for_each_task(prog):
    pid = t.pid.value_()
    out["tasks"].append([pid, t.tgid.value_(), t.comm.string_().decode(),
                         t.real_parent.tgid.value_(), task_state_to_char(t)])
    mm = t.mm
    if not mm or pid != t.tgid.value_():
        continue
    maps = []
    for v in mt_vmas(mm):
        perms = perms_of(v.vm_flags.value_())
        ino = v.vm_file.f_inode.i_ino.value_() if v.vm_file else 0
        off = v.vm_pgoff.value_() << 12 if v.vm_file else 0
        maps.append([v.vm_start.value_(), v.vm_end.value_(), perms, off, ino, vma_name(mm, v)])
    g = gate(mm)
    out["gate"][pid] = g is not None
    out["maps"][pid] = maps + ([g] if g else [])
    out["map_count"][pid] = mm.map_count.value_()
    out["cmdline"][pid] = [a.decode(errors="replace") for a in cmdline(t)]
    # A page of its stack (where the stack pointer was left) and of its data.
    reads = {}
    for name, addr in (("stack", mm.start_stack.value_() & ~0xfff),
                       ("brk", mm.start_brk.value_()),
                       ("data", mm.end_data.value_() & ~0xfff)):
        try:
            reads[name] = [addr, access_remote_vm(mm, addr, 4096).hex()]
        except drgn.FaultError:
            pass
    out["mem"][pid] = reads
for m in list_for_each_entry("struct module", prog["modules"].address_of_(), "list"):
    out["modules"].append(m.name.string_().decode())
out["text"] = prog.symbol("_text").address
print(json.dumps(out))
"""


class Mount:
    """One kvmfs -dump of one core, for every test of the module."""

    def __init__(self, core, tmp, args=()):
        self.core = core
        self.mnt = tmp / "mnt"
        self.mnt.mkdir()
        self.err = tmp / "kvmfs.err"
        self.proc = _spawn(["-dump", core] + list(args), self.mnt, tmp / "kvmfs.out", self.err, False, KVMFS)
        up = wait_for(lambda: self.proc.poll() is not None or
                      (READY in self.stderr() and is_mounted(self.mnt)), START_TIMEOUT)
        if not up or self.proc.poll() is not None:
            self.stop()
            pytest.fail(f"kvmfs -dump {core} did not mount:\n{self.stderr()}")

    def stderr(self):
        return self.err.read_text(errors="replace") if self.err.exists() else ""

    def path(self, *parts):
        return self.mnt.joinpath(*[str(p) for p in parts])

    def text(self, *parts):
        return self.path(*parts).read_text(errors="surrogateescape")

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)  # only the process we started
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=STOP_TIMEOUT)
        lazy_unmount(self.mnt)


def need_dump(name):
    """QEMU's dump `name`, made (and cached in build/kdump) as test_kernel_debug.py makes it."""
    from conftest import ensure_initramfs, ensure_kernel
    from test_kernel_debug import KASLR_APPEND, NOKASLR_APPEND, tcg_dump
    core = KDUMP / f"{name}.core"
    if not core.exists():
        tcg_dump(ensure_kernel(), ensure_initramfs(), name,
                 NOKASLR_APPEND if "nokaslr" in name else KASLR_APPEND)
    ensure_kernel()
    return core


def run_drgn(vmcore):
    r = subprocess.run([PYTHON, "-c", DRGN, str(vmcore), str(KDIR / "vmlinux-dbg")],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    d = json.loads(r.stdout)
    for k in ("maps", "map_count", "mem", "cmdline", "gate"):
        d[k] = {int(p): v for p, v in d[k].items()}
    return d


class Guest:
    def __init__(self, name, core, mount):
        self.name = name
        self.console = Path(f"{core}.console").read_text(errors="replace")
        self.m = mount
        self.drgn = run_drgn(mount.path("vmcore"))


def _guest(name, tmp_path_factory):
    require_fuse()
    core = need_dump(name)
    m = Mount(core, tmp_path_factory.mktemp(name))
    try:
        yield Guest(name, core, m)
    finally:
        m.stop()


@pytest.fixture(scope="module", params=["tcg-nokaslr", "tcg-kaslr-derived"])
def guest(request, tmp_path_factory):
    yield from _guest(request.param, tmp_path_factory)


def system_map():
    syms, seen = {}, {}
    for line in (KDIR / "System.map").read_text().splitlines():
        addr, typ, name = line.split()
        seen[name] = seen.get(name, 0) + 1
        syms[name] = int(addr, 16)
    return {n: a for n, a in syms.items() if seen[n] == 1}


def our_tasks(g):
    """(pid, tgid, comm, ppid, state) of every task under tasks/*/task/*, from status."""
    out = []
    for proc in os.listdir(g.m.path("linux", "tasks")):
        for tid in os.listdir(g.m.path("linux", "tasks", proc, "task")):
            st = dict(l.split(":\t", 1) for l in
                      g.m.text("linux", "tasks", proc, "task", tid, "status").splitlines())
            comm = g.m.text("linux", "tasks", proc, "task", tid, "comm")
            assert comm == st["Name"] + "\n"
            assert st["Tgid"] == proc and st["Pid"] == tid
            out.append([int(tid), int(proc), st["Name"], int(st["PPid"]), st["State"][0]])
    return out


# ---- the tests ----

def test_tree(guest):
    names = set(os.listdir(guest.m.path("linux")))
    assert names == {"version", "kallsyms", "btf", "dmesg", "modules", "modules.json",
                     "tasks", "tasks.json", "errors"}
    version = guest.m.text("linux", "version")
    first = re.search(r"Linux version [^\r\n]*", guest.console).group(0)
    assert version == first.rstrip() + "\n"
    assert version.startswith(f"Linux version {(KDIR / 'version').read_text().strip()} (")


def test_tasks_equal_drgn(guest):
    drgn = sorted([t for t in guest.drgn["tasks"] if t[0] != 0])
    ours = sorted(our_tasks(guest))
    assert len(drgn) > 20 and [1, 1, "init", 0, "S"] in drgn
    assert ours == drgn
    # tasks.json says the same, and lists every task once.
    js = json.loads(guest.m.text("linux", "tasks.json"))
    assert sorted([t["pid"], t["tgid"], t["comm"], t["ppid"], t["state"]] for t in js) == drgn
    # Kernel threads have no mm: an empty cmdline, no maps, no mem.
    kthreadd = guest.m.text("linux", "tasks", 2, "status")
    assert "Kthread:\t1" in kthreadd and "VmSize" not in kthreadd
    assert guest.m.text("linux", "tasks", 2, "maps") == ""
    assert guest.m.path("linux", "tasks", 2, "cmdline").read_bytes() == b""
    with open(guest.m.path("linux", "tasks", 2, "mem"), "rb") as f:
        f.seek(0x400000)
        assert f.read(4096) == b""


def test_tasks_are_looked_up_not_listed_once(guest):
    """tasks/ is derived when asked: listed in pid order, processes only (a thread is under
    its process's task/), and a pid that is no task's is ENOENT."""
    tasks = guest.m.path("linux", "tasks")
    listing = os.listdir(tasks)
    assert listing == sorted(listing, key=int) and "0" not in listing
    leaders = sorted(str(t[0]) for t in guest.drgn["tasks"] if t[0] and t[0] == t[1])
    assert sorted(listing, key=int) == sorted(leaders, key=int)
    for name in ("99999", "01", "+1", "0", "1x"):
        assert not (tasks / name).exists(), name
        with pytest.raises(FileNotFoundError):
            (tasks / name / "status").read_text()
    assert sorted(os.listdir(tasks / "1")) == ["cmdline", "comm", "maps", "maps.json", "mem",
                                               "status", "task"]
    assert os.listdir(tasks / "1" / "task") == ["1"]
    assert sorted(os.listdir(tasks / "1" / "task" / "1")) == ["comm", "status"]
    assert not (tasks / "1" / "task" / "2").exists()  # kthreadd is no thread of init
    assert not (tasks / "1" / "nothing").exists()


@pytest.mark.guest
def test_linux_appears_in_a_running_guest(kvmfs):
    """An own KVM guest: linux/ comes once its kernel runs, and tasks/ follows it (the
    initramfs's marker process appears).  Needs /dev/kvm: not run on a host without."""
    require_guest("booting Debian's kernel needs KVM")
    initramfs = ROOT / "build" / "initramfs.cpio"
    if not initramfs.exists():
        pytest.skip("build/initramfs.cpio missing (tools/make-initramfs.sh)")
    k = kvmfs("-M", "pc", "-m", "1G", "-kernel", KDIR / "vmlinux", "-initrd", initramfs,
              "-append", "console=ttyS0 nokaslr")
    k.wait_guest(lambda: os.path.exists(k.path("linux", "tasks", "2", "comm")),
                 "linux/tasks/2", 900)
    assert Path(k.path("linux", "tasks", "2", "comm")).read_text() == "kthreadd\n"
    marker = re.compile(r"kvmfs-initramfs: marker pid (\d+) ")
    console = lambda: Path(k.path("console")).read_text(errors="replace")  # noqa: E731
    k.wait_guest(lambda: marker.search(console()), "the marker line", 3600)
    pid = marker.search(console()).group(1)
    assert Path(k.path("linux", "tasks", pid, "comm")).read_text() == "sh\n"


def user_pids(g):
    return sorted(g.drgn["maps"])


def check_maps(g):
    pids = user_pids(g)
    # init and the shell, both busybox: its text, data, heap, stack, vvar, vdso.
    assert len(pids) >= 2
    for pid in pids:
        ours = json.loads(g.m.text("linux", "tasks", pid, "maps.json"))
        got = [[v["start"], v["end"], v["perms"], v["offset"], v["inode"], v["path"]] for v in ours]
        assert got == g.drgn["maps"][pid], pid
        # map_count counts the mm's VMAs: the gate area, last, is none of them.
        assert len(got) == g.drgn["map_count"][pid] + g.drgn["gate"][pid]
        paths = [v[5] for v in got]
        assert "/bin/busybox" in paths and "[stack]" in paths and "[vdso]" in paths
        # The text form: /proc/PID/maps's columns, the name from column 74.
        lines = g.m.text("linux", "tasks", pid, "maps").splitlines()
        assert len(lines) == len(got)
        for line, v in zip(lines, ours):
            head = (f"{v['start']:08x}-{v['end']:08x} {v['perms']} {v['offset']:08x} "
                    f"{v['dev']} {v['inode']} ")
            assert line.startswith(head), (line, head)
            if v["path"]:
                assert line[73:] == v["path"] and line[len(head):73].strip() == ""
            else:
                assert line == head


def test_maps_equal_drgn(guest):
    check_maps(guest)
    # Debian's kernel is built with LEGACY_VSYSCALL_NONE: no gate area unless booted with
    # vsyscall=.
    assert guest.drgn["vsyscall_mode"] == "NONE"
    assert not any(guest.drgn["gate"].values())


# ---- the vsyscall page ----

VSYSCALL_DUMP = "tcg-vsyscall-xonly"
VSYSCALL_APPEND = "console=ttyS0 nokaslr panic=-1 ignore_loglevel vsyscall=xonly"


@pytest.fixture(scope="module")
def vsyscall_guest(tmp_path_factory):
    """The kernel booted with vsyscall=xonly: build/kdump's copy if there is one (nothing here
    writes it), else a dump made now in a temporary directory (a TCG boot, a minute or two)."""
    require_fuse()
    need_dump("tcg-nokaslr")
    core = KDUMP / f"{VSYSCALL_DUMP}.core"
    tmp = tmp_path_factory.mktemp("vsyscall")
    if not core.exists():
        initramfs = ROOT / "build" / "initramfs.cpio"
        if not initramfs.exists() or not shutil.which("qemu-system-x86_64"):
            pytest.skip("no build/initramfs.cpio or qemu-system-x86_64 to make a vsyscall dump")
        core = tmp / f"{VSYSCALL_DUMP}.core"
        r = subprocess.run([PYTHON, str(ROOT / "tools" / "qemu-dump.py"), "--idle",
                            "--kernel", str(KDIR / "vmlinuz"), "--initrd", str(initramfs),
                            "--append", VSYSCALL_APPEND, str(core)],
                           capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, r.stderr[-3000:]
    m = Mount(core, tmp)
    try:
        yield Guest(VSYSCALL_DUMP, core, m)
    finally:
        m.stop()
        if core.parent == tmp:
            core.unlink()


def test_maps_vsyscall_equal_drgn(vsyscall_guest):
    """[vsyscall] last in every process's maps, as get_gate_vma() decides and /proc prints it."""
    g = vsyscall_guest
    assert g.drgn["vsyscall_mode"] == "XONLY"
    assert user_pids(g) and all(g.drgn["gate"][pid] for pid in user_pids(g))
    check_maps(g)
    for pid in user_pids(g):
        assert g.m.text("linux", "tasks", pid, "maps").splitlines()[-1] == (
            "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0"
            + " " * 18 + "[vsyscall]")
    assert g.m.text("linux", "tasks", 2, "maps") == ""  # a kernel thread: no mm, no gate


def test_mem_and_cmdline_equal_drgn(guest):
    for pid in user_pids(guest):
        want = guest.drgn["cmdline"][pid]
        raw = guest.m.path("linux", "tasks", pid, "cmdline").read_bytes()
        assert raw.split(b"\0")[:-1] == [a.encode() for a in want]
        reads = guest.drgn["mem"][pid]
        assert "stack" in reads and "data" in reads
        with open(guest.m.path("linux", "tasks", pid, "mem"), "rb") as f:
            for what, (addr, data) in reads.items():
                f.seek(addr)
                assert f.read(4096) == bytes.fromhex(data), (pid, what, hex(addr))
            # Unmapped pages are holes: the first data is busybox's ELF header at 4 MiB.
            assert os.lseek(f.fileno(), 0, os.SEEK_DATA) == 0x400000
            f.seek(0x400000)
            assert f.read(4) == b"\x7fELF"
            assert os.lseek(f.fileno(), 0x400000, os.SEEK_HOLE) > 0x400000


def test_dmesg_has_every_console_line(guest):
    dmesg = guest.m.text("linux", "dmesg").splitlines()
    console = [l.rstrip("\r") for l in guest.console[:guest.console.rfind("\n") + 1].splitlines()]
    kernel = [l for l in console if re.match(r"\[\s*\d+\.\d+\] ", l)]
    assert len(kernel) > 200
    at = 0
    for line in kernel:
        assert line in dmesg[at:], f"console line not in dmesg after line {at}: {line!r}"
        at = dmesg.index(line, at) + 1
    assert all(re.match(r"\[\s*\d+\.\d{6}\] ", l) for l in dmesg)


def test_kallsyms_equal_system_map(guest):
    lines = guest.m.text("linux", "kallsyms").splitlines()
    assert len(lines) > 50000
    ours = {}
    for l in lines:
        m = re.fullmatch(r"([0-9a-f]{16}) ([A-Za-z?]) (\S+)", l)
        assert m, l
        ours.setdefault(m.group(3), int(m.group(1), 16))
    sm = system_map()
    offset = ours["_text"] - sm["_text"]
    # The no-KASLR kernel sits where it was linked; the other where drgn, from the vmcore, puts it.
    assert (offset == 0) == (guest.name == "tcg-nokaslr")
    assert ours["_text"] == guest.drgn["text"]
    # Per-CPU symbols are offsets, not addresses: left out of the comparison.
    names = sorted(n for n in sm if n in ours and sm[n] >= START_KERNEL_MAP)
    sample = names[::max(1, len(names) // 1000)][:1000]
    assert len(sample) == 1000
    wrong = [(n, hex(ours[n]), hex(sm[n] + offset)) for n in sample if ours[n] != sm[n] + offset]
    assert not wrong, wrong[:10]


def test_btf_is_the_vmlinux_section(guest, tmp_path):
    ref = tmp_path / "btf"
    subprocess.run(["objcopy", "-O", "binary", "--only-section=.BTF", str(KDIR / "vmlinux"),
                    str(ref)], check=True)
    data = guest.m.path("linux", "btf").read_bytes()
    assert data[:2] == b"\x9f\xeb" and len(data) > 1 << 20
    assert data == ref.read_bytes()


def test_modules_equal_drgn(guest):
    # The busybox initramfs loads none: both lists are empty, and say so alike.
    assert guest.drgn["modules"] == []
    assert guest.m.text("linux", "modules") == ""
    assert json.loads(guest.m.text("linux", "modules.json")) == []


def test_errors_after_reading_everything(guest):
    """Every file of a consistent (stopped) kernel reads without a walk giving up."""
    for root, dirs, files in os.walk(guest.m.path("linux")):
        for f in files:
            if f != "mem":
                Path(root, f).read_bytes()
    assert guest.m.text("linux", "errors") == "unreadable 0\nloop 0\ninvalid 0\n"


# ---- a kernel without BTF ----

def elf_loads(core):
    with open(core, "rb") as f:
        eh = f.read(64)
        phoff, = struct.unpack_from("<Q", eh, 0x20)
        phnum, = struct.unpack_from("<H", eh, 0x38)
        f.seek(phoff)
        ph = f.read(56 * phnum)
    for i in range(phnum):
        p_type, _, off, _, paddr, filesz, _, _ = struct.unpack_from("<IIQQQQQQ", ph, 56 * i)
        if p_type == 1:
            yield paddr, off, filesz


def sparse_copy(src, dst):
    """A copy that skips zero pages (the dump is mostly free memory)."""
    zero = bytes(1 << 20)
    with open(src, "rb") as i, open(dst, "wb") as o:
        while True:
            chunk = i.read(1 << 20)
            if not chunk:
                break
            if chunk == zero[:len(chunk)]:
                o.seek(len(chunk), os.SEEK_CUR)
            else:
                o.write(chunk)
        o.truncate()


def zero_btf_copy(core, copy, sm):
    """A sparse copy of the no-KASLR dump with the .BTF section's bytes zeroed."""
    # No KASLR, phys_base 0: the image lies at its link address less __START_KERNEL_map.
    start, stop = sm["__start_BTF"] - START_KERNEL_MAP, sm["__stop_BTF"] - START_KERNEL_MAP
    sparse_copy(core, copy)
    with open(copy, "r+b") as f:
        for paddr, off, filesz in elf_loads(copy):
            lo, hi = max(start, paddr), min(stop, paddr + filesz)
            if lo < hi:
                f.seek(off + lo - paddr)
                f.write(bytes(hi - lo))


def full_map():
    return {l.split()[2]: int(l.split()[0], 16) for l in
            (KDIR / "System.map").read_text().splitlines()}


def linux_lines(m):
    return [l for l in m.stderr().splitlines() if "linux/" in l]


def test_kernel_without_btf(tmp_path):
    require_fuse()
    core = need_dump("tcg-nokaslr")
    sm = full_map()
    copy = tmp_path / "nobtf.core"
    try:
        zero_btf_copy(core, copy, sm)
        m = Mount(copy, tmp_path)
        try:
            missing = (f"the guest kernel has no BTF at __start_BTF {sm['__start_BTF']:#x} "
                       f"(no 0xeb9f magic there): give -vmlinux FILE, the kernel's vmlinux "
                       f"with a .BTF section")
            assert linux_lines(m) == [
                f"kvmfs: linux/: {missing}: only version, kallsyms and errors are shown"]
            assert sorted(os.listdir(m.path("linux"))) == ["errors", "kallsyms", "version"]
            assert m.text("linux", "errors").splitlines()[-1] == (
                f"missing {missing}: no btf, dmesg, modules or tasks")
            # What needs no types is still right.
            assert m.text("linux", "version").startswith("Linux version ")
            ks = dict((l.split()[2], int(l.split()[0], 16))
                      for l in m.text("linux", "kallsyms").splitlines())
            assert ks["init_task"] == sm["init_task"]
        finally:
            m.stop()
    finally:
        copy.unlink(missing_ok=True)


def test_vmlinux_gives_the_types(tmp_path):
    """-vmlinux: the same kernel without BTF in memory, its types from the vmlinux's .BTF:
    tasks/ equal drgn's again, btf is the file's section."""
    require_fuse()
    core = need_dump("tcg-nokaslr")
    sections = subprocess.run(["readelf", "-SW", str(KDIR / "vmlinux")], capture_output=True,
                              text=True, check=True).stdout
    assert " .BTF " in sections  # Debian's vmlinux has it: given as it is
    copy = tmp_path / "nobtf.core"
    try:
        zero_btf_copy(core, copy, full_map())
        m = Mount(copy, tmp_path, ["-vmlinux", KDIR / "vmlinux"])
        try:
            assert linux_lines(m) == []
            assert {"btf", "dmesg", "tasks", "tasks.json"} <= set(os.listdir(m.path("linux")))
            g = types.SimpleNamespace(m=m, drgn=run_drgn(m.path("vmcore")))
            drgn = sorted([t for t in g.drgn["tasks"] if t[0] != 0])
            assert len(drgn) > 20 and sorted(our_tasks(g)) == drgn
            for pid in user_pids(g):
                ours = json.loads(m.text("linux", "tasks", pid, "maps.json"))
                assert [[v["start"], v["end"], v["perms"], v["offset"], v["inode"], v["path"]]
                        for v in ours] == g.drgn["maps"][pid]
            ref = tmp_path / "btf"
            subprocess.run(["objcopy", "-O", "binary", "--only-section=.BTF",
                            str(KDIR / "vmlinux"), str(ref)], check=True)
            assert m.path("linux", "btf").read_bytes() == ref.read_bytes()
            assert m.text("linux", "errors") == "unreadable 0\nloop 0\ninvalid 0\n"
        finally:
            m.stop()
    finally:
        copy.unlink(missing_ok=True)


def test_vmlinux_and_system_map_refused_when_unusable(tmp_path):
    """A -vmlinux without .BTF (DWARF alone, or nothing) or a -system-map that is none: one
    line, exit 1, nothing mounted."""
    core = need_dump("tcg-nokaslr")
    src = tmp_path / "x.c"
    src.write_text("int x;\n")
    dwarf = tmp_path / "dwarf.o"
    subprocess.run(["cc", "-g", "-c", str(src), "-o", str(dwarf)], check=True)
    (tmp_path / "mnt").mkdir()
    for args, line in (
            (["-vmlinux", dwarf], f"kvmfs: -vmlinux {dwarf}: no .BTF section, only DWARF, "
             "which kvmfs does not read (unsupported: add BTF with pahole -J, or give a "
             "vmlinux built with CONFIG_DEBUG_INFO_BTF)"),
            (["-vmlinux", KDIR / "System.map"], f"kvmfs: -vmlinux {KDIR / 'System.map'}: not "
             "an x86-64 ELF file (give the kernel's vmlinux)"),
            (["-system-map", KDIR / "version"], f"kvmfs: -system-map {KDIR / 'version'}: not "
             "a System.map (no 'ADDRESS T _text' line)")):
        r = subprocess.run([str(KVMFS), "-dump", str(core)] + [str(a) for a in args]
                           + [str(tmp_path / "mnt")], capture_output=True, text=True, timeout=60)
        assert r.returncode == 1, r
        assert r.stderr.splitlines()[0] == line
        assert not is_mounted(tmp_path / "mnt")


def test_system_map_gives_the_symbols(tmp_path):
    """The KASLR dump with its kallsyms tables zeroed: without -system-map one line saying
    what is missing and what to give, and no linux/; with it, System.map's symbols moved by
    the KASLR offset, and tasks/ equal drgn's."""
    require_fuse()
    core = need_dump("tcg-kaslr-derived")
    plain = need_dump("tcg-nokaslr")
    sm = full_map()
    # The tables are the same bytes in both dumps (offsets relative to _text): where they lie
    # in the KASLR one is found by their content, read from the no-KASLR one.
    start = sm["kallsyms_offsets"] - START_KERNEL_MAP
    stop = sm["kallsyms_token_index"] + 512 - START_KERNEL_MAP
    token = sm["kallsyms_token_table"] - START_KERNEL_MAP
    def file_off(path, paddr):
        for p, off, filesz in elf_loads(path):
            if p <= paddr < p + filesz:
                return off + paddr - p
    with open(plain, "rb") as f:
        f.seek(file_off(plain, token))
        needle = f.read(1024)
    copy = tmp_path / "noksyms.core"
    try:
        sparse_copy(core, copy)
        with open(copy, "r+b") as f:
            import mmap
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                at = mm.find(needle)
                assert at > 0 and mm.find(needle, at + 1) < 0
            f.seek(at - (token - start))
            f.write(bytes(stop - start))
        tmp1 = tmp_path / "without"
        tmp1.mkdir()
        m = Mount(copy, tmp1)
        try:
            release = (KDIR / "version").read_text().strip()
            assert linux_lines(m) == [
                f"kvmfs: linux/: the guest kernel {release} has no kallsyms (CONFIG_KALLSYMS "
                f"off?): give -system-map FILE, its System.map"]
            assert "linux" not in os.listdir(m.mnt)
        finally:
            m.stop()
        tmp2 = tmp_path / "with"
        tmp2.mkdir()
        m = Mount(copy, tmp2, ["-system-map", KDIR / "System.map"])
        try:
            assert linux_lines(m) == []
            g = types.SimpleNamespace(m=m, drgn=run_drgn(m.path("vmcore")))
            drgn = sorted([t for t in g.drgn["tasks"] if t[0] != 0])
            assert len(drgn) > 20 and sorted(our_tasks(g)) == drgn
            ks = {}
            for l in m.text("linux", "kallsyms").splitlines():
                a, _, n = l.split()
                ks.setdefault(n, int(a, 16))
            offset = g.drgn["text"] - sm["_text"]
            assert offset != 0 and ks["_text"] == g.drgn["text"]
            unique = system_map()
            names = [n for n in unique if unique[n] >= START_KERNEL_MAP][::80]
            assert len(names) > 500
            assert all(ks[n] == sm[n] + offset for n in names)
        finally:
            m.stop()
    finally:
        copy.unlink(missing_ok=True)
