/*
 * import.h - kvmfs's memory model built from QEMU's own words: the ram
 * list from `info ramblock`, the region tree of address space "memory"
 * from `info mtree`, checked against `info mtree -f`.
 *
 * Nothing is guessed: a block's place in ram_addr space is QEMU's, every
 * region's range, priority, type and alias are read off its line, and the
 * flat view kvmfs then computes must be QEMU's, line for line, or the
 * import is refused.  What the text does not say and the flat view does
 * (which aliases are read-only: PAM's "rom" windows onto pc.ram) is
 * learnt from that comparison.
 */
#ifndef KVMFS_QEMU_IMPORT_H
#define KVMFS_QEMU_IMPORT_H

#include <stddef.h>

#include "memory/memory.h"
#include "memory/ram.h"

/* `info ramblock`'s rows become blocks of rl (without bytes: ram_block_add). */
int qemu_import_ramblocks(struct ram_list *rl, const char *text, char *err, size_t errlen);

/*
 * The regions the import made: the tree of "memory" (root) and the alias
 * targets outside it (QEMU's "memory-region:" sections, e.g. pc.ram),
 * which the importer owns.
 */
struct qemu_regions {
	struct memory_region *root;
	struct memory_region **extra;
	size_t nr_extra;
};

/*
 * Build the region tree of "memory" from `info mtree` (mtree) and, to tell
 * MMIO leaves from empty containers, `info mtree -f` (flat): RAM and ROM
 * regions get the blocks of rl with their name (or ending in "/name",
 * QEMU's device-qualified idstrs) and make ROM blocks read-only.
 */
int qemu_import_mtree(struct qemu_regions *out, struct ram_list *rl, const char *mtree,
                      const char *flat, char *err, size_t errlen);
void qemu_regions_free(struct qemu_regions *r);

/*
 * Commit as (whose root is the imported tree) and compare its flat view
 * with QEMU's `info mtree -f` for "memory", range by range; a range QEMU
 * calls "rom" where kvmfs says "ram" makes the innermost alias on the way
 * to it read-only.  -EPROTO with the first difference in err when they
 * cannot be made equal.
 */
int qemu_check_flatview(struct address_space *as, const char *flat, char *err, size_t errlen);

/*
 * The lines of QEMU's flat view of "memory" ("  start-last (prio ..."):
 * *lines points into a copy the caller frees (*buf), without any
 * accelerator's suffix (" KVM").
 */
int qemu_flatview_lines(const char *flat, char **buf, char ***lines, size_t *nr);

#endif
