#!/bin/sh
# deps.sh - make sure the Debian packages a target needs are installed.
#
#   tools/deps.sh build|check|bench
#
# As root, installs what is missing with apt-get (after apt-get update);
# otherwise prints the exact apt-get line and fails.  Quiet when all is there.
set -eu

build="gcc make binutils pkg-config libfuse3-dev fuse3"
check="$build libcmocka-dev python3 python3-pytest bsdextrautils coreutils qemu-system-x86"
bench="$build fio python3"

case "${1:-build}" in
build) want=$build ;;
check) want=$check ;;
bench) want=$bench ;;
*) echo "deps.sh: unknown set '$1' (build, check, bench)" >&2; exit 2 ;;
esac

missing=
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "kvmfs needs these Debian packages; run as root:" >&2
	echo "  apt-get update && apt-get install -y$missing" >&2
	exit 1
fi
echo "deps.sh: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends keeps qemu-system-x86 from pulling in a desktop.
apt-get install -y -qq --no-install-recommends $missing >&2
