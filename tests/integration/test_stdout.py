"""kvmfs's stdout and terminal never stop or end the VM (issue 22, section 1).

The guest console is copied to kvmfs's stdout; whoever reads that stdout must
not decide whether the VM lives.  With stdout into a pipe nobody reads (`|
sleep 100`, `| less`, a terminal paused with Ctrl-S) the guest goes on, `echo
stop > ctl` returns, and what stdout could not take is left out there (the
console file keeps it), said once on stderr; with the reader gone (`| head
-1`) kvmfs goes on; in the background of an interactive shell (`kvmfs MNT &`)
its terminal does not stop it; `make run` keeps its terminal for kvmfs's own
lines, and a regular file as MNT gets kvmfs's own message.

The guest tests need KVM (make check-nested runs them here); the rest run
everywhere.  Deadlines in these tests say "blocked" (the defects hung for as
long as the reader did), not "slow".
"""
import fcntl
import os
import pty
import re
import select
import shlex
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import (GUEST_TIMEOUT, KVMFS, READY, START_TIMEOUT, STOP_TIMEOUT, accel_args,
                      is_mounted, lazy_unmount, require_fuse, require_guest, wait_for)

F_SETPIPE_SZ = 1031
PIPE_SIZE = 4096          # the reader's pipe: one page, soon full
ECHO_QUEUE = 64 << 10     # src/hw/echo.h: what kvmfs holds for stdout beyond the pipe
# The console must grow past what the pipe and the queue hold together before
# the guest can be said to run with stdout blocked (and kvmfs to drop).
PAST_BLOCKED = PIPE_SIZE + ECHO_QUEUE
DROP_NOTE = "kvmfs: stdout does not take the guest console as fast as it comes"
MARK = re.compile(rb"\n\[kvmfs: (\d+) bytes of console left out here: stdout did not take them\]\n")
# A whole `pass N` line of the built-in guest (a line cut short has no newline).
PASS_LINE = re.compile(rb"^pass (\d+)\n", re.M)
# `echo stop > ctl` with stdout blocked: the bound.  Before, it hung
# for as long as the reader did (92 s).
STOP_DEADLINE = 1.0


class Run:
    """One kvmfs on MNT with stdout where the test wants it, stderr in a file."""

    def __init__(self, proc, mnt, err_path):
        self.proc, self.mnt, self.err_path = proc, str(mnt), err_path

    def path(self, *parts):
        return os.path.join(self.mnt, *parts)

    def stderr(self):
        return Path(self.err_path).read_text(errors="replace")

    def console_size(self):
        return os.stat(self.path("console")).st_size

    def last_pass(self):
        """N of the last whole `pass N` line of the console file, or -1."""
        with open(self.path("console"), "rb") as f:
            size = os.fstat(f.fileno()).st_size
            f.seek(max(0, size - 4096))
            tail = f.read()
        found = PASS_LINE.findall(tail[tail.find(b"\n") + 1:])
        return int(found[-1]) if found else -1

    def wait(self, cond, what, timeout=GUEST_TIMEOUT):
        """Wait for cond(); fail with kvmfs's stderr should kvmfs end or time run out."""
        deadline = time.monotonic() + timeout
        while not cond():
            if self.proc.poll() is not None:
                pytest.fail(f"{what}: kvmfs ended with status {self.proc.returncode}; "
                            f"it said: {self.stderr().strip()}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not after {timeout:.0f} s (console {self.console_size()} "
                            f"bytes, last pass {self.last_pass()}); kvmfs said: "
                            f"{self.stderr().strip()}", pytrace=False)
            time.sleep(0.05)

    def passes_go_on(self, more=3):
        n = self.last_pass()
        self.wait(lambda: self.last_pass() >= n + more,
                  f"the guest's passes after pass {n}, with stdout as it is")


