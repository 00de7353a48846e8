#!/bin/sh
# deps.sh - make sure the Debian packages a target needs are installed.
#
#   tools/deps.sh build|check|bench|nested|png|forensics
#
# png: chromium, which tools/layout-png.sh draws layout.svg with (not needed
# to build or run kvmfs; `check` includes it, for test_layout_svg.py).
#
# As root, installs what is missing with apt-get (after apt-get update);
# otherwise prints the exact apt-get line and fails.  Quiet when all is there.
set -eu

build="gcc make binutils pkg-config libfuse3-dev fuse3"
# clang + libclang-rt-14-dev: libFuzzer and the sanitizers; clang-format: make format-check;
# passwd: useradd for the access tests.
check="$build libcmocka-dev python3 python3-pytest bsdextrautils coreutils qemu-system-x86 clang clang-format python3-pyelftools
	libclang-rt-14-dev valgrind passwd util-linux"
# lz4 (Debian's kernel payload; xz-utils/zstd for others): tools/fetch-debian-kernel.sh.
check="$check lz4 xz-utils zstd"
# busybox-static, cpio: tools/make-initramfs.sh (the Linux guest's user space).
check="$check busybox-static cpio"
# groff-base (groff -ww) and man-db (man -l): the man page's tests in test_install.py.
check="$check groff-base man-db"
# gdb: test_forensic.py opens the vmcore with gdb -c (python3-pyelftools, above, reads it too).
check="$check gdb"
# chromium: layout.svg drawn in a real browser (test_layout_svg.py, tools/layout-png.sh).
png="chromium"
check="$check $png"
# crash, python3-drgn, gdb: the guest kernel's debuggers, test_kernel_debug.py.
check="$check crash python3-drgn gdb"
bench="$build fio python3"
# make check-nested: check's set (the guest runs the host's own tests and
# tools, shared read-only) plus what tools/nested-kvm/setup.sh builds with:
# cpio (the initramfs), libc6-dev (a static kvmtest).
nested="$check cpio libc6-dev"
# make check-forensics: check's set (test_kernel_debug.py's dumps) plus golang-go and
# golang-github-spf13-pflag-dev (dwarf2json built without a module download) and
# python3-pefile (the one Python package Volatility 3 requires).
forensics="$check golang-go golang-github-spf13-pflag-dev python3-pefile"

case "${1:-build}" in
build) want=$build ;;
check) want=$check ;;
bench) want=$bench ;;
nested) want=$nested ;;
png) want=$png ;;
forensics) want=$forensics ;;
*) echo "deps.sh: unknown set '$1' (build, check, bench, nested, png, forensics)" >&2; exit 2 ;;
esac

missing=
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing Debian packages; as root: apt-get update && apt-get install -y --no-install-recommends$missing" >&2
	exit 1
fi
echo "deps.sh: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends keeps qemu-system-x86 from pulling in a desktop.
apt-get install -y -qq --no-install-recommends $missing >&2
