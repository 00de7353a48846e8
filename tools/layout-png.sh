#!/bin/sh
# layout-png.sh - a PNG of a kvmfs tree's layout.svg, drawn by headless chromium.
#
#   tools/layout-png.sh MNT OUT.png       MNT: a mounted kvmfs tree (or a saved .svg)
#
# The SVG is copied out of the mount first (one snapshot, and chromium never
# reads a FUSE file), then screenshot at the size its <svg> element declares.
# Needs Debian's chromium (tools/deps.sh check installs it); runs with
# --no-sandbox because as root chromium refuses to start otherwise, which is
# safe here: the page is kvmfs's own SVG, with no script and no links.
# How doc/layout-pc-6G.png (the README's picture) was made:
#   build/kvmfs -S -M pc -m 6G /mnt/vm & tools/layout-png.sh /mnt/vm doc/layout-pc-6G.png
set -eu

if [ $# -ne 2 ]; then
	echo "usage: $0 MNT OUT.png" >&2
	exit 2
fi
src=$1
out=$2
[ -d "$src" ] && src=$src/layout.svg
if ! command -v chromium >/dev/null 2>&1; then
	echo "layout-png.sh: chromium is missing: apt-get install --no-install-recommends chromium" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$src" "$tmp/layout.svg"
# The root element's own size: <svg ... width="W" height="H" ...>.
size=$(sed -n 's/^<svg [^>]*width="\([0-9]*\)" height="\([0-9]*\)".*/\1,\2/p' "$tmp/layout.svg" |
	head -n 1)
if [ -z "$size" ]; then
	echo "layout-png.sh: $1: no <svg> with a width and height" >&2
	exit 1
fi
# Quiet and offline: no first-run, sync, update or network traffic; a
# throw-away profile; chromium's own chatter (D-Bus) goes to a log.
if ! chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--hide-scrollbars --user-data-dir="$tmp/profile" --window-size="$size" \
	--screenshot="$tmp/layout.png" "file://$tmp/layout.svg" >"$tmp/chromium.log" 2>&1 ||
	[ ! -s "$tmp/layout.png" ]; then
	cat "$tmp/chromium.log" >&2
	echo "layout-png.sh: chromium made no screenshot" >&2
	exit 1
fi
cp "$tmp/layout.png" "$out"
