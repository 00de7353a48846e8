"""layout.svg through a real mount: it parses as XML, and what it draws is what
flatview.json, ramblocks.json, memslots.json and regions.json of the same
mount say, worked out here independently of kvmfs's renderer.

For each layout (pc and q35 on both sides of each split, -object blocks with
hostile names, a 1 MiB -bios, -m 1T):
  - one guest-physical piece per flat-view range and per hole (split at 4G),
    stacked in address order without gap or overlap, labelled with its
    first-last address, region, offset and exact size;
  - every piece at least the documented minimum (30 px), a piece of n bytes
    n / 16 MiB px tall between the clamps, larger ones cut to 240 px with a
    zigzag;
  - each RAM block at its ram_addr offset (blocks in offset order), labelled,
    cut exactly where ranges start and end in it;
  - a band per RAM/ROM range whose ends are its range's rect and the block
    pieces at its offset and end, labelled with the aliases of regions.json
    that show the range's bytes;
  - each memslot of memslots.json marked over its range with its flags.
And a real browser (Debian's chromium, headless) draws it: the screenshot of
-M pc -m 6G is not blank, and its text is in the page's DOM.

Run: python3 -m pytest -v tests/integration/test_layout_svg.py
"""
import json
import re
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib

import pytest

from conftest import ROOT, read

SVG = "{http://www.w3.org/2000/svg}"
FOUR_G = 1 << 32
MIB = 1 << 20
# The scale as README.md and kvmfs(1) state it.
BYTES_PER_PX, MIN_PX, MAX_PX = 16 * MIB, 30, 240
LAYOUT_PNG = ROOT / "tools" / "layout-png.sh"


# ---- what the JSON views say, in the picture's terms ----

def size_str(n):
    """Exact size: every non-zero binary unit, largest first ("2 GiB 1023 MiB")."""
    parts = []
    for shift, unit in ((60, "EiB"), (50, "PiB"), (40, "TiB"), (30, "GiB"), (20, "MiB"),
                        (10, "KiB"), (0, "B")):
        if n >> shift:
            parts.append(f"{n >> shift} {unit}")
            n &= (1 << shift) - 1
    return " ".join(parts) or "0 B"


def text_name(name):
    """A name (as the JSON views decode it) as the picture writes it in text."""
    return "".join(f"\\x{ord(c):02x}" if ord(c) < 0x20 or c in "\x7f\\" else c for c in name)


def id_name(name):
    """A name inside an id: every byte but A-Z a-z 0-9 . - as _xx."""
    ok = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-"
    return "".join(chr(b) if b in ok else f"_{b:02x}" for b in name.encode("latin-1"))


def expected_gpa(flat):
    """The guest-physical pieces: (start, end, range or None), holes split at 4G."""
    pieces, pos = [], 0
    for r in sorted(flat, key=lambda r: r["start"]):
        while pos < r["start"]:
            stop = FOUR_G if pos < FOUR_G < r["start"] else r["start"]
            pieces.append((pos, stop, None))
            pos = stop
        pieces.append((r["start"], r["last"] + 1, r))
        pos = r["last"] + 1
    return pieces


def block_cuts(block, flat):
    """Offsets where the picture must cut a block: its ends and every range's ends in it."""
    cuts = {0, block["used_length"], block["max_length"]}
    for r in flat:
        if r.get("ramblock") == block["idstr"] and r["type"] in ("ram", "rom"):
            cuts |= {r["offset"], min(r["offset"] + r["size"], block["max_length"])}
    return sorted(cuts)


def aliases_over(tree, start, out):
    """Every enabled alias of the region tree whose range holds start."""
    if not tree["enabled"]:
        return out
    if tree["kind"] == "alias" and tree["start"] <= start <= tree["last"]:
        out.append(tree)
    for sub in tree["subregions"]:
        aliases_over(sub, start, out)
    return out


# ---- what the picture says ----

