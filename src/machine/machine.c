/*
 * machine.c - the table of machines -M accepts, and the parts of building a
 * machine that do not depend on the board.
 */
#include <errno.h>
#include <string.h>

#include "machine/machine.h"
#include "util/compiler.h"

static const struct machine_desc *const machines[] = {
        &machine_pc,
        &machine_q35,
};

const struct machine_desc *machine_find(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(machines); i++)
		if (!strcmp(machines[i]->name, name))
			return machines[i];
	return NULL;
}

const char *machine_names(void)
{
	return "pc, q35";
}

int machine_ram_split(const struct machine_desc *d, uint64_t ram_size, uint64_t *below,
                      uint64_t *above)
{
	if (!ram_size)
		return -EINVAL;
	*below = ram_size >= d->split ? d->lowmem : ram_size;
	*above = ram_size - *below;
	return 0;
}

/*
 * -object memory-backend-ram: after the board's blocks, so that their
 * ram_addr offsets are the same with or without objects.  Each block gets
 * its RAM region, as in QEMU, but no region maps it anywhere.
 */
static int machine_add_backends(struct machine *m, const struct machine_config *cfg)
{
	struct ram_block *rb;
	unsigned i;
	int ret;

	if (cfg->nr_backends > MACHINE_MAX_BACKENDS)
		return -E2BIG;
	for (i = 0; i < cfg->nr_backends; i++) {
		ret = ram_block_alloc(&m->ram, cfg->backends[i].id, cfg->backends[i].size, 0, 0,
		                      &rb);
		if (ret)
			return ret;
		m->backend_mrs[i] = mr_new_ram(cfg->backends[i].id, rb);
		if (!m->backend_mrs[i])
			return -ENOMEM; /* the block goes with the ram list */
		m->nr_backends++;
	}
	return 0;
}

int machine_init(struct machine *m, const struct machine_config *cfg)
{
	int ret;

	memset(m, 0, sizeof(*m));
	m->desc = cfg->ranges ? &machine_core : machine_find(cfg->type);
	if (!m->desc)
		return -ENOENT;
	m->cpus = cfg->cpus;
	m->ram_size = cfg->ram_size;
	ret = machine_ram_split(m->desc, cfg->ram_size, &m->below_4g, &m->above_4g);
	if (ret)
		return ret;
	ram_list_init(&m->ram, cfg->backing);
	ret = m->desc->build(m, cfg);
	if (ret)
		goto err;
	ret = machine_add_backends(m, cfg);
	if (ret)
		goto err;
	if (cfg->firmware) {
		/* The firmware ends at the top of pc.bios: its reset vector at 4G - 16. */
		if (cfg->firmware_size > m->bios_block->used_length) {
			ret = -EFBIG;
			goto err;
		}
		memcpy(m->bios_block->host + m->bios_block->used_length - cfg->firmware_size,
		       cfg->firmware, cfg->firmware_size);
	}
	ret = as_commit(&m->as);
	if (ret)
		goto err;
	return 0;
err:
	machine_exit(m);
	return ret;
}

void machine_exit(struct machine *m)
{
	if (m->as.fv)
		as_exit(&m->as);
	while (m->nr_backends)
		mr_free(m->backend_mrs[--m->nr_backends]);
	mr_free(m->system);
	mr_free(m->ram_mr);
	m->system = m->ram_mr = NULL;
	if (m->desc)
		ram_list_exit(&m->ram);
	m->desc = NULL;
}