@pytest.fixture
def start(tmp_path):
    """start(*args, stdout=...) -> Run: kvmfs [accel] ARGS MNT, ready and mounted.
    At teardown that PID - nothing else - gets SIGTERM (SIGKILL if it hangs),
    and the mount goes."""
    require_fuse()
    if not KVMFS.exists():
        pytest.fail(f"{KVMFS} is missing: run make first")
    runs = []

    def run(*args, stdout, accel=True):
        n = len(runs) + 1
        mnt = tmp_path / f"mnt{n}"
        mnt.mkdir()
        err_path = tmp_path / f"kvmfs{n}.err"
        cmd = [str(KVMFS)] + (accel_args() if accel else []) + [str(a) for a in args] + [str(mnt)]
        with open(err_path, "wb") as err:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=err)
        r = Run(proc, mnt, err_path)
        runs.append(r)
        up = wait_for(lambda: proc.poll() is not None
                      or (READY in r.stderr() and is_mounted(r.mnt)), START_TIMEOUT)
        if proc.poll() is not None or not up:
            pytest.fail(f"kvmfs not ready (status {proc.poll()}):\n{r.stderr()}")
        return r

    yield run

    for r in reversed(runs):
        if r.proc.poll() is None:
            r.proc.send_signal(signal.SIGTERM)
            try:
                r.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                r.proc.kill()
                r.proc.wait(timeout=STOP_TIMEOUT)
        lazy_unmount(r.mnt)


def stuck_pipe():
    """(read end, write end) of a one-page pipe: the reader that never reads.
    (One page is one slot: a write that does not fit in what is left of the
    slot's page waits, so the pipe may be full with less than a page in it.)"""
    rfd, wfd = os.pipe2(os.O_CLOEXEC)
    assert fcntl.fcntl(wfd, F_SETPIPE_SZ, PIPE_SIZE) >= PIPE_SIZE
    return rfd, wfd


def run_blocked(start):
    """kvmfs -flat-out with stdout into a pipe nobody reads (`| sleep 100`),
    once the console has grown well past what the pipe and kvmfs's queue
    hold: stdout is blocked for good, and the guest has gone on."""
    rfd, wfd = stuck_pipe()
    try:
        r = start("-m", "64M", "-flat-out", stdout=wfd)
    finally:
        os.close(wfd)
    r.rfd = rfd
    # The drop note says kvmfs found stdout blocked with its queue full.
    r.wait(lambda: r.console_size() > PAST_BLOCKED and DROP_NOTE in r.stderr(),
           f"{PAST_BLOCKED} bytes of console, and the drop note, with stdout blocked")
    return r


@pytest.mark.guest
def test_guest_runs_with_stdout_blocked(start):
    require_guest("the console is written by the running guest")
    r = run_blocked(start)
    try:
        r.passes_go_on()
        assert r.proc.poll() is None
    finally:
        os.close(r.rfd)


@pytest.mark.guest
def test_stop_returns_with_stdout_blocked(start):
    require_guest("ctl's stop waits for the vCPUs")
    r = run_blocked(start)
    done, failed = threading.Event(), []

    def stop():
        try:
            with open(r.path("ctl"), "w") as f:
                f.write("stop\n")
        except OSError as e:
            failed.append(e)
        done.set()

    try:
        # A daemon thread: a write that hangs (the defect) must not hang pytest.
        threading.Thread(target=stop, daemon=True).start()
        assert done.wait(STOP_DEADLINE), \
            f"echo stop > ctl did not return within {STOP_DEADLINE} s with stdout blocked"
        assert not failed, failed
        with open(r.path("ctl")) as f:
            assert f.read().startswith("paused")
        n = r.last_pass()
        with open(r.path("ctl"), "w") as f:
            f.write("cont\n")
        r.wait(lambda: r.last_pass() > n, "a pass after cont, stdout still blocked")
    finally:
        os.close(r.rfd)


