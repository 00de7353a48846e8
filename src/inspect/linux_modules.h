/*
 * linux_modules.h - the guest's loaded modules, from the kernel's `modules`
 * list, as /proc/modules shows them: name, size (core + init), reference
 * count, state and load address.  Dependencies are not listed ("-"), nor
 * taint flags.  The walk is bounded and checked as the task list's is.
 */
#ifndef KVMFS_INSPECT_LINUX_MODULES_H
#define KVMFS_INSPECT_LINUX_MODULES_H

#include <stddef.h>
#include <stdint.h>

#include "inspect/linux_guest.h"

#define LINUX_MODULES_MAX 65536
#define LINUX_MODULE_NAME 56 /* MODULE_NAME_LEN on 64-bit */

struct linux_module {
	uint64_t addr, base, size;
	int32_t refcount;
	const char *state; /* "Live", "Loading", "Unloading" */
	char name[LINUX_MODULE_NAME + 1];
};

/* Every module (formed ones: MODULE_STATE_UNFORMED are skipped); *out malloc'd. */
int linux_modules_list(struct linux_guest *lg, struct linux_module **out, size_t *nr);
void linux_modules_render(const struct linux_module *m, size_t nr, struct strbuf *sb);
void linux_modules_render_json(const struct linux_module *m, size_t nr, struct strbuf *sb);

#endif