class Picture:
    def __init__(self, data):
        self.root = ET.fromstring(data)  # well-formed XML, or this raises
        assert self.root.tag == SVG + "svg"
        self.ids = {}
        for el in self.root.iter():
            i = el.get("id")
            if i is not None:
                assert i not in self.ids, f"id {i} twice"
                self.ids[i] = el
        self.text = data.decode("ascii")  # 7-bit ASCII throughout
        # Plain SVG: no script, nothing fetched from elsewhere (fonts, images, styles).
        for el in self.root.iter():
            assert el.tag not in (SVG + "script", SVG + "image", SVG + "foreignObject"), el.tag
            assert not any(a.endswith("href") or a.startswith("on") for a in el.attrib), el.attrib
        assert all(u.startswith("#") for u in re.findall(r"url\(([^)]*)\)", self.text))
        assert "@import" not in self.text and "@font-face" not in self.text

    def el(self, i):
        assert i in self.ids, f"no element with id {i}"
        return self.ids[i]

    def rect(self, i):
        """(top, bottom) of the element's rect, or of the first rect in the group."""
        el = self.el(i)
        r = el if el.tag == SVG + "rect" else el.find(SVG + "rect")
        y, h = float(r.get("y")), float(r.get("height"))
        return y, y + h

    def texts(self, i, cls):
        """The text of every <text>/<tspan> of class cls under the element."""
        return ["".join(t.itertext()) for t in self.el(i).iter()
                if t.tag in (SVG + "text", SVG + "tspan") and cls in (t.get("class") or "").split()]

    def band(self, i):
        """Band ends: (top, bottom) on the guest-physical side, (top, bottom) on the block side."""
        d = self.el(i).find(SVG + "path").get("d")
        n = [float(v) for v in re.findall(r"-?[0-9.]+", d)]
        assert len(n) == 16, d
        return (n[1], n[15]), (n[7], n[9])


def mount(kvmfs, *args, accel=True):
    k = kvmfs(*args, accel=accel)
    pic = Picture(read(k.path("layout.svg")))
    docs = {name: json.loads(read(k.path(name))) for name in
            ("flatview.json", "ramblocks.json", "memslots.json", "regions.json")}
    return k, pic, docs