@pytest.mark.guest
def test_drops_said_once_and_marked(start):
    require_guest("the console is written by the running guest")
    r = run_blocked(start)
    try:
        r.passes_go_on()
        err = r.stderr()
        assert err.count(DROP_NOTE) == 1, err
        # The reader comes back: the gap is marked in the stream, with its count.
        os.set_blocking(r.rfd, False)
        got = b""
        deadline = time.monotonic() + GUEST_TIMEOUT
        while not MARK.search(got) and time.monotonic() < deadline:
            select.select([r.rfd], [], [], 1.0)
            try:
                got += os.read(r.rfd, 1 << 16)
            except BlockingIOError:
                pass
        m = MARK.search(got)
        assert m, got[-300:]
        assert int(m.group(1)) > 0
        # Before it, stdout had the console's beginning: every pass from the first, in order.
        before = [int(n) for n in PASS_LINE.findall(got[:m.start()])]
        assert before and before == list(range(1, len(before) + 1)), before[:20]
        after = PASS_LINE.search(got, m.end())
        assert after and int(after.group(1)) > before[-1] + 1, got[m.start():m.start() + 300]
        assert r.stderr().count(DROP_NOTE) == 1
    finally:
        os.close(r.rfd)


@pytest.mark.guest
def test_survives_head_1(start):
    """`kvmfs ... | head -1`: before, SIGPIPE ended kvmfs 0.1 s after start."""
    require_guest("the console is written by the running guest")
    rfd, wfd = os.pipe2(os.O_CLOEXEC)
    head = subprocess.Popen(["head", "-1"], stdin=rfd, stdout=subprocess.PIPE)
    os.close(rfd)
    try:
        r = start("-m", "64M", stdout=wfd)
    finally:
        os.close(wfd)
    out, _ = head.communicate(timeout=GUEST_TIMEOUT)
    # head is gone: the next console byte meets EPIPE, and kvmfs goes on.
    r.wait(lambda: "stdout: Broken pipe" in r.stderr(), "the line saying the echo ended")
    with open(r.path("console"), "rb") as f:
        assert out == f.readline() and out.endswith(b"\n"), out
    r.passes_go_on()
    assert r.proc.poll() is None and is_mounted(r.mnt)
    assert r.stderr().count("kvmfs: stdout: Broken pipe: the guest console is no longer "
                            "copied there") == 1
    r.proc.send_signal(signal.SIGTERM)
    assert r.proc.wait(timeout=STOP_TIMEOUT) == 0, r.stderr()


@pytest.mark.guest
def test_serial_null_leaves_stdout_alone(start, tmp_path):
    require_guest("the console is written by the running guest")
    out_path = tmp_path / "stdout"
    with open(out_path, "wb") as out:
        r = start("-m", "64M", "-serial", "null", stdout=out)
    r.wait(lambda: r.last_pass() >= 2, "two passes in the console file")
    assert out_path.read_bytes() == b""


def test_serial_values(tmp_path):
    r = subprocess.run([str(KVMFS), "-serial", "none", str(tmp_path)], capture_output=True,
                       text=True, timeout=STOP_TIMEOUT)
    assert (r.returncode, r.stdout, r.stderr) == \
        (1, "", "kvmfs: -serial 'none': unknown (stdio, null)\n"), r


def test_stdio_closed(tmp_path):
    """`kvmfs <&- >&- MNT`: nothing to echo to, nothing to read; the tree is there."""
    require_fuse()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    err_path = tmp_path / "kvmfs.err"
    cmd = [str(KVMFS)] + accel_args() + ["-m", "64M", str(mnt)]
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(["sh", "-c", 'exec "$@" <&- >&-', "sh"] + cmd, stderr=err)
    try:
        assert wait_for(lambda: proc.poll() is not None
                        or (READY in err_path.read_text() and is_mounted(mnt)), START_TIMEOUT), \
            err_path.read_text()
        assert proc.poll() is None, err_path.read_text()
        with open(mnt / "ctl") as f:
            assert f.read()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=STOP_TIMEOUT) == 0, err_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        lazy_unmount(mnt)


def _pty_read(fd, timeout):
    out = b""
    while select.select([fd], [], [], timeout)[0]:
        try:
            out += os.read(fd, 4096)
        except OSError:
            break
    return out


