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

Exit status 1 when the magic is not there (no guest, or not yet booted).
"""
import argparse
import os
import struct
import sys

STATUS_VA = 0x1000
MAGIC = b"KVMFSSTA"
FIELDS = ("pass", "heartbeat", "ram_size")  # u64 at 8, 16, 24


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mnt", help="where kvmfs is mounted")
    ap.add_argument("--cpu", type=int, default=0)
    ap.add_argument("--va", type=lambda s: int(s, 0), default=STATUS_VA)
    a = ap.parse_args()
    vmem = os.path.join(a.mnt, "vcpus", str(a.cpu), "vmem")
    # vmem's offset of an address: its sign-extension bits cleared.  The file
    # is 2^48 (4-level paging) or 2^57 (5-level) bytes: its size says which.
    offset = a.va & (os.stat(vmem).st_size - 1)
    fd = os.open(vmem, os.O_RDONLY)
    try:
        page = os.pread(fd, 32, offset)
    finally:
        os.close(fd)
    if len(page) < 32 or page[:8] != MAGIC:
        print(f"no status page at 0x{a.va:x}: {page[:8]!r}", file=sys.stderr)
        return 1
    print(f"magic {page[:8].decode()}")
    for name, value in zip(FIELDS, struct.unpack_from("<3Q", page, 8)):
        print(f"{name} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
