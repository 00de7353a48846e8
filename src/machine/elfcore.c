/*
 * machine/core.c - the board of an ELF core (kvmfs -dump, see dump.h): what
 * the core's PT_LOADs say guest-physical memory was, one read-only RAM
 * region at each PT_LOAD's p_paddr, backed by a block that maps the core's
 * bytes ("pt_load.<index in the program header table>").  No ROM, no PCI
 * hole, no chipset: the core does not tell them.
 */
#include <errno.h>
#include <stdio.h>

#include "machine/machine.h"

static int core_build(struct machine *m, const struct machine_config *cfg)
{
	char name[32];
	size_t i;
	int ret;

	m->system = mr_new_container("system", MR_SIZE_2_64);
	if (!m->system)
		return -ENOMEM;
	ret = as_init(&m->as, "memory", m->system);
	for (i = 0; !ret && i < cfg->nr_ranges; i++) {
		const struct machine_file_range *r = &cfg->ranges[i];
		struct memory_region *mr;
		struct ram_block *rb;

		snprintf(name, sizeof(name), "pt_load.%u", r->index);
		ret = ram_block_alloc_file(&m->ram, name, r->size, cfg->fd, r->file_offset,
		                           r->file_len, &rb);
		if (ret)
			break;
		mr = mr_new_ram(name, rb);
		if (!mr)
			return -ENOMEM; /* the block goes with the ram list */
		ret = mr_add_subregion(m->system, r->gpa, mr);
		if (ret)
			mr_free(mr);
	}
	return ret;
}

const struct machine_desc machine_core = {
        .name = "core",
        .desc = "the memory of an ELF core",
        .lowmem = 0,
        .split = UINT64_MAX, /* nothing is split: all RAM counts as below 4G */
        .build = core_build,
};
