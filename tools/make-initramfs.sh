#!/bin/sh
# make-initramfs.sh - a tiny busybox initramfs for booting a Linux guest under kvmfs.
#
#   tools/make-initramfs.sh [OUT]        (default: build/initramfs.cpio)
#
# Packs Debian's statically linked busybox (package busybox-static) and an
# /init script into an uncompressed newc cpio archive, which Linux unpacks
# into its rootfs without needing any decompressor.  Boot it with
#
#   make run KERNEL=build/debian-kernel/vmlinux INITRD=build/initramfs.cpio
#
# The /init it writes is a test instrument as much as a shell:
#   - it prints   kvmfs-initramfs: /init running (pid 1, Linux <release>)
#   - it starts one process that keeps a known string in its memory
#     (KVMFS_MARKER=kvmfs-userspace-marker-7f3a9c21, in its environment) and
#     spins at the lowest priority, so that a vCPU stopped from the host is
#     most likely running it; it prints
#       kvmfs-initramfs: marker pid <pid> env 0x<env_start>-0x<env_end>
#     from /proc/<pid>/stat, the guest-virtual range that holds the string;
#   - it ends with   kvmfs-initramfs: ready   and a shell on the console
#     (kvmfs feeds its stdin to the guest's serial port).
# tests/integration/test_linux.py finds the string through MNT/phys and
# walks the marker's page tables through MNT/vcpus/0/translate.
set -eu

case "${1:-}" in
-h | --help)
	echo "usage: $(basename "$0") [OUT]   (default OUT: build/initramfs.cpio)"
	exit 0
	;;
esac
out=${1:-build/initramfs.cpio}
busybox=/bin/busybox

die() {
	echo "make-initramfs: $*" >&2
	exit 1
}

[ -x "$busybox" ] || die "$busybox missing: apt-get install busybox-static"
# The initramfs has no libc: only a busybox without an ELF interpreter runs there.
if readelf -l "$busybox" | grep -q INTERP; then
	die "$busybox is dynamically linked: apt-get install busybox-static"
fi
command -v cpio >/dev/null || die "cpio missing: apt-get install cpio"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/dev" "$tmp/proc" "$tmp/sys" "$tmp/tmp"
cp "$busybox" "$tmp/bin/busybox"
ln -s busybox "$tmp/bin/sh"

cat >"$tmp/init" <<'EOF'
#!/bin/sh
# The initramfs's /init, written by kvmfs's tools/make-initramfs.sh.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
# No redirection before /dev exists: it would fail, and the mount with it.
mount -t devtmpfs devtmpfs /dev || mknod -m 666 /dev/null c 1 3
echo "kvmfs-initramfs: /init running (pid $$, Linux $(uname -r))"

# The marker: a known string in a process's memory, and where it is
# (fields 50 and 51 of its own /proc/PID/stat, once it runs as itself).
KVMFS_MARKER=kvmfs-userspace-marker-7f3a9c21 sh -c '
	renice -n 19 $$ >/dev/null
	set -- $(cat /proc/$$/stat)
	shift 49
	printf "kvmfs-initramfs: marker pid %d env 0x%x-0x%x\n" $$ "$1" "$2"
	while :; do :; done' &
sleep 1

echo "kvmfs-initramfs: ready"
# A shell on the console; should it end, start another: /init must never exit.
while :; do
	setsid cttyhack sh
done
EOF
chmod 755 "$tmp/init"

mkdir -p "$(dirname "$out")"
(cd "$tmp" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$out.tmp"
mv "$out.tmp" "$out"
echo "make-initramfs: $out ($(wc -c <"$out") bytes)" >&2
