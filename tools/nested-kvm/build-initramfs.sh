#!/bin/sh
# build-initramfs.sh - pack the nested-KVM guest's initramfs.
#
#   tools/nested-kvm/build-initramfs.sh [OUTDIR]   (default: build/nested)
#
# Run by setup.sh, after it has unpacked the kernel and busybox-static into
# OUTDIR and built OUTDIR/kvmtest.  Writes OUTDIR/initramfs.cpio.gz holding
# busybox, this directory's init, kvmtest, and the modules init loads
# (decompressed: busybox's insmod takes plain .ko files only).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=$(cd "${1:-$here/../../build/nested}" && pwd)
ver=$(cat "$out/version")
mods="$out/kernel/lib/modules/$ver/kernel"
root="$out/rootfs"

# The same list, in the same (dependency) order, as init's insmod loop:
# KVM on AMD (qemu -cpu max emulates SVM), FUSE, and virtio 9p + serial.
MODULES="irqbypass kvm ccp kvm-amd fuse virtio_ring virtio virtio_pci_legacy_dev
	virtio_pci_modern_dev virtio_pci virtio_console 9pnet 9pnet_virtio netfs fscache 9p"

rm -rf "$root"
mkdir -p "$root/bin" "$root/lib/modules"
cp "$out/busybox/bin/busybox" "$root/bin/busybox"
cp "$here/init" "$root/init"
chmod 755 "$root/init"
cp "$out/kvmtest" "$root/kvmtest"
for m in $MODULES; do
	f=$(find "$mods" \( -name "$m.ko" -o -name "$m.ko.xz" \) | head -n 1)
	# Fail here, not in the guest: there a missing module is only a line in
	# the console log, and the run then fails on a missing /dev/kvm or 9p.
	[ -n "$f" ] || { echo "build-initramfs: no module $m in $mods" >&2; exit 1; }
	case "$f" in
	*.xz) xz -dc "$f" >"$root/lib/modules/$m.ko" ;;
	*) cp "$f" "$root/lib/modules/$m.ko" ;;
	esac
done
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out/initramfs.cpio.gz.tmp"
mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
rm -rf "$root"
echo "build-initramfs: $out/initramfs.cpio.gz ($(wc -c <"$out/initramfs.cpio.gz") bytes)" >&2