def check_picture(pic, docs):
    flat, blocks = docs["flatview.json"], docs["ramblocks.json"]
    slots, tree = docs["memslots.json"], docs["regions.json"]["root"]

    # The guest-physical column: pieces in address order, one under the other.
    gpa = expected_gpa(flat)
    bottom = None
    for start, end, r in gpa:
        gid = f"gpa-{start:x}"
        top, bot = pic.rect(gid)
        if bottom is not None:
            assert top == bottom, f"{gid} starts at {top}, the piece above ends at {bottom}"
        bottom = bot
        size = end - start
        h = bot - top
        assert h >= MIN_PX
        linear = size // BYTES_PER_PX
        cut = pic.el(gid).find(f"{SVG}polygon[@class='cut']") is not None
        if linear > MAX_PX:
            assert h == MAX_PX and cut, gid
        else:
            assert h == max(MIN_PX, linear) and not cut, gid
        assert pic.texts(gid, "addr") == [f"0x{start:016x}-0x{end - 1:016x}"]
        assert pic.texts(gid, "name") == [text_name(r["region"]) if r else "hole"]
        assert pic.texts(gid, "size") == [size_str(size)]
        what = pic.texts(gid, "what")[0]
        if r and r["offset"]:
            assert f" @0x{r['offset']:x}," in what
        else:
            assert "@" not in what
    # Nothing else on that column.
    assert {i for i in pic.ids if i.startswith("gpa-")} == {f"gpa-{s:x}" for s, _, _ in gpa}
    if gpa and gpa[-1][1] >= FOUR_G:
        line = pic.el("mark-4g").find(SVG + "line")
        at = [pic.rect(f"gpa-{s:x}")[0] for s, _, _ in gpa if s == FOUR_G] or \
             [pic.rect(f"gpa-{s:x}")[1] for s, e, _ in gpa if e == FOUR_G]
        assert float(line.get("y1")) == at[0]

    # The ram_addr column: blocks in offset order, cut where the flat view says.
    last_bottom = None
    for b in sorted(blocks, key=lambda b: b["offset"]):
        bid = "block-" + id_name(b["idstr"])
        assert pic.texts(bid, "name") == [text_name(b["idstr"])]
        assert pic.texts(bid, "size") == [size_str(b["used_length"])]
        assert pic.texts(bid, "addr") == [
            f"ram_addr 0x{b['offset']:016x}-0x{b['offset'] + b['used_length'] - 1:016x}"]
        mapped = any(r.get("ramblock") == b["idstr"] for r in flat)
        assert ("mapped nowhere" in pic.texts(bid, "what")[0]) == (not mapped)
        cuts = block_cuts(b, flat)
        pieces = [i for i in pic.ids if i.startswith("piece-") and i.endswith("-" + id_name(b["idstr"]))
                  and pic.el(i) in list(pic.el(bid))]
        assert sorted(pieces) == sorted(f"piece-{c:x}-{id_name(b['idstr'])}" for c in cuts[:-1])
        top = pic.rect(f"piece-0-{id_name(b['idstr'])}")[0]
        if last_bottom is not None:
            assert top > last_bottom, f"{bid} is not below the block before it"
        for c, nxt in zip(cuts, cuts[1:]):
            t, btm = pic.rect(f"piece-{c:x}-{id_name(b['idstr'])}")
            assert btm - t >= MIN_PX
            last_bottom = btm
    by_name = {b["idstr"]: b for b in blocks}

    # A band from each RAM/ROM range to the block pieces at its offset and its end.
    bands = set()
    for start, end, r in gpa:
        if not r or r["type"] not in ("ram", "rom") or "ramblock" not in r:
            continue
        bands.add(f"band-{start:x}")
        (g0, g1), (b0, b1) = pic.band(f"band-{start:x}")
        assert (g0, g1) == pic.rect(f"gpa-{start:x}")
        name = id_name(r["ramblock"])
        cuts = block_cuts(by_name[r["ramblock"]], flat)
        last_cut = max(c for c in cuts if c < r["offset"] + r["size"])
        assert b0 == pic.rect(f"piece-{r['offset']:x}-{name}")[0]
        assert b1 == pic.rect(f"piece-{last_cut:x}-{name}")[1]
        # Its label: the aliases of the region tree over this range.
        via = pic.texts(f"via-{start:x}", "via")[0]
        over = aliases_over(tree, start, [])
        if not over:
            assert via == "direct"
        else:
            assert via.startswith("via ")
            named = via[4:].split(" \u2192 ")
            assert set(named) <= {text_name(a["name"]) for a in over}
        for a in over:
            # An alias straight onto the range's region, at the range's offset, is named.
            if a.get("alias") == r["region"] and \
                    a["alias_offset"] + start - a["start"] == r["offset"]:
                assert text_name(a["name"]) in via
    assert {i for i in pic.ids if i.startswith("band-")} == bands

    # Every memslot over its range, with its flags.
    for s in slots:
        sid = f"slot-{s['slot']}"
        flags = "ro" if s["readonly"] else "log" if s["dirty_log"] else "-"
        assert pic.texts(sid, "flags") == [flags]
        assert f"slot {s['slot']}" in "".join(pic.el(sid).itertext())
        cls = pic.el(sid).get("class").split()
        assert {"ro": "ro", "log": "log", "-": "plain"}[flags] in cls
        top, bot = pic.rect(sid)
        first = [p for p in gpa if p[0] <= s["guest_phys_addr"] < p[1]][0]
        last = [p for p in gpa if p[0] < s["guest_phys_addr"] + s["memory_size"] <= p[1]][0]
        if first[0] == s["guest_phys_addr"]:
            assert 0 <= top - pic.rect(f"gpa-{first[0]:x}")[0] <= 2
        if last[1] == s["guest_phys_addr"] + s["memory_size"]:
            assert 0 <= pic.rect(f"gpa-{last[0]:x}")[1] - bot <= 2
    assert {i for i in pic.ids if i.startswith("slot-")} == {f"slot-{s['slot']}" for s in slots}


# pc splits RAM from 3.5 GiB (3 GiB below 4G), q35 from 2.75 GiB (2 GiB below).
LAYOUTS = [(m, s) for m in ("pc", "q35") for s in ("1G", "3G", "3584M", "6G")]


@pytest.mark.parametrize("machine,size", LAYOUTS)
def test_layout_matches_the_json_views(kvmfs, machine, size):
    k, pic, docs = mount(kvmfs, "-S", "-M", machine, "-m", size)
    check_picture(pic, docs)
    # The picture shows a split exactly when the flat view has RAM above 4G.
    above = [r for r in docs["flatview.json"] if r["start"] >= FOUR_G]
    assert ("ram-above-4g" in pic.text) == bool(above)


