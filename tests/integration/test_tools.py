"""The tools behave like Unix tools: tools/find-pattern.py, tools/guest-status.py,
tools/layout-png.sh and tools/deps.sh, run as a user runs them.

* Trouble - a bad argument, a mountpoint that is not a kvmfs mount, no such
  vCPU, a file the user may not read, a write error - is one line on stderr
  naming it, and exit status 2 (grep's: 0 found, 1 not found, 2 trouble);
  never a Python traceback.
* A reader that goes away (`| head -1`, a closed pipe) ends the tool quietly
  by SIGPIPE, as it ends cat or grep (coreutils' convention: death by the
  signal, status 141 in the shell); Ctrl-C ends it quietly by SIGINT.
* layout-png.sh without chromium says in one line how to install it, and
  `tools/deps.sh png` is the set that installs it.

Real processes, real pipes, real FUSE mounts: kvmfs -accel none (no KVM
needed), and a -dump of a one-vCPU ELF core (elfcore.py) for everything that
reads through a vCPU: guest-status.py needs no running guest here.  Commands
run as another user use `nobody` through setpriv (root only; skipped, saying
so, otherwise).

Run: /usr/bin/python3 -m pytest -v tests/integration/test_tools.py
"""
import os
import shutil
import signal
import subprocess
import tempfile

import pytest

from conftest import ROOT, STATUS_GPA, lazy_unmount, wait_for
from elfcore import RAM_SIZE, one_cpu_core

FIND = ROOT / "tools" / "find-pattern.py"
STATUS = ROOT / "tools" / "guest-status.py"
LAYOUT_PNG = ROOT / "tools" / "layout-png.sh"
DEPS = ROOT / "tools" / "deps.sh"
PC = ("-accel", "none", "-M", "pc", "-m", "64M")
TIMEOUT = 60


def tool(script, *args, **kw):
    """Run a tool as a user does: its own #! line, output captured as text."""
    kw.setdefault("capture_output", "stdout" not in kw)
    if "stdout" in kw:
        kw["stderr"] = subprocess.PIPE
    return subprocess.run([str(script), *[str(a) for a in args]], text=True, timeout=TIMEOUT,
                          **kw)


def one_line(r, status, *words):
    """r failed as a Unix tool does: one stderr line holding words, status."""
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and r.stderr.endswith("\n"), r.stderr
    assert r.returncode == status, (r.returncode, r.stderr)
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


@pytest.fixture
def dump(kvmfs, tmp_path):
    """A -dump mount of a one-vCPU core: status page at 0x1000, identity-mapped."""
    core = tmp_path / "one-cpu.core"
    core.write_bytes(one_cpu_core(passno=7, heartbeat=9))
    return kvmfs("-dump", core, accel=False)


@pytest.fixture
def open_dir():
    """A directory every user can enter (pytest's tmp_path is root's only)."""
    d = tempfile.mkdtemp(prefix="kvmfs-tools-")
    os.chmod(d, 0o755)
    yield d
    for sub in os.listdir(d):
        lazy_unmount(os.path.join(d, sub))
    shutil.rmtree(d, ignore_errors=True)


def as_nobody(cmd):
    """cmd run as the unprivileged user nobody (root only)."""
    if os.geteuid() != 0:
        pytest.skip("not root: running a tool as another user needs root (setpriv)")
    return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                           "--", *[str(c) for c in cmd]], capture_output=True, text=True,
                          timeout=TIMEOUT)


# ---- closed pipes, Ctrl-C, write errors: both tools ----

