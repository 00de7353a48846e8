"""One error channel: a file option whose path holds a newline (and names
no file) is refused with exactly one stderr line, exit status 1, and
nothing mounted.  The newline is shown as '?', as errmsg() scrubs it.

-initrd is opened only after -kernel has been read and parsed, so it comes
with a minimal vmlinux (one PT_LOAD whose start is the entry point).  -dump
takes no -accel (a dump never runs).

Run: python3 -m pytest -q tests/integration/test_error_lines.py
"""
import os
import struct

import pytest

from conftest import is_mounted

BAD_PATH = "/nonexistent/a\nb"
SHOWN = "/nonexistent/a?b"


def tiny_vmlinux(path):
    """An ELF64 x86-64 ET_EXEC with one PT_LOAD at 16 MiB holding its entry."""
    paddr, code = 0x1000000, b"\xf4" * 16  # hlt
    ehdr = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + bytes(9), 2, 62, 1,
                       paddr, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 120, paddr, paddr, len(code), len(code), 0x1000)
    path.write_bytes(ehdr + phdr + code)
    return path


CASES = {
    "bios": (("-bios", BAD_PATH), True),
    "kernel": (("-kernel", BAD_PATH), True),
    "initrd": (("-kernel", "{vmlinux}", "-initrd", BAD_PATH), True),
    "dump": (("-dump", BAD_PATH), False),
    "vmcoreinfo": (("-vmcoreinfo", BAD_PATH), True),
}


@pytest.mark.parametrize("name", list(CASES))
def test_newline_in_path_is_one_line(run_kvmfs, tmp_path, name):
    args, accel = CASES[name]
    vmlinux = tiny_vmlinux(tmp_path / "vmlinux")
    args = [a.format(vmlinux=vmlinux) for a in args]
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = run_kvmfs(*args, mnt=mnt, accel=accel)
    assert r.returncode == 1, (r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    opt = args[-2]
    assert lines[0] == f"kvmfs: {opt} {SHOWN}: No such file or directory", lines[0]
    assert not is_mounted(mnt)
    assert os.listdir(mnt) == []


def test_tiny_vmlinux_is_a_kernel(run_kvmfs, tmp_path):
    """The -initrd case above fails at the initrd, not at the kernel: with
    a readable initrd the same kernel gets past both files and is refused
    only when it is placed in RAM (-m 2M is too small for 16 MiB), which
    comes after both files were read."""
    vmlinux = tiny_vmlinux(tmp_path / "vmlinux")
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"\0" * 512)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = run_kvmfs("-m", "2M", "-kernel", vmlinux, "-initrd", initrd, mnt=mnt)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"kvmfs: -kernel {vmlinux}: needs RAM at 0x1000000-"), lines[0]
    assert not is_mounted(mnt)


def test_newline_in_mountpoint_is_one_line(run_kvmfs, tmp_path):
    """The mountpoint's own checks write through the same channel."""
    r = run_kvmfs("-m", "64M", mnt=BAD_PATH)
    assert r.returncode == 1, (r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert lines == [f"kvmfs: mountpoint {SHOWN} does not exist"], r.stderr
