"""Shared fixtures for kvmfs's integration tests: a real kvmfs on a real mount.

`kvmfs` is a factory: `k = kvmfs("-M", "pc", "-m", "6G")` starts
`build/kvmfs [-accel none] ARGS MNT` on a fresh empty mountpoint, waits until
it says "kvmfs: ready" and the mount is up, and returns an object with
.pid, .mnt, .proc (and .stderr() / .stdout() for what it printed so far).
At teardown every kvmfs a test started and left running gets SIGTERM - that
PID, nothing else - and is waited for.  Then each must have ended as kvmfs
promises: exit status 0 (or death by SIGKILL, when the test sent it with
.signal()), and its mount gone (after SIGKILL: once fusermount3's
auto_unmount has seen it die).  Anything else fails the test at teardown,
with kvmfs's stderr: a kvmfs that crashed or hung at unmount after the
test's last assertion is a failure, not a pass.  A test that means kvmfs to
end otherwise says so with .expect_exit(status).  A mount still left is
lazily unmounted.

Without /dev/kvm the machine and the tree are still built (`-accel none`),
so the filesystem tests run everywhere; tests that need a running guest call
`require_guest()`, which skips with the reason.  Without /dev/fuse nothing
can mount: every test using the fixture skips, saying so.

Markers (registered below, so --strict-markers holds) pick subsets; none of
them skips anything in a plain run, which runs every test:
  guest        needs a running guest (`make check-nested` runs `-m guest`).  A
               test that calls require_guest() - itself, through a helper or
               a fixture - without it fails, so the subset cannot go stale.
  nested_skip  left out of check-nested: too slow where every instruction is
               emulated.
  asan_skip    left out of `make asan`: too slow under ASan, and no code of
               kvmfs it runs that other tests do not.

Run: python3 -m pytest -q tests/integration
"""
import errno
import os
import signal
import struct
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# KVMFS=path runs another build (a sanitizer one, say) under the same tests.
KVMFS = Path(os.environ.get("KVMFS") or ROOT / "build" / "kvmfs")
FIRMWARE = ROOT / "build" / "guest" / "firmware.bin"
READY = "kvmfs: ready"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0
# How long a guest may take to show what a test waits for.  Generous on
# purpose: tests check behaviour, not speed (make bench measures speed).
GUEST_TIMEOUT = 120.0


def have_kvm():
    return os.path.exists("/dev/kvm") and os.access("/dev/kvm", os.R_OK | os.W_OK)


def accel_args():
    """-accel none where no guest can run; the default (kvm) otherwise."""
    return [] if have_kvm() else ["-accel", "none"]


def ring0_emulated():
    """True where the host's KVM emulates guest ring 0 (kvm_pvm): /dev/kvm
    exists but the CPU flags have neither vmx nor svm (../shared/HOSTS.md).
    Read from /proc/cpuinfo, not from kvmfs, so tests can check kvmfs's
    own answer against it."""
    with open("/proc/cpuinfo") as f:
        flags = next((l.split(":", 1)[1].split() for l in f if l.startswith("flags")), [])
    return have_kvm() and "vmx" not in flags and "svm" not in flags


MARKERS = {
    "guest": "needs a running guest (KVM): calls require_guest(), or has a branch that uses "
             "KVM; make check-nested runs these",
    "nested_skip": "left out of make check-nested: too slow where every instruction is emulated",
    "asan_skip": "left out of make asan: too slow under ASan, and runs no code other tests do not",
    "forensics": "Volatility 3 on vmcore and phys: make check-forensics, not make integration/asan",
}


def pytest_configure(config):
    for name, doc in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {doc}")


_current_item = []  # the test being run, for require_guest()'s marker check


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _current_item.append(item)
    try:
        yield
    finally:
        _current_item.pop()


def kernel_has_fuse_passthrough():
    """CONFIG_FUSE_PASSTHROUGH, from the kernel's own config or symbols
    (fuse_backing_open exists only with it, Linux 6.9+)."""
    try:
        import gzip
        with gzip.open("/proc/config.gz", "rt") as f:
            return any(l.strip() == "CONFIG_FUSE_PASSTHROUGH=y" for l in f)
    except OSError:
        pass
    try:
        with open("/proc/kallsyms") as f:
            return any(l.rstrip().endswith(" fuse_backing_open") for l in f)
    except OSError:
        return False


def passthrough_expected():
    """Whether a kvmfs started by this process may pass RAM files through to
    their memfds, judged apart from kvmfs: a kernel with FUSE passthrough,
    and CAP_SYS_ADMIN in the initial user namespace (registering a backing
    file needs it)."""
    with open("/proc/self/status") as f:
        caps = int(next(l for l in f if l.startswith("CapEff:")).split()[1], 16)
    with open("/proc/self/uid_map") as f:
        initial_ns = f.read().split() == ["0", "0", "4294967295"]
    return kernel_has_fuse_passthrough() and bool(caps >> 21 & 1) and initial_ns


