# kvmfs - a KVM virtual machine whose memory is a filesystem.
#
#   make run     build and start the default VM, mounted at $(MNT)
#   make check   build and run every test (unit: cmocka, integration: pytest)
#   make format-check, make clean
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
# Recursive (=): pkg-config must only run after `deps` has installed fuse3.
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=gnu11 $(WARN) -D_GNU_SOURCE -pthread -Iinclude -MMD -MP \
	$(shell pkg-config --cflags fuse3) $(CFLAGS) $(EXTRA_CFLAGS)
LDLIBS = $(shell pkg-config --libs fuse3) -pthread

# The model and the VMM: library code the unit tests link too.
LIB_SRCS := src/strbuf.c src/ram.c src/memory.c src/machine.c src/machine/pc.c src/kvm.c \
	src/cmdline.c src/console.c src/serial.c src/cmos.c src/vcpu.c src/vm.c src/dirty.c
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
FS_SRCS := $(wildcard src/fs*.c)
FS_OBJS := $(FS_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps deps-check run check unit integration format format-check clean
all: $(BUILD)/kvmfs

include src/guest/guest.mk

deps:
	@tools/deps.sh build
deps-check:
	@tools/deps.sh check

$(BUILD)/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/src/guest/blob.o: src/guest/blob.S $(BUILD)/guest/firmware.bin
	@mkdir -p $(dir $@)
	$(CC) -c -DGUEST_FIRMWARE_BIN='"$(BUILD)/guest/firmware.bin"' -o $@ $<

$(BUILD)/kvmfs: $(BUILD)/src/main.o $(LIB_OBJS) $(FS_OBJS) $(BUILD)/src/guest/blob.o
	$(CC) $(ALL_CFLAGS) -o $@ $(filter %.o,$^) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS) $(BUILD)/src/guest/blob.o | deps-check
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $(filter %.c %.o,$^) $(LDLIBS) -lcmocka

run: $(BUILD)/kvmfs
	@mkdir -p $(MNT)
	@echo "kvmfs: mounting at $(MNT); look with: ls $(MNT); hexdump -C -n 64 $(MNT)/ramblocks/pc.ram;"
	@echo "       cat $(MNT)/flatview $(MNT)/memslots; tail -f $(MNT)/console.  Ctrl-C ends it."
	$(BUILD)/kvmfs $(RUN_ARGS) $(KVMFS_ARGS) $(MNT)

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

integration: $(BUILD)/kvmfs $(GUEST_BINS) | deps-check
	$(PYTHON) -m pytest -v -rs tests/integration

check: deps-check
	$(MAKE) unit
	$(MAKE) integration

format:
	clang-format -i $(LIB_SRCS) $(FS_SRCS) src/main.c include/kvmfs/*.h include/kvmfs/*/*.h tests/unit/*.c
format-check:
	clang-format --dry-run --Werror $(LIB_SRCS) $(FS_SRCS) src/main.c include/kvmfs/*.h \
		include/kvmfs/*/*.h tests/unit/test_*.c

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
