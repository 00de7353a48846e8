#!/usr/bin/env python3
"""find-pattern.py - find every occurrence of a byte pattern in a guest's
physical memory, through a kvmfs mount.

    tools/find-pattern.py MNT TEXT           the pattern as text (UTF-8)
    tools/find-pattern.py MNT --hex 4b564d   the pattern as hex bytes

Reads MNT/phys (offset = guest-physical address), visiting only its data:
SEEK_DATA/SEEK_HOLE skip ranges without RAM and memory the guest never
touched, so a 16 GiB guest that used 100 MiB costs 100 MiB of reading.
(`grep -a` and `strings` read every byte of phys's apparent size instead,
zeros and all.)  Prints one line per match, in address order:

    0x<guest-physical address> <ramblock>+0x<offset in the block>

the owning block from MNT/phys.json.  A block mapped at two addresses (an
alias, like the BIOS's last 128 KiB at 0xe0000) shows a match at both.

Exit status, as grep's: 0 when there is a match, 1 when there is none, 2 on
trouble (bad arguments, MNT not a kvmfs mount, a read or write error), said
in one line on stderr.  A reader that goes away (`| head -1`) ends it
quietly by SIGPIPE, as it ends grep or cat (status 141 in the shell).
"""
import argparse
import bisect
import errno
import json
import os
import signal
import stat
import sys

CHUNK = 1 << 20
PROG = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "find-pattern.py"


class Trouble(Exception):
    """One line for stderr, then exit status 2."""


def why(path, e):
    """path and what went wrong with it, with the remedy where there is one."""
    msg = f"{path}: {e.strerror or e}"
    if e.errno == errno.ENOTCONN:
        msg += " (its kvmfs has ended: fusermount3 -u the mountpoint)"
    elif e.errno == errno.EACCES:
        msg += " (guest memory is for the user running kvmfs; others need -o allow_other)"
    return msg


class Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line, not argparse's usage block: the usage is one --help away.
        raise Trouble(f"{message} (see {self.prog} --help)")


def parse_pattern(text, is_hex):
    if is_hex:
        try:
            pattern = bytes.fromhex(text)
        except ValueError:
            raise Trouble(f"--hex {text!r}: not hex bytes (two digits each, like 4b564d)")
    else:
        pattern = text.encode()
    if not pattern:
        raise Trouble("the pattern is empty")
    return pattern


def open_tree(mnt):
    """The sorted ranges and size of MNT/phys.json, and an fd open on MNT/phys."""
    try:
        st = os.stat(mnt)
    except OSError as e:
        raise Trouble(why(mnt, e))
    if not stat.S_ISDIR(st.st_mode):
        raise Trouble(f"{mnt}: not a directory (give kvmfs's mountpoint)")
    path = os.path.join(mnt, "phys.json")
    try:
        with open(path, "rb") as f:
            layout = json.load(f)
        ranges = sorted(((int(r["start"]), int(r["last"]), str(r["ramblock"]),
                          int(r["offset"])) for r in layout["ranges"]))
        size = int(layout["size"])
    except FileNotFoundError:
        raise Trouble(f"{mnt}: not a kvmfs mount (no phys.json): is kvmfs running there?")
    except OSError as e:
        raise Trouble(why(path, e))
    except (ValueError, KeyError, TypeError):
        raise Trouble(f"{path}: not kvmfs's phys.json (no size and ranges)")
    path = os.path.join(mnt, "phys")
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        raise Trouble(why(path, e))
    return ranges, size, fd


def data_extents(fd, size):
    """(start, end) of every data extent of the file, in order."""
    pos = 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:  # no data after pos
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
    if i >= 0 and gpa <= ranges[i][1]:
        start, _, block, offset = ranges[i]
        return f"{block}+0x{offset + gpa - start:x}"
    return "?"


def write(line):
    try:
        sys.stdout.write(line)
    except OSError as e:  # EPIPE never gets here: SIGPIPE ends the process first
        raise Trouble(f"write error: {e.strerror}")


def main():
    ap = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    ap.add_argument("mnt", help="where kvmfs is mounted")
    ap.add_argument("pattern", help="the bytes to find (text, or hex with --hex)")
    ap.add_argument("--hex", action="store_true", help="PATTERN is hex digits")
    a = ap.parse_args()
    pattern = parse_pattern(a.pattern, a.hex)
    if sys.stdout is None:
        raise Trouble("write error: standard output is closed")
    ranges, size, fd = open_tree(a.mnt)
    starts = [r[0] for r in ranges]
    found = 0
    matches = find(fd, size, pattern)
    try:
        while True:
            try:
                gpa = next(matches)
            except StopIteration:
                break
            except OSError as e:
                raise Trouble(why(os.path.join(a.mnt, "phys"), e))
            write(f"0x{gpa:x} {owner(ranges, starts, gpa)}\n")
            found += 1
        try:
            sys.stdout.flush()
        except OSError as e:
            raise Trouble(f"write error: {e.strerror}")
    finally:
        os.close(fd)
    return 0 if found else 1


def run():
    """The command: Unix signal habits, one line and status 2 on trouble."""
    # Python ignores SIGPIPE and turns a closed pipe into BrokenPipeError;
    # a Unix tool dies of it, quietly, so that `| head` ends it.  Ctrl-C the
    # same: the default action, no KeyboardInterrupt traceback.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        status = main()
    except Trouble as t:
        try:
            sys.stdout.flush()  # the matches found before the trouble first
        except (OSError, AttributeError):
            pass  # a write error again, or no stdout at all
        print(f"{PROG}: {t}", file=sys.stderr, flush=True)
        status = 2
    # No second flush at interpreter exit: after a write error it would fail
    # again, with a traceback of its own.
    os._exit(status)


if __name__ == "__main__":
    run()