_guest_verdict = []  # once per session: None when the built-in guest runs, else why not
GUEST_CHECK_TIMEOUT = 120.0  # generous: a loaded 2-core host, ring 0 emulated


def _check_guest_runs():
    """Start the built-in guest alone (no mountpoint: the console is echoed
    to stdout) and wait for its first `pass 1` line, or for kvmfs's
    diagnostic.  None when it runs, else the reason."""
    proc = subprocess.Popen([str(KVMFS), "-M", "pc", "-m", "64M"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.set_blocking(proc.stdout.fileno(), False)
    out = b""
    deadline = time.monotonic() + GUEST_CHECK_TIMEOUT
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            out += proc.stdout.read() or b""
            if b"\npass 1\n" in out:
                return None
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    diag = err.decode(errors="replace").strip() or out.decode(errors="replace")[-500:]
    return diag or f"no `pass 1` within {GUEST_CHECK_TIMEOUT:.0f} s and no diagnostic"


def require_guest(why="this test needs a running guest"):
    """Skip where there is no KVM; fail, with kvmfs's own diagnostic, where
    there is one but the built-in guest does not run on it (checked once).
    First, on every host, the calling test must carry @pytest.mark.guest."""
    item = _current_item[-1] if _current_item else None
    if item is not None and item.get_closest_marker("guest") is None:
        pytest.fail(f"{item.nodeid} calls require_guest() without @pytest.mark.guest: mark it, "
                    f"so that make check-nested runs it", pytrace=False)
    if not os.path.exists("/dev/kvm"):
        pytest.skip(f"no /dev/kvm: {why}")
    if not have_kvm():
        pytest.skip(f"/dev/kvm is not accessible: {why}")
    if not _guest_verdict:
        _guest_verdict.append(_check_guest_runs())
    if _guest_verdict[0]:
        pytest.fail(f"/dev/kvm is here but the built-in guest does not run on this host: "
                    f"{_guest_verdict[0]}", pytrace=False)


def require_fuse():
    if not os.path.exists("/dev/fuse"):
        pytest.skip("no /dev/fuse: kvmfs cannot mount its tree here")


def _unescape_mountinfo(s):
    # mountinfo writes space, tab, newline and backslash as \ooo.
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 3 < len(s) and s[i + 1:i + 4].isdigit():
            out.append(chr(int(s[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def mount_entry(path):
    """The mountinfo fields of the mount at path, or None.

    os.path.ismount() cannot see a dead FUSE mount (its stat fails with
    ENOTCONN), /proc/self/mountinfo can.
    """
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if _unescape_mountinfo(fields[4]) == path:
                sep = fields.index("-")
                return {"fstype": fields[sep + 1], "source": fields[sep + 2]}
    return None


def is_mounted(path):
    return mount_entry(path) is not None


def wait_for(cond, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(interval)
    return cond()


def lazy_unmount(path):
    if is_mounted(path):
        subprocess.run(["fusermount3", "-u", "-z", str(path)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)


class Kvmfs:
    def __init__(self, proc, mnt, out_path, err_path):
        self.proc = proc
        self.pid = proc.pid
        self.mnt = str(mnt)
        self._out = out_path
        self._err = err_path
        self.expected_status = 0
        # Set once a failure of this kvmfs has been reported (it never got
        # ready): the teardown does not report it twice.
        self.reported = False

    def path(self, *parts):
        return os.path.join(self.mnt, *parts)

    def stderr(self):
        return Path(self._err).read_text(errors="replace")

    def stdout(self):
        return Path(self._out).read_text(errors="replace")

    def signal(self, sig):
        # Only ever the process this fixture started.
        if self.proc.poll() is None:
            os.kill(self.pid, sig)
            if sig == signal.SIGKILL:
                self.expect_exit(-signal.SIGKILL)

    def expect_exit(self, status):
        """The exit status this kvmfs is meant to end with (a
        subprocess returncode: -N for death by signal N); 0 unless said."""
        self.expected_status = status

    def wait(self, timeout=STOP_TIMEOUT):
        return self.proc.wait(timeout=timeout)

    def wait_guest(self, cond, what, timeout=GUEST_TIMEOUT):
        """Wait for cond() while the guest runs; fail at once, with kvmfs's
        diagnostic, should the VM stop by itself or kvmfs end."""
        deadline = time.monotonic() + timeout
        while True:
            if cond():
                return
            err = self.stderr()
            if "the VM is stopped" in err or self.proc.poll() is not None:
                pytest.fail(f"{what}: the guest stopped: {err.strip()}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not after {timeout:.0f} s; kvmfs said: {err.strip()}",
                            pytrace=False)
            time.sleep(0.05)


def _spawn(args, mnt, out_path, err_path, accel, exe=KVMFS):
    cmd = [str(exe)] + (accel_args() if accel else []) + [str(a) for a in args]
    if mnt is not None:
        cmd.append(str(mnt))
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)


@pytest.fixture
def kvmfs(tmp_path):
    """Factory: kvmfs(*args, mnt=None, accel=True, wait=True, exe=KVMFS) -> Kvmfs.

    exe runs another binary under the same rules (test_install.py: the
    installed one)."""
    require_fuse()
    if not KVMFS.exists():
        pytest.fail(f"{KVMFS} is missing: run make first")
    started = []
    counter = [0]

    def start(*args, mnt=None, accel=True, wait=True, exe=KVMFS):
        counter[0] += 1
        n = counter[0]
        if mnt is None:
            mnt = tmp_path / f"mnt{n}"
            mnt.mkdir()
        out_path = tmp_path / f"kvmfs{n}.out"
        err_path = tmp_path / f"kvmfs{n}.err"
        proc = _spawn(args, mnt, out_path, err_path, accel, exe)
        k = Kvmfs(proc, mnt, out_path, err_path)
        started.append(k)
        if not wait:
            return k
        up = wait_for(lambda: proc.poll() is not None
                      or (READY in k.stderr() and is_mounted(k.mnt)), START_TIMEOUT)
        if proc.poll() is not None or not up:
            k.reported = True
        if proc.poll() is not None:
            pytest.fail(f"kvmfs exited with {proc.returncode} before it was ready:\n"
                        f"{k.stderr()}")
        if not up:
            pytest.fail(f"kvmfs not ready after {START_TIMEOUT}s:\n{k.stderr()}")
        return k

    yield start

    problems = []
    for k in reversed(started):
        problem = _end(k)
        if problem and not k.reported:
            problems.append(f"kvmfs PID {k.pid} ({' '.join(k.proc.args[1:])}): {problem}; "
                            f"its stderr:\n{k.stderr().strip()}")
    if problems:
        pytest.fail("at teardown:\n" + "\n".join(problems), pytrace=False)


def _end(k):
    """End one kvmfs the fixture started (SIGTERM if it still runs) and
    clean up after it; what went wrong, or None."""
    problem = None
    if k.proc.poll() is None:
        os.kill(k.pid, signal.SIGTERM)
        try:
            k.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.kill(k.pid, signal.SIGKILL)
            k.proc.wait(timeout=STOP_TIMEOUT)
            problem = f"still running {STOP_TIMEOUT:.0f} s after SIGTERM (killed)"
    status = k.proc.returncode
    if problem is None and status != k.expected_status:
        problem = f"exit status {status}, not {k.expected_status}"
    # kvmfs unmounts before it exits; a SIGKILLed one leaves that to
    # fusermount3's auto_unmount, which notices soon after.
    killed = status == -signal.SIGKILL
    if not wait_for(lambda: not is_mounted(k.mnt), STOP_TIMEOUT if killed else 0):
        problem = (problem + "; " if problem else "") + f"{k.mnt} still mounted after it ended"
    lazy_unmount(k.mnt)
    return problem


@pytest.fixture
def run_kvmfs(tmp_path):
    """Run kvmfs to completion (for the cases that must fail at once)."""
    require_fuse()
    if not KVMFS.exists():
        pytest.fail(f"{KVMFS} is missing: run make first")

    def run(*args, mnt, accel=True, timeout=STOP_TIMEOUT):
        cmd = [str(KVMFS)] + (accel_args() if accel else []) + [str(a) for a in args]
        cmd.append(str(mnt))
        # Someone else's mount there (a test's own kvmfs) is not ours to remove.
        was_mounted = is_mounted(mnt)
        try:
            return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=timeout)
        finally:
            if not was_mounted:
                lazy_unmount(mnt)

    return run


# ---- small helpers the test files share ----

def read(path):
    with open(path, "rb") as f:
        return f.read()


def pread(path, size, off):
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, size, off)
    finally:
        os.close(fd)


def pwrite(path, data, off):
    fd = os.open(path, os.O_WRONLY)
    try:
        assert os.pwrite(fd, data, off) == len(data)
    finally:
        os.close(fd)


# The built-in guest's ABI (include/kvmfs/guest.h), in pc.ram.
RECORD_MAGIC = b"KVMFSMEM"      # then the u64 GPA, at the start of every MiB
STATUS_GPA = 0x1000             # GUEST_STATUS_MAGIC, then u64 pass, heartbeat, RAM size
STATUS_MAGIC = b"KVMFSSTA"
STATUS_PASS, STATUS_HEARTBEAT = 8, 16
DIRTY_MAGIC = b"KVMFSDRT"       # "dirty" command's stamp, then the u64 seq
MAILBOX_GPA = 0x2000            # GUEST_MAILBOX_MAGIC, u64 seq, NUL-ended text at +16
MAILBOX_MAGIC = b"KVMFSCMD"
MAILBOX_ACK_GPA = 0x2100        # u64: the last seq the guest acted on
PERCPU_GPA, PERCPU_SIZE = 0x4000, 256  # one block per vCPU: u64 pass, heartbeat


def post_command(fd, seq, text):
    """Hand the built-in guest a mailbox command through fd, open on its pc.ram."""
    # Text and seq first, the magic last: the guest acts on the magic.
    assert os.pwrite(fd, text.encode() + b"\0", MAILBOX_GPA + 16) == len(text) + 1
    assert os.pwrite(fd, struct.pack("<Q", seq), MAILBOX_GPA + 8) == 8
    assert os.pwrite(fd, MAILBOX_MAGIC, MAILBOX_GPA) == 8


def send_command(k, seq, text):
    """post_command() through k's pc.ram (the guest's RAM file; --writable)."""
    fd = os.open(k.path("ramblocks", "pc.ram"), os.O_WRONLY)
    try:
        post_command(fd, seq, text)
    finally:
        os.close(fd)


def command_acked(ram, seq):
    return struct.unpack("<Q", pread(ram, 8, MAILBOX_ACK_GPA))[0] == seq


def proc_mem(pid, addr, size):
    """size bytes of process pid's memory at addr (kvmfs's own view of guest RAM)."""
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as f:
        f.seek(addr)
        return f.read(size)


def maps_entry(pid, addr):
    """(perms, path) of the mapping that holds addr in /proc/PID/maps."""
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            fields = line.split(None, 5)
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            if lo <= addr < hi:
                return fields[1], fields[5].strip() if len(fields) > 5 else ""
    raise AssertionError(f"no mapping holds {addr:#x}")


def extents(path):
    """[(start, end)] of a file's data, from SEEK_DATA/SEEK_HOLE."""
    out, pos = [], 0
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError as e:
                assert e.errno == errno.ENXIO  # no data after pos
                break
            pos = os.lseek(fd, start, os.SEEK_HOLE)
            assert pos > start
            out.append((start, pos))
    finally:
        os.close(fd)
    return out


def elf_loads(path):
    """(offset, paddr, filesz, memsz) of every PT_LOAD of a 64-bit ELF file."""
    with open(path, "rb") as f:
        eh = f.read(64)
        assert eh[:4] == b"\x7fELF"
        phoff, = struct.unpack_from("<Q", eh, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", eh, 0x36)
        f.seek(phoff)
        ph = f.read(phentsize * phnum)
    out = []
    for i in range(phnum):
        p_type, _, off, _, paddr, filesz, memsz, _ = struct.unpack_from("<IIQQQQQQ", ph,
                                                                         i * phentsize)
        if p_type == 1:
            out.append((off, paddr, filesz, memsz))
    return out


def system_map_symbol(system_map, name):
    """The address of name in a kernel's System.map."""
    with open(system_map) as f:
        for line in f:
            addr, _, sym = line.split()
            if sym == name:
                return int(addr, 16)
    raise KeyError(name)


# ---- Debian's cloud kernel and the busybox initramfs, for every test that boots or reads Linux ----

KERNEL_DIR = ROOT / "build" / "debian-kernel"
INITRAMFS_CPIO = ROOT / "build" / "initramfs.cpio"


def ensure_kernel():
    """build/debian-kernel with the debug vmlinux: fetched once per build tree (a
    download of ~310 MB), never skipped - a test that needs it fails if it cannot be had."""
    need = ["vmlinuz", "vmlinux", "System.map", "version", "vmlinux-dbg"]
    if not all((KERNEL_DIR / n).exists() for n in need):
        fetch = ROOT / "tools" / "fetch-debian-kernel.sh"
        r = subprocess.run([str(fetch), "--debug", str(KERNEL_DIR)], capture_output=True,
                           text=True, timeout=1800)
        assert r.returncode == 0, f"{fetch} --debug failed:\n{r.stderr}"
    return KERNEL_DIR


def ensure_initramfs():
    if not INITRAMFS_CPIO.exists():
        subprocess.run([str(ROOT / "tools" / "make-initramfs.sh"), str(INITRAMFS_CPIO)],
                       check=True, capture_output=True, timeout=120)
    return INITRAMFS_CPIO


@pytest.fixture(scope="session")
def kernel():
    return ensure_kernel()


@pytest.fixture(scope="session")
def initramfs():
    return ensure_initramfs()
