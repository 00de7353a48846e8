"""kvmfs -attach QMP-SOCKET MNT: the tree over a guest that QEMU runs.

QEMU 7.2 with TCG (so that it runs on every host) boots Debian's cloud kernel
with the busybox initramfs to its shell, once for the whole file (the
`booted` fixture: -M pc, 1 GiB of memory-backend-memfd share=on as the
machine's memory, two QMP sockets: one for kvmfs, one for the tests); the
layout cases and the ones that kill QEMU use QEMUs of their own started with
-S (built, never run: cheap).  What kvmfs shows is checked against QEMU's own
words: `info ramblock`, `info mtree`, `info mtree -f`, pmemsave, gva2gpa,
query-status.

Run: /usr/bin/python3 -m pytest -v tests/integration/test_attach.py
"""
import json
import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import KVMFS, READY, ROOT, is_mounted, lazy_unmount, passthrough_expected, wait_for

import sys
sys.path.insert(0, str(ROOT / "tools"))
from qmp import Qmp  # noqa: E402  tools/qmp.py

KDIR = ROOT / "build" / "debian-kernel"
INITRAMFS = ROOT / "build" / "initramfs.cpio"
PYTHON = "/usr/bin/python3"  # Debian's, where python3-drgn is
BOOT_TIMEOUT = 600.0
USERSPACE = "kvmfs-initramfs: ready"

pytestmark = pytest.mark.skipif(not shutil.which("qemu-system-x86_64"),
                                reason="qemu-system-x86_64 missing (apt-get install qemu-system-x86)")


