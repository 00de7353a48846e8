"""The README's sessions run as written.

Every ```console block of README.md that follows a `<!-- readme-test: KIND -->`
comment is run here, command by command, in one bash from the repository's
top directory, and what each command prints (stdout and stderr) is compared
with the lines the README shows under it:

  any-host  runs on every host with /dev/fuse (kvmfs picks `-accel none` by
            itself where there is no /dev/kvm, as the README says);
  kvm       needs a running guest (marker `guest`).

Blocks without such a comment are shown, not run (they download a kernel,
or need a debug vmlinux).  The comparison is a user's: whitespace between
words does not count (ls prints columns to a terminal and lines to a pipe),
and `...` in the README stands for any text, on one line or many.

Two things differ from a user at a terminal, and only these: the mountpoint
`/mnt/vm` is a fresh directory of the test's own (the README's `mkdir -p`
makes it as written), and a command the README sends to the background with
`&` is given time to mount (a user reads the next line first) and has its
stderr collected apart, since it would land anywhere on a terminal; that
stderr must hold kvmfs's ready line and nothing alarming.  Each block ends
with its kvmfs gone and nothing mounted; a kvmfs left behind is ended by
its PID and fails the test.

Run: python3 -m pytest -q tests/integration/test_readme.py
"""
import os
import re
import signal
import subprocess
import time
import uuid

import pytest

from conftest import ROOT, have_kvm, require_guest

README = ROOT / "README.md"
MNT = "/mnt/vm"
MOUNT_TIMEOUT = 20.0


def console_blocks(text):
    """[(kind, first line number, [(command, [expected lines])])]."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = re.fullmatch(r"<!-- readme-test: ([a-z-]+) -->", lines[i].strip())
        if not m:
            i += 1
            continue
        assert lines[i + 1].strip() == "```console", \
            f"README line {i + 2}: a readme-test comment must precede a ```console block"
        start, i, steps = i + 2, i + 2, []
        while lines[i].strip() != "```":
            line = lines[i]
            if line.startswith("$ "):
                steps.append([line[2:], []])
            elif line.startswith("> ") and steps and not steps[-1][1]:
                steps[-1][0] += "\n" + line[2:]
            else:
                assert steps, f"README line {i + 1}: output before any command"
                steps[-1][1].append(line)
            i += 1
        blocks.append((m.group(1), start, [(c, out) for c, out in steps]))
    return blocks


BLOCKS = console_blocks(README.read_text())


def matches(expected, actual):
    """Whitespace-insensitive; `...` is any text (or none)."""
    words = " ".join(expected).split()
    pattern = r"\s*".join(r".*?" if w == "..." else re.escape(w).replace(r"\.\.\.", ".*?")
                          for w in words)
    return re.fullmatch(r"\s*" + pattern + r"\s*", actual, re.S) is not None


def params():
    out = []
    for kind, line, steps in BLOCKS:
        assert kind in ("any-host", "kvm"), f"README line {line}: unknown kind {kind}"
        marks = [pytest.mark.guest] if kind == "kvm" else []
        out.append(pytest.param(kind, steps, id=f"line{line}-{kind}", marks=marks))
    return out


def test_the_readme_has_sessions_that_run_everywhere():
    """The first session of the README runs on every host: a README whose
    examples all need KVM would be checked nowhere in a CI without it."""
    assert BLOCKS and BLOCKS[0][0] == "any-host"


def mounted(path):
    with open("/proc/self/mountinfo") as f:
        return any(l.split()[4] == path for l in f)


@pytest.mark.parametrize("kind,steps", params())
def test_readme_session(kind, steps, tmp_path):
    if not os.path.exists("/dev/fuse"):
        pytest.skip("no /dev/fuse: nothing can mount")
    if kind == "kvm":
        require_guest("the README shows the built-in guest running")
    mnt = str(tmp_path / "vm")  # made by the README's own mkdir, or by us
    os.makedirs(mnt, exist_ok=True)
    bgerr = tmp_path / "background.stderr"
    pids = tmp_path / "background.pids"
    shell = subprocess.Popen(["bash", "--norc", "--noprofile"], cwd=ROOT, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, env={**os.environ, "LC_ALL": "C"})
    try:
        for cmd, expected in steps:
            cmd = cmd.replace(MNT, mnt)
            background = cmd.rstrip().endswith("&")
            if background:
                cmd = cmd.rstrip()[:-1] + f" 2>>{bgerr} & echo $! >> {pids}"
            end = f"@@{uuid.uuid4().hex}@@"
            shell.stdin.write(f"{cmd}\necho; echo {end}\n")
            shell.stdin.flush()
            out = []
            for line in shell.stdout:
                if line.rstrip("\n") == end:
                    break
                out.append(line)
            actual = "".join(out)
            assert matches(expected, actual), \
                f"README `$ {cmd}` printed:\n{actual}\nthe README shows:\n" + "\n".join(expected)
            if background:
                deadline = time.monotonic() + MOUNT_TIMEOUT
                while not mounted(mnt) and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert mounted(mnt), f"`{cmd}` did not mount {mnt}: {bgerr.read_text()}"
        shell.stdin.close()
        shell.wait(timeout=30)
        # Every kvmfs the session started ended when the session unmounted it.
        started = [int(p) for p in pids.read_text().split()] if pids.exists() else []
        deadline = time.monotonic() + 10
        while any(os.path.exists(f"/proc/{p}") for p in started) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(os.path.exists(f"/proc/{p}") for p in started), \
            "a kvmfs the README started is still running after its session"
        assert not mounted(mnt)
        err = bgerr.read_text() if bgerr.exists() else ""
        if started:
            assert "kvmfs: ready" in err
        assert "fuse:" not in err and "error" not in err.lower(), err
    finally:
        if shell.poll() is None:
            shell.kill()
        for p in (pids.read_text().split() if pids.exists() else []):
            try:
                os.kill(int(p), signal.SIGTERM)
            except ProcessLookupError:
                pass
        if mounted(mnt):
            subprocess.run(["fusermount3", "-uz", mnt])


def test_without_dev_kvm_kvmfs_builds_the_tree_alone(kvmfs):
    """The README's first session names no -accel: where /dev/kvm is absent
    kvmfs takes -accel none by itself and says so in its ready line; where
    it is present it runs the guest (no fallback)."""
    k = kvmfs("-m", "64M", accel=False)
    ready = next(l for l in k.stderr().splitlines() if l.startswith("kvmfs: ready"))
    ctl = open(k.path("ctl")).read()
    if os.path.exists("/dev/kvm"):
        assert "-accel none" not in ready and "no /dev/kvm" not in ready
        assert ctl.startswith(("running", "paused")), ctl
    else:
        assert "-accel none (no /dev/kvm here: no guest runs)" in ready, ready
        assert ctl.startswith("no vcpus"), ctl
