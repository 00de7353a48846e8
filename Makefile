# kvmfs - a KVM virtual machine whose memory is a filesystem.
#
#   make run     build and start the default VM, mounted at $(MNT) [SERIAL=stdio: its
#                console here too, not only in $(MNT)/console]
#   make check   build and run every test: the layer check, format-check, unit (cmocka),
#                integration (pytest), the same under ASan+UBSan, a valgrind session,
#                the fuzzers for FUZZ_SECONDS each
#   make asan, make valgrind, make fuzz [FUZZ_SECONDS=30], make stress [DURATION=60]
#   make bench, make bench-linux (Linux to /init, timed), make check-nested
#   make check-forensics VOLATILITY=DIR ISF=FILE|DWARF2JSON=DIR (Volatility 3 over vmcore, phys)
#   make layers, make format-check, make clean
#   make install [PREFIX=/usr/local] [DESTDIR=staging dir], make uninstall (same variables)
#
# Missing Debian packages are installed by tools/deps.sh when run as root.

BUILD := build
MNT ?= /mnt/vm
# Debian's python3, where python3-pytest lives (a pyenv python3 may come first on PATH).
PYTHON ?= /usr/bin/python3
RUN_ARGS ?= -M pc -m 1G

CC ?= cc
WARN := -Wall -Wextra -Werror -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes -Wshadow \
	-Wno-missing-field-initializers
