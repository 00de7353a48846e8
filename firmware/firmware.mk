# guest.mk - builds the guest firmware images: the built-in guest
# (build/guest/firmware.bin) and the test firmwares (triplefault.bin,
# flood.bin, ring0.bin, romwrite.bin, regs.bin).  Each is a flat 256 KiB pc.bios image for 0xfffc0000.
#
# Included by the main Makefile (after its default target), or used alone
# from the repository root:  make -f firmware/firmware.mk [build/guest/...]
#
# GNU toolchain only: the gcc driver preprocesses the .S files (so they can
# include <kvmfs/guest.h>), ld places them with firmware/firmware.ld and
# objcopy flattens the ROM section.

GUEST_CC ?= cc
GUEST_LD ?= ld
GUEST_OBJCOPY ?= objcopy
GUEST_DIR := build/guest
GUEST_LDS := firmware/firmware.ld
# --fatal-warnings: a truncated displacement in the 16-bit code is a bug.
GUEST_ASFLAGS := -m64 -Iinclude -Wa,--fatal-warnings -Wa,--noexecstack
GUEST_LDFLAGS := -m elf_x86_64 -nostdlib --build-id=none -z noexecstack \
	-z max-page-size=4096 --no-warn-rwx-segments

GUEST_BINS := $(GUEST_DIR)/firmware.bin $(GUEST_DIR)/triplefault.bin \
	$(GUEST_DIR)/flood.bin $(GUEST_DIR)/ring0.bin $(GUEST_DIR)/romwrite.bin \
	$(GUEST_DIR)/regs.bin

_guest_saved_goal := $(.DEFAULT_GOAL)

.PHONY: guest
guest: $(GUEST_BINS)

$(GUEST_DIR):
	mkdir -p $@

$(GUEST_DIR)/firmware.o: firmware/firmware.S include/kvmfs/guest.h | $(GUEST_DIR)
	$(GUEST_CC) $(GUEST_ASFLAGS) -c -o $@ $<

# The test firmwares: one rule, and what they share (tests/guest/testfw.h).
$(GUEST_DIR)/%.o: tests/guest/%.S tests/guest/testfw.h include/kvmfs/guest.h | $(GUEST_DIR)
	$(GUEST_CC) $(GUEST_ASFLAGS) -c -o $@ $<

# regs.S's values, which tests/integration/test_regs.py reads too.
$(GUEST_DIR)/regs.o: tests/guest/regs.h

$(GUEST_BINS:.bin=.elf): $(GUEST_DIR)/%.elf: $(GUEST_DIR)/%.o $(GUEST_LDS)
	$(GUEST_LD) $(GUEST_LDFLAGS) -T $(GUEST_LDS) -o $@ $<

# The size check guards the one property QEMU and kvmfs both rely on.
$(GUEST_BINS): $(GUEST_DIR)/%.bin: $(GUEST_DIR)/%.elf
	$(GUEST_OBJCOPY) -O binary -j .rom $< $@.tmp
	test "$$(wc -c < $@.tmp)" -eq 262144
	mv $@.tmp $@

.PHONY: guest-clean
guest-clean:
	rm -f $(GUEST_BINS) $(GUEST_BINS:.bin=.elf) $(GUEST_BINS:.bin=.o)

ifneq ($(_guest_saved_goal),)
.DEFAULT_GOAL := $(_guest_saved_goal)
endif