def _state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_background_job_not_stopped_by_terminal(tmp_path):
    """`kvmfs MNT &` in an interactive shell (the README's first example):
    before, its first read of the terminal (SIGTTIN) stopped the whole
    process, and every access to the tree hung."""
    require_fuse()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    err_path = tmp_path / "kvmfs.err"
    cmd = " ".join(shlex.quote(a) for a in [str(KVMFS)] + accel_args() + ["-m", "64M", str(mnt)])
    shell, fd = pty.fork()
    if shell == 0:
        os.execvp("bash", ["bash", "--norc", "--noprofile", "-i"])
    kvmfs = None
    try:
        os.write(fd, f"{cmd} 2>{shlex.quote(str(err_path))} & echo KVMFS_PID:$!\n".encode())
        out = b""
        deadline = time.monotonic() + START_TIMEOUT
        while not re.search(rb"KVMFS_PID:(\d+)", out) and time.monotonic() < deadline:
            out += _pty_read(fd, 0.2)
        m = re.search(rb"KVMFS_PID:(\d+)", out)
        assert m, out
        kvmfs = int(m.group(1))
        assert wait_for(lambda: READY in err_path.read_text() or _state(kvmfs) in "TZ",
                        START_TIMEOUT), err_path.read_text()
        # A stopped kvmfs answers nothing, and a stat of its mountpoint would
        # hang this process: only a child, which a timeout can kill, touches
        # the tree.  Its answer also shows that the terminal read is behind.
        try:
            r = subprocess.run(["cat", str(mnt / "ctl")], capture_output=True, text=True,
                               timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"cat MNT/ctl hung: kvmfs in the background is in state "
                        f"{_state(kvmfs)} (T: stopped by its terminal)", pytrace=False)
        assert r.returncode == 0 and r.stdout, r
        assert _state(kvmfs) not in "TZ"
    finally:
        if kvmfs is not None:
            # bash's child, started for this test: end it (a stopped one takes SIGTERM
            # only once continued) before anything here looks at its mountpoint.
            try:
                os.kill(kvmfs, signal.SIGTERM)
                os.kill(kvmfs, signal.SIGCONT)
                wait_for(lambda: not os.path.exists(f"/proc/{kvmfs}") or _state(kvmfs) == "Z",
                         STOP_TIMEOUT)
            except (ProcessLookupError, FileNotFoundError):
                pass
        os.kill(shell, signal.SIGKILL)
        os.waitpid(shell, 0)
        os.close(fd)
        lazy_unmount(mnt)


def make_run(*args, **kw):
    """`make run` against the binary under test, which make must not rebuild."""
    build = KVMFS.parent
    return ["make", "-s", "-C", str(KVMFS.parents[1]), f"BUILD={build}", "-o", f"{build}/kvmfs",
            "run"] + list(args)


def test_make_run_regular_file_is_kvmfs_own_error(tmp_path):
    require_fuse()
    f = tmp_path / "file"
    f.write_text("")
    r = subprocess.run(make_run(f"MNT={f}"), capture_output=True, text=True,
                       timeout=START_TIMEOUT)
    assert r.returncode != 0
    assert f"kvmfs: mountpoint {f} is not a directory" in r.stderr, r.stderr
    assert "File exists" not in r.stderr, r.stderr


@pytest.mark.guest
def test_make_run_keeps_its_terminal(tmp_path):
    """make run: kvmfs's own lines on its terminal, the console in MNT/console."""
    require_fuse()
    require_guest("the console is written by the running guest")
    mnt = tmp_path / "mnt"
    proc = subprocess.Popen(make_run(f"MNT={mnt}", "RUN_ARGS=-M pc -m 64M"),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        console = mnt / "console"

        def passes():
            try:
                return len(PASS_LINE.findall(console.read_bytes()))
            except OSError:
                return 0
        assert wait_for(lambda: proc.poll() is not None or passes() >= 3, GUEST_TIMEOUT)
        assert proc.poll() is None
    finally:
        if is_mounted(mnt):
            subprocess.run(["fusermount3", "-u", str(mnt)], check=False)
        try:
            out, err = proc.communicate(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            # make's own child, the kvmfs it ran, first: nothing else.
            with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
                for child in f.read().split():
                    os.kill(int(child), signal.SIGKILL)
            proc.kill()
            out, err = proc.communicate()
        lazy_unmount(mnt)
    assert proc.returncode == 0, err
    assert f"tail -f {mnt}/console".encode() in out, out
    assert b"pass " not in out and b"kvmfs guest" not in out, out
    assert READY.encode() in err, err