# Sources by folder, one folder a layer (src/README.md): util -> memory ->
# machine -> kvm -> {hw, boot, inspect} -> vm.c -> fs -> main.c.  Every
# folder but fs/ builds and links without libfuse: the unit tests and the
# fuzzers take them whole.
LIB_DIRS := util memory machine kvm qemu hw boot inspect
LIB_SRCS := $(foreach d,$(LIB_DIRS),$(wildcard src/$(d)/*.c)) src/vm.c src/cmdline.c
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
FS_SRCS := $(wildcard src/fs/*.c)
FS_OBJS := $(FS_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
# Only the FUSE layer and main.c see libfuse's headers (recursive =:
# pkg-config must only run after `deps` has installed fuse3).
CPPFLAGS_BASE := -D_GNU_SOURCE -Isrc -Iinclude
ALL_CFLAGS = -std=gnu11 $(WARN) $(CPPFLAGS_BASE) -pthread -MMD -MP $(CFLAGS) $(EXTRA_CFLAGS)
FUSE_CFLAGS = $(shell pkg-config --cflags fuse3)
LDLIBS = $(shell pkg-config --libs fuse3) -pthread

.PHONY: all deps deps-check layers run check unit unit-bins integration format format-check clean \
	asan valgrind fuzz fuzz-build fuzz-regress stress install uninstall
all: $(BUILD)/kvmfs

include firmware/firmware.mk

deps:
	@tools/deps.sh build
deps-check:
	@tools/deps.sh check

$(BUILD)/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<
$(BUILD)/src/fs/%.o $(BUILD)/src/main.o: ALL_CFLAGS += $(FUSE_CFLAGS)

# The firmware is built once, in build/guest, for every build directory.
$(BUILD)/src/boot/firmware_blob.o: src/boot/firmware_blob.S $(GUEST_DIR)/firmware.bin
	@mkdir -p $(dir $@)
	$(CC) -c -DGUEST_FIRMWARE_BIN='"$(GUEST_DIR)/firmware.bin"' -o $@ $<

$(BUILD)/kvmfs: $(BUILD)/src/main.o $(LIB_OBJS) $(FS_OBJS) $(BUILD)/src/boot/firmware_blob.o
	$(CC) $(ALL_CFLAGS) -o $@ $(filter %.o,$^) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS) $(BUILD)/src/boot/firmware_blob.o | deps-check
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $(filter %.c %.o,$^) -pthread -lcmocka
# tests/unit/test_fs_*.c test the FUSE layer's own code: they alone link it, and libfuse.
$(BUILD)/tests/test_fs_%: tests/unit/test_fs_%.c $(LIB_OBJS) $(FS_OBJS) \
		$(BUILD)/src/boot/firmware_blob.o | deps-check
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(FUSE_CFLAGS) -Itests/unit -o $@ $(filter %.c %.o,$^) $(LDLIBS) -lcmocka

# KERNEL=vmlinux|bzImage boots Linux instead of the built-in guest.
KERNEL_APPEND ?= console=ttyS0 earlyprintk=serial nokaslr
# Without /dev/kvm kvmfs itself falls back to -accel none (its ready line says so).
# The terminal make run starts in stays kvmfs's own (its ready line, its errors,
# Ctrl-C): the guest's console, 10 lines a second from the built-in guest, is
# one `tail -f` away in another.  SERIAL=stdio brings it here, as QEMU's
# -nographic does.
SERIAL ?= null
run: $(BUILD)/kvmfs
	@# Only a missing mountpoint is made: kvmfs says itself what is wrong with another.
	@[ -e "$(MNT)" ] || mkdir -p "$(MNT)" 2>/dev/null || true
	@echo "kvmfs: mounting at $(MNT); look with: ls $(MNT); hexdump -C -n 64 $(MNT)/ramblocks/pc.ram;"
	@echo "       cat $(MNT)/flatview $(MNT)/memslots.  Ctrl-C ends it."
	@$(if $(filter null,$(SERIAL)),echo "       The guest's console: tail -f $(MNT)/console (in another terminal)")
	$(BUILD)/kvmfs -serial $(SERIAL) $(RUN_ARGS) \
		$(if $(KERNEL),-kernel $(KERNEL) -append "$(KERNEL_APPEND)") \
		$(if $(INITRD),-initrd $(INITRD)) $(KVMFS_ARGS) $(MNT)

unit-bins: $(UNIT_BINS)
unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

# STRESS_SECONDS: how long test_stress.py runs (CI: 60).
STRESS_SECONDS ?= 60
# Tests marked forensics need Volatility 3, which CI cannot fetch: make check-forensics runs them.
integration: $(BUILD)/kvmfs $(GUEST_BINS) | deps-check
	KVMFS_STRESS_SECONDS=$(STRESS_SECONDS) $(PYTHON) -m pytest -v -rs -m "not forensics" tests/integration

# ---- ASan+UBSan: build-asan/kvmfs and the unit tests, every test against them ----
# Reports go to files (kvmfs's stderr is the tests' business, and a report
# at exit would otherwise pass unseen); any file there fails the target.
ASAN_BUILD := build-asan
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ASAN_LOGS = $(abspath $(ASAN_BUILD))/reports
# Tests marked asan_skip are left out under ASan (test_linux_user_space: Linux
# to /init runs the same kvmfs code as the other guest tests, and where ring 0
# is emulated it takes a quarter of an hour); the plain run has them.  Nor do
# those marked forensics run (Volatility 3: make check-forensics).
ASAN_DESELECT := -m "not asan_skip and not forensics"
asan: deps-check $(GUEST_BINS)
	$(MAKE) BUILD=$(ASAN_BUILD) CFLAGS="-O1 -g $(SAN_FLAGS)" $(ASAN_BUILD)/kvmfs unit-bins
	rm -rf $(ASAN_LOGS) && mkdir -p $(ASAN_LOGS)
	@set -e; export ASAN_OPTIONS=log_path=$(ASAN_LOGS)/asan:detect_leaks=1:abort_on_error=0 \
		UBSAN_OPTIONS=log_path=$(ASAN_LOGS)/ubsan:print_stacktrace=1; \
	for t in $(UNIT_SRCS:tests/unit/%.c=$(ASAN_BUILD)/tests/%); do echo "== $$t"; $$t; done; \
	KVMFS=$(abspath $(ASAN_BUILD))/kvmfs KVMFS_STRESS_SECONDS=20 \
		$(PYTHON) -m pytest -q -rs $(ASAN_DESELECT) tests/integration
	@if [ -n "$$(ls $(ASAN_LOGS))" ]; then cat $(ASAN_LOGS)/*; \
		echo "asan: sanitizer reports above" >&2; exit 1; fi
	@echo "asan: no sanitizer report"

# ---- valgrind: one short session (start, read every file, stop) ----
VG_MNT = $(abspath $(BUILD))/vg-mnt
VG_LOG = $(abspath $(BUILD))/valgrind.log
valgrind: $(BUILD)/kvmfs | deps-check
	@mkdir -p $(VG_MNT)
	@set -e; rm -f $(VG_LOG); \
	valgrind -q --error-exitcode=1 --leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect --log-file=$(VG_LOG) \
		$(BUILD)/kvmfs -accel none -M pc -m 128M -object memory-backend-ram,id=../a/b,size=64K \
		$(VG_MNT) >/dev/null 2>$(VG_LOG).err & pid=$$!; \
	i=0; until grep -q 'kvmfs: ready' $(VG_LOG).err 2>/dev/null; do \
		i=$$((i+1)); [ $$i -lt 600 ] && kill -0 $$pid || { cat $(VG_LOG).err; exit 1; }; \
		sleep 0.1; done; \
	n=$$(find $(VG_MNT) -type f | wc -l); find $(VG_MNT) -type f -exec cat {} + >/dev/null; \
	fusermount3 -u $(VG_MNT); rc=0; wait $$pid || rc=$$?; cat $(VG_LOG); \
	echo "valgrind: read $$n files, exit status $$rc"; exit $$rc

# ---- libFuzzer harnesses (clang): tests/fuzz/fuzz_*.c against the model sources ----
# Each runs FUZZ_SECONDS from its committed seed corpus (tests/fuzz/corpus/NAME),
# new inputs going to build-fuzz/corpus; first, fuzz-regress replays every
# file of tests/fuzz/corpus/NAME and of $(FUZZ_REGRESS)/NAME (a crash once
# found), and fails if any input crashes.
FUZZ_SECONDS ?= 30
# A fixed seed makes the CI run the same search every time: a new finding
# shows up in a developer's longer run (make fuzz FUZZ_SEED=0 FUZZ_SECONDS=600),
# not as a flaky CI failure.  0 lets libFuzzer pick.
FUZZ_SEED ?= 1
FUZZ_CC ?= clang
FUZZ_BUILD := build-fuzz
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
# Another directory of the same shape replays too (make fuzz-regress FUZZ_REGRESS=DIR).
FUZZ_REGRESS ?= tests/fuzz/regress
# The model the harnesses drive: the lower layers whole, and the few files above them they test.
FUZZ_MODEL := $(foreach d,util memory machine,$(wildcard src/$(d)/*.c)) src/kvm/kvm.c src/cmdline.c \
	src/inspect/layout_svg.c src/inspect/dumpfile.c
FUZZ_CFLAGS = -std=gnu11 $(WARN) $(CPPFLAGS_BASE) -pthread -Itests/fuzz -g -O1 \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_MODEL) $(wildcard tests/fuzz/*.h) \
		tests/unit/region_oracle.h $(wildcard src/*.h src/*/*.h) | deps-check
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_MODEL) -pthread

