#!/bin/sh
# fetch-debian-kernel.sh - fetch Debian's cloud kernel and extract its vmlinux.
#
#   tools/fetch-debian-kernel.sh [--debug] [OUTDIR]   (default: build/debian-kernel)
#   tools/fetch-debian-kernel.sh --extract VMLINUZ OUT
#
# make install puts it on PATH as kvmfs-fetch-kernel; --help prints the usage.
#
# Downloads the linux-image-*-cloud-amd64 package that the metapackage
# linux-image-cloud-amd64 currently depends on (apt-get download: no root
# needed, nothing installed), unpacks it under OUTDIR and writes there:
#
#   vmlinuz      the bzImage, as the package ships it
#   vmlinux      the uncompressed ELF kernel inside it
#   System.map   the kernel's symbol map (virtual addresses), from the
#                matching linux-image-*-dbg package (the image package's own
#                /boot/System.map-* is a stub saying so)
#   version      the kernel release, e.g. 6.1.0-56-cloud-amd64
#   vmlinux-dbg  with --debug only: the kernel with its DWARF debug info
#                (/usr/lib/debug/boot/vmlinux-<release> of the -dbg package,
#                ~600 MB unpacked), what crash, drgn and gdb read a guest
#                kernel's memory with.  The -dbg package is downloaded either
#                way (System.map is in it); --debug only keeps more of it.
#
# Cached: a second run with the files present does nothing.  The integration
# test tests/integration/test_linux.py uses OUTDIR.
#
# --extract does only the vmlinux step, on any bzImage (our own equivalent of
# the kernel's scripts/extract-vmlinux).  The bzImage header says where its
# payload is (payload_offset/payload_length, boot protocol 2.08+); the
# payload's first bytes say how it is compressed.  Older images, or a header
# we cannot read, fall back to scanning for every known magic.  Each
# candidate is decompressed with Debian's own tool and accepted only if the
# result is an ELF file: decompressors complain about the 4-byte length the
# kernel appends after its payload, so their exit status alone says nothing.
set -eu

die() {
	echo "fetch-debian-kernel: $*" >&2
	exit 1
}

# u32 little-endian at byte offset $2 of file $1.
le32() {
	od -An -t u4 -j "$2" -N 4 "$1" | tr -d ' '
}

# The hex string of $3 bytes at offset $2 of file $1.
hexat() {
	od -An -t x1 -j "$2" -N "$3" "$1" | tr -d ' \n'
}

# Decompress from offset $2 of $1 with the tool for magic $3 into $4.
# Returns 0 only when $4 is an ELF file.
try_decompress() {
	case "$3" in
	gzip) cmd="gzip -dc" ;;
	xz) cmd="xz -dc --single-stream" ;;
	zstd) cmd="zstd -dcq" ;;
	lz4) cmd="lz4 -dc" ;;
	bzip2) cmd="bzip2 -dc" ;;
	lzma) cmd="xz -dc --format=lzma" ;;
	lzo) cmd="lzop -dc" ;;
	*) return 1 ;;
	esac
	command -v "${cmd%% *}" >/dev/null || {
		echo "fetch-debian-kernel: $3 payload, but ${cmd%% *} is not installed" >&2
		return 1
	}
	tail -c +"$(($2 + 1))" "$1" | $cmd >"$4" 2>/dev/null || true
	[ "$(hexat "$4" 0 4 2>/dev/null)" = 7f454c46 ]
}

# Magic bytes (hex) of every compressor the kernel's boot code understands.
MAGICS="1f8b08:gzip fd377a585a00:xz 28b52ffd:zstd 02214c18:lz4 425a68:bzip2 5d000000:lzma 894c5a4f:lzo"

# The compressor whose magic begins the bytes at offset $2 of $1, or nothing.
magic_at() {
	head=$(hexat "$1" "$2" 6)
	for m in $MAGICS; do
		case "$head" in
		"${m%%:*}"*) echo "${m#*:}"; return ;;
		esac
	done
}

extract_vmlinux() {
	in=$1 xout=$2
	[ -f "$in" ] || die "$in: no such file"
	[ "$(hexat "$in" 510 2)" = 55aa ] && [ "$(hexat "$in" 514 4)" = 48647253 ] ||
		die "$in: not a bzImage (no 0xAA55 / HdrS)"
	tmp="$xout.tmp"
	# Header first: setup_sects at 0x1f1 (0 means 4), payload_offset at 0x248.
	setup=$(od -An -t u1 -j $((0x1f1)) -N 1 "$in" | tr -d ' ')
	[ "$setup" -eq 0 ] && setup=4
	proto=$(od -An -t u2 -j $((0x206)) -N 2 "$in" | tr -d ' ')
	if [ "$proto" -ge $((0x208)) ]; then
		off=$(((setup + 1) * 512 + $(le32 "$in" $((0x248)))))
		kind=$(magic_at "$in" "$off")
		if [ -n "$kind" ] && try_decompress "$in" "$off" "$kind" "$tmp"; then
			mv "$tmp" "$xout"
			echo "fetch-debian-kernel: $kind payload at $off -> $xout" >&2
			return 0
		fi
	fi
	# Scan: every offset where a known magic starts, first match that yields ELF.
	for m in $MAGICS; do
		pat=$(echo "${m%%:*}" | sed 's/../\\x&/g')
		for off in $(LC_ALL=C grep -obaP "$pat" "$in" | cut -d: -f1); do
			if try_decompress "$in" "$off" "${m#*:}" "$tmp"; then
				mv "$tmp" "$xout"
				echo "fetch-debian-kernel: ${m#*:} payload at $off (scan) -> $xout" >&2
				return 0
			fi
		done
	done
	rm -f "$tmp"
	die "$in: no compressed payload that decompresses to an ELF vmlinux"
}

