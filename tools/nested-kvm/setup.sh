#!/bin/sh
# setup.sh - fetch and build what run-in-vm.sh boots: a Linux guest with KVM.
#
#   tools/nested-kvm/setup.sh [OUTDIR]        (default: build/nested)
#
# Downloads (apt-get download: nothing is installed, no root needed) the
# kernel package that the metapackage linux-image-amd64 depends on today and
# busybox-static, unpacks them under OUTDIR, builds kvmtest (a static /dev/kvm
# smoke test) and the initramfs (build-initramfs.sh).  Writes into OUTDIR:
#
#   deb/                 the downloaded packages (a cache: kept)
#   kernel/              from the kernel package: boot/vmlinuz-*, lib/modules/*/kernel
#   busybox/bin/busybox  from busybox-static
#   version              the kernel release, e.g. 6.1.0-56-amd64
#   kvmtest              the smoke test, run by `nkmode=selftest`
#   initramfs.cpio.gz    busybox, init, kvmtest and the modules init loads
#
# Cached: the packages are fetched once; kvmtest and the initramfs are rebuilt
# on every run (a few seconds), so edits to init or kvmtest.c take effect.
# Needs qemu-system-x86 (to run), cpio, xz-utils, gcc and libc6-dev: tools/deps.sh nested installs them when run as root.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../build/nested}

die() {
	echo "nested-kvm setup: $*" >&2
	exit 1
}

"$here/../deps.sh" nested
mkdir -p "$out"
out=$(cd "$out" && pwd)

if ! [ -s "$out/version" ] || ! [ -f "$out/kernel/boot/vmlinuz-$(cat "$out/version")" ] ||
	! [ -f "$out/busybox/bin/busybox" ]; then
	# The versioned package the metapackage points at today: what `apt-get
	# install linux-image-amd64` would give a Debian 12 machine.
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1)
	if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then
		apt-get update -qq
		pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
			sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1)
	fi
	[ -n "$pkg" ] || die "apt-cache knows no linux-image-amd64 (run apt-get update)"
	ver=${pkg#linux-image-}
	# apt-get download writes into the current directory, as the _apt user
	# when run as root: give it a directory it may write.
	dl="$out/deb"
	mkdir -p "$dl"
	chmod 777 "$dl"
	for p in "$pkg" busybox-static; do
		ls "$dl"/"$p"_*.deb >/dev/null 2>&1 ||
			(cd "$dl" && apt-get download -q "$p") >&2 || die "apt-get download $p failed"
	done
	# Only the files used: the Makefile includes every *.d under build/ as a
	# dependency file, and packages ship directories so named (conf-hooks.d).
	rm -rf "$out/kernel" "$out/busybox"
	mkdir -p "$out/kernel" "$out/busybox"
	dpkg-deb --fsys-tarfile "$(ls "$dl"/"$pkg"_*.deb | head -n 1)" |
		tar -x -C "$out/kernel" "./boot/vmlinuz-$ver" "./lib/modules/$ver/kernel"
	dpkg-deb --fsys-tarfile "$(ls "$dl"/busybox-static_*.deb | head -n 1)" |
		tar -x -C "$out/busybox" ./bin/busybox
	[ -f "$out/kernel/boot/vmlinuz-$ver" ] || die "$pkg has no /boot/vmlinuz-$ver"
	echo "$ver" >"$out/version"
	echo "nested-kvm setup: kernel $ver in $out/kernel" >&2
fi

# Static: the guest's initramfs has no libc.
gcc -static -O2 -Wall -Wextra -Werror -o "$out/kvmtest" "$here/kvmtest.c"
"$here/build-initramfs.sh" "$out"