fuzz-build: $(FUZZ_BINS)
# The status of each replay is the harness's own (no pipe after it): a crash,
# a leak or a sanitizer report fails the target.  A regression directory no
# harness is named after would be skipped without a word: that fails too.
# Regressions are replayed file by file, and libFuzzer must say it executed
# each one.
fuzz-regress: $(FUZZ_BINS)
	@set -e; for d in $(FUZZ_REGRESS)/*; do [ -d "$$d" ] || continue; n=$${d##*/}; \
		case " $(notdir $(FUZZ_BINS)) " in *" $$n "*) ;; \
		*) echo "fuzz-regress: $$d: no harness tests/fuzz/$$n.c replays it" >&2; exit 1;; esac; \
	done
	@set -e; mkdir -p $(FUZZ_BUILD)/crashes; \
	for f in $(FUZZ_BINS); do n=$${f##*/}; log=$(FUZZ_BUILD)/$$n.regress.log; \
		art=-artifact_prefix=$(FUZZ_BUILD)/crashes/$$n-; d=tests/fuzz/corpus/$$n; \
		if [ -n "$$(ls -A $$d 2>/dev/null)" ]; then \
			echo "== $$n: replaying $$d ($$(ls -A $$d | wc -l) inputs)"; \
			$$f $$art -runs=0 $$d >$$log 2>&1 || { tail -40 $$log; \
				echo "fuzz-regress: $$n fails on an input of $$d" >&2; exit 1; }; \
		fi; \
		d=$(FUZZ_REGRESS)/$$n; \
		[ -n "$$(ls -A $$d 2>/dev/null)" ] || continue; \
		want=$$(ls $$d | wc -l); echo "== $$n: replaying $$d ($$want inputs)"; \
		$$f $$art $$d/* >$$log 2>&1 || { tail -40 $$log; \
			echo "fuzz-regress: $$n fails on an input of $$d" >&2; exit 1; }; \
		ran=$$(grep -c '^Executed ' $$log || true); \
		[ "$$ran" -eq "$$want" ] || { cat $$log; \
			echo "fuzz-regress: $$n executed $$ran of the $$want inputs of $$d" >&2; exit 1; }; \
	done
fuzz: fuzz-regress
	@set -e; for f in $(FUZZ_BINS); do n=$$(basename $$f); \
		mkdir -p $(FUZZ_BUILD)/corpus/$$n $(FUZZ_BUILD)/crashes; \
		echo "== $$n: $(FUZZ_SECONDS) s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -seed=$(FUZZ_SEED) -timeout=20 -rss_limit_mb=2048 \
			-print_final_stats=1 \
			-artifact_prefix=$(FUZZ_BUILD)/crashes/$$n- \
			$(FUZZ_BUILD)/corpus/$$n tests/fuzz/corpus/$$n 2>$(FUZZ_BUILD)/$$n.log || \
			{ tail -60 $(FUZZ_BUILD)/$$n.log; echo "fuzz: $$n failed; the input is in" \
				"$(FUZZ_BUILD)/crashes: copy it to tests/fuzz/regress/$$n" >&2; exit 1; }; \
		grep -E '^stat::number_of_executed_units' $(FUZZ_BUILD)/$$n.log || true; done

# ---- stress: 4 readers and a writer, then pc.ram via the FS equals /proc/PID/mem ----
DURATION ?= 60
stress: $(BUILD)/kvmfs | deps-check
	KVMFS_STRESS_SECONDS=$(DURATION) $(PYTHON) -m pytest -v -s -rs tests/integration/test_stress.py

# Every #include goes down the layers (src/README.md) or stays in its folder.
layers:
	$(PYTHON) tools/check-layers.py src

check: deps-check
	$(MAKE) layers
	$(MAKE) format-check
	$(MAKE) unit
	$(MAKE) integration
	$(MAKE) asan
	$(MAKE) valgrind
	$(MAKE) fuzz

# make bench: every figure of tools/bench/run.py, side by side, into build/bench.json
# (idle and filled 4 GiB guests, the passthrough section's 2 GiB ones, a live 1 GiB
# one; 5.4 minutes with --reps 3 here, of which the passthrough section is about 1
# (77 s with 5 repetitions), so some 9-13 with the default 5; and up to
# 8 GiB of memory while the baselines allocate).  fio comes from tools/deps.sh bench.
BENCH_TOOLS := $(BUILD)/tools/memread $(BUILD)/tools/fresh
.PHONY: bench
$(BUILD)/tools/%: tools/bench/%.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $<

bench: $(BUILD)/kvmfs $(BENCH_TOOLS)
	@tools/deps.sh bench
	$(PYTHON) tools/bench/run.py

# make bench-linux: Debian's cloud kernel with the busybox initramfs, timed
# from start to /init on this host (tens of minutes where ring 0 is emulated).
.PHONY: bench-linux
bench-linux: $(BUILD)/kvmfs | deps-check
	tools/fetch-debian-kernel.sh $(BUILD)/debian-kernel
	tools/make-initramfs.sh $(BUILD)/initramfs.cpio
	$(PYTHON) tools/bench/linux_boot.py --kvmfs $(BUILD)/kvmfs

# ---- install: what a user runs, where their other tools live ----
# PREFIX as usual (default /usr/local); DESTDIR stages the whole tree under
# another root, for packagers.  Nothing is written outside $(DESTDIR)$(PREFIX),
# and install builds nothing but what `make` builds: run `make` first as
# yourself, then `sudo make install` only copies.
PREFIX ?= /usr/local
# Plain `=`, not `?=`: a variable of the same name in the environment must
# not move one part of the install elsewhere (the command line still can).
bindir = $(PREFIX)/bin
man1dir = $(PREFIX)/share/man/man1
includedir = $(PREFIX)/include
docdir = $(PREFIX)/share/doc/kvmfs
# Python modules the installed scripts import (kvmfs-qemu-dump: qmp.py); each
# script finds them as ../share/kvmfs from its own directory, so a staged or
# moved install works without the path written into it.
pkgdatadir = $(PREFIX)/share/kvmfs
# The user-facing scripts of tools/, as INSTALLED-NAME:SOURCE: adding one is
# one word here.  The rest of tools/ (deps.sh, bench/, nested-kvm/,
# qemu-layouts.py) serves the build and the tests.
INSTALL_TOOLS := kvmfs-fetch-kernel:tools/fetch-debian-kernel.sh \
	kvmfs-find-pattern:tools/find-pattern.py \
	kvmfs-guest-status:tools/guest-status.py \
	kvmfs-layout-png:tools/layout-png.sh \
	kvmfs-make-initramfs:tools/make-initramfs.sh \
	kvmfs-qemu-dump:tools/qemu-dump.py
# The README goes to $(docdir) with the whole of doc/ beside it, relative
# paths kept (doc/layout-pc-6G.png, doc/design.md, ...), so that every link
# of the installed README resolves as it does in the tree.  Read when make
# runs: a file added to doc/ is installed without a word here.
INSTALL_DOCS := README.md $(sort $(shell find doc -type f))
# Every file install writes, as DEST:SOURCE:MODE; uninstall removes exactly these.
INSTALL_FILES = $(bindir)/kvmfs:$(BUILD)/kvmfs:0755 \
	$(foreach t,$(INSTALL_TOOLS),$(bindir)/$(word 1,$(subst :, ,$(t))):$(word 2,$(subst :, ,$(t))):0755) \
	$(man1dir)/kvmfs.1:doc/kvmfs.1:0644 \
	$(includedir)/kvmfs/guest.h:include/kvmfs/guest.h:0644 \
	$(foreach d,$(INSTALL_DOCS),$(docdir)/$(d):$(d):0644) \
	$(pkgdatadir)/qmp.py:tools/qmp.py:0644

install: $(BUILD)/kvmfs
	@set -e; for f in $(INSTALL_FILES); do \
		dest=$${f%%:*}; rest=$${f#*:}; src=$${rest%%:*}; mode=$${rest#*:}; \
		echo "install -D -m $$mode $$src $(DESTDIR)$$dest"; \
		install -D -m "$$mode" "$$src" "$(DESTDIR)$$dest"; done

# Directories go only when empty.  Under a DESTDIR every one install may have
# created is tried, up to DESTDIR itself (rmdir -p on a path relative to it
# cannot climb higher), so a staged install leaves DESTDIR as it found it.
# Without DESTDIR only kvmfs's own directories go ($(docdir)'s doc/ and
# below, deepest first): bin/, include/ and share/man/ under /usr/local are
# the system's (Debian creates include/ and share/man/ empty) and stay.
uninstall:
	@set -e; for f in $(INSTALL_FILES); do \
		echo "rm -f $(DESTDIR)$${f%%:*}"; rm -f "$(DESTDIR)$${f%%:*}"; done
	@set -e; if [ -n "$(DESTDIR)" ]; then \
		[ -d "$(DESTDIR)" ] || exit 0; cd "$(DESTDIR)"; \
		for f in $(INSTALL_FILES); do d=$${f%%:*}; d=$${d%/*}; d=$${d#/}; \
			[ ! -d "$$d" ] || rmdir -p --ignore-fail-on-non-empty "$$d"; done; \
	else \
		for f in $(INSTALL_FILES); do d=$${f%%:*}; d=$${d%/*}; \
			while [ "$${d#$(docdir)/}" != "$$d" ]; do \
				[ ! -d "$$d" ] || rmdir --ignore-fail-on-non-empty "$$d"; d=$${d%/*}; done; \
		done; \
		for d in $(includedir)/kvmfs $(docdir) $(pkgdatadir); do \
			[ ! -d "$$d" ] || rmdir --ignore-fail-on-non-empty "$$d"; done; \
	fi

# Every C source and header of ours: src/, the installed ABI, the tests' C (but qemu_layouts.h,
# which tools/qemu-layouts.py writes).
FORMAT_FILES = $(filter-out tests/unit/qemu_layouts.h,$(wildcard src/*.[ch] src/*/*.[ch] include/kvmfs/*.h tests/unit/*.[ch] \
	tests/fuzz/*.[ch] tools/bench/*.c tools/nested-kvm/*.c))
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---- check-nested: the tests that need a running guest, under nested KVM ----
# Where there is no /dev/kvm (CI, a container) those tests skip.  This boots
# Debian's kernel under qemu-system-x86_64 -accel tcg -cpu max (emulated SVM:
# its kvm-amd works) with the host's / read-only and this tree writable over
# 9p, and runs them there against this very build.  Not part of `check`: the
# first run downloads ~70 MB of packages (and test_linux.py's kernel, ~350 MB
# with its -dbg, unless build/debian-kernel has it), and every instruction of
# kvmfs and of its guests is emulated: minutes, where check's tests take seconds.
# The tests run are those marked `guest` (tests/integration/conftest.py: a
# test that calls require_guest() without the marker fails), less those marked
# `nested_skip` (test_holes.py's whole reads of a running 8 GiB guest - 40 GiB
# of reads, a minute natively - would take hours under TCG).
NESTED := $(BUILD)/nested
NESTED_MEM ?= 8G
NESTED_TIMEOUT ?= 5400
NESTED_TESTS := -m "guest and not nested_skip" tests/integration
.PHONY: check-nested
$(NESTED)/initramfs.cpio.gz: tools/nested-kvm/setup.sh tools/nested-kvm/build-initramfs.sh \
		tools/nested-kvm/init tools/nested-kvm/kvmtest.c
	tools/nested-kvm/setup.sh $(NESTED)
check-nested: $(BUILD)/kvmfs $(GUEST_BINS) $(NESTED)/initramfs.cpio.gz | deps-check
	@# The guest has no network: fetch test_linux.py's kernel here (cached).  Its
	@# tests skip, saying why, if that fails.
	-tools/fetch-debian-kernel.sh build/debian-kernel
	@start=$$(date +%s); rc=0; \
	NESTED_DIR=$(abspath $(NESTED)) RUN_IN_VM_MEM=$(NESTED_MEM) RUN_IN_VM_TIMEOUT=$(NESTED_TIMEOUT) \
		RUN_IN_VM_LOG=$(abspath $(NESTED))/console.log RUN_IN_VM_ENV=KVMFS \
		tools/nested-kvm/run-in-vm.sh $(CURDIR) $(PYTHON) -m pytest -v -rs \
		-p no:cacheprovider $(NESTED_TESTS) || rc=$$?; \
	echo "check-nested: exit status $$rc after $$(($$(date +%s) - start)) s (pytest in KVM nested" \
		"under TCG; guest console: $(NESTED)/console.log)"; exit $$rc

# ---- check-forensics: Volatility 3's Linux plugins over a dump's vmcore and phys ----
# tests/integration/test_volatility.py (marker forensics; doc/volatility.md): on
# both of test_kernel_debug.py's QEMU dumps, seven plugins must print for
# MNT/vmcore and MNT/phys of `kvmfs -dump` exactly what they print for QEMU's
# own file.  Not part of `check`: Volatility and dwarf2json come from their
# public repositories, which CI cannot reach, and the 42 runs take minutes.
# Give a volatility3 checkout, and the symbol table (ISF) of the guest kernel
# (build/debian-kernel's) either ready made, or built once by a dwarf2json
# checkout (with Debian's Go and pflag, no module download; 80 s and 3.4 GB of
# memory here) into $(FORENSICS_ISF), where it stays:
#   make check-forensics VOLATILITY=DIR [ISF=FILE | DWARF2JSON=DIR] [FORENSICS_JOBS=2]
VOLATILITY ?=
DWARF2JSON ?=
ISF ?=
FORENSICS_JOBS ?= 2
FORENSICS := $(BUILD)/forensics
FORENSICS_ISF := $(FORENSICS)/symbols/linux/debian-kernel.json.xz
# Volatility is given a directory with the table in linux/: ISF=FILE is linked
# into one of its own, under its own name (.json or .json.xz: Volatility goes
# by it), so the cached table cannot stand beside it.
FORENSICS_SYMBOLS = $(if $(ISF),$(FORENSICS)/given-symbols,$(FORENSICS)/symbols)
.PHONY: check-forensics
check-forensics: $(BUILD)/kvmfs | deps-check
	@tools/deps.sh forensics
	@ok=1; \
	[ -f "$(VOLATILITY)/vol.py" ] || { ok=0; echo "check-forensics: VOLATILITY=DIR missing:" \
		"git clone https://github.com/volatilityfoundation/volatility3 DIR" >&2; }; \
	if [ -n "$(ISF)" ]; then [ -f "$(ISF)" ] || { ok=0; \
		echo "check-forensics: ISF=$(ISF) is not a file" >&2; }; \
	elif [ ! -f $(FORENSICS_ISF) ] && [ ! -f "$(DWARF2JSON)/main.go" ]; then ok=0; \
		echo "check-forensics: DWARF2JSON=DIR (or ISF=FILE) missing: git clone" \
			"https://github.com/volatilityfoundation/dwarf2json DIR" >&2; fi; \
	[ $$ok = 1 ]
	@set -e; if [ -n "$(ISF)" ]; then d=$(FORENSICS)/given-symbols/linux; rm -rf $$d; \
		mkdir -p $$d; ln -s $(abspath $(ISF)) $$d/$(notdir $(ISF)); \
	elif [ ! -f $(FORENSICS_ISF) ]; then \
		tools/fetch-debian-kernel.sh --debug $(BUILD)/debian-kernel; \
		f=$(abspath $(FORENSICS)); g=$$f/gopath/src/github.com/volatilityfoundation; \
		mkdir -p $$g $(dir $(FORENSICS_ISF)); ln -sfn $(abspath $(DWARF2JSON)) $$g/dwarf2json; \
		echo "check-forensics: building dwarf2json, then the symbol table (80 s, 3.4 GB)"; \
		(cd $$g/dwarf2json && GO111MODULE=off GOPATH=$$f/gopath:/usr/share/gocode \
			GOCACHE=$$f/gocache go build -o $$f/dwarf2json .); \
		$$f/dwarf2json linux --elf $(BUILD)/debian-kernel/vmlinux-dbg \
			--system-map $(BUILD)/debian-kernel/System.map > $$f/isf.json; \
		xz -f $$f/isf.json; mv $$f/isf.json.xz $(FORENSICS_ISF); fi
	@start=$$(date +%s); rc=0; \
	KVMFS_VOLATILITY=$(abspath $(VOLATILITY)) KVMFS_VOL_SYMBOLS=$(abspath $(FORENSICS_SYMBOLS)) \
		KVMFS_FORENSICS_JOBS=$(FORENSICS_JOBS) \
		$(PYTHON) -m pytest -v -rs -m forensics tests/integration/test_volatility.py || rc=$$?; \
	echo "check-forensics: exit status $$rc after $$(($$(date +%s) - start)) s (outputs in" \
		"$(FORENSICS)/out)"; exit $$rc
