#!/bin/bash
# run-in-vm.sh - run a command as root in a Linux guest that has /dev/kvm,
# on a host that has none.
#
#   tools/nested-kvm/run-in-vm.sh DIR CMD [ARGS...]
#
# Boots the Debian kernel setup.sh fetched under qemu-system-x86_64 -accel tcg
# -cpu max, whose emulated AMD SVM (with nested paging) is all the guest's
# kvm-amd needs.  The guest loads kvm, kvm-amd and fuse, mounts the host's /
# read-only over 9p as its root (with its own /dev, /proc, /sys, /tmp, /run),
# mounts host DIR read-write over 9p at the same path, and runs CMD there as
# root with /dev/kvm and /dev/fuse.  CMD's stdout and stderr are this
# script's; it exits with CMD's exit status.  The working directory inside is
# $PWD if it lies under DIR, else DIR.  Run tools/nested-kvm/setup.sh first.
#
# Everything runs under TCG, and the nested guests' every exit is emulated
# too: expect a second or more where a real host takes a millisecond.
#
# Environment:
#   RUN_IN_VM_TIMEOUT  seconds before QEMU is killed (default 1800) -> exit 124
#   RUN_IN_VM_MEM      guest memory (default 2G); RUN_IN_VM_SMP vCPUs (default 2)
#   RUN_IN_VM_ENV      space-separated names of host variables to pass in
#   RUN_IN_VM_LOG      keep the guest's console (kernel + init) at this path;
#                      by default only its tail is shown, on failure
#   RUN_IN_VM_APPEND   more kernel parameters (say `quiet`)
#   RUN_IN_VM_MONITOR  path for a QEMU HMP monitor unix socket, for debugging:
#                      echo 'sendkey alt-sysrq-t' | socat - UNIX-CONNECT:PATH
#                      dumps the guest's tasks into the console log
#   NESTED_DIR         what setup.sh built (default: build/nested)
# Exit status besides CMD's: 124 timeout, 125 the VM failed, 2 usage.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
nested=${NESTED_DIR:-$here/../../build/nested}

if [ $# -lt 2 ]; then
	echo "usage: $0 DIR CMD [ARGS...]" >&2
	exit 2
fi
DIR=$(realpath -e "$1") || { echo "run-in-vm: no such directory: $1" >&2; exit 2; }
shift
[ -d "$DIR" ] || { echo "run-in-vm: not a directory: $DIR" >&2; exit 2; }
ver=$(cat "$nested/version" 2>/dev/null)
KERNEL=$nested/kernel/boot/vmlinuz-$ver
INITRD=$nested/initramfs.cpio.gz
[ -n "$ver" ] && [ -f "$KERNEL" ] && [ -f "$INITRD" ] || {
	echo "run-in-vm: no guest kernel or initramfs in $nested: run tools/nested-kvm/setup.sh" >&2
	exit 125
}

CTL=$(mktemp -d /tmp/run-in-vm.XXXXXX)
QPID= CAT1= CAT2=
# Every process started here ends with us: QEMU (through timeout) and the two
# cats, which hold the caller's stdout and stderr (a caller reading them
# through a pipe would otherwise wait for them forever).
cleanup() {
	[ -n "$QPID" ] && kill "$QPID" 2>/dev/null && wait "$QPID" 2>/dev/null
	for p in $CAT1 $CAT2; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$CTL"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The command, as a sh script: each argument single-quoted.
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
{
	printf 'exec'
	for a in "$@"; do printf ' %s' "$(q "$a")"; done
	printf '\n'
} >"$CTL/cmd"
case "$PWD/" in
"$DIR"/*) printf '%s\n' "$PWD" ;;
*) printf '%s\n' "$DIR" ;;
esac >"$CTL/cwd"
# DIR=/ is already there, read-only: nothing to share.
if [ "$DIR" = / ]; then : >"$CTL/share"; else printf '%s\n' "$DIR" >"$CTL/share"; fi
{
	echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root' \
		'LANG=C.UTF-8 TERM=dumb IN_NESTED_VM=1'
	for v in ${RUN_IN_VM_ENV:-}; do
		if [ -n "${!v+x}" ]; then printf 'export %s=%s\n' "$v" "$(q "${!v}")"; fi
	done
} >"$CTL/env"

LOG=${RUN_IN_VM_LOG:-$CTL/console.log}
MON=none
[ -n "${RUN_IN_VM_MONITOR:-}" ] && MON="unix:$RUN_IN_VM_MONITOR,server,nowait"
TIMEOUT=${RUN_IN_VM_TIMEOUT:-1800}

# The command's stdout and stderr arrive on virtio-serial ports, which QEMU
# writes into FIFOs; cat copies them to our own stdout and stderr, so they stay
# apart and interleave with whatever the caller writes to the same files.
mkfifo "$CTL/out.fifo" "$CTL/err.fifo"
cat "$CTL/out.fifo" &
CAT1=$!
cat "$CTL/err.fifo" >&2 &
CAT2=$!
# timeout, not a sleeping watchdog: nothing is left behind when QEMU ends first.
timeout --kill-after=10 "$TIMEOUT" \
	qemu-system-x86_64 -accel tcg -cpu max -m "${RUN_IN_VM_MEM:-2G}" -smp "${RUN_IN_VM_SMP:-2}" \
	-nographic -no-reboot -serial "file:$LOG" -monitor "$MON" \
	-kernel "$KERNEL" -initrd "$INITRD" \
	-append "console=ttyS0 panic=-1 sysrq_always_enabled nkmode=run ${RUN_IN_VM_APPEND:-}" \
	-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
	-virtfs "local,path=$DIR,mount_tag=hostdir,security_model=none,multidevs=remap" \
	-virtfs "local,path=$CTL,mount_tag=ctl,security_model=none" \
	-device virtio-serial-pci \
	-chardev file,id=vout,path="$CTL/out.fifo" -device virtserialport,chardev=vout,name=out \
	-chardev file,id=verr,path="$CTL/err.fifo" -device virtserialport,chardev=verr,name=err \
	</dev/null &
QPID=$!
wait "$QPID"
QRC=$?
QPID=
# If QEMU died before opening a FIFO, its cat still waits in open(): an O_RDWR
# open never blocks, counts as the writer that cat waits for, and closing it
# is cat's EOF.  (A plain `: > fifo` would block for good once cat is gone.)
for f in "$CTL/out.fifo" "$CTL/err.fifo"; do
	exec 3<>"$f"
	exec 3>&-
done
wait "$CAT1" "$CAT2" 2>/dev/null
CAT1= CAT2=

if [ -s "$CTL/rc" ]; then
	exit "$(cat "$CTL/rc")"
fi
if [ "$QRC" -eq 124 ] || [ "$QRC" -eq 137 ]; then
	echo "run-in-vm: timeout after ${TIMEOUT}s: QEMU killed; console log tail:" >&2
	tail -n 30 "$LOG" >&2 2>/dev/null
	exit 124
fi
echo "run-in-vm: the guest reported no exit status (QEMU exit status $QRC); console log tail:" >&2
tail -n 30 "$LOG" >&2 2>/dev/null
exit 125