class Qemu:
    """One QEMU with a QMP socket for kvmfs and one for the test."""

    def __init__(self, d, args, user=None):
        self.dir = Path(d)
        self.kvmfs_sock = self.dir / "kvmfs.qmp"
        self.test_sock = self.dir / "test.qmp"
        self.console = self.dir / "console.txt"
        as_user = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] \
            if user is not None else []
        self.proc = subprocess.Popen(
            as_user + ["qemu-system-x86_64", "-accel", "tcg", "-nodefaults", "-nographic", "-display", "none",
             "-serial", f"file:{self.console}",
             "-qmp", f"unix:{self.kvmfs_sock},server=on,wait=off",
             "-qmp", f"unix:{self.test_sock},server=on,wait=off"] + args,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=self.dir)
        self.qmp = Qmp(self.test_sock, connect_timeout=30)

    def hmp(self, line):
        return self.qmp.hmp(line).replace("\r\n", "\n")

    def status(self):
        return self.qmp.cmd("query-status")["status"]

    def rss_kib(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.qmp.close()


class Attached:
    """kvmfs -attach on a mountpoint of its own."""

    def __init__(self, sock, mnt, extra=()):
        self.mnt = Path(mnt)
        self.mnt.mkdir(exist_ok=True)
        self.err = self.mnt.parent / (self.mnt.name + ".stderr")
        self.errf = open(self.err, "w")
        self.proc = subprocess.Popen([str(KVMFS), "-attach", str(sock), *extra, str(self.mnt)],
                                     stdout=subprocess.DEVNULL, stderr=self.errf)
        ok = wait_for(lambda: READY in self.err.read_text() or self.proc.poll() is not None, 60)
        assert ok and self.proc.poll() is None, f"kvmfs -attach failed: {self.err.read_text()}"
        assert wait_for(lambda: is_mounted(self.mnt), 10)

    def path(self, name):
        return self.mnt / name

    def read(self, name):
        return self.path(name).read_text()

    def detach(self):
        if is_mounted(self.mnt):
            subprocess.run(["fusermount3", "-u", str(self.mnt)], capture_output=True)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            lazy_unmount(self.mnt)
        self.errf.close()


@pytest.fixture(scope="session")
def booted(tmp_path_factory, kernel, initramfs):
    """The guest QEMU boots to busybox once; kvmfs attached to it for every test."""
    d = tmp_path_factory.mktemp("attach")
    q = Qemu(d, ["-M", "pc", "-m", "1G",
                 "-object", "memory-backend-memfd,id=m,size=1G,share=on", "-machine",
                 "memory-backend=m", "-kernel", str(KDIR / "vmlinuz"), "-initrd", str(INITRAMFS),
                 "-append", "console=ttyS0 nokaslr panic=-1"])
    try:
        assert wait_for(lambda: USERSPACE in q.console.read_text(errors="replace"), BOOT_TIMEOUT,
                        interval=1.0), "the guest did not reach its shell"
        a = Attached(q.kvmfs_sock, d / "mnt")
        try:
            yield q, a
        finally:
            a.detach()
    finally:
        q.kill()


@pytest.fixture
def paused_qemu(tmp_path):
    """QEMUs started with -S (built, never run), killed at the end."""
    started = []

    def start(*args, user=None):
        if user is None:
            d = tmp_path / f"q{len(started)}"
            d.mkdir()
        else:
            # Another user's QEMU cannot reach into pytest's root-only directories.
            d = Path(tempfile.mkdtemp(prefix="kvmfs-attach-"))
            d.chmod(0o777)
        q = Qemu(d, list(args) + ["-S"], user=user)
        started.append(q)
        return q
    yield start
    for q in started:
        q.kill()
        if not str(q.dir).startswith(str(tmp_path)):
            shutil.rmtree(q.dir, ignore_errors=True)


# ---- what QEMU says, cut the way kvmfs's files are ----

def qemu_memory_tree(text):
    """(the tree of AS "memory", {name: memory-region section}) of `info mtree`."""
    lines = text.split("\n")
    i = lines.index("address-space: memory") + 1
    while lines[i].startswith("address-space: "):
        i += 1
    tree = []
    while lines[i]:
        tree.append(lines[i])
        i += 1
    sections, name, body = {}, None, []
    for line in lines:
        if line.startswith("memory-region: "):
            name, body = line[len("memory-region: "):], []
        elif name is not None and line == "":
            sections[name] = body
            name = None
        elif name is not None:
            body.append(line)
    return tree, sections


def qemu_memory_flatview(text):
    """(root line, range lines) of the flat view of AS "memory" in `info mtree -f`."""
    blocks = text.split("\n\n")
    for b in blocks:
        lines = b.strip("\n").split("\n")
        if ' AS "memory", root: system' in lines:
            root = [l for l in lines if l.startswith(" Root memory region:")]
            return root, [l.removesuffix(" KVM") for l in lines if l.startswith("  ")]
    raise AssertionError("no flat view of AS memory")


def assert_layout_equal(q, a):
    # ramblocks.txt is `info ramblock`, byte for byte.
    assert a.read("ramblocks.txt") == q.hmp("info ramblock")
    # flatview: QEMU's flat view of "memory", less the other address spaces sharing it.
    root, ranges = qemu_memory_flatview(q.hmp("info mtree -f"))
    ours = a.read("flatview").rstrip("\n").split("\n")
    assert ours[0] == "FlatView #0" and ours[1] == ' AS "memory", root: system'
    assert ours[2:3] == root
    assert ours[3:] == ranges
    # regions: the tree of "memory" as QEMU prints it, then the aliased regions' sections.
    tree, sections = qemu_memory_tree(q.hmp("info mtree"))
    text = a.read("regions")
    head, *rest = text.split("\n\n")
    assert head.split("\n") == ["address-space: memory"] + tree
    for sec in filter(None, (s.strip("\n") for s in rest)):
        name, *body = sec.split("\n")
        assert name.startswith("memory-region: ")
        assert body == sections[name[len("memory-region: "):]], name


# ---- the booted guest ----

def test_booted_layout_equals_qemu(booted):
    """memfd backend as the machine's memory: ramblocks.txt, flatview, regions are QEMU's."""
    q, a = booted
    assert_layout_equal(q, a)


def test_ramblocks_json_says_how_each_block_is_served(booted):
    q, a = booted
    blocks = {b["idstr"]: b for b in json.loads(a.read("ramblocks.json"))}
    # memory-backend-memfd share=on: QEMU's memfd, through /proc/PID/fd.
    assert blocks["m"]["fd_backed"] and blocks["m"]["shared"]
    assert blocks["m"]["io"] == ("passthrough" if passthrough_expected() else "direct")
    # SeaBIOS's ROM is QEMU's anonymous memory, read from its process.
    assert blocks["pc.bios"]["io"] == "process"
    # Blocks no guest-physical address shows cannot be verified: listed, without a file.
    for name, b in blocks.items():
        f = a.path("ramblocks") / name.lstrip("/")
        assert f.exists() == (b["io"] != "unverified"), name
    assert blocks["/rom@etc/acpi/rsdp"]["io"] == "unverified"


def test_phys_equals_pmemsave_while_stopped(booted, tmp_path):
    q, a = booted
    rnd = random.Random(23)
    q.qmp.cmd("stop")
    try:
        ranges = [(0xfffc0000, 0x40000), (0, 0xa0000)]  # pc.bios (process memory), low RAM
        ranges += [(rnd.randrange(0x100000, (1 << 30) - 0x100000) & ~0xfff,
                    rnd.randrange(1, 256) << 12) for _ in range(12)]
        with open(a.path("phys"), "rb") as f:
            for i, (gpa, size) in enumerate(ranges):
                out = tmp_path / f"pm{i}"
                q.qmp.cmd("pmemsave", val=gpa, size=size, filename=str(out))
                f.seek(gpa)
                assert f.read(size) == out.read_bytes(), hex(gpa)
    finally:
        q.qmp.cmd("cont")


def test_stop_cont_through_ctl(booted):
    q, a = booted
    assert a.read("ctl").startswith("running")
    a.path("ctl").write_text("stop\n")
    try:
        assert q.status() == "paused"
        assert a.read("ctl").startswith("paused")
        assert json.loads(a.read("vcpus/0/regs.json"))["exact"] is True
    finally:
        a.path("ctl").write_text("cont\n")
    assert q.status() == "running"
    assert a.read("ctl").startswith("running")


def test_registers_and_translate_agree_with_qemu(booted):
    q, a = booted
    q.qmp.cmd("stop")
    try:
        regs = q.hmp("info registers")
        ours = a.read("vcpus/0/regs") + a.read("vcpus/0/sregs")
        for name in ("RIP", "RSP", "RAX", "CR3", "CR0", "CR4", "EFER"):
            want = re.search(rf"\b{name}\s*=([0-9a-f]+)", regs).group(1)
            got = re.search(rf"\b{name}\s*=([0-9a-f]+)", ours).group(1)
            assert int(got, 16) == int(want, 16), name
        # Kernel text and the vCPU's own RIP and RSP, walked by kvmfs and by QEMU.
        rip = int(re.search(r"RIP=([0-9a-f]+)", regs).group(1), 16)
        rsp = int(re.search(r"RSP=([0-9a-f]+)", regs).group(1), 16)
        for va in (0xffffffff81000000, rip, rsp):
            a.path("vcpus/0/translate").write_text(hex(va))
            got = re.search(r"^pa 0x([0-9a-f]+)", a.read("vcpus/0/translate"), re.M)
            want = re.search(r"gpa: 0x([0-9a-f]+)", q.hmp(f"gva2gpa {va:#x}"))
            assert got and want, (hex(va), q.hmp(f"gva2gpa {va:#x}"))
            assert int(got.group(1), 16) == int(want.group(1), 16), hex(va)
    finally:
        q.qmp.cmd("cont")


# drgn: every task (for_each_task), and what CPU 0 has loaded: the mm whose page
# tables CR3 holds (cpu_tlbstate.loaded_mm: the current task's, or under lazy TLB the
# mm the idle task borrowed from the process that ran last), a process of it, and the
# bytes at its stack's top as drgn reads them through that mm's page tables.
DRGN_TASKS = """
import json, sys, drgn
from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.percpu import per_cpu
from drgn.helpers.linux.mm import access_remote_vm
prog = drgn.Program()
prog.set_core_dump(sys.argv[1])
prog.load_debug_info([sys.argv[2]])
tasks = sorted([t.pid.value_(), t.comm.string_().decode()] for t in for_each_task(prog))
loaded = per_cpu(prog["cpu_tlbstate"], 0).loaded_mm
user = None
if loaded.value_() != prog["init_mm"].address_of_().value_():
    owner = next(t for t in for_each_task(prog) if t.mm.value_() == loaded.value_())
    va = loaded.start_stack.value_()
    user = {"pid": owner.pid.value_(), "comm": owner.comm.string_().decode(),
            "pgd": loaded.pgd.value_(), "va": va,
            "bytes": access_remote_vm(loaded, va, min(64, 4096 - va % 4096)).hex()}
print(json.dumps({"tasks": tasks, "user": user,
                  "current": per_cpu(prog["runqueues"], 0).curr.pid.value_(),
                  "page_offset_base": prog["page_offset_base"].value_()}))
"""

# gdb walks init_task.tasks itself (container_of by hand), as for_each_task's list.
GDB_TASKS = """
python
import gdb
head = gdb.parse_and_eval("&init_task.tasks")
off = int(gdb.parse_and_eval("(unsigned long)&((struct task_struct *)0)->tasks"))
tp = gdb.lookup_type("struct task_struct").pointer()
p = head["next"]
while int(p) != int(head):
    t = gdb.Value(int(p) - off).cast(tp)
    print("task %d %s" % (int(t["pid"]), t["comm"].string()))
    p = p["next"]
end
"""


def gdb_tasks(core):
    with tempfile.NamedTemporaryFile("w", suffix=".gdb") as f:
        f.write(GDB_TASKS)
        f.flush()
        r = subprocess.run(["gdb", "-nx", "-batch", "-c", str(core), str(KDIR / "vmlinux-dbg"),
                            "-x", f.name], capture_output=True, text=True, timeout=600)
    tasks = sorted([int(p), c] for p, c in re.findall(r"^task (\d+) (.*)$", r.stdout, re.M))
    assert tasks, r.stdout + r.stderr
    return tasks


def crash_tasks(core):
    """crash's `ps` rows and its walk of init_task.tasks, each as sorted [pid, comm]
    (kernel threads' [comm] unbracketed), and the pid of the row ps marks active."""
    c = subprocess.run(["crash", "-s", str(KDIR / "vmlinux-dbg"), str(core)],
                       input="ps\nlist task_struct.tasks -s task_struct.pid,comm -h init_task\nq\n",
                       capture_output=True, text=True, timeout=600)
    rows = re.findall(r"^(>?)\s*(\d+)\s+-?\d+\s+\d+\s+[0-9a-f]+\s+\S+\s+[\d.]+\s+\d+\s+\d+\s+(.+?)\s*$",
                      c.stdout, re.M)
    listed = re.findall(r'pid = (\d+),\s*comm = "([^"\\]*)', c.stdout)
    assert rows and listed, c.stdout[-2000:] + c.stderr[-2000:]
    ps = sorted([int(p), re.sub(r"^\[(.*)\]$", r"\1", comm)] for _, p, comm in rows)
    active = [int(p) for mark, p, _ in rows if mark]
    return ps, sorted([int(p), comm] for p, comm in listed), active


def test_vmcore_crash_drgn_gdb_list_the_busybox_processes(booted):
    """crash's walk of the task list, drgn's for_each_task and gdb's walk of
    init_task.tasks on MNT/vmcore list the same tasks, busybox's among them (crash's ps
    as much as crash 8.0.2 finds on this kernel); a user address of the process whose
    page tables CPU 0 has loaded (its stack's top) translates (vcpus/0/translate) where
    QEMU's gva2gpa says, and phys there holds what drgn reads at it through that mm."""
    q, a = booted
    if not shutil.which("crash") or not shutil.which("gdb") or \
            subprocess.run([PYTHON, "-c", "import drgn"]).returncode:
        pytest.skip("crash, gdb or python3-drgn missing")
    core = a.path("vmcore")
    for attempt in range(10):
        a.path("ctl").write_text("stop\n")
        try:
            r = subprocess.run([PYTHON, "-c", DRGN_TASKS, str(core), str(KDIR / "vmlinux-dbg")],
                               capture_output=True, text=True, timeout=600)
            assert r.returncode == 0, r.stderr
            d = json.loads(r.stdout)
            # Lazy TLB leaves a user mm loaded on an idle CPU almost always; if CPU 0
            # was stopped with init_mm's page tables (no user address to check), let
            # the guest run on and stop it again.
            if d["user"] is None and attempt < 9:
                time.sleep(0.5)
                continue
            tasks = d["tasks"]
            assert [1, "init"] in tasks
            assert any(comm == "sh" for _, comm in tasks), tasks
            # crash walks the task list to the same tasks, plus init_task (swapper/0),
            # which for_each_task leaves out; gdb's walk is drgn's list.
            ps, listed, active = crash_tasks(core)
            assert listed == sorted(tasks + [[0, "swapper/0"]])
            assert gdb_tasks(core) == tasks
            # crash 8.0.2's ps finds no task of this kernel (6.1) in its PID hash but the
            # idle one and CPU 0's active one ("active task ... not found in PID hash", on
            # QEMU's own dump-guest-memory of this guest too): what it lists is drgn's,
            # and the task it marks active is the one CPU 0 runs.
            assert [0, "swapper/0"] in ps
            assert all(t in tasks for t in ps if t != [0, "swapper/0"]), ps
            assert active == [d["current"]]

            # gva2gpa walks the page tables of CR3 of the monitor's CPU (0): the
            # loaded mm's, so a user address of that mm is only meaningful there.
            u = d["user"]
            assert u is not None, "CPU 0 never had a user mm loaded"
            cr3 = int(re.search(r"CR3=([0-9a-f]+)", q.hmp("info registers")).group(1), 16)
            assert cr3 & ~0xfff & ((1 << 52) - 1) == u["pgd"] - d["page_offset_base"]
            va = u["va"]
            a.path("vcpus/0/translate").write_text(hex(va))
            got = re.search(r"^pa 0x([0-9a-f]+)", a.read("vcpus/0/translate"), re.M)
            want = re.search(r"gpa: 0x([0-9a-f]+)", q.hmp(f"gva2gpa {va:#x}"))
            assert got and want, (u, a.read("vcpus/0/translate"), q.hmp(f"gva2gpa {va:#x}"))
            assert int(got.group(1), 16) == int(want.group(1), 16), (u, hex(va))
            assert va < 1 << 47  # a user address
            # phys at that GPA holds what drgn read at the address through the process's mm.
            with open(a.path("phys"), "rb") as f:
                f.seek(int(got.group(1), 16))
                assert f.read(len(u["bytes"]) // 2).hex() == u["bytes"]
            return
        finally:
            a.path("ctl").write_text("cont\n")


def test_detach_leaves_qemu_running(booted, tmp_path):
    """A second kvmfs attaches to the same socket (kvmfs holds no QMP connection) and detaches."""
    q, _ = booted
    b = Attached(q.kvmfs_sock, tmp_path / "second")
    assert b.read("ctl").startswith("running")
    b.detach()
    assert b.proc.returncode == 0
    assert q.proc.poll() is None and q.status() == "running"
    # The guest's vCPU still moves on.
    rips = {re.search(r"RIP=([0-9a-f]+)", q.hmp("info registers")).group(1) for _ in range(20)}
    assert len(rips) > 1


# ---- QEMUs of their own, started with -S ----

@pytest.mark.parametrize("machine,size", [("pc", "512M"), ("pc", "6G"), ("q35", "2G"),
                                          ("q35", "6G")])
def test_layout_equals_qemu(paused_qemu, tmp_path, machine, size):
    q = paused_qemu("-M", machine, "-m", size)
    a = Attached(q.kvmfs_sock, tmp_path / "mnt")
    try:
        assert_layout_equal(q, a)
        assert a.read("memslots").count("\n") == 1  # TCG: the header, no slot
        assert not a.path("console").exists() and not a.path("dirty").exists()
    finally:
        a.detach()


def test_numa_memory_backends(paused_qemu, tmp_path):
    """-numa nodes of memory-backend-ram and memory-backend-file share=on: layout is QEMU's,
    the anonymous node read from QEMU's process, the file's node served from that file."""
    shm = Path(f"/dev/shm/kvmfs-numa-{os.getpid()}")
    marker = b"kvmfs numa marker: served from the backend's file\n"
    at = 0x1234000  # an offset into f0, inside the file
    try:
        with open(shm, "wb") as f:
            f.truncate(512 << 20)
            f.seek(at)
            f.write(marker)
        q = paused_qemu("-M", "pc", "-m", "1G",
                        "-object", "memory-backend-ram,id=r0,size=512M",
                        "-object", f"memory-backend-file,id=f0,size=512M,mem-path={shm},share=on",
                        "-numa", "node,memdev=r0", "-numa", "node,memdev=f0")
        a = Attached(q.kvmfs_sock, tmp_path / "mnt")
        try:
            assert_layout_equal(q, a)
            blocks = {b["idstr"]: b for b in json.loads(a.read("ramblocks.json"))}
            assert blocks["r0"]["io"] == "process"
            assert blocks["f0"]["io"] == ("passthrough" if passthrough_expected() else "direct")
            # f0 follows r0 in guest-physical space (below 4G: -m 1G): GPA 512M is f0's 0.
            assert "0000000020000000-000000003fffffff (prio 0, ram): f0" in q.hmp("info mtree")
            with open(a.path("phys"), "rb") as f:
                f.seek((512 << 20) + at)
                assert f.read(len(marker)) == marker
        finally:
            a.detach()
    finally:
        shm.unlink(missing_ok=True)


def test_reading_phys_costs_qemu_no_memory(paused_qemu, tmp_path):
    """An idle -m 4G QEMU: reading phys whole leaves its RSS within 64 MiB of before."""
    q = paused_qemu("-M", "pc", "-m", "4G")
    a = Attached(q.kvmfs_sock, tmp_path / "mnt")
    try:
        before = q.rss_kib()
        n = 0
        with open(a.path("phys"), "rb") as f:
            while chunk := f.read(1 << 20):
                n += len(chunk)
        assert n == os.path.getsize(a.path("phys")) >= 4 << 30
        grown = q.rss_kib() - before
        assert grown < 64 << 10, f"QEMU's RSS grew by {grown} KiB"
    finally:
        a.detach()


def test_qemu_killed_under_a_reader(paused_qemu, tmp_path):
    """A reader inside phys gets EIO once QEMU is gone, not a hang; ctl says gone."""
    q = paused_qemu("-M", "pc", "-m", "1G")
    a = Attached(q.kvmfs_sock, tmp_path / "mnt")
    errors, stop = [], threading.Event()

    def reader():
        with open(a.path("phys"), "rb", buffering=0) as f:
            while not stop.is_set():
                try:
                    f.seek(0xfffc0000)  # pc.bios: QEMU's own memory
                    f.read(0x40000)
                except OSError as e:
                    errors.append(e.errno)
                    return
    try:
        t = threading.Thread(target=reader, daemon=True)
        t.start()
        time.sleep(0.5)
        assert not errors
        q.kill()
        t.join(timeout=20)
        stop.set()
        assert not t.is_alive(), "the reader hangs"
        assert errors == [5]  # EIO
        assert a.read("ctl").startswith("gone")
        with pytest.raises(OSError):
            a.path("ctl").write_text("cont\n")
    finally:
        stop.set()
        a.detach()


def test_attach_by_pid(paused_qemu, tmp_path):
    """-attach PID: the QMP sockets QEMU's command line names (-qmp unix:PATH, a relative
    one from QEMU's directory; -chardev socket + -mon mode=control), the first that
    answers: here the two -qmp sockets are held by other clients, so the -mon one."""
    q = paused_qemu("-M", "pc", "-m", "256M", "-chardev",
                    "socket,id=mon9,path=mon9.qmp,server=on,wait=off",
                    "-mon", "chardev=mon9,mode=control")
    # A relative path is QEMU's: kvmfs takes it from QEMU's working directory (q.dir).
    mon = q.dir / "mon9.qmp"
    assert wait_for(mon.exists, 10)
    holder = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    holder.connect(str(q.kvmfs_sock))  # the test's Qmp holds the other -qmp socket
    try:
        assert holder.recv(4096).startswith(b'{"QMP"')
        a = Attached(str(q.proc.pid), tmp_path / "mnt")
        try:
            assert a.read("ramblocks.txt") == q.hmp("info ramblock")
            # Later conversations go to the socket chosen at attach.
            a.path("ctl").write_text("cont\n")
            assert q.status() == "running"
        finally:
            a.detach()
    finally:
        holder.close()
        mon.unlink(missing_ok=True)


# ---- refusals: one line, exit 1, nothing mounted ----

def refused(sock, mnt, prefix=()):
    mnt.mkdir(exist_ok=True)
    cmd = [*prefix, str(KVMFS), "-attach", str(sock), str(mnt)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("kvmfs: "), r.stderr
    assert not is_mounted(mnt)
    return r.stderr


def test_refuses_what_is_not_qmp(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    assert "not a QMP socket" in refused(f, tmp_path / "m1")
    sock = tmp_path / "chatty.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(sock))
    srv.listen(1)

    def serve():
        c, _ = srv.accept()
        c.sendall(b'{"hello": "world"}\n')
        time.sleep(10)
        c.close()
    threading.Thread(target=serve, daemon=True).start()
    try:
        assert "not a QMP socket" in refused(sock, tmp_path / "m2")
    finally:
        srv.close()
    assert "No such file" in refused(tmp_path / "absent.sock", tmp_path / "m3")


def test_refuses_without_permission(paused_qemu, tmp_path):
    """QEMU runs as another user and kvmfs lacks CAP_SYS_PTRACE: the socket answers, but
    QEMU's memory is not to be read (the ptrace rules of /proc/PID/mem)."""
    q = paused_qemu("-M", "pc", "-m", "256M", user=65534)
    err = refused(q.kvmfs_sock, tmp_path / "mnt",
                  ["setpriv", "--inh-caps=-sys_ptrace", "--bounding-set=-sys_ptrace"])
    assert "needs to read QEMU's memory" in err, err
    assert q.status() == "prelaunch"


def test_refuses_a_pid_without_qmp(tmp_path):
    """A PID whose command line names no QMP socket, and a PID of no process."""
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        assert "no QMP socket on its command line" in refused(sleeper.pid, tmp_path / "m1")
    finally:
        sleeper.kill()
        sleeper.wait()
    assert "no such process" in refused(sleeper.pid, tmp_path / "m2")


def test_refuses_options_of_a_vm(tmp_path):
    r = subprocess.run([str(KVMFS), "-attach", "x.sock", "-m", "2G", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "-attach takes no" in r.stderr


# ---- MNT/linux/ of an attached guest (issue 24) ----

DRGN_LINUX_TASKS = """
import json, sys, drgn
from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.sched import task_state_to_char
prog = drgn.Program()
prog.set_core_dump(sys.argv[1])
prog.load_debug_info([sys.argv[2]])
print(json.dumps(sorted([t.pid.value_(), t.tgid.value_(), t.comm.string_().decode(),
                         t.real_parent.tgid.value_(), task_state_to_char(t)]
                        for t in for_each_task(prog) if t.pid.value_())))
"""


def linux_tasks(a):
    """[pid, tgid, comm, ppid, state] of every task under linux/tasks/*/task/*."""
    out, top = [], a.path("linux") / "tasks"
    for proc in os.listdir(top):
        for tid in os.listdir(top / proc / "task"):
            st = dict(l.split(":\t", 1)
                      for l in (top / proc / "task" / tid / "status").read_text().splitlines())
            out.append([int(tid), int(proc), st["Name"], int(st["PPid"]), st["State"][0]])
    return sorted(out)


def test_linux_tasks_equal_drgn_while_stopped(booted):
    """linux/tasks of the attached guest, stopped through ctl, is drgn's for_each_task on
    MNT/vmcore of the same stopped guest (with the debug vmlinux)."""
    q, a = booted
    if subprocess.run([PYTHON, "-c", "import drgn"]).returncode:
        pytest.skip("python3-drgn missing")
    a.path("ctl").write_text("stop\n")
    try:
        ours = linux_tasks(a)
        r = subprocess.run([PYTHON, "-c", DRGN_LINUX_TASKS, str(a.path("vmcore")),
                            str(KDIR / "vmlinux-dbg")], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        assert ours == json.loads(r.stdout)
        assert [1, 1, "init", 0, "S"] in ours and any(t[2] == "sh" for t in ours)
    finally:
        a.path("ctl").write_text("cont\n")


def comm_pids(a, comm):
    top = a.path("linux") / "tasks"
    found = set()
    for p in os.listdir(top):
        try:
            if (top / p / "comm").read_text() == comm + "\n":
                found.add(int(p))
        except FileNotFoundError:
            pass  # gone between the listing and the read
    return found


def test_linux_tasks_follow_the_guest(booted, tmp_path):
    """A process the guest's shell starts after the mount is listed and readable; once it
    has exited, its directory is gone (ENOENT).  The shell's input: QEMU's serial backend
    swapped (chardev-change) for a file of one command, its output still appended to the
    console file."""
    q, a = booted
    assert comm_pids(a, "sleep") == set()
    cmd = tmp_path / "cmd"
    cmd.write_text("sleep 20\n")
    q.qmp.cmd("chardev-change", id="serial0",
              backend={"type": "file", "data": {"in": str(cmd), "out": str(q.console),
                                                  "append": True}})
    assert wait_for(lambda: comm_pids(a, "sleep"), 60, interval=0.2), "no sleep appeared"
    pid, = comm_pids(a, "sleep")
    proc = a.path("linux") / "tasks" / str(pid)
    status = dict(l.split(":\t", 1) for l in (proc / "status").read_text().splitlines())
    assert status["Name"] == "sleep" and status["Kthread"] == "0"
    assert (proc / "cmdline").read_bytes() == b"sleep\x0020\x00"
    assert "/bin/busybox" in (proc / "maps").read_text()
    assert os.listdir(proc / "task") == [str(pid)]
    # Its shell is its parent.
    assert any(t[0] == int(status["PPid"]) and t[2] == "sh" for t in linux_tasks(a))
    assert wait_for(lambda: not proc.exists(), 120, interval=0.5), "sleep did not end"
    assert str(pid) not in os.listdir(a.path("linux") / "tasks")
    with pytest.raises(FileNotFoundError):
        (proc / "status").read_text()


def test_linux_appears_when_the_kernel_runs(paused_qemu, tmp_path, kernel):
    """Attached before the guest runs (-S): no linux/ (and a stat of the root that finds
    none costs no search each time); once the kernel runs, linux/ is there, and its tasks
    come as the kernel starts them."""
    q = paused_qemu("-M", "pc", "-m", "512M", "-kernel", str(KDIR / "vmlinuz"),
                    "-append", "console=ttyS0 nokaslr")
    a = Attached(q.kvmfs_sock, tmp_path / "mnt")
    try:
        assert "linux" not in os.listdir(a.mnt) and not a.path("linux").exists()
        q.qmp.cmd("cont")
        assert wait_for(lambda: a.path("linux").exists(), 120, interval=0.2)
        assert a.read("linux/version").startswith("Linux version ")
        # pid 1 (kernel_init) and kthreadd: the kernel's own tables read after boot moved on.
        assert wait_for(lambda: (a.path("linux") / "tasks" / "2").exists(), 120, interval=0.5)
        assert a.read("linux/tasks/2/comm") == "kthreadd\n"
        assert a.read("linux/tasks/1/status").startswith("Name:\t")
    finally:
        a.detach()
