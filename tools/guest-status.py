#!/usr/bin/env python3
"""guest-status.py - the built-in guest's status page, read by virtual
address through a vCPU's view of memory.

    tools/guest-status.py MNT [--cpu N] [--va ADDR]

Reads 32 bytes at ADDR (default 0x1000, GUEST_STATUS_GPA of
include/kvmfs/guest.h; the guest identity-maps its RAM, so the virtual
address is the physical one) from MNT/vcpus/N/vmem, which walks that
vCPU's page tables, and prints the page's fields:

    magic KVMFSSTA
    pass 42
    heartbeat 42
    ram_size 268435456

Exit status: 0 when the page is there, 1 when it is not (no built-in guest,
not yet booted, or ADDR unmapped), 2 on trouble (bad arguments, MNT not a
kvmfs mount, no vCPU N, a read or write error); either one line on stderr.
A reader that goes away ends it quietly by SIGPIPE, as it ends cat.
"""
import argparse
import errno
import os
import signal
import stat
import struct
import sys

STATUS_VA = 0x1000
MAGIC = b"KVMFSSTA"
FIELDS = ("pass", "heartbeat", "ram_size")  # u64 at 8, 16, 24
PROG = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "guest-status.py"


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


def address(text):
    """A 64-bit virtual address, in any base int() reads (0x..., decimal)."""
    try:
        value = int(text, 0)
    except ValueError:
        value = -1
    if not 0 <= value < 1 << 64:
        raise argparse.ArgumentTypeError(f"{text!r} is not an address (0x1000, 4096, ...)")
    return value


def cpu_number(text):
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a vCPU number (0, 1, ...)")
    return int(text)


def vcpu_vmem(mnt, cpu):
    """MNT/vcpus/CPU/vmem, or why there is none."""
    try:
        st = os.stat(mnt)
    except OSError as e:
        raise Trouble(why(mnt, e))
    if not stat.S_ISDIR(st.st_mode):
        raise Trouble(f"{mnt}: not a directory (give kvmfs's mountpoint)")
    vcpus = os.path.join(mnt, "vcpus")
    try:
        have = sorted(int(n) for n in os.listdir(vcpus) if n.isdigit())
    except FileNotFoundError:
        raise Trouble(f"{mnt}: not a kvmfs mount (no vcpus/): is kvmfs running there?")
    except OSError as e:
        raise Trouble(why(vcpus, e))
    if cpu not in have:
        if not have:
            there = "the VM has none (-accel none, or a dump without CPU notes)"
        elif len(have) == 1:
            there = f"the VM has 1 vCPU: --cpu {have[0]}"
        else:
            there = f"the VM has {len(have)} vCPUs: --cpu {have[0]}..{have[-1]}"
        raise Trouble(f"no vCPU {cpu} in {vcpus}/: {there}")
    return os.path.join(vcpus, str(cpu), "vmem")


def read_page(vmem, va):
    """32 bytes at va through vmem, and whether va's page is mapped at all."""
    try:
        # vmem's offset of an address: its sign-extension bits cleared.  The
        # file is 2^48 (4-level paging) or 2^57 (5-level) bytes: its size says
        # which, and which addresses are canonical (the bits above the top
        # one all equal to it).
        size = os.stat(vmem).st_size
        bits = size.bit_length() - 1
        upper = va >> (bits - 1)
        if size != 1 << bits or upper not in (0, (1 << (65 - bits)) - 1):
            raise Trouble(f"0x{va:x}: not a canonical address for {bits}-bit virtual "
                          f"addresses (bits 63..{bits - 1} all 0 or all 1)")
        offset = va & (size - 1)
        fd = os.open(vmem, os.O_RDONLY)
        try:
            page = os.pread(fd, 32, offset)
            try:
                mapped = os.lseek(fd, offset, os.SEEK_DATA) == offset
            except OSError as e:
                if e.errno != errno.ENXIO:
                    raise
                mapped = False
        finally:
            os.close(fd)
    except OSError as e:
        raise Trouble(why(vmem, e))
    return page, mapped


def write(text):
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as e:  # EPIPE never gets here: SIGPIPE ends the process first
        raise Trouble(f"write error: {e.strerror}")


def main():
    ap = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    ap.add_argument("mnt", help="where kvmfs is mounted")
    ap.add_argument("--cpu", type=cpu_number, default=0, help="the vCPU whose view to read")
    ap.add_argument("--va", type=address, default=STATUS_VA,
                    help="the page's virtual address (default 0x1000)")
    a = ap.parse_args()
    if sys.stdout is None:
        raise Trouble("write error: standard output is closed")
    vmem = vcpu_vmem(a.mnt, a.cpu)
    page, mapped = read_page(vmem, a.va)
    if not mapped:
        print(f"{PROG}: no status page at 0x{a.va:x}: not mapped by vCPU {a.cpu}'s page tables",
              file=sys.stderr, flush=True)
        return 1
    if len(page) < 32 or page[:8] != MAGIC:
        print(f"{PROG}: no status page at 0x{a.va:x}: {page[:8]!r} where {MAGIC!r} should be "
              f"(not the built-in guest, or not booted yet)", file=sys.stderr, flush=True)
        return 1
    out = f"magic {page[:8].decode()}\n"
    for name, value in zip(FIELDS, struct.unpack_from("<3Q", page, 8)):
        out += f"{name} {value}\n"
    write(out)
    return 0


def run():
    """The command: Unix signal habits, one line and status 2 on trouble."""
    # Python ignores SIGPIPE and turns a closed pipe into BrokenPipeError;
    # a Unix tool dies of it, quietly.  Ctrl-C the same: the default action,
    # no KeyboardInterrupt traceback.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        status = main()
    except Trouble as t:
        print(f"{PROG}: {t}", file=sys.stderr, flush=True)
        status = 2
    # No second flush at interpreter exit: after a write error it would fail
    # again, with a traceback of its own.
    os._exit(status)


if __name__ == "__main__":
    run()
