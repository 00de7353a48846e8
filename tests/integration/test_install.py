"""kvmfs as a user installs it: make install / uninstall, the man page, --version.

* `make install DESTDIR=<tmp>` puts exactly the listed files, with their
  modes, under DESTDIR$(PREFIX) and nothing elsewhere; the installed kvmfs
  runs from there (-accel none: mounted, read, unmounted, exit status 0), the
  installed scripts run from PATH against its mount (kvmfs-layout-png draws
  its PNG), `man` finds the page where it was put, the header compiles alone;
  `make uninstall` leaves DESTDIR empty and keeps files it did not install;
  without DESTDIR it removes kvmfs's own directories only.
* The installed README sits in share/doc/kvmfs with the whole of doc/ beside
  it, and every relative link it holds (the picture, doc/*.md) resolves to an
  installed file.
* doc/kvmfs.1 names every option of --help and no other (and --help every
  option the parser knows), has one entry per file of a mounted tree with that
  file's mode (vcpus/<n>/ from a one-vCPU -dump on any host; completions, which
  only a VM that ran has, where a guest runs: a visible skip elsewhere),
  carries kvmfs --version's version, and renders without a warning (groff -ww,
  man -l).

make install builds build/kvmfs if it is stale (as `make` would) and installs
that one, whatever KVMFS says.  Nothing is installed outside tmp_path.

Run: python3 -m pytest -v tests/integration/test_install.py
"""
import functools
import os
import re
import shutil
import stat
import subprocess
import types
import urllib.parse

import pytest

from conftest import (FIRMWARE, KVMFS, ROOT, have_kvm, is_mounted, require_guest, ring0_emulated,
                      wait_for)
from elfcore import one_cpu_core

MAN = ROOT / "doc" / "kvmfs.1"
CMDLINE_C = ROOT / "src" / "cmdline.c"
PREFIX = "/usr/local"

# The scripts of tools/ that must be installed, under these names; the
# Makefile's INSTALL_TOOLS may hold more (adding one there is one word).
TOOLS = {
    "kvmfs-fetch-kernel": "tools/fetch-debian-kernel.sh",
    "kvmfs-find-pattern": "tools/find-pattern.py",
    "kvmfs-guest-status": "tools/guest-status.py",
    "kvmfs-layout-png": "tools/layout-png.sh",
    "kvmfs-make-initramfs": "tools/make-initramfs.sh",
    "kvmfs-qemu-dump": "tools/qemu-dump.py",
}

DOCDIR = "share/doc/kvmfs"  # the README, and doc/ beside it

PC_BIOS_SIZE = 256 << 10
PC_BIOS_GPA = 0xFFFC0000
ISA_BIOS_GPA, ISA_BIOS_SIZE = 0xE0000, 128 << 10  # pc.bios's last 128 KiB
BANNER = b"kvmfs guest: "  # the built-in firmware's console banner, in pc.bios


@functools.lru_cache(maxsize=None)
def install_tools():
    """{installed name: source} of the Makefile's INSTALL_TOOLS."""
    r = make("--eval", "_kvmfs_install_tools: ; @echo $(INSTALL_TOOLS)", "-s",
             "_kvmfs_install_tools")
    return types.MappingProxyType(dict(w.split(":", 1) for w in r.stdout.split()))


def installed():
    """Every file make install writes, relative to DESTDIR$(PREFIX): its mode
    and the file of the tree it is a copy of."""
    files = {
        "bin/kvmfs": (0o755, "build/kvmfs"),
        "share/man/man1/kvmfs.1": (0o644, "doc/kvmfs.1"),
        "include/kvmfs/guest.h": (0o644, "include/kvmfs/guest.h"),
        f"{DOCDIR}/README.md": (0o644, "README.md"),
        "share/kvmfs/qmp.py": (0o644, "tools/qmp.py"),  # kvmfs-qemu-dump's QMP client
    }
    # All of doc/, relative paths kept: what the README links (its picture,
    # doc/*.md) is where the link says, beside it.
    for root, _, names in os.walk(ROOT / "doc"):
        for name in names:
            rel = os.path.relpath(os.path.join(root, name), ROOT)
            files[f"{DOCDIR}/{rel}"] = (0o644, rel)
    tools = install_tools()
    assert tools.items() >= TOOLS.items(), tools
    files.update({f"bin/{name}": (0o755, src) for name, src in tools.items()})
    return files