def test_objects_with_hostile_names(kvmfs):
    names = ["mem0", "a<b&c>\"d", "x\x01y\\z", "caf\u00e9/../n"]
    args = []
    for n, size in zip(names, ("64M", "4K", "1M", "3M")):
        args += ["-object", f"memory-backend-ram,id={n},size={size}"]
    k, pic, docs = mount(kvmfs, "-S", "-M", "q35", "-m", "3584M", *args)
    check_picture(pic, docs)
    # Mapped nowhere, each in its own place of ram_addr space.
    got = {b["idstr"] for b in docs["ramblocks.json"]}
    assert {n.encode().decode("latin-1") for n in names} <= got


def test_bios_larger_than_the_default(kvmfs, tmp_path):
    bios = tmp_path / "bios.bin"
    bios.write_bytes(bytes(1 << 20))
    k, pic, docs = mount(kvmfs, "-S", "-M", "pc", "-m", "6G", "-bios", bios)
    check_picture(pic, docs)
    # QEMU 7.2 with the same file (tests/unit/qemu_layouts.h): pc.bios is 1 MiB at
    # 4G - 1 MiB, isa-bios its last 128 KiB at 0xe0000.
    assert pic.texts("gpa-fff00000", "addr") == ["0x00000000fff00000-0x00000000ffffffff"]
    assert pic.texts("gpa-fff00000", "size") == ["1 MiB"]
    assert "@0xe0000," in pic.texts("gpa-e0000", "what")[0]


def test_one_terabyte_shows_its_roms(kvmfs):
    # -accel none: nothing runs; the RAM is reserved, not allocated.
    k, pic, docs = mount(kvmfs, "-accel", "none", "-M", "pc", "-m", "1T", accel=False)
    check_picture(pic, docs)
    for rom in ("gpa-c0000", "gpa-e0000", "gpa-fffc0000"):
        top, bottom = pic.rect(rom)
        assert bottom - top == MIN_PX
    top, bottom = pic.rect("gpa-100000000")
    assert bottom - top == MAX_PX
    assert pic.texts("gpa-100000000", "size") == ["1021 GiB"]
    assert "Not to scale" in "".join(pic.el("scale").itertext())


# ---- a real browser ----

def png_pixels(data):
    """The RGB(A) pixels of an 8-bit, non-interlaced PNG, unfiltered."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    assert depth == 8 and ctype in (2, 6) and not interlace
    bpp = 3 if ctype == 2 else 4
    raw, stride = zlib.decompress(idat), w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xff
            elif f == 2:
                line[i] = (line[i] + b) & 0xff
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xff
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xff
        rows.append(bytes(line))
        prev = line
    return w, h, [row[x:x + 3] for row in rows for x in range(0, stride, bpp)]


CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"]


def test_chromium_draws_it(kvmfs, tmp_path):
    k = kvmfs("-S", "-M", "pc", "-m", "6G")
    png = tmp_path / "layout.png"
    # tools/layout-png.sh copies layout.svg out of the mount and screenshots it.
    subprocess.run([str(LAYOUT_PNG), k.mnt, str(png)], check=True, timeout=180)
    w, h, pixels = png_pixels(read(png))
    svg = Picture(read(k.path("layout.svg")))
    assert (w, h) == (int(svg.root.get("width")), int(svg.root.get("height")))
    colours = {}
    for p in pixels:
        colours[p] = colours.get(p, 0) + 1
    white = colours.get(b"\xff\xff\xff", 0)
    # Not blank: the RAM, ROM and hole fills at least, and a good part of the page inked.
    assert len(colours) >= 4
    assert white < 0.9 * len(pixels)

    # The DOM chromium built from the file holds the labels (and no parse error).
    copy = tmp_path / "layout.svg"
    copy.write_bytes(read(k.path("layout.svg")))
    dom = subprocess.run(CHROMIUM + [f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                                     copy.as_uri()],
                         capture_output=True, text=True, timeout=180, check=True).stdout
    assert "parsererror" not in dom
    for want in ("pc.ram", "pc.bios", "pc.rom", "ram-above-4g", "0x0000000100000000-0x00000001bfffffff",
                 "ram_addr 0x0000000180000000-0x000000018003ffff", "Not to scale"):
        assert want in dom, want
