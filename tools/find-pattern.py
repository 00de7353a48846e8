#!/usr/bin/env python3
"""find-pattern.py - find every occurrence of a byte pattern in a guest's
physical memory, through a kvmfs mount.

    tools/find-pattern.py MNT TEXT           the pattern as text (UTF-8)
    tools/find-pattern.py MNT --hex 4b564d   the pattern as hex bytes

Reads MNT/phys (offset = guest-physical address), visiting only its data:
SEEK_DATA/SEEK_HOLE skip ranges without RAM and memory the guest never
touched, so a 16 GiB guest that used 100 MiB costs 100 MiB of reading.
Prints one line per match, in address order:

    0x<guest-physical address> <ramblock>+0x<offset in the block>

the owning block from MNT/phys.json.  A block mapped at two addresses (an
alias, like the BIOS's last 128 KiB at 0xe0000) shows a match at both.
Exit status 1 when there is none.
"""
import argparse
import bisect
import errno
import json
import os
import sys

CHUNK = 1 << 20


def data_extents(fd, size):
    """(start, end) of every data extent of the file, in order."""
    pos = 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:
                return
            raise
        end = os.lseek(fd, start, os.SEEK_HOLE)
        yield start, end
        pos = end


def find(fd, size, pattern):
    """Guest-physical addresses of every match (overlapping ones included)."""
    keep = len(pattern) - 1
    for start, end in data_extents(fd, size):
        pos, tail = start, b""
        while pos < end:
            got = os.pread(fd, min(CHUNK, end - pos), pos)
            if not got:
                break
            buf, base = tail + got, pos - len(tail)
            i = buf.find(pattern)
            while i >= 0:
                yield base + i
                i = buf.find(pattern, i + 1)
            pos += len(got)
            # A match may straddle two chunks: carry the last len-1 bytes over.
            tail = buf[-keep:] if keep else b""


def owner(ranges, starts, gpa):
    i = bisect.bisect_right(starts, gpa) - 1
    if i >= 0 and gpa <= ranges[i]["last"]:
        r = ranges[i]
        return f"{r['ramblock']}+0x{r['offset'] + gpa - r['start']:x}"
    return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mnt", help="where kvmfs is mounted")
    ap.add_argument("pattern", help="the bytes to find (text, or hex with --hex)")
    ap.add_argument("--hex", action="store_true", help="PATTERN is hex digits")
    a = ap.parse_args()
    pattern = bytes.fromhex(a.pattern) if a.hex else a.pattern.encode()
    if not pattern:
        ap.error("empty pattern")
    with open(os.path.join(a.mnt, "phys.json")) as f:
        layout = json.load(f)
    ranges = sorted(layout["ranges"], key=lambda r: r["start"])
    starts = [r["start"] for r in ranges]
    found = 0
    fd = os.open(os.path.join(a.mnt, "phys"), os.O_RDONLY)
    try:
        for gpa in find(fd, layout["size"], pattern):
            print(f"0x{gpa:x} {owner(ranges, starts, gpa)}")
            found += 1
    finally:
        os.close(fd)
    return 0 if found else 1


if __name__ == "__main__":
    sys.exit(main())
