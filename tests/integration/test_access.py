"""Access: who may read guest memory through the tree, and what kvmfs
needs to run.

- RAM files are 0400 (0600 with --writable) and belong to the user running
  kvmfs; text files 0444, ctl 0600.
- Another, unprivileged user cannot read anything through the mount by
  default; with -o allow_other the mode bits decide: the 0444 views yes,
  guest memory (0400, not theirs) no.
- kvmfs runs as a non-root user who has /dev/fuse, and names the device it
  lacks otherwise (/dev/fuse, or /dev/kvm without -accel none).

The tests create a throw-away user (useradd, removed afterwards) and run
commands as that user with setpriv; they need root and skip otherwise.

Run: python3 -m pytest -q tests/integration/test_access.py
"""
import contextlib
import json
import os
import shutil
import stat
import subprocess
import tempfile

import pytest

from conftest import KVMFS, is_mounted, lazy_unmount, wait_for

PC = ("-M", "pc", "-m", "64M", "-accel", "none")


def require_root():
    if os.geteuid() != 0:
        pytest.skip("not root: creating a user and running commands as them needs root")
    for tool in ("useradd", "userdel", "setpriv"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is missing: tools/deps.sh check installs it (passwd, util-linux)")


@pytest.fixture
def user():
    """A fresh unprivileged user: (name, uid, gid)."""
    require_root()
    name = f"kvmfst{os.getpid() % 100000}"
    subprocess.run(["userdel", name], capture_output=True)
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                   check=True)
    try:
        out = subprocess.run(["id", "-u", name], capture_output=True, text=True, check=True)
        uid = int(out.stdout)
        gid = int(subprocess.run(["id", "-g", name], capture_output=True, text=True,
                                 check=True).stdout)
        yield name, uid, gid
    finally:
        subprocess.run(["userdel", name], capture_output=True)


@pytest.fixture
def open_dir():
    """A directory every user can enter (pytest's tmp_path is root's only)."""
    d = tempfile.mkdtemp(prefix="kvmfs-access-")
    os.chmod(d, 0o755)
    yield d
    for sub in os.listdir(d):
        lazy_unmount(os.path.join(d, sub))
    shutil.rmtree(d, ignore_errors=True)


def as_user(user, cmd, **kw):
    name, uid, gid = user
    return subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
                           "--"] + [str(c) for c in cmd], capture_output=True, text=True, **kw)


def test_modes_and_owner(kvmfs):
    for extra, ram_mode in (((), 0o400), (("--writable",), 0o600)):
        k = kvmfs("-M", "pc", "-m", "64M", *extra)
        for name in ("pc.ram", "pc.bios", "pc.rom"):
            st = os.stat(k.path("ramblocks", name))
            assert stat.S_IMODE(st.st_mode) == ram_mode
            assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
        assert stat.S_IMODE(os.stat(k.path("ctl")).st_mode) == 0o600
        # No allow_other unless asked for.
        with open("/proc/self/mountinfo") as f:
            line = next(l for l in f if f" {os.path.realpath(k.mnt)} " in l)
        assert "allow_other" not in line


def test_other_user_is_kept_out_by_default(kvmfs, user, open_dir):
    mnt = os.path.join(open_dir, "mnt")
    os.mkdir(mnt)
    k = kvmfs(*PC, mnt=mnt, accel=False)
    r = as_user(user, ["cat", k.path("ramblocks", "pc.rom")])
    assert r.returncode != 0 and "Permission denied" in r.stderr, r
    r = as_user(user, ["cat", k.path("ramblocks.json")])
    assert r.returncode != 0 and "Permission denied" in r.stderr, r
    # Root itself reads fine: the refusal is about the other user.
    with open(k.path("ramblocks", "pc.rom"), "rb") as f:
        assert len(f.read()) == 0x20000


def test_allow_other_lets_the_mode_bits_decide(kvmfs, user, open_dir):
    mnt = os.path.join(open_dir, "mnt")
    os.mkdir(mnt)
    k = kvmfs(*PC, "-o", "allow_other", mnt=mnt, accel=False)
    r = as_user(user, ["cat", k.path("ramblocks.json")])
    assert r.returncode == 0 and '"pc.ram"' in r.stdout, r
    r = as_user(user, ["cat", k.path("ramblocks", "pc.rom")])
    assert r.returncode != 0 and "Permission denied" in r.stderr, r
    r = as_user(user, ["sh", "-c", f"echo stop > '{k.path('ctl')}'"])
    assert r.returncode != 0, r


def _grant(dev, user):
    """Give user read-write access to dev; returns how to undo it."""
    name, uid, _ = user
    st = os.stat(dev)
    if shutil.which("setfacl"):
        subprocess.run(["setfacl", "-m", f"u:{name}:rw", dev], check=True)
        return lambda: subprocess.run(["setfacl", "-x", f"u:{name}", dev], check=False)
    os.chown(dev, uid, st.st_gid)
    return lambda: os.chown(dev, st.st_uid, st.st_gid)


