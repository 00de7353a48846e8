#!/bin/sh
# layout-png.sh - a PNG of a kvmfs tree's layout.svg, drawn by headless chromium.
#
#   tools/layout-png.sh MNT OUT.png       MNT: a mounted kvmfs tree (or a saved .svg)
#
# The SVG is copied out of the mount first (one snapshot, and chromium never
# reads a FUSE file), then screenshot at the size its <svg> element declares.
# Needs Debian's chromium (`tools/deps.sh png` installs it; the script says
# so when it is missing); runs with --no-sandbox because as root chromium
# refuses to start otherwise, which is safe here: the page is kvmfs's own SVG,
# with no script and no links.  make install puts it on PATH as
# kvmfs-layout-png.  Every failure is one line on stderr and exit status 1
# (2 for bad usage); nothing is written to OUT.png unless it succeeded.
# How doc/layout-pc-6G.png (the README's picture) was made:
#   build/kvmfs -S -M pc -m 6G /mnt/vm & tools/layout-png.sh /mnt/vm doc/layout-pc-6G.png
set -eu

prog=${0##*/}
usage="usage: $prog MNT OUT.png (MNT: a mounted kvmfs tree, or a saved .svg)"
if [ $# -eq 1 ] && { [ "$1" = --help ] || [ "$1" = -h ]; }; then
	echo "$usage"
	exit 0
fi
if [ $# -ne 2 ]; then
	echo "$usage" >&2
	exit 2
fi
src=$1
out=$2
if [ -d "$src" ]; then
	if [ ! -e "$src/layout.svg" ]; then
		echo "$prog: $src: no layout.svg there (not a kvmfs mount, or the -dump of an ELF core)" >&2
		exit 1
	fi
	src=$src/layout.svg
elif [ ! -e "$src" ]; then
	echo "$prog: $src: no such file or directory" >&2
	exit 1
fi
if [ ! -r "$src" ]; then
	echo "$prog: $src: not readable" >&2
	exit 1
fi
dir=$(dirname -- "$out")
if [ ! -d "$dir" ] || [ ! -w "$dir" ]; then
	echo "$prog: $out: cannot write there (no such directory, or not writable)" >&2
	exit 1
fi
if ! command -v chromium >/dev/null 2>&1; then
	echo "$prog: chromium is missing: as root, apt-get install --no-install-recommends chromium (from kvmfs's source tree: tools/deps.sh png)" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! cp "$src" "$tmp/layout.svg" 2>"$tmp/cp.log"; then
	echo "$prog: $(tail -n 1 "$tmp/cp.log")" >&2
	exit 1
fi
# The root element's own size: <svg ... width="W" height="H" ...>.
size=$(sed -n 's/^<svg [^>]*width="\([0-9]*\)" height="\([0-9]*\)".*/\1,\2/p' "$tmp/layout.svg" |
	head -n 1)
if [ -z "$size" ]; then
	echo "$prog: $src: not an SVG (no <svg> with a width and height)" >&2
	exit 1
fi
# Quiet and offline: no first-run, sync, update or network traffic; a
# throw-away profile; chromium's own chatter (D-Bus) goes to a log.
if ! chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--hide-scrollbars --user-data-dir="$tmp/profile" --window-size="$size" \
	--screenshot="$tmp/layout.png" "file://$tmp/layout.svg" >"$tmp/chromium.log" 2>&1 ||
	[ ! -s "$tmp/layout.png" ]; then
	echo "$prog: chromium made no screenshot: $(grep -v '^$' "$tmp/chromium.log" | tail -n 1)" >&2
	exit 1
fi
if ! cp "$tmp/layout.png" "$out" 2>"$tmp/cp.log"; then
	echo "$prog: $(tail -n 1 "$tmp/cp.log")" >&2
	exit 1
fi
