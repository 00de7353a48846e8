#!/usr/bin/env python3
"""linux_boot.py - how long Debian's cloud kernel takes under kvmfs on this host.

    tools/bench/linux_boot.py [--kvmfs build/kvmfs] [--smp N] [--mem 1G] [--timeout S]

Boots build/debian-kernel/vmlinux with build/initramfs.cpio (tools/fetch-
debian-kernel.sh and tools/make-initramfs.sh make them) under kvmfs,
mounted, and times from the start of kvmfs to each milestone as the
console shows it: the banner, "Memory:", SMP bring-up, the first initcall
messages after it, the end of the initcalls ("Freeing unused kernel image"),
/init's first line and its marker.  It also samples vcpus/0/completions at
the end and the host's load average, and writes everything to
build/bench-linux.json.  Run it on a quiet machine: every figure is wall
time.  `make bench-linux` runs it.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CMDLINE = os.environ.get("LINUX_BOOT_APPEND", "console=ttyS0 earlyprintk=serial nokaslr")

# (name, what to find on the console)
MILESTONES = [
    ("banner", re.compile(r"Linux version ")),
    ("memory", re.compile(r"\] Memory: ")),
    ("smp", re.compile(r"\] smp: Brought up ")),
    ("pci", re.compile(r"\] PCI: Using configuration type 1 for base access")),
    ("initcalls_done", re.compile(r"\] Freeing unused kernel image")),
    ("init", re.compile(r"kvmfs-initramfs: /init running")),
    ("marker", re.compile(r"kvmfs-initramfs: marker pid")),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kvmfs", default=str(ROOT / "build" / "kvmfs"))
    ap.add_argument("--smp", default="1")
    ap.add_argument("--mem", default="1G")
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument("--out", default=str(ROOT / "build" / "bench-linux.json"))
    args = ap.parse_args()

    kernel = ROOT / "build" / "debian-kernel" / "vmlinux"
    initrd = ROOT / "build" / "initramfs.cpio"
    for f in (kernel, initrd):
        if not f.exists():
            sys.exit(f"linux_boot: {f} is missing: run tools/fetch-debian-kernel.sh and "
                     "tools/make-initramfs.sh")
    # Killed by SIGTERM or a lost terminal, still end the VM and unmount (finally below).
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))
    mnt = tempfile.mkdtemp(prefix="kvmfs-bench-linux-")
    err = open(os.path.join(mnt + ".err"), "w+")
    start = time.monotonic()
    proc = subprocess.Popen([args.kvmfs, "-M", "pc", "-m", args.mem, "-smp", args.smp,
                             "-kernel", str(kernel), "-initrd", str(initrd),
                             "-append", CMDLINE, mnt],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    seen = {}
    loads = []
    console = ""
    try:
        while time.monotonic() - start < args.timeout and proc.poll() is None:
            try:
                console = Path(mnt, "console").read_text(errors="replace")
            except OSError:
                console = ""
            now = time.monotonic() - start
            for name, pat in MILESTONES:
                if name not in seen and pat.search(console):
                    seen[name] = round(now, 1)
                    print(f"{now:8.1f} s  {name}", flush=True)
            loads.append(os.getloadavg()[0])
            err.seek(0)
            if "marker" in seen or "the VM is stopped" in err.read():
                break
            time.sleep(0.5)
        try:
            completions = dict(l.split() for l in
                               Path(mnt, "vcpus", "0", "completions").read_text().splitlines())
        except OSError:
            completions = {}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        err.seek(0)
        stderr = err.read()
        err.close()
        os.unlink(mnt + ".err")
        subprocess.run(["fusermount3", "-u", "-z", mnt], stderr=subprocess.DEVNULL)
        os.rmdir(mnt)
    result = {
        "kernel": (ROOT / "build" / "debian-kernel" / "version").read_text().strip(),
        "mem": args.mem, "smp": args.smp,
        "seconds_from_start": seen,
        "completions": {k: int(v) for k, v in completions.items()},
        "load_average_max": max(loads) if loads else None,
        "load_average_mean": round(sum(loads) / len(loads), 2) if loads else None,
        "kvmfs_stderr": stderr.strip().splitlines(),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
