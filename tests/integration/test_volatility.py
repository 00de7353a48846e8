"""Volatility 3 over kvmfs: its Linux plugins read MNT/vmcore and MNT/phys as they read QEMU's dump.

For each of test_kernel_debug.py's QEMU TCG dumps of Debian's cloud kernel
(build/kdump: tcg-nokaslr.core, and tcg-kaslr-derived.core - KASLR, no
VMCOREINFO in the guest), Volatility 3 runs linux.pslist.PsList,
linux.pstree.PsTree, linux.lsmod.Lsmod, linux.kmsg.Kmsg, linux.proc.Maps,
linux.mountinfo.MountInfo and linux.elfs.Elfs on
  (a) QEMU's own dump file (the reference),
  (b) MNT/vmcore and (c) MNT/phys of `kvmfs -dump` of that dump,
and (b)'s and (c)'s output must be (a)'s, byte for byte, with the same exit status.

Volatility and its symbol table (an ISF, from dwarf2json and the kernel's
debug vmlinux) cannot be fetched where CI runs, so these tests carry the
marker `forensics`, which `make integration` and `make asan` leave out; `make
check-forensics VOLATILITY=DIR ISF=FILE|DWARF2JSON=DIR` runs them (doc/volatility.md).
Run by hand:
  KVMFS_VOLATILITY=<volatility3 checkout> KVMFS_VOL_SYMBOLS=<dir holding linux/<isf>.json.xz> \
      /usr/bin/python3 -m pytest -v -m forensics tests/integration/test_volatility.py
Every output goes to build/forensics/out/<dump>/<core|vmcore|phys>/<plugin>.txt (and .err);
KVMFS_FORENSICS_OUT=DIR puts them elsewhere.
"""
import difflib
import os
import struct
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import ROOT
# The kernel, the initramfs and QEMU's dumps, made (once, cached in build/) as
# test_kernel_debug.py makes them; its test functions are not imported.
from test_kernel_debug import kaslr_dump, nokaslr_dump  # noqa: F401

pytestmark = pytest.mark.forensics

PYTHON = "/usr/bin/python3"  # Debian's, where python3-pefile is
PLUGINS = ["linux.pslist.PsList", "linux.pstree.PsTree", "linux.lsmod.Lsmod", "linux.kmsg.Kmsg",
           "linux.proc.Maps", "linux.mountinfo.MountInfo", "linux.elfs.Elfs"]
OUT = Path(os.environ.get("KVMFS_FORENSICS_OUT") or ROOT / "build" / "forensics" / "out")
# Volatility's own cache (the banner -> ISF index), kept in build/, not in ~/.cache.
CACHE = ROOT / "build" / "forensics" / "cache"
VOL_TIMEOUT = 1200  # one plugin on one file: 30 s here, a loaded 2-core host
# Volatility runs this many at a time (each ~400 MB, one core).
JOBS = int(os.environ.get("KVMFS_FORENSICS_JOBS") or 2)


@pytest.fixture(scope="module")
def volatility():
    """(vol.py, symbol directory), from the environment make check-forensics sets."""
    vol = os.environ.get("KVMFS_VOLATILITY")
    symbols = os.environ.get("KVMFS_VOL_SYMBOLS")
    if not vol or not (Path(vol) / "vol.py").is_file():
        pytest.skip("KVMFS_VOLATILITY is not a volatility3 checkout (make check-forensics "
                    "VOLATILITY=DIR sets it)")
    if not symbols or not list(Path(symbols).glob("linux/*.json*")):
        pytest.skip("KVMFS_VOL_SYMBOLS has no linux/*.json* symbol table (make check-forensics "
                    "ISF=FILE or DWARF2JSON=DIR makes it)")
    CACHE.mkdir(parents=True, exist_ok=True)
    return Path(vol) / "vol.py", Path(symbols)