def make(*args, check=True):
    """make in the repository, on its own: no jobserver, -n or DESTDIR inherited."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "DESTDIR", "PREFIX")}
    r = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *args], env=env,
                       capture_output=True, text=True, timeout=600)
    if check:
        assert r.returncode == 0, f"make {' '.join(args)}:\n{r.stdout}\n{r.stderr}"
    return r


def tree(top):
    """{relative path: mode} of every file and directory under top."""
    out = {}
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            p = os.path.join(root, name)
            out[os.path.relpath(p, top)] = stat.S_IMODE(os.lstat(p).st_mode)
    return out


def expected_tree(prefix_rel):
    """The files install writes and every directory holding them, under prefix_rel."""
    want = set()
    for rel in installed():
        p = os.path.join(prefix_rel, rel)
        while p not in ("", "."):
            want.add(p)
            p = os.path.dirname(p)
    return want


# ---- the man page's source, read the way the tests need it ----

_FONT_MACROS = {"B": "B", "I": "I", "BI": "BI", "IB": "IB", "BR": "BR", "RB": "RB",
                "IR": "IR", "RI": "RI"}


def _macro_args(s):
    """A macro's arguments: words, or "quoted strings" ("" inside is one quote)."""
    return [m.group(1).replace('""', '"') if m.group(1) is not None else m.group(2)
            for m in re.finditer(r'"((?:[^"]|"")*)"|(\S+)', s)]


def _inline(text, font):
    """[(text, font)] of a piece of troff text starting in font."""
    out = []
    for part in re.split(r"(\\f(?:\(..|\[[^]]*\]|.))", text):
        if part.startswith("\\f"):
            f = part[2:].strip("([]")
            font = {"P": "R"}.get(f, f)
            continue
        part = (part.replace("\\-", "-").replace("\\(ti", "~").replace("\\(aq", "'")
                .replace("\\&", "").replace("\\c", "").replace("\\e", "\\"))
        if part:
            out.append((part, font))
    return out


def segments(line):
    """A man(7) line as [(text, font)], font B, I or R."""
    if not line.startswith("."):
        return _inline(line, "R")
    name, _, rest = line[1:].partition(" ")
    fonts = _FONT_MACROS.get(name)
    if fonts is None:
        return []
    args = _macro_args(rest)
    if len(fonts) == 1:  # .B / .I: one font, arguments joined by spaces
        return _inline(" ".join(args), fonts)
    out = []
    for i, a in enumerate(args):  # .BI and friends: alternating, no spaces
        out += _inline(a, fonts[i % 2])
    return out


def plain(line):
    return "".join(t for t, _ in segments(line))


def man_section(title):
    """The lines of one .SH section of the man page."""
    lines, out, inside = MAN.read_text().splitlines(), [], False
    for line in lines:
        if line.startswith(".SH"):
            inside = " ".join(_macro_args(line[3:])) == title
            continue
        if inside:
            out.append(line)
    assert out, f"no section {title} in {MAN}"
    return out


def entries(section):
    """[(tag line, body lines)] of the .TP entries of a section."""
    lines, out = man_section(section), []
    for i, line in enumerate(lines):
        if line == ".TP" and i + 1 < len(lines):
            body = []
            for b in lines[i + 2:]:
                if b.split(" ")[0] in (".TP", ".SS", ".SH", ".PP", ".RS"):
                    break
                body.append(b)
            out.append((lines[i + 1], body))
    return out


OPTION = re.compile(r"-{1,2}[A-Za-z][A-Za-z0-9_-]*")


def options_of(spec):
    """The options a tag like '-M machine, -machine machine' names."""
    out = set()
    for part in spec.split(", "):
        m = OPTION.match(part.strip())
        if m:
            out.add(m.group(0))
    return out


def man_options():
    opts = set()
    for tag, _ in entries("OPTIONS"):
        found = options_of(plain(tag))
        assert found, f"an OPTIONS entry names no option: {tag!r}"
        opts |= found
    return opts