usage() {
	cat <<EOF
usage: ${0##*/} [--debug] [OUTDIR]
       ${0##*/} --extract VMLINUZ OUT
Fetch Debian's cloud kernel into OUTDIR (default build/debian-kernel):
vmlinuz, vmlinux, System.map, version; with --debug also vmlinux-dbg, the
kernel with debug info for crash, drgn and gdb.  --extract writes only the
ELF vmlinux inside the bzImage VMLINUZ to OUT.
EOF
}

# Installed as kvmfs-fetch-kernel, --help must not become an OUTDIR.
debug=
case "${1:-}" in
-h | --help) usage; exit 0 ;;
--extract) ;;
--debug)
	debug=1
	shift
	case "${1:-}" in
	-*) usage >&2; exit 2 ;;
	esac
	;;
-*) usage >&2; exit 2 ;;
esac

if [ "${1:-}" = --extract ]; then
	[ $# -eq 3 ] || die "usage: $0 --extract VMLINUZ OUT"
	extract_vmlinux "$2" "$3"
	exit 0
fi

out=${1:-build/debian-kernel}
if [ -s "$out/vmlinux" ] && [ -s "$out/System.map" ] && [ -s "$out/vmlinuz" ] &&
	[ -s "$out/version" ] && { [ -z "$debug" ] || [ -s "$out/vmlinux-dbg" ]; }; then
	exit 0
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The versioned package the metapackage points at today.
pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
	sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n 1)
[ -n "$pkg" ] || die "apt-cache knows no linux-image-cloud-amd64 (run apt-get update?)"
ver=${pkg#linux-image-}

# apt-get download writes into the current directory, as the _apt user
# when run as root: give it a directory it may write.
dl="$out/deb"
mkdir -p "$dl"
chmod 777 "$dl"
for p in "$pkg" "$pkg-dbg"; do
	ls "$dl"/"$p"_*.deb >/dev/null 2>&1 ||
		(cd "$dl" && apt-get download -q "$p") >&2 || die "apt-get download $p failed"
done
rm -rf "$out/root"
dpkg-deb -x "$(ls "$dl"/"$pkg"_*.deb | head -n 1)" "$out/root"
cp "$out/root/boot/vmlinuz-$ver" "$out/vmlinuz"
# The image package's System.map is a one-line stub pointing at -dbg; the
# real one is there (280 MB package): stream it out, stop at the first match.
# tar stopping early breaks dpkg-deb's pipe, which it reports: silenced, the
# result is checked instead.
map="./usr/lib/debug/boot/System.map-$ver"
dbgdeb=$(ls "$dl"/"$pkg-dbg"_*.deb | head -n 1)
dpkg-deb --fsys-tarfile "$dbgdeb" 2>/dev/null |
	tar -x -O --occurrence=1 "$map" >"$out/System.map.tmp" ||
	die "$pkg-dbg: no $map"
grep -q ' linux_banner$' "$out/System.map.tmp" || die "$pkg-dbg: $map has no linux_banner"
mv "$out/System.map.tmp" "$out/System.map"
if [ -n "$debug" ]; then
	dbg="./usr/lib/debug/boot/vmlinux-$ver"
	dpkg-deb --fsys-tarfile "$dbgdeb" 2>/dev/null |
		tar -x -O --occurrence=1 "$dbg" >"$out/vmlinux-dbg.tmp" ||
		die "$pkg-dbg: no $dbg"
	[ "$(hexat "$out/vmlinux-dbg.tmp" 0 4)" = 7f454c46 ] || die "$pkg-dbg: $dbg is not ELF"
	mv "$out/vmlinux-dbg.tmp" "$out/vmlinux-dbg"
fi
extract_vmlinux "$out/vmlinuz" "$out/vmlinux"
echo "$ver" >"$out/version"
# Only these files are kept: modules and packages are not needed to boot
# without an initramfs, and the -dbg package alone is 280 MB.
rm -rf "$out/root" "$dl"
echo "fetch-debian-kernel: $ver in $out" >&2
