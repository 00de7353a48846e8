"""The bad-input matrix: every row one clear error line (or errno), no crash,
no mount left, guest memory unchanged.

Rows test_fs.py already covers are not repeated here: the four bad
mountpoints, reads at 2^63-1/past EOF/straddling it, writes without
--writable and past EOF, text files opened for writing, ctl garbage,
O_TRUNC/O_APPEND and unlink/rename/mkdir/symlink/link/chmod.

Block names with "..", "/" and control bytes come from
`-object memory-backend-ram,id=NAME,size=SIZE`, an extra RAM block that is
mapped nowhere (QEMU's spelling; kvmfs accepts any id a RAM block can carry).

Run: python3 -m pytest -q tests/integration/test_badinput.py
"""
import errno
import hashlib
import json
import os
import re
import stat

import pytest

from conftest import have_kvm, is_mounted, proc_mem, read

# -S: where KVM runs the guest it would rewrite its records in the very
# memory these tests check is left unchanged.
PC = ("-M", "pc", "-m", "128M", "-S")
ROM_SIZE = 0x20000
BIOS_SIZE = 0x40000
# From 0xff000000 to 4G: above KVM's identity-map and TSS pages at 0xfeffc000.
BIOS_MAX_SIZE = 0x1000000


def one_error_line(r):
    """kvmfs refused: status 1, exactly one non-empty line, prefixed."""
    assert r.returncode == 1, (r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("kvmfs: ") and len(lines[0]) > len("kvmfs: ")
    return lines[0]


def refused(run_kvmfs, mnt, *args):
    line = one_error_line(run_kvmfs(*args, mnt=mnt))
    assert not is_mounted(mnt)
    assert os.listdir(mnt) == []
    return line


@pytest.fixture
def mnt(tmp_path):
    d = tmp_path / "mnt"
    d.mkdir()
    return d


# ---- the command line ----

@pytest.mark.parametrize("value,msg", [
    ("0", "greater than zero"), ("-1", "not a size"), ("1.5G", "fractional"),
    ("10Q", "suffix"), ("99999999T", "too large"), ("", "not a size"),
], ids=["zero", "minus-one", "fraction", "bad-suffix", "huge", "empty"])
def test_bad_ram_size(run_kvmfs, mnt, value, msg):
    line = refused(run_kvmfs, mnt, "-M", "pc", "-m", value)
    assert msg in line and f"'{value}'" in line


@pytest.mark.parametrize("args,msg", [
    (("-M", "isapc"), "unknown machine"),
    (("-M", ""), "unknown machine"),
    (("-smp", "0"), "1 or more"),
    (("-smp", "4096"), "at most"),
    (("-smp", "-1"), "1 or more"),
    (("-object", "memory-backend-file,id=x,size=1M"), "memory-backend-ram"),
    (("-object", "memory-backend-ram,size=1M"), "needs id= and size="),
    (("-object", "memory-backend-ram,id=x"), "needs id= and size="),
    (("-object", "memory-backend-ram,id=x,size=0"), "greater than zero"),
    (("-object", "memory-backend-ram,id=x,size=1M,share=on"), "unknown property 'share'"),
    (("-object", "memory-backend-ram,id=x,size=1M", "-object",
      "memory-backend-ram,id=x,size=2M"), "given twice"),
    (("-object", "memory-backend-ram,id=" + "a" * 256 + ",size=1M"), "longer than 255"),
    (("-object", "memory-backend-ram,id=a\nb,size=1Q"), "suffix"),
    # The sweep period is 1..10000 ms, whole numbers.
    (("-sweep-ms", "0"), "-sweep-ms '0': give 1..10000"),
    (("-sweep-ms", "10001"), "-sweep-ms '10001': give 1..10000"),
    (("-sweep-ms", "-5"), "-sweep-ms '-5': give 1..10000"),
    (("-sweep-ms", "1.5"), "-sweep-ms '1.5': give 1..10000"),
    (("-sweep-ms", "5ms"), "-sweep-ms '5ms': give 1..10000"),
    (("-sweep-ms", ""), "-sweep-ms '': give 1..10000"),
    (("-mem-backing", "file"), "-mem-backing 'file': unknown (memfd, anon)"),
    (("-mem-backing", "MEMFD"), "-mem-backing 'MEMFD': unknown (memfd, anon)"),
    # A file name's newline must not split the one error line.
    (("-kernel", "/nonexistent/a\nb"), "-kernel /nonexistent/a?b: No such file"),
])
def test_bad_options(run_kvmfs, mnt, args, msg):
    assert msg in refused(run_kvmfs, mnt, *PC, *args)


def test_duplicate_block_name_is_refused(run_kvmfs, mnt):
    # The board's own block names are taken: a clear line, nothing built.
    line = refused(run_kvmfs, mnt, *PC, "-object", "memory-backend-ram,id=pc.ram,size=1M")
    assert "exists" in line


# kvmfs's own cap: the built-in guest has 16 per-CPU slots (guest.h,
# GUEST_MAX_CPUS) and the man page says 1..16.
SMP_MAX = 16


# No require_guest(): it runs everywhere, and builds every vCPU where KVM is.
@pytest.mark.guest
def test_smp_limit_is_kvmfs_own(kvmfs, run_kvmfs, mnt):
    # The largest count is accepted: the machine is built (-accel none: on
    # every host) ...
    k = kvmfs(*PC, "-smp", str(SMP_MAX), "-accel", "none", accel=False)
    assert f"-smp {SMP_MAX} -accel none" in k.stderr()
    if have_kvm():
        # ... and with KVM (PC has -S): every vCPU exists, none runs.
        k = kvmfs(*PC, "-smp", str(SMP_MAX))
        assert sorted(os.listdir(k.path("vcpus")), key=int) == [str(i) for i in range(SMP_MAX)]
    # One more is refused with one line, whichever way it is spelled.
    for spelling in (str(SMP_MAX + 1), f"cpus={SMP_MAX + 1}"):
        line = refused(run_kvmfs, mnt, *PC, "-smp", spelling)
        assert f"at most {SMP_MAX} vCPUs" in line, line
    # A limit of the host's KVM (KVM_CAP_MAX_VCPUS, vm.c) is not tested: x86
    # KVM allows far more than 16 (1024 here), so kvmfs's own cap is always
    # the one reached first; a test of it could only ever skip.


@pytest.mark.parametrize("kind", ["missing", "empty", "directory", "not-64k", "too-big"])
def test_bad_bios(run_kvmfs, mnt, tmp_path, kind):
    path = tmp_path / "bios.bin"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "directory":
        path.mkdir()
    elif kind == "not-64k":
        # Above 256 KiB the file is pc.bios itself, and QEMU 7.2 takes only
        # whole 64 KiB ("could not load PC BIOS" for this size).
        path.write_bytes(b"\xf4" * (BIOS_SIZE + 1))
    elif kind == "too-big":
        path.write_bytes(b"\xf4" * (BIOS_MAX_SIZE + 0x10000))
    line = refused(run_kvmfs, mnt, *PC, "-bios", path)
    assert str(path) in line
    assert {"missing": "No such file", "empty": "empty", "directory": "not a regular file",
            "not-64k": "multiple of 64 KiB", "too-big": "at most"}[kind] in line


# ---- requests on a mounted tree ----

def blocks_of(k):
    return {b["idstr"]: b for b in json.loads(read(k.path("ramblocks.json")))}


def memory_digest(k):
    """A digest of the small blocks and the first and last MiB of pc.ram,
    read from kvmfs's own memory (not through the FS)."""
    h = hashlib.sha256()
    for name, b in sorted(blocks_of(k).items()):
        if b["used_length"] <= (1 << 20):
            h.update(proc_mem(k.pid, b["host"], b["used_length"]))
        else:
            h.update(proc_mem(k.pid, b["host"], 1 << 20))
            h.update(proc_mem(k.pid, b["host"] + b["used_length"] - (1 << 20), 1 << 20))
    return h.hexdigest()


def expect_errno(codes, fn, *args):
    with pytest.raises(OSError) as e:
        fn(*args)
    assert e.value.errno in codes, f"{fn.__name__}{args}: {e.value}"


def test_zero_length_and_edge_reads(kvmfs):
    k = kvmfs(*PC)
    before = memory_digest(k)
    for name in ("ramblocks/pc.rom", "ramblocks/pc.ram", "flatview", "ramblocks.json",
                 "console", "ctl"):
        fd = os.open(k.path(name), os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            for off in (0, 1, size // 2, size, size + 1, 2**62, 2**63 - 1):
                assert os.pread(fd, 0, off) == b"", (name, off)
            # Straddling the end: only what is there.
            if size:
                assert len(os.pread(fd, 4096, size - 1)) == 1, name
            assert os.pread(fd, 4096, size) == b"", name
        finally:
            os.close(fd)
    assert memory_digest(k) == before


def test_more_changes_refused_and_memory_unchanged(kvmfs, tmp_path):
    k = kvmfs(*PC, "--writable")
    before = memory_digest(k)
    rom = k.path("ramblocks", "pc.rom")
    for fn, *args in [
        (os.mknod, k.path("fifo"), 0o600 | stat.S_IFIFO),
        (os.mknod, k.path("ramblocks", "node"), 0o600 | stat.S_IFREG),
        (os.mkfifo, k.path("ramblocks", "fifo")),
        (os.truncate, k.path("flatview"), 0),
        (os.truncate, k.path("ctl"), 5),
        (os.truncate, rom, ROM_SIZE - 1),
        (os.truncate, k.path("ramblocks"), 0),
        (os.chmod, k.path("ramblocks"), 0o777),
        (os.chmod, k.path("ctl"), 0o666),
        (os.rename, rom, k.path("ramblocks", "pc.rom2")),
        (os.rename, k.path("ramblocks", "pc.bios"), str(tmp_path / "stolen")),
        (os.unlink, k.path("ctl")),
        (os.utime, rom, (0, 0)),
    ]:
        expect_errno({errno.EPERM, errno.EACCES, errno.EISDIR, errno.EXDEV}, fn, *args)
    assert sorted(os.listdir(k.path("ramblocks"))) == ["pc.bios", "pc.ram", "pc.rom"]
    assert os.stat(rom).st_size == ROM_SIZE
    assert memory_digest(k) == before


def test_ctl_empty_and_huge_writes(kvmfs):
    k = kvmfs(*PC)
    before_state = read(k.path("ctl"))
    fd = os.open(k.path("ctl"), os.O_WRONLY)
    try:
        # An empty write() never reaches the file system; it must not do anything.
        assert os.write(fd, b"") == 0
        expect_errno({errno.EINVAL}, os.write, fd, b"stop" + b"\0" * 60)
        expect_errno({errno.EINVAL}, os.write, fd, b"x" * (1 << 20))
        expect_errno({errno.EINVAL}, os.write, fd, b"stop\n" * (1 << 18))
    finally:
        os.close(fd)
    # The run state is unchanged; the last line says why the last write was refused.
    after = read(k.path("ctl")).decode().splitlines()
    assert after[:-1] == before_state.decode().splitlines()
    assert after[-1].startswith("refused: ") and "a command is at most 64" in after[-1]
    assert k.proc.poll() is None


def test_ram_open_with_trunc_and_append(kvmfs):
    # test_fs.py covers them with --writable; without it both are plain refusals.
    k = kvmfs(*PC)
    rom = k.path("ramblocks", "pc.rom")
    before = memory_digest(k)
    for flags in (os.O_RDONLY | os.O_TRUNC, os.O_WRONLY | os.O_APPEND,
                  os.O_RDWR | os.O_TRUNC | os.O_APPEND):
        expect_errno({errno.EACCES, errno.EPERM}, os.open, rom, flags)
    assert os.stat(rom).st_size == ROM_SIZE
    assert memory_digest(k) == before


# ---- block names that could escape or break the tree ----

NASTY = {
    "../../escape": 0x10000,
    "/../..": 0x1000,
    "a/b": 0x1000,
    "a": 0x2000,
    "ctl\nfake": 0x1000,
    "tab\there": 0x1000,
    "esc\x1b[31m": 0x1000,
    "del\x7f": 0x1000,
    "pct%41": 0x1000,
}


def test_nasty_block_names_stay_inside_the_tree(kvmfs):
    args = []
    for name, size in NASTY.items():
        args += ["-object", f"memory-backend-ram,id={name},size={size}"]
    k = kvmfs(*PC, "--writable", *args)
    mnt = os.path.realpath(k.mnt)
    files = {}
    for dirpath, dirnames, filenames in os.walk(k.mnt):
        real = os.path.realpath(dirpath)
        assert real == mnt or real.startswith(mnt + "/"), real
        for n in dirnames + filenames:
            assert n not in (".", "..") and "/" not in n
            assert all(0x20 <= ord(c) != 0x7f for c in n), repr(n)
        for n in filenames:
            rel = os.path.relpath(os.path.join(dirpath, n), k.mnt)
            files[rel] = os.stat(os.path.join(dirpath, n)).st_size
    ram_files = {f: s for f, s in files.items() if f.startswith("ramblocks/")}
    # One file per block: the three of the board and every -object.
    assert len(ram_files) == 3 + len(NASTY), sorted(ram_files)
    assert ram_files["ramblocks/%2e%2e/%2e%2e/escape"] == 0x10000
    assert ram_files["ramblocks/ctl%0afake"] == 0x1000
    assert ram_files["ramblocks/pct%2541"] == 0x1000
    assert "ramblocks/a/b" in ram_files and "ramblocks/a%~1" in ram_files
    # Nothing appeared outside the mount, and the root is what it always is.
    assert not os.path.exists(os.path.join(os.path.dirname(mnt), "escape"))
    assert "ctl" in os.listdir(k.mnt) and "fake" not in os.listdir(k.mnt)

    # The views carry the exact names; each file reads its own block's memory.
    blocks = blocks_of(k)
    assert set(NASTY) <= set(blocks)
    path = k.path("ramblocks", "%2e%2e", "%2e%2e", "escape")
    fd = os.open(path, os.O_RDWR)
    try:
        assert os.pwrite(fd, b"mine", 0x100) == 4
    finally:
        os.close(fd)
    b = blocks["../../escape"]
    assert proc_mem(k.pid, b["host"] + 0x100, 4) == b"mine"
    assert read(path)[0x100:0x104] == b"mine"
    txt = read(k.path("ramblocks.txt")).decode()
    names = set()
    for row in txt.splitlines()[1:]:
        raw = row.split()[0]
        names.add(re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), raw))
    assert names == set(blocks)
    # Mapped nowhere: no memslot, no flat range.
    assert {s["ramblock"] for s in json.loads(read(k.path("memslots.json")))} <= {
        "pc.ram", "pc.bios", "pc.rom"}


def test_every_json_view_parses(kvmfs):
    """json.loads on every .json of a mounted tree, nasty names included."""
    args = []
    for name, size in NASTY.items():
        args += ["-object", f"memory-backend-ram,id={name},size={size}"]
    k = kvmfs(*PC, *args)
    seen = 0
    for dirpath, _, filenames in os.walk(k.mnt):
        for n in filenames:
            if n.endswith(".json"):
                doc = json.loads(read(os.path.join(dirpath, n)))
                assert doc, n
                seen += 1
    assert seen >= 4
