#!/usr/bin/python3
"""qemu-dump.py - boot a Linux kernel under QEMU TCG and dump its memory as QEMU does.

  tools/qemu-dump.py [--kernel K] [--initrd I] [--append CMDLINE] [-m SIZE]
                     [--marker TEXT] [--idle] [--timeout S] OUT

Starts qemu-system-x86_64 -accel tcg -M pc (no KVM needed), waits until the
serial console prints MARKER (default "kvmfs-initramfs: ready", the last line
of tools/make-initramfs.sh's /init), stops the guest over QMP and has QEMU
write `dump-guest-memory` (paging off: an ELF core with one PT_LOAD per
guest-physical RAM range, an NT_PRSTATUS and a "QEMU" CPU-state note per
CPU, no VMCOREINFO) to OUT.  --idle first ends the initramfs's spinning
marker process (a `kill` typed on the serial console's shell) and waits a
second, so that the CPU is stopped in the kernel's idle loop rather than in
that process: a kernel stack to unwind.  Beside OUT:

  OUT.console   everything the guest wrote to its serial port
  OUT.json      what QEMU itself says about the stopped guest: `info
                registers` of every CPU, the command line, the kernel

These are the fixtures of tests/integration/test_kernel_debug.py (a fully
booted kernel, on any host) and the "dump" side of the README's timings.
Defaults, relative to the current directory: build/debian-kernel/vmlinuz
(tools/fetch-debian-kernel.sh), build/initramfs.cpio (tools/make-initramfs.sh),
-m 512M.  make install puts it on PATH as kvmfs-qemu-dump (and tools/qmp.py,
which it imports, in $(PREFIX)/share/kvmfs/).
"""
import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The QMP client, tools/qmp.py: beside this script in the tree (sys.path[0]),
# in ../share/kvmfs/ once installed as bin/kvmfs-qemu-dump - found relative to
# the script, so a DESTDIR-staged or moved install finds it too.  No
# __pycache__ is written there: an installed tree is the package's, not ours.
sys.dont_write_bytecode = True
sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "share" / "kvmfs"))
from qmp import Qmp  # noqa: E402

DEFAULT_APPEND = "console=ttyS0 nokaslr panic=-1 loglevel=7"


def die(msg):
    print(f"qemu-dump: {msg}", file=sys.stderr)
    sys.exit(1)


def go_idle(ser_path, console):
    """End the marker process through the console's shell; then the CPU idles."""
    m = re.search(r"marker pid (\d+)", console.read_text(errors="replace"))
    if not m:
        die("--idle: no 'marker pid' line on the console")
    ser = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ser.connect(str(ser_path))
    ser.sendall(f"kill {m.group(1)}; echo qemu-dump-idle\n".encode())
    deadline = time.monotonic() + 30
    # The command's echo and then its output: "qemu-dump-idle" twice.
    while console.read_text(errors="replace").count("qemu-dump-idle") < 2:
        if time.monotonic() > deadline:
            die("--idle: the guest's shell did not run the kill")
        try:
            ser.settimeout(0.2)
            ser.recv(65536)
        except socket.timeout:
            pass
    time.sleep(1.0)
    ser.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="the ELF core to write (OUT.console, OUT.json beside it)")
    ap.add_argument("--kernel", default="build/debian-kernel/vmlinuz")
    ap.add_argument("--initrd", default="build/initramfs.cpio")
    ap.add_argument("--append", default=DEFAULT_APPEND)
    ap.add_argument("-m", dest="mem", default="512M")
    ap.add_argument("-smp", dest="smp", default="1")
    ap.add_argument("--marker", default="kvmfs-initramfs: ready")
    ap.add_argument("--idle", action="store_true",
                    help="stop the CPU in the kernel's idle loop, not in user space")
    ap.add_argument("--timeout", type=float, default=300.0)
    a = ap.parse_args()

    for f in (a.kernel, a.initrd):
        if f and not Path(f).is_file():
            die(f"{f}: no such file (tools/fetch-debian-kernel.sh, tools/make-initramfs.sh)")
    out = Path(a.out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    console = Path(str(out) + ".console")
    tmp = Path(tempfile.mkdtemp(prefix="qemu-dump-"))
    qmp_path = tmp / "qmp.sock"
    ser_path = tmp / "serial.sock"
    # The serial port is a socket (to type on the guest's shell) that QEMU also logs.
    cmd = ["qemu-system-x86_64", "-accel", "tcg", "-M", "pc", "-m", a.mem, "-smp", a.smp,
           "-nodefaults", "-display", "none", "-no-reboot",
           "-chardev", f"socket,id=ser0,path={ser_path},server=on,wait=off,logfile={console}",
           "-serial", "chardev:ser0",
           "-qmp", f"unix:{qmp_path},server=on,wait=off",
           "-kernel", a.kernel, "-append", a.append]
    if a.initrd:
        cmd += ["-initrd", a.initrd]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        qmp = Qmp(qmp_path, connect_timeout=30, timeout=None)
        while a.marker not in console.read_text(errors="replace") if console.exists() else True:
            if proc.poll() is not None:
                die(f"QEMU ended ({proc.returncode}) before '{a.marker}': "
                    f"{proc.stderr.read().decode(errors='replace').strip()}")
            if time.monotonic() - start > a.timeout:
                die(f"no '{a.marker}' on the console after {a.timeout:.0f} s; see {console}")
            time.sleep(0.2)
        booted = time.monotonic() - start
        if a.idle:
            go_idle(ser_path, console)
        qmp.cmd("stop")
        regs = qmp.hmp("info registers -a")
        if out.exists():
            out.unlink()
        t0 = time.monotonic()
        qmp.cmd("dump-guest-memory", paging=False, protocol=f"file:{out}")
        dumped = time.monotonic() - t0
        info = {"qemu": cmd, "kernel": a.kernel, "initrd": a.initrd, "append": a.append,
                "mem": a.mem, "smp": a.smp, "info_registers": regs,
                "boot_seconds": round(booted, 1), "dump_seconds": round(dumped, 2)}
        Path(str(out) + ".json").write_text(json.dumps(info, indent=1) + "\n")
        qmp.cmd("quit")
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for p in tmp.iterdir():
            p.unlink()
        tmp.rmdir()
    print(f"qemu-dump: {out} ({os.path.getsize(out)} bytes): booted to '{a.marker}' in "
          f"{booted:.1f} s, dumped in {dumped:.2f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
