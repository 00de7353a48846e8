/*
 * linux_modules.c - the loaded modules as /proc/modules (see
 * linux_modules.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "inspect/linux_modules.h"
#include "util/strbuf.h"

/* enum module_state, and MODULE_REF_BASE: a live module's refcnt starts at 1. */
#define MODULE_STATE_LIVE     0
#define MODULE_STATE_COMING   1
#define MODULE_STATE_GOING    2
#define MODULE_STATE_UNFORMED 3
#define MODULE_REF_BASE       1

static int module_read(struct linux_guest *lg, uint64_t mod, struct linux_module *m)
{
	const struct linux_layout *l = &lg->l;
	uint32_t state, core = 0, init = 0, ref = MODULE_REF_BASE;

	memset(m, 0, sizeof(*m));
	m->addr = mod;
	if (!linux_guest_u32(lg, mod + l->module_state, &state) ||
	    !linux_guest_read(lg, mod + l->module_name, m->name, LINUX_MODULE_NAME))
		return -EFAULT;
	if (state > MODULE_STATE_UNFORMED || !memchr(m->name, '\0', LINUX_MODULE_NAME)) {
		linux_guest_error(lg, LINUX_ERR_INVALID);
		return -EINVAL;
	}
	if (state == MODULE_STATE_UNFORMED)
		return -EAGAIN;
	m->state = state == MODULE_STATE_GOING    ? "Unloading"
	           : state == MODULE_STATE_COMING ? "Loading"
	                                          : "Live";
	if (l->have_module_layout && (!linux_guest_u64(lg, mod + l->module_core_base, &m->base) ||
	                              !linux_guest_u32(lg, mod + l->module_core_size, &core) ||
	                              !linux_guest_u32(lg, mod + l->module_init_size, &init)))
		return -EFAULT;
	m->size = (uint64_t)core + init;
	if (l->have_module_refcnt && !linux_guest_u32(lg, mod + l->module_refcnt, &ref))
		return -EFAULT;
	m->refcount = (int32_t)ref - MODULE_REF_BASE;
	return 0;
}

int linux_modules_list(struct linux_guest *lg, struct linux_module **out, size_t *nr)
{
	const struct linux_layout *l = &lg->l;
	struct linux_module *v = NULL, m;
	size_t n = 0, cap = 0, budget = LINUX_MODULES_MAX;
	uint64_t head = lg->modules, node = head, prev = head, back;
	const char *why;
	int ret;

	if (!linux_guest_has_types(lg, &why) || !lg->modules)
		return -ENOTSUP;
	while (linux_guest_u64(lg, node, &node) && node != head) {
		if (!budget--) {
			linux_guest_error(lg, LINUX_ERR_LOOP);
			break;
		}
		/* A node whose prev is not where we came from: a list changing under us. */
		if (!linux_guest_u64(lg, node + 8, &back))
			break;
		if (back != prev) {
			linux_guest_error(lg, LINUX_ERR_INVALID);
			break;
		}
		prev = node;
		ret = module_read(lg, node - l->module_list, &m);
		if (ret == -EAGAIN)
			continue;
		if (ret)
			break;
		if (n == cap) {
			struct linux_module *p;

			cap = cap ? 2 * cap : 32;
			p = realloc(v, cap * sizeof(*p));
			if (!p) {
				free(v);
				return -ENOMEM;
			}
			v = p;
		}
		v[n++] = m;
	}
	*out = v;
	*nr = n;
	return 0;
}

void linux_modules_render(const struct linux_module *m, size_t nr, struct strbuf *sb)
{
	size_t i;

	for (i = 0; i < nr; i++)
		sb_printf(sb, "%s %" PRIu64 " %d - %s 0x%016" PRIx64 "\n", m[i].name, m[i].size,
		          m[i].refcount, m[i].state, m[i].base);
}

void linux_modules_render_json(const struct linux_module *m, size_t nr, struct strbuf *sb)
{
	size_t i;

	sb_printf(sb, "[");
	for (i = 0; i < nr; i++) {
		sb_printf(sb, "%s\n  {\"name\": ", i ? "," : "");
		sb_json_str(sb, m[i].name);
		sb_printf(sb,
		          ", \"size\": %" PRIu64 ", \"refcount\": %d, \"state\": \"%s\", "
		          "\"address\": \"0x%016" PRIx64 "\"}",
		          m[i].size, m[i].refcount, m[i].state, m[i].base);
	}
	sb_printf(sb, "%s]\n", nr ? "\n" : "");
}