def help_options():
    r = subprocess.run([str(KVMFS), "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    opts = set()
    for line in r.stdout.splitlines():
        m = re.match(r"  (-\S.*?)(?: {2,}|$)", line)
        if m:
            opts |= options_of(m.group(1))
    return opts


def parser_options():
    """The names of cmdline.c's long_opts table: every option the parser takes."""
    src = CMDLINE_C.read_text()
    table = re.search(r"long_opts\[\]\s*=\s*\{(.*?)\n\};", src, re.S)
    assert table, "no long_opts table in cmdline.c"
    return set(re.findall(r'\{"([^"]+)",', table.group(1)))


MODE = re.compile(r"Mode (0[0-7]{3})(?:, (0[0-7]{3}) with --writable)?\.")


def tree_entries():
    """[(name, regex, literal length, mode, mode with --writable)] of THE TREE."""
    out = []
    for tag, body in entries("THE TREE"):
        segs = segments(tag)
        name = "".join(t for t, _ in segs)
        regex = "".join("[^/]+" if f == "I" else re.escape(t) for t, f in segs)
        literal = sum(len(t) for t, f in segs if f != "I")
        text = " ".join(plain(b) for b in body)
        m = MODE.search(text)
        assert m, f"THE TREE: the entry {name} gives no mode ('Mode 0444.')"
        out.append((name, re.compile(regex), literal, int(m.group(1), 8),
                    int(m.group(2) or m.group(1), 8)))
    return out


# ---- the man page ----

def test_help_and_man_page_name_the_same_options():
    in_help, in_man = help_options(), man_options()
    assert in_help - in_man == set(), "in --help, not in kvmfs.1's OPTIONS"
    assert in_man - in_help == set(), "in kvmfs.1's OPTIONS, not in --help"
    # The parse really found them (a broken parser would compare two empty sets).
    assert {"-m", "-M", "-machine", "-object", "--writable", "-o", "--version"} <= in_help


def test_help_lists_every_option_the_parser_takes():
    named = {o.lstrip("-") for o in help_options()}
    assert named == parser_options()


def test_man_page_renders_without_warnings():
    for dev in ("utf8", "ascii"):
        r = subprocess.run(["groff", "-ww", "-man", f"-T{dev}", "-z", str(MAN)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and r.stderr == "", f"groff -T{dev}:\n{r.stderr}"
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MANPAGER="cat", PAGER="cat")
    r = subprocess.run(["man", "--warnings=w", "-l", str(MAN)], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr == "", f"man -l:\n{r.stderr}"
    page = r.stdout
    for heading in ("NAME", "SYNOPSIS", "OPTIONS", "THE TREE", "HOST KINDS",
                    "SIGNALS AND UNMOUNTING", "EXIT STATUS", "EXAMPLES"):
        assert re.search(rf"^{heading}$", page, re.M), f"no {heading} in the rendered page"
    # Everything was rendered: no troff request or escape leaks into the text.
    assert not re.search(r"^\.[A-Za-z]|\\f|\\-", page, re.M)


def test_man_page_describes_every_installed_script():
    described = set()
    for tag, _ in entries("COMPANION COMMANDS"):
        described.add(plain(tag).split()[0])
    assert described == set(install_tools())


def test_man_page_is_for_this_version():
    r = subprocess.run([str(KVMFS), "--version"], capture_output=True, text=True, timeout=10)
    version = r.stdout.split()[1]
    th = next(l for l in MAN.read_text().splitlines() if l.startswith(".TH "))
    assert _macro_args(th[4:])[3] == f"kvmfs {version}", th


def test_version_names_libfuse_and_kvm():
    r = subprocess.run([str(KVMFS), "--version"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and r.stderr == ""
    m = re.fullmatch(r"kvmfs (\d+\.\d+(?:\.\d+)?) \(libfuse (\S+); (.*)\)\n", r.stdout)
    assert m, r.stdout
    # libfuse's runtime version: Debian's libfuse3 is the one pkg-config knows.
    fuse = subprocess.run(["pkg-config", "--modversion", "fuse3"], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert m.group(2) == fuse
    if have_kvm():
        # KVM_API_VERSION since Linux 2.6.22, then the host kind from the CPU flags.
        kind = ("without VMX/SVM: guest ring 0 is emulated" if ring0_emulated()
                else "hardware virtualization (VMX/SVM)")
        assert m.group(3).startswith("KVM API 12, ") and m.group(3).endswith(kind), m.group(3)
    elif not os.path.exists("/dev/kvm"):
        assert m.group(3) == "KVM: /dev/kvm absent"
    else:
        assert m.group(3).startswith("KVM: /dev/kvm: ")


def check_tree_against_man(mnt, writable):
    """Every file of the tree at mnt has exactly one best entry in THE TREE,
    with its mode.  Returns the tree's files and the entries they took."""
    ents = tree_entries()
    used = set()
    files = {}
    for root, _, names in os.walk(mnt):
        for n in names:
            p = os.path.join(root, n)
            files[os.path.relpath(p, mnt)] = stat.S_IMODE(os.stat(p).st_mode)
    for rel, mode in sorted(files.items()):
        matches = [e for e in ents if e[1].fullmatch(rel)]
        assert matches, f"{rel}: no entry in kvmfs.1's THE TREE"
        best = max(matches, key=lambda e: e[2])
        used.add(best[0])
        want = best[4] if writable else best[3]
        assert mode == want, f"{rel}: mode {mode:04o}, kvmfs.1's {best[0]} says {want:04o}"
    return files, used


def unused_entries(used, under=""):
    """THE TREE's entries under a prefix that no file took."""
    return sorted(name for name, *_ in tree_entries()
                  if name.startswith(under) and name not in used)


VCPU = "vcpus/"
COMPLETIONS = "vcpus/n/completions"  # only a VM's vCPUs have it: a dump's never ran


def test_man_page_lists_every_file_of_the_tree_with_its_mode(kvmfs, tmp_path):
    # -S: with KVM the vCPUs (and vcpus/<n>/) exist, but no guest runs.
    obj = ("-object", "memory-backend-ram,id=extra,size=64K")
    used = set()
    for args, writable in ((("-M", "pc", "-m", "64M", "-S", *obj), False),
                           (("-M", "q35", "-m", "64M", "-S", "--writable", *obj), True)):
        k = kvmfs(*args)
        files, took = check_tree_against_man(k.mnt, writable)
        assert "flatview" in files and "ramblocks/pc.ram" in files
        # Every entry outside vcpus/ is a file of a VM's tree.
        assert [n for n in unused_entries(took) if not n.startswith(VCPU)] == [], \
            f"kvmfs.1's THE TREE lists files {' '.join(args)}'s tree does not have"
        assert bool(os.listdir(k.path("vcpus"))) == have_kvm()
        used |= took
    # vcpus/<n>/ on any host: a -dump of a one-vCPU core has every file of
    # it but completions.
    core = tmp_path / "one-cpu.core"
    core.write_bytes(one_cpu_core())
    files, took = check_tree_against_man(kvmfs("-dump", core, accel=False).mnt, False)
    assert "vcpus/0/vmem" in files
    assert unused_entries(used | took, VCPU) == [COMPLETIONS], \
        "kvmfs.1's THE TREE lists vcpus/ files a one-vCPU dump does not have"


@pytest.mark.guest
def test_man_page_lists_every_vcpu_file_of_a_vm(kvmfs):
    """What a dump cannot show: the vcpus/<n>/ files of a VM's own vCPUs."""
    require_guest("vcpus/<n>/completions exists only for a VM's vCPUs (KVM); the other "
                  "vcpus/ entries are checked on a dump")
    k = kvmfs("-M", "pc", "-m", "64M", "-S")
    files, took = check_tree_against_man(k.mnt, writable=False)
    assert "vcpus/0/completions" in files
    assert unused_entries(took, VCPU) == []


# ---- make install / uninstall ----

def test_install_run_from_destdir_and_uninstall(kvmfs, tmp_path):
    dest = tmp_path / "stage"
    make("install", f"DESTDIR={dest}")
    prefix = dest / PREFIX.lstrip("/")
    assert set(tree(dest)) == expected_tree(PREFIX.lstrip("/"))
    for rel, (mode, src) in installed().items():
        got = prefix / rel
        assert stat.S_IMODE(got.stat().st_mode) == mode, rel
        assert got.read_bytes() == (ROOT / src).read_bytes(), f"{rel} is not {src}"
    for name in install_tools():
        assert (prefix / "bin" / name).read_bytes().startswith(b"#!"), f"{name}: no #! line"
    bindir = prefix / "bin"

    # --version, from the installed binary.
    r = subprocess.run([str(bindir / "kvmfs"), "--version"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 0 and re.match(r"kvmfs \S+ \(libfuse \S+; ", r.stdout), r

    # The installed kvmfs, mounted, read, unmounted.
    k = kvmfs("-accel", "none", "-M", "pc", "-m", "64M", accel=False, exe=bindir / "kvmfs")
    flat = open(k.path("flatview")).read()
    assert re.search(r"^  00000000fffc0000-00000000ffffffff \(prio 0, rom\): pc.bios$", flat,
                     re.M), flat
    firmware = FIRMWARE.read_bytes()
    assert len(firmware) == PC_BIOS_SIZE
    reset = subprocess.run(["hexdump", "-v", "-e", '16/1 "%02x"', "-s", str(PC_BIOS_SIZE - 16),
                            "-n", "16", k.path("ramblocks", "pc.bios")],
                           capture_output=True, text=True, check=True).stdout
    assert reset == firmware[-16:].hex()  # the reset vector, as linked into kvmfs

    # The scripts, found on PATH under their installed names.
    env = dict(os.environ, PATH=f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}")
    off = firmware.find(BANNER)
    assert off >= 0
    want = [f"0x{PC_BIOS_GPA + off:x} pc.bios+0x{off:x}"]
    if off >= PC_BIOS_SIZE - ISA_BIOS_SIZE:
        want.insert(0, f"0x{ISA_BIOS_GPA + off - (PC_BIOS_SIZE - ISA_BIOS_SIZE):x} "
                       f"pc.bios+0x{off:x}")
    r = subprocess.run(["kvmfs-find-pattern", k.mnt, BANNER.decode()], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == want
    r = subprocess.run(["kvmfs-find-pattern", k.mnt, "--hex", BANNER.hex()], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.stdout.splitlines() == want
    r = subprocess.run(["kvmfs-guest-status", "--help"], env=env, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.startswith("usage: kvmfs-guest-status "), r
    r = subprocess.run(["kvmfs-layout-png", "--help"], env=env, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.startswith("usage: kvmfs-layout-png "), r
    if not shutil.which("chromium"):
        pytest.fail("chromium is missing: tools/deps.sh png installs it")
    png = tmp_path / "layout.png"
    r = subprocess.run(["kvmfs-layout-png", k.mnt, str(png)], env=env, capture_output=True,
                       text=True, timeout=180)
    assert (r.returncode, r.stderr) == (0, ""), r
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    empty = tmp_path / "cwd"
    empty.mkdir()
    r = subprocess.run(["kvmfs-fetch-kernel", "--help"], env=env, cwd=empty,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and \
        r.stdout.startswith("usage: kvmfs-fetch-kernel [--debug] [OUTDIR]\n"), r
    assert list(empty.iterdir()) == []  # --help is not an OUTDIR
    r = subprocess.run(["kvmfs-qemu-dump", "--help"], env=env, cwd=empty, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.startswith("usage: kvmfs-qemu-dump "), r
    assert list(empty.iterdir()) == []
    notkernel = tmp_path / "not-a-kernel"
    notkernel.write_bytes(b"\0" * 4096)
    r = subprocess.run(["kvmfs-fetch-kernel", "--extract", str(notkernel),
                        str(tmp_path / "vmlinux")], env=env, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1 and "not a bzImage" in r.stderr, r

    # man finds the page where it was installed; the header stands alone.
    r = subprocess.run(["man", "-M", str(prefix / "share/man"), "-w", "kvmfs"],
                       capture_output=True, text=True, timeout=30)
    assert r.stdout.strip() == str(prefix / "share/man/man1/kvmfs.1"), r
    r = subprocess.run(["cc", "-fsyntax-only", "-Wall", "-Werror", f"-I{prefix}/include",
                        "-x", "c", "-"], capture_output=True, text=True, timeout=60,
                       input="#include <kvmfs/guest.h>\n"
                             "_Static_assert(GUEST_STATUS_GPA == 0x1000, \"ABI\");\n")
    assert r.returncode == 0, r.stderr

    subprocess.run(["fusermount3", "-u", k.mnt], check=True, timeout=30)
    assert k.wait() == 0, k.stderr()
    assert wait_for(lambda: not is_mounted(k.mnt), 5)

    make("uninstall", f"DESTDIR={dest}")
    assert dest.is_dir() and list(dest.iterdir()) == []


# A Markdown link's target: [text](target "title"), ![alt](target), <target>;
# a reference definition [label]: target; an HTML src= or href=.
MD_INLINE = re.compile(r"\]\(\s*(?:<([^>]*)>|([^)\s]*))(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
MD_REFDEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(?:<([^>]*)>|(\S+))", re.M)
HTML_LINK = re.compile(r"""<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*["']([^"']*)["']""", re.I)


def relative_links(markdown):
    """Every relative link target of a Markdown text (code left out), its
    #fragment and ?query cut, %-escapes undone."""
    text = re.sub(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", "", markdown, flags=re.M | re.S)
    text = re.sub(r"(`+).+?\1", "", text, flags=re.S)
    targets = [a or b for a, b in MD_INLINE.findall(text) + MD_REFDEF.findall(text)]
    targets += HTML_LINK.findall(text)
    out = []
    for t in targets:
        if not t or t.startswith(("#", "/")) or re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", t):
            continue  # in-page, absolute, or a URL with a scheme (https:, mailto:)
        out.append(urllib.parse.unquote(t.split("#", 1)[0].split("?", 1)[0]))
    return out


def test_installed_readme_links_resolve(tmp_path):
    dest = tmp_path / "stage"
    make("install", f"DESTDIR={dest}")
    docdir = dest / PREFIX.lstrip("/") / DOCDIR
    links = relative_links((docdir / "README.md").read_text())
    # The parse found them: the README links its picture and doc/ at least.
    assert links, "no relative link found in the README"
    broken = []
    for target in links:
        p = os.path.normpath(docdir / target)
        inside = os.path.commonpath([p, str(dest)]) == str(dest)
        if not (inside and (os.path.isfile(p) or os.path.isdir(p))):
            broken.append(target)
    assert broken == [], f"links of the installed README that resolve to no installed file " \
                         f"(make install puts README.md and doc/ in {DOCDIR}): {broken}"
    make("uninstall", f"DESTDIR={dest}")


def test_uninstall_without_destdir_removes_only_kvmfs_directories(tmp_path):
    # PREFIX of our own and no DESTDIR: the branch a `sudo make uninstall`
    # takes, which leaves bin/, include/ and share/man/ (the system's) alone.
    prefix = tmp_path / "prefix"
    make("install", f"PREFIX={prefix}")
    assert (prefix / DOCDIR / "doc" / "layout-pc-6G.png").is_file()
    make("uninstall", f"PREFIX={prefix}")
    left = set(tree(prefix))
    assert left == {"bin", "include", "share", "share/man", "share/man/man1", "share/doc"}, left


def test_install_writes_only_under_destdir_prefix(tmp_path):
    # An absolute PREFIX of our own: make install must write under
    # DESTDIR$(PREFIX) and never at PREFIX itself.
    prefix = tmp_path / "prefix"
    dest = tmp_path / "stage"
    before = set(tree(tmp_path))
    make("install", f"PREFIX={prefix}", f"DESTDIR={dest}")
    assert not prefix.exists()
    assert set(tree(tmp_path)) - before == \
        {"stage"} | {os.path.join("stage", p) for p in expected_tree(str(prefix).lstrip("/"))}
    make("uninstall", f"PREFIX={prefix}", f"DESTDIR={dest}")
    assert list(dest.iterdir()) == []

    # PREFIX=/usr, as a Debian package has it: the real /usr is not touched.
    real = {rel: os.lstat(f"/usr/{rel}") if os.path.lexists(f"/usr/{rel}") else None
            for rel in installed()}
    make("install", "PREFIX=/usr", f"DESTDIR={dest}")
    assert set(tree(dest)) == expected_tree("usr")
    for rel, st in real.items():
        now = os.lstat(f"/usr/{rel}") if os.path.lexists(f"/usr/{rel}") else None
        assert (st and (st.st_ino, st.st_mtime_ns)) == (now and (now.st_ino, now.st_mtime_ns)), \
            f"/usr/{rel} changed"
    make("uninstall", "PREFIX=/usr", f"DESTDIR={dest}")
    assert list(dest.iterdir()) == []


def test_uninstall_keeps_what_it_did_not_install(tmp_path):
    dest = tmp_path / "stage"
    prefix = dest / PREFIX.lstrip("/")
    others = {"bin/other-tool": b"#!/bin/sh\n", "share/man/man1/other.1": b".TH OTHER 1\n",
              "include/kvmfs/mine.h": b"/* a user's own */\n"}
    for rel, data in others.items():
        (prefix / rel).parent.mkdir(parents=True, exist_ok=True)
        (prefix / rel).write_bytes(data)
    make("install", f"DESTDIR={dest}")
    assert (prefix / "bin/kvmfs").exists()
    make("uninstall", f"DESTDIR={dest}")
    left = {rel for rel, _ in tree(prefix).items() if (prefix / rel).is_file()}
    assert left == set(others)
    for rel, data in others.items():
        assert (prefix / rel).read_bytes() == data
    # Emptied directories went; those still holding a file stayed.
    assert not (prefix / "share/doc").exists()
    assert (prefix / "include/kvmfs").is_dir()


def test_uninstall_without_install_is_harmless(tmp_path):
    dest = tmp_path / "never-installed"
    r = make("uninstall", f"DESTDIR={dest}")
    assert r.returncode == 0 and not dest.exists()
