#!/usr/bin/python3
"""check-layers.py - every #include in src/ goes down the layers, or stays in its folder.

The layers, bottom to top (src/README.md says what each holds):

    util < memory < machine < kvm < {hw, boot, inspect, qemu} < vm.c, cmdline.c < fs < main.c

A file may include headers of its own folder and of the layers below it.
hw/, boot/, inspect/ and qemu/ are peers: none includes another.  Prints every
arrow that breaks the rule and exits 1 if there is one; otherwise prints
how many includes it checked.  `make check` runs it.
"""
import re
import sys
from pathlib import Path

RANK = {"util": 0, "memory": 1, "machine": 2, "kvm": 3, "hw": 4, "boot": 4, "inspect": 4, "qemu": 4,
        "top": 5, "fs": 6, "main": 7}
TOP = {"vm", "cmdline"}  # src/vm.[ch], src/cmdline.[ch]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def layer(path):
    """The layer of a file under src/, or of the header an include names."""
    parts = Path(path).parts
    if len(parts) == 1:
        stem = Path(parts[0]).stem
        return "main" if stem == "main" else "top" if stem in TOP else None
    return parts[0] if parts[0] in RANK else None


def main():
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "src")
    bad, checked = [], 0
    for f in sorted(src.rglob("*.[ch]")):
        rel = f.relative_to(src)
        mine = layer(rel)
        if mine is None:
            bad.append(f"{f}: in no layer (src/README.md lists them)")
            continue
        for n, line in enumerate(f.read_text().splitlines(), 1):
            m = INCLUDE.match(line)
            if not m or m.group(1).startswith("kvmfs/"):  # the installed ABI: every layer's
                continue
            theirs = layer(m.group(1))
            checked += 1
            if theirs is None:
                bad.append(f"{f}:{n}: includes \"{m.group(1)}\", which is in no layer")
            elif theirs != mine and RANK[theirs] >= RANK[mine]:
                bad.append(f"{f}:{n}: {mine} includes \"{m.group(1)}\" of {theirs}"
                           f" ({'a peer' if RANK[theirs] == RANK[mine] else 'a layer above'})")
    for b in bad:
        print(b)
    if bad:
        print(f"check-layers: {len(bad)} of {checked} includes go up or sideways", file=sys.stderr)
        return 1
    print(f"check-layers: {checked} includes, all going down or within a folder")
    return 0


if __name__ == "__main__":
    sys.exit(main())
