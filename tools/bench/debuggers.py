#!/usr/bin/python3
"""debuggers.py - how long crash, drgn and gdb take to open a kernel core.

  tools/bench/debuggers.py [--runs N] [--minimal] VMLINUX-DBG CORE [CORE...]

For each CORE (a file, or a kvmfs mount's vmcore), the wall time of:
  crash  crash -s VMLINUX CORE, running `sys` and quitting (--minimal: crash --minimal
         running `log`, for a kernel stopped too early for crash's task table)
  drgn   open the core, load the debug info, read linux_banner, walk the task list
  gdb    gdb -batch -c CORE VMLINUX -ex 'p jiffies_64' -ex bt
median of N runs (default 3), a first run not counted (it fills the page cache with
the 600 MB VMLINUX).  A tool that fails on a core shows its first error line instead.
The README's "Debugging a guest kernel" table was made with it.
"""
import statistics
import subprocess
import sys
import time

DRGN = """
import sys, drgn
from drgn.helpers.linux.pid import for_each_task
prog = drgn.Program()
prog.set_core_dump(sys.argv[1])
prog.load_debug_info([sys.argv[2]])
prog["linux_banner"].string_()
sum(1 for _ in for_each_task(prog))
"""


def commands(vmlinux, core, minimal):
    return {
        "crash": (["crash", "-s", "--minimal", vmlinux, core], "log\nq\n") if minimal else
                 (["crash", "-s", vmlinux, core], "sys\nq\n"),
        "drgn": (["/usr/bin/python3", "-c", DRGN, core, vmlinux], None),
        "gdb": (["gdb", "-nx", "-batch", "-c", core, vmlinux, "-ex", "p jiffies_64", "-ex", "bt"],
                None),
    }


def once(cmd, stdin):
    t = time.monotonic()
    r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=900)
    took = time.monotonic() - t
    err = [l for l in (r.stderr + r.stdout).splitlines()
           if "rror" in l or "annot" in l or "egmentation" in l]
    return took, (r.returncode, err[0] if err else "")


def main():
    args = sys.argv[1:]
    runs, minimal = 3, False
    while args[:1] in (["--runs"], ["--minimal"]):
        if args[0] == "--runs":
            runs, args = int(args[1]), args[2:]
        else:
            minimal, args = True, args[1:]
    if len(args) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    vmlinux, cores = args[0], args[1:]
    print(f"{'core':60} {'tool':6} {'median s':>9}  note")
    for core in cores:
        for tool, (cmd, stdin) in commands(vmlinux, core, minimal).items():
            once(cmd, stdin)  # warm
            times, note = [], ""
            for _ in range(runs):
                took, (rc, err) = once(cmd, stdin)
                times.append(took)
                note = err if rc else note
            print(f"{core[-60:]:60} {tool:6} {statistics.median(times):9.2f}  {note[:60]}")


if __name__ == "__main__":
    main()
