#!/usr/bin/env python3
"""ripsample.py - where a guest kernel spends its time, by sampling its RIP.

    tools/bench/ripsample.py MNT SYSTEM.MAP [--hz 2] [--seconds 60] [--cpu 0]

Stops the VM through MNT/ctl, reads vCPU N's exact registers from
MNT/vcpus/N/regs, lets it go on, HZ times a second for SECONDS, and prints
the functions the RIPs fall in (from the kernel's System.map), most
frequent first.  Each sample costs the guest one stop and one cont, a few
milliseconds.  Useful where ring 0 is emulated and a boot takes minutes:
it says which kernel code those minutes went to (README, "Booting Linux").
"""
import argparse
import bisect
import collections
import re
import sys
import time
from pathlib import Path


def load_map(path):
    syms = []
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            syms.append((int(parts[0], 16), parts[2]))
    syms.sort()
    return [a for a, _ in syms], [n for _, n in syms]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mnt")
    ap.add_argument("system_map")
    ap.add_argument("--hz", type=float, default=2.0)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--cpu", type=int, default=0)
    args = ap.parse_args()
    addrs, names = load_map(args.system_map)
    ctl = Path(args.mnt, "ctl")
    regs = Path(args.mnt, "vcpus", str(args.cpu), "regs")
    counts = collections.Counter()
    end = time.monotonic() + args.seconds
    n = 0
    while time.monotonic() < end:
        ctl.write_text("stop\n")
        try:
            m = re.search(r"RIP=([0-9a-f]+) .* CPL=(\d)", regs.read_text())
        finally:
            ctl.write_text("cont\n")  # even on ^C: never leave the guest stopped
        if m:
            rip, cpl = int(m.group(1), 16), m.group(2)
            i = bisect.bisect_right(addrs, rip) - 1
            counts[names[i] if cpl == "0" and i >= 0 else f"(user, CPL {cpl})"] += 1
            n += 1
        time.sleep(1.0 / args.hz)
    for name, c in counts.most_common(25):
        print(f"{100.0 * c / max(n, 1):5.1f} %  {c:5d}  {name}")
    print(f"{n} samples")


if __name__ == "__main__":
    sys.exit(main())