def test_find_pattern_piped_to_head_ends_quietly(dump):
    # `--hex 00` on the dump's 1 MiB of mostly zero RAM: a line per zero byte,
    # some 27 MB, far more than a pipe holds: the tool is still writing when
    # head has its line and exits.
    find = subprocess.Popen([str(FIND), dump.mnt, "--hex", "00"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    head = subprocess.Popen(["head", "-n", "1"], stdin=find.stdout, stdout=subprocess.PIPE)
    find.stdout.close()  # head's, now: the tool sees the pipe close when head exits
    out, _ = head.communicate(timeout=TIMEOUT)
    err = find.stderr.read()
    find.stderr.close()
    status = find.wait(timeout=TIMEOUT)
    assert (head.returncode, out) == (0, b"0x0 pt_load.1+0x0\n")
    assert b"Traceback" not in err and err == b"", err
    assert status == -signal.SIGPIPE  # as `yes | head -1` ends yes: status 141 in a shell


def test_find_pattern_in_a_shell_pipeline_exits_141(dump):
    r = subprocess.run(["bash", "-c", '"$0" "$1" --hex 00 | head -n 1 >/dev/null; '
                                      'echo "${PIPESTATUS[0]}"', str(FIND), dump.mnt],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert (r.stdout, r.stderr) == ("141\n", "")


@pytest.mark.parametrize("script", [FIND, STATUS], ids=["find-pattern", "guest-status"])
def test_closed_pipe_is_a_quiet_sigpipe(dump, script):
    args = [dump.mnt, "--hex", "00"] if script == FIND else [dump.mnt]
    rd, wr = os.pipe()
    os.close(rd)  # nobody will ever read: the first write fails
    try:
        r = subprocess.run([str(script), *args], stdout=wr, stderr=subprocess.PIPE, text=True,
                           timeout=TIMEOUT)
    finally:
        os.close(wr)
    assert r.stderr == "" and r.returncode == -signal.SIGPIPE, r


def in_write_to_stdout(pid):
    with open(f"/proc/{pid}/syscall") as f:
        return f.read().split()[:2] == ["1", "0x1"]


def test_ctrl_c_is_a_quiet_sigint(dump):
    rd, wr = os.pipe()
    try:
        find = subprocess.Popen([str(FIND), dump.mnt, "--hex", "00"], stdout=wr,
                                stderr=subprocess.PIPE)
        os.close(wr)
        wr = None
        # Not a time: the tool blocked writing to its stdout (the pipe is
        # full, nobody reads) is past its start-up, where a user's Ctrl-C
        # finds it.  /proc/PID/syscall: the number (1, write) and its fd.
        assert wait_for(lambda: in_write_to_stdout(find.pid) or find.poll() is not None,
                        TIMEOUT)
        find.send_signal(signal.SIGINT)  # the PID started here, nothing else
        _, err = find.communicate(timeout=TIMEOUT)
    finally:
        os.close(rd)
        if wr is not None:
            os.close(wr)
    assert err == b"" and find.returncode == -signal.SIGINT, err


@pytest.mark.parametrize("script", [FIND, STATUS], ids=["find-pattern", "guest-status"])
def test_write_error_is_one_line(dump, script):
    args = [dump.mnt, "KVMFSSTA"] if script == FIND else [dump.mnt]
    with open("/dev/full", "w") as full:
        r = tool(script, *args, stdout=full)
    one_line(r, 2, "write error: No space left on device")


# ---- find-pattern.py: bad input, wrong mountpoints, unreadable files ----

def test_find_pattern_finds_on_the_dump(dump):
    """The baseline the failures below are measured against."""
    r = tool(FIND, dump.mnt, "KVMFSSTA")
    assert (r.returncode, r.stdout, r.stderr) == \
        (0, f"0x{STATUS_GPA:x} pt_load.1+0x{STATUS_GPA:x}\n", "")
    r = tool(FIND, dump.mnt, "no-such-bytes-here")
    assert (r.returncode, r.stdout, r.stderr) == (1, "", "")


@pytest.mark.parametrize("hexarg", ["zz", "abc", "4b5g", "0x4b"])
def test_find_pattern_bad_hex(tmp_path, hexarg):
    # Checked before the mountpoint: no mount needed to be told.
    r = tool(FIND, tmp_path, "--hex", hexarg)
    one_line(r, 2, f"--hex '{hexarg}'", "hex")
    assert r.stdout == ""


@pytest.mark.parametrize("args,words", [
    (["--hex", ""], ["empty"]),
    (["", ], ["empty"]),
    ([], ["required", "pattern", "--help"]),
], ids=["empty-hex", "empty-text", "no-pattern"])
def test_find_pattern_bad_usage(tmp_path, args, words):
    r = tool(FIND, tmp_path, *args)
    one_line(r, 2, *words)


def test_find_pattern_wrong_mountpoint(kvmfs, tmp_path):
    missing = tmp_path / "no-such-dir"
    one_line(tool(FIND, missing, "x"), 2, str(missing), "No such file or directory")
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line(tool(FIND, empty, "x"), 2, str(empty), "not a kvmfs mount")
    afile = tmp_path / "a-file"
    afile.write_text("x\n")
    one_line(tool(FIND, afile, "x"), 2, str(afile), "not a directory")
    # A file of the tree given instead of the tree.
    k = kvmfs(*PC, accel=False)
    one_line(tool(FIND, k.path("phys"), "x"), 2, "not a directory")
    one_line(tool(FIND, k.path("ramblocks"), "x"), 2, "not a kvmfs mount")


def test_find_pattern_phys_json_not_kvmfs(tmp_path):
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "phys.json").write_text('{"ranges": "not a list"}\n')
    one_line(tool(FIND, fake, "x"), 2, "phys.json", "not kvmfs's")
    (fake / "phys.json").write_text("not json\n")
    one_line(tool(FIND, fake, "x"), 2, "phys.json", "not kvmfs's")


def test_find_pattern_unreadable(kvmfs, open_dir):
    for d in ("root-only", "shared"):
        os.mkdir(os.path.join(open_dir, d))
    # Root's mount, without allow_other: nobody else may even look at it.
    k = kvmfs(*PC, mnt=os.path.join(open_dir, "root-only"), accel=False)
    r = as_nobody([FIND, k.mnt, "x"])
    one_line(r, 2, k.mnt, "Permission denied", "allow_other")
    # With allow_other the views are everyone's, guest memory (phys, 0400) not.
    k = kvmfs(*PC, "-o", "allow_other", mnt=os.path.join(open_dir, "shared"), accel=False)
    r = as_nobody([FIND, k.mnt, "x"])
    one_line(r, 2, os.path.join(k.mnt, "phys"), "Permission denied")


# ---- guest-status.py ----

def test_guest_status_reads_the_dump(dump):
    """The baseline: the page through vCPU 0's page tables, without a running guest."""
    r = tool(STATUS, dump.mnt)
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout == f"magic KVMFSSTA\npass 7\nheartbeat 9\nram_size {RAM_SIZE}\n"


def test_guest_status_no_such_cpu(dump, kvmfs):
    line = one_line(tool(STATUS, dump.mnt, "--cpu", "1"), 2, "no vCPU 1", "--cpu 0")
    assert "1 vCPU" in line
    # -accel none: a VM without any vCPU.
    k = kvmfs(*PC, accel=False)
    one_line(tool(STATUS, k.mnt), 2, "no vCPU 0", "none")


@pytest.mark.parametrize("args,words", [
    (["--va", "zz"], ["--va", "'zz'"]),
    (["--va", str(1 << 64)], ["--va"]),
    (["--va", "0x0000800000000000"], ["0x800000000000", "canonical"]),
    (["--cpu", "-1"], ["--cpu", "'-1'"]),
    (["--cpu", "one"], ["--cpu", "'one'"]),
    (["--bogus"], ["--bogus", "--help"]),
], ids=["va-not-a-number", "va-past-64-bits", "va-non-canonical", "cpu-negative",
        "cpu-not-a-number", "unknown-option"])
def test_guest_status_bad_arguments(dump, args, words):
    r = tool(STATUS, dump.mnt, *args)
    one_line(r, 2, *words)
    assert r.stdout == ""


def test_guest_status_no_page_there(dump):
    # Mapped, but zeros where the magic would be.
    one_line(tool(STATUS, dump.mnt, "--va", "0x2000"), 1, "no status page at 0x2000")
    # Not mapped at all (PDPT entry 1 is not present).
    one_line(tool(STATUS, dump.mnt, "--va", "0x40000000"), 1, "not mapped")


def test_guest_status_wrong_mountpoint(kvmfs, tmp_path):
    missing = tmp_path / "no-such-dir"
    one_line(tool(STATUS, missing), 2, str(missing), "No such file or directory")
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line(tool(STATUS, empty), 2, str(empty), "not a kvmfs mount")
    afile = tmp_path / "a-file"
    afile.write_text("x\n")
    one_line(tool(STATUS, afile), 2, str(afile), "not a directory")


def test_guest_status_unreadable(kvmfs, open_dir):
    core = os.path.join(open_dir, "one-cpu.core")
    with open(core, "wb") as f:
        f.write(one_cpu_core())
    for d in ("root-only", "shared"):
        os.mkdir(os.path.join(open_dir, d))
    k = kvmfs("-dump", core, mnt=os.path.join(open_dir, "root-only"), accel=False)
    one_line(as_nobody([STATUS, k.mnt]), 2, k.mnt, "Permission denied")
    # allow_other: vcpus/ is listed, vmem (0400, guest memory) is not theirs.
    k = kvmfs("-dump", core, "-o", "allow_other", mnt=os.path.join(open_dir, "shared"),
              accel=False)
    one_line(as_nobody([STATUS, k.mnt]), 2, "vmem", "Permission denied")


# ---- layout-png.sh and deps.sh ----

def path_without(tmp_path, missing, needed):
    """A PATH directory holding links to the needed commands, not to missing."""
    d = tmp_path / "bin"
    d.mkdir()
    for name in needed:
        where = shutil.which(name)
        assert where, f"{name} is not installed"
        (d / name).symlink_to(where)
    assert not (d / missing).exists()
    return str(d)


LAYOUT_NEEDS = ("sh", "dirname", "mktemp", "cp", "sed", "head", "tail", "grep", "rm")


def test_layout_png_without_chromium_says_how(kvmfs, tmp_path):
    k = kvmfs(*PC, accel=False)
    out = tmp_path / "layout.png"
    env = dict(os.environ, PATH=path_without(tmp_path, "chromium", LAYOUT_NEEDS))
    r = tool(LAYOUT_PNG, k.mnt, out, env=env)
    one_line(r, 1, "chromium is missing", "apt-get install", "chromium", "tools/deps.sh png")
    assert not out.exists()


@pytest.mark.parametrize("case", ["usage", "no-such-source", "not-a-mount", "not-svg",
                                  "no-out-dir"])
def test_layout_png_bad_input_is_one_line(tmp_path, case):
    notsvg = tmp_path / "not.svg"
    notsvg.write_text("<html>not a picture</html>\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out.png"
    args, status, words = {
        "usage": ([tmp_path], 2, ["usage:", "MNT OUT.png"]),
        "no-such-source": ([tmp_path / "nothing", out], 1, ["nothing", "no such file"]),
        "not-a-mount": ([empty, out], 1, [str(empty), "no layout.svg"]),
        "not-svg": ([notsvg, out], 1, [str(notsvg), "not an SVG"]),
        "no-out-dir": ([notsvg, tmp_path / "nodir" / "x.png"], 1, ["nodir", "cannot write"]),
    }[case]
    if case == "not-svg" and not shutil.which("chromium"):
        pytest.fail("chromium is missing: tools/deps.sh png installs it")
    r = tool(LAYOUT_PNG, *args)
    one_line(r, status, *words)
    assert not out.exists()


def test_layout_png_help(tmp_path):
    r = tool(LAYOUT_PNG, "--help")
    assert r.returncode == 0 and r.stderr == "" and r.stdout.startswith("usage: layout-png.sh ")


def test_deps_png_is_chromium(tmp_path, open_dir):
    # dpkg-query that knows no package: deps.sh must name what the png set
    # needs.  Not root: it prints the apt-get line instead of running it.
    stub = os.path.join(open_dir, "bin")
    os.mkdir(stub)
    os.chmod(stub, 0o755)
    with open(os.path.join(stub, "dpkg-query"), "w") as f:
        f.write("#!/bin/sh\nexit 1\n")
    os.chmod(os.path.join(stub, "dpkg-query"), 0o755)
    r = as_nobody(["env", f"PATH={stub}:/usr/bin:/bin", DEPS, "png"])
    line = one_line(r, 1, "apt-get install")
    assert line.endswith(" chromium"), line
    # Here, as root, with Debian's real dpkg-query: chromium is installed (the
    # test_layout_svg.py tests need it), so `png` is quiet and done.
    if not shutil.which("chromium"):
        pytest.fail("chromium is missing: tools/deps.sh png installs it")
    r = subprocess.run([str(DEPS), "png"], capture_output=True, text=True, timeout=TIMEOUT)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


def test_deps_unknown_set(tmp_path):
    one_line(tool(DEPS, "pictures"), 2, "'pictures'", "png")