def elf_end(path):
    """Where the last segment of an ELF core ends (0 while its headers are not yet written)."""
    with open(path, "rb") as f:
        eh = f.read(64)
        if len(eh) < 64 or eh[:4] != b"\x7fELF":
            return 0
        phoff, = struct.unpack_from("<Q", eh, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", eh, 0x36)
        f.seek(phoff)
        ph = f.read(phentsize * phnum)
    if len(ph) < phentsize * phnum or not phnum:
        return 0
    return max(struct.unpack_from("<Q", ph, i * phentsize + 8)[0] +
               struct.unpack_from("<Q", ph, i * phentsize + 32)[0] for i in range(phnum))


def pinned(core, dest, timeout=600.0):
    """dest, a hard link to core, once the file it names is whole.  (a), (b) and (c)
    must read the very same dump: build/kdump may be shared with other trees, whose
    test_kernel_debug.py remakes a dump it finds older than its tools/qemu-dump.py
    (qemu-dump.py unlinks the old file and writes a new one, in place)."""
    deadline = time.monotonic() + timeout
    while True:
        dest.unlink(missing_ok=True)
        try:
            os.link(core, dest)
        except FileNotFoundError:
            pass  # between qemu-dump.py's unlink and QEMU's new file
        else:
            end = elf_end(dest)
            if end and os.path.getsize(dest) >= end:
                return dest
        assert time.monotonic() < deadline, f"{core} is not a whole ELF core after {timeout:.0f} s"
        time.sleep(2)


def run_plugins(volatility, image, out):
    """{plugin: (exit status, stdout)} of every plugin on image; both streams kept in out/."""
    vol, symbols = volatility
    out.mkdir(parents=True, exist_ok=True)

    def one(plugin):
        r = subprocess.run([PYTHON, str(vol), "-q", "--offline", "--cache-path", str(CACHE),
                            "-s", str(symbols), "-f", str(image), plugin],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=VOL_TIMEOUT)
        (out / f"{plugin}.txt").write_text(r.stdout)
        (out / f"{plugin}.err").write_text(r.stderr)
        return plugin, (r.returncode, r.stdout, r.stderr)

    with ThreadPoolExecutor(max_workers=JOBS) as pool:
        return dict(pool.map(one, PLUGINS))


def differences(name, ref, got):
    """One paragraph per plugin whose exit status or output differs from the reference's."""
    out = []
    for plugin in PLUGINS:
        (rc_a, a, _), (rc_b, b, err) = ref[plugin], got[plugin]
        if (rc_a, a) == (rc_b, b):
            continue
        diff = list(difflib.unified_diff(a.splitlines(), b.splitlines(), "QEMU's dump", name,
                                         lineterm="", n=1))
        out.append(f"{name} {plugin}: exit {rc_b} (reference {rc_a}), "
                   f"{len(b.splitlines())} lines (reference {len(a.splitlines())})\n"
                   + "\n".join(diff[:12]) + (f"\n{err.strip().splitlines()[-1]}" if err.strip()
                                              else ""))
    return out


@pytest.mark.parametrize("dump", ["nokaslr_dump", "kaslr_dump"])
def test_volatility_reads_vmcore_and_phys_as_qemus_dump(kvmfs, volatility, request, dump):
    out = OUT / request.getfixturevalue(dump).core.name.removesuffix(".core")
    out.mkdir(parents=True, exist_ok=True)
    core = pinned(request.getfixturevalue(dump).core, out / "dump.core")
    ref = run_plugins(volatility, core, out / "core")
    # The reference must be a real answer, or equal outputs would prove nothing.
    for plugin, (rc, text, err) in ref.items():
        assert rc == 0, f"Volatility fails on QEMU's own dump, {plugin}:\n{err[-2000:]}"
    pslist = ref["linux.pslist.PsList"][1]
    assert "\tinit\t" in pslist and "\tkthreadd\t" in pslist and "\tsh\t" in pslist, pslist
    assert "Linux version " in ref["linux.kmsg.Kmsg"][1]
    for plugin in ("linux.proc.Maps", "linux.elfs.Elfs"):
        assert "/bin/busybox" in ref[plugin][1], ref[plugin][1]

    k = kvmfs("-dump", core, accel=False)
    bad = []
    try:
        for name in ("vmcore", "phys"):
            bad += differences(f"MNT/{name}", ref, run_plugins(volatility, k.path(name), out / name))
    finally:
        core.unlink()  # the link may be all that keeps an old dump's 512 MiB on the disk
    assert not bad, f"Volatility reads kvmfs's files of {out.name}.core differently (outputs in " \
                    f"{out}):\n\n" + "\n\n".join(bad)