@contextlib.contextmanager
def _kvmfs_as_user(user, open_dir, args):
    """kvmfs run by user (given /dev/fuse for the while) on a mountpoint of
    theirs, mounted: yields (process, mountpoint); ends it, unmounts and
    takes the grant back however the with-block ends."""
    if not os.path.exists("/dev/fuse"):
        pytest.skip("no /dev/fuse")
    name, uid, gid = user
    mnt = os.path.join(open_dir, "mnt")
    os.mkdir(mnt)
    os.chown(mnt, uid, gid)
    undo = _grant("/dev/fuse", user) if not os.access("/dev/fuse", os.W_OK) or \
        stat.S_IMODE(os.stat("/dev/fuse").st_mode) & 0o006 != 0o006 else (lambda: None)
    p = None
    try:
        p = subprocess.Popen(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
                              "--", str(KVMFS)] + list(args) + [mnt],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        assert wait_for(lambda: is_mounted(mnt) or p.poll() is not None, 20.0)
        assert p.poll() is None, p.stderr.read()
        yield p, mnt
    finally:
        if p and p.poll() is None:
            p.kill()
            p.wait()
        lazy_unmount(mnt)
        undo()


def test_runs_as_a_user_with_dev_fuse(user, open_dir):
    name, uid, gid = user
    with _kvmfs_as_user(user, open_dir, PC) as (p, mnt):
        # Only that user may look (no allow_other): even root is kept out.
        r = as_user(user, ["stat", "-c", "%u %g %a", os.path.join(mnt, "ramblocks", "pc.ram")])
        assert r.stdout.split() == [str(uid), str(gid), "400"], r
        r = as_user(user, ["wc", "-c", os.path.join(mnt, "ramblocks", "pc.bios")])
        assert r.returncode == 0 and r.stdout.split()[0] == str(0x40000), r
        p.terminate()
        assert p.wait(timeout=20) == 0
        assert not is_mounted(mnt)


@contextlib.contextmanager
def _denied(dev):
    """Take every user's access to dev but root's for the with-block, as a
    host that never granted it would be; the mode comes back after."""
    mode = stat.S_IMODE(os.stat(dev).st_mode) if os.path.exists(dev) else None
    if mode is not None:
        os.chmod(dev, 0o600)
    try:
        yield
    finally:
        if mode is not None:
            os.chmod(dev, mode)


def test_missing_device_is_named(user, open_dir):
    name, uid, gid = user
    mnt = os.path.join(open_dir, "mnt")
    os.mkdir(mnt)
    os.chown(mnt, uid, gid)
    # No access to /dev/fuse (it is 0600 root, or we make it so for the test).
    with _denied("/dev/fuse"):
        r = as_user(user, [KVMFS, *PC, mnt], timeout=20)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "/dev/fuse" in lines[0], r.stderr
    assert not is_mounted(mnt)

    # Without -accel none kvmfs needs /dev/kvm, and says so before any note
    # about the host; no mountpoint, so /dev/fuse is not asked for.  Were
    # /dev/kvm open to the user this would start a VM: it is denied here
    # the way /dev/fuse is above, whatever the host's own mode.
    with _denied("/dev/kvm"):
        r = as_user(user, [KVMFS, "-M", "pc", "-m", "64M"], timeout=20)
    assert r.returncode == 1, r
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "/dev/kvm" in lines[0], r.stderr


def test_unprivileged_kvmfs_serves_ram_files_through_the_page_cache(user, open_dir):
    """Without CAP_SYS_ADMIN no backing file can be registered: RAM files
    are served the old way, ramblocks.json says "cached", one stderr line
    says why, and the bytes are guest memory's all the same."""
    name, uid, gid = user
    with _kvmfs_as_user(user, open_dir, (*PC, "-S")) as (p, mnt):
        r = as_user(user, ["cat", os.path.join(mnt, "ramblocks.json")])
        assert r.returncode == 0, r
        bl = {b["idstr"]: b for b in json.loads(r.stdout)}
        assert {b["io"] for b in bl.values()} == {"cached"}, bl
        # Guest memory written behind the filesystem's back (root may), before any read.
        data = os.urandom(3 * 4096 + 5)
        off = 0x123456
        with open(f"/proc/{p.pid}/mem", "r+b", buffering=0) as f:
            f.seek(bl["pc.ram"]["host"] + off)
            f.write(data)
        r = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--",
                            "dd", f"if={os.path.join(mnt, 'ramblocks', 'pc.ram')}",
                            "iflag=skip_bytes,count_bytes", f"skip={off}",
                            f"count={len(data)}", "status=none"], capture_output=True)
        assert r.returncode == 0 and r.stdout == data, r.stderr
        p.terminate()
        assert p.wait(timeout=20) == 0
        said = [l for l in p.stderr.read().splitlines() if "passthrough off" in l]
        assert len(said) == 1 and "CAP_SYS_ADMIN" in said[0], said
        assert not is_mounted(mnt)
