/*
 * e820.c - the BIOS memory map handed to Linux, derived from the flat view.
 *
 * The address space is cut at every boundary of a RAM/ROM range or a board
 * window; each piece takes the type of what covers it (a window wins over
 * RAM), and neighbours of one type are merged, so the table has as few
 * entries as the layout allows and every usable byte is one the flat view
 * maps as writable RAM.
 */
#include <errno.h>
#include <stdlib.h>

#include "boot/e820.h"
#include "machine/pc.h"
#include "util/compiler.h"
#include "util/strbuf.h"

/*
 * The legacy hole runs from the VGA window to 1 MiB.  With -nodefaults no
 * VGA decodes 0xa0000-0xbffff, so the flat view shows pc.ram there - but a
 * PC's OS must not use it (Linux itself reserves it later, and firmware
 * never reports it usable).  KVM's real-mode TSS and identity-map pages sit
 * in the PCI hole outside every memslot: reserved so that nothing (a PCI BAR)
 * is placed over them.
 */
const struct e820_window e820_pc_windows[] = {
        /* Where a BIOS keeps its extended data; kvmfs's ACPI tables live there. */
        {PC_EBDA_ADDR, PC_EBDA_SIZE, "EBDA (the ACPI tables)"},
        {PC_SMRAM_ADDR, PC_ISA_BIOS_ADDR + PC_ISA_BIOS_SIZE - PC_SMRAM_ADDR,
         "legacy VGA/option ROM/BIOS hole"},
        {PC_KVM_IDENTITY_MAP_ADDR, PC_KVM_TSS_ADDR + 3 * 4096 - PC_KVM_IDENTITY_MAP_ADDR,
         "KVM identity map and TSS"},
};
const size_t e820_pc_nr_windows = ARRAY_SIZE(e820_pc_windows);

static const char *const type_names[] = {
        [E820_TYPE_RAM] = "usable",
        [E820_TYPE_RESERVED] = "reserved",
};

const char *e820_type_name(uint32_t type)
{
	return type < ARRAY_SIZE(type_names) && type_names[type] ? type_names[type] : "unknown";
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The type of the piece starting at addr: 0 for nothing. */
static uint32_t piece_type(const struct flatview *fv, const struct e820_window *w, size_t nw,
                           uint64_t addr)
{
	const struct flat_range *fr;
	size_t i;

	for (i = 0; i < nw; i++)
		if (addr >= w[i].start && addr - w[i].start < w[i].size)
			return E820_TYPE_RESERVED;
	fr = flatview_lookup(fv, addr);
	if (!fr || !flat_range_is_ram(fr))
		return 0; /* a hole or MMIO: not RAM, and not ours to reserve */
	return fr->mr->kind == MR_RAM && !fr->readonly ? E820_TYPE_RAM : E820_TYPE_RESERVED;
}

static int e820_add(struct e820_table *t, uint64_t start, uint64_t end, uint32_t type)
{
	struct e820_entry *last = t->nr ? &t->entries[t->nr - 1] : NULL;

	if (last && last->type == type && last->addr + last->size == start) {
		last->size += end - start;
		return 0;
	}
	if (t->nr == E820_MAX_ENTRIES)
		return -E2BIG;
	t->entries[t->nr++] = (struct e820_entry){start, end - start, type};
	return 0;
}

int e820_build(const struct flatview *fv, const struct e820_window *windows, size_t nr_windows,
               struct e820_table *t)
{
	size_t n = 0, i;
	uint64_t *cuts;
	int ret = 0;

	t->nr = 0;
	cuts = malloc((2 * (fv->nr + nr_windows) + 1) * sizeof(*cuts));
	if (!cuts)
		return -ENOMEM;
	for (i = 0; i < fv->nr; i++) {
		const struct flat_range *fr = &fv->ranges[i];

		/* Only RAM and ROM end anywhere an entry could; I/O may reach 2^64. */
		if (!flat_range_is_ram(fr))
			continue;
		cuts[n++] = fr->start;
		cuts[n++] = fr->start + fr->size;
	}
	for (i = 0; i < nr_windows; i++) {
		cuts[n++] = windows[i].start;
		cuts[n++] = windows[i].start + windows[i].size;
	}
	qsort(cuts, n, sizeof(*cuts), u64_cmp);
	for (i = 0; i + 1 < n && !ret; i++) {
		uint32_t type;

		if (cuts[i] == cuts[i + 1])
			continue;
		type = piece_type(fv, windows, nr_windows, cuts[i]);
		if (type)
			ret = e820_add(t, cuts[i], cuts[i + 1], type);
	}
	free(cuts);
	return ret;
}

int e820_build_pc(struct address_space *as, struct e820_table *t)
{
	int ret;

	pthread_rwlock_rdlock(&as->lock);
	ret = e820_build(as->fv, e820_pc_windows, e820_pc_nr_windows, t);
	pthread_rwlock_unlock(&as->lock);
	return ret;
}

void e820_render(const struct e820_table *t, struct strbuf *sb)
{
	size_t i;

	for (i = 0; i < t->nr; i++)
		sb_printf(sb, "BIOS-e820: [mem 0x%016llx-0x%016llx] %s\n",
		          (unsigned long long)t->entries[i].addr,
		          (unsigned long long)(t->entries[i].addr + t->entries[i].size - 1),
		          e820_type_name(t->entries[i].type));
}
