"""qmp.py - the one QMP client of kvmfs's tools and tests.

QEMU's machine protocol over a UNIX socket (`-qmp unix:PATH,server=on,wait=off`):
one command at a time, asynchronous events set aside for wait_event().

    from qmp import Qmp
    q = Qmp(path)                      # waits for the socket, negotiates capabilities
    q.cmd("stop"); q.hmp("info registers"); q.wait_event("SHUTDOWN", 20)

Used by tools/qemu-dump.py (installed as kvmfs-qemu-dump, with this module in
$(PREFIX)/share/kvmfs/), tools/qemu-layouts.py and
tests/integration/test_firmware_tcg.py.  Standard library only.
"""
import json
import socket
import time


class QmpError(RuntimeError):
    """QEMU answered a command with an error."""


class Qmp:
    """A QMP conversation: one command at a time, events kept aside."""

    def __init__(self, path, connect_timeout=30, timeout=30):
        """Connects to path, retrying until connect_timeout seconds while
        QEMU creates the socket.  timeout bounds the wait for each reply
        (None: wait as long as QEMU takes, e.g. for a large dump)."""
        deadline = time.monotonic() + connect_timeout
        while True:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.sock.connect(str(path))
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.timeout = timeout
        self.sock.settimeout(timeout)
        self.buf = b""
        self.events = []
        self._read()  # the greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("QMP connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, **args):
        """Runs one command; its "return" value, or QmpError."""
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._read()
            if "event" in reply:
                self.events.append(reply)
                continue
            if "error" in reply:
                err = reply["error"]
                raise QmpError(f"QMP {name}: {err.get('class', '')}: {err.get('desc', err)}")
            return reply.get("return")

    def hmp(self, line):
        """A human monitor command (`info mtree -f`, `xp /2gx 0x1000`); its text."""
        return self.cmd("human-monitor-command", **{"command-line": line})

    def wait_event(self, name, timeout):
        """The first event called name, received now or before; None after timeout s."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                for ev in self.events:
                    if ev["event"] == name:
                        return ev
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.sock.settimeout(left)
                try:
                    reply = self._read()
                except (socket.timeout, EOFError):
                    return None
                if "event" in reply:
                    self.events.append(reply)
        finally:
            self.sock.settimeout(self.timeout)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
