/*
 * linux_kallsyms.h - the kernel's symbol table, decoded from the compressed
 * tables CONFIG_KALLSYMS puts in its image (kernel/kallsyms.c reads the same
 * ones), with no System.map: the addresses of those tables are what a
 * reader from outside lacks, so they are found by their shape, as
 * vmlinux-to-elf does.
 *
 * scripts/kallsyms.c emits, each label 8-byte aligned:
 *   kallsyms_offsets[N] (s32), kallsyms_relative_base (u64),
 *   kallsyms_num_syms (N), kallsyms_names (N entries: a length, 1 byte or
 *   2 with bit 7 set, then that many token numbers), kallsyms_markers
 *   ((N+255)/256 u32: where entry 256*i starts in names),
 *   [kallsyms_seqs_of_names (N 3-byte entries), 6.2+ and some 6.1],
 *   kallsyms_token_table (256 NUL-terminated tokens), kallsyms_token_index
 *   (256 u16: where token i starts);
 * since 6.4 offsets and relative_base follow token_index instead.  Every
 * byte value a symbol name uses is its own one-character token, so the
 * tokens of '0'..'9' are ten consecutive "d\0" strings: the anchor.  From
 * it: the table's start (48 tokens back) checked against token_index;
 * markers before it (u32, from 0, increasing); num_syms and names before
 * those, checked entry by entry against every marker; the offsets by
 * either layout, checked by the addresses coming out sorted.  Addresses
 * are relative_base - 1 - offset for negative offsets and the offset
 * itself otherwise (CONFIG_KALLSYMS_ABSOLUTE_PERCPU, x86-64 SMP), or
 * relative_base + offset.
 */
#ifndef KVMFS_INSPECT_LINUX_KALLSYMS_H
#define KVMFS_INSPECT_LINUX_KALLSYMS_H

#include <stddef.h>
#include <stdint.h>

#include "inspect/linux_kmem.h"

struct strbuf;

/* Where to look: the image's pieces (guestkernel's runs), kernel virtual addresses. */
struct linux_kallsyms_range {
	uint64_t va, size;
};

struct linux_kallsyms {
	uint32_t nr;
	uint64_t *addr;       /* in table order: sorted by address */
	char *type;           /* 't', 'T', 'd', ... */
	uint32_t *name;       /* offsets into names */
	char *names;          /* every name, NUL-terminated */
	uint32_t *by_name;    /* symbol numbers sorted by name, for lookups */
	uint64_t token_table; /* where the tables were found (for errors and tests) */
};

/* 0, or -ENOENT / -ENOMEM with the reason in err. */
int linux_kallsyms_find(struct linux_kallsyms *ks, const struct linux_kmem *mem,
                        const struct linux_kallsyms_range *ranges, unsigned nr_ranges, char *err,
                        size_t errlen);
/*
 * The symbols of a System.map's text ("address type name" lines, as nm -n
 * prints them), those at or above START_KERNEL_MAP - the image - moved by
 * delta (the KASLR offset), the rest (per-CPU offsets, absolute values)
 * kept.  0, or -EINVAL / -ENOMEM with the reason in err.
 */
int linux_kallsyms_from_map(struct linux_kallsyms *ks, const char *text, uint64_t delta, char *err,
                            size_t errlen);
void linux_kallsyms_free(struct linux_kallsyms *ks);
/* The address of the first symbol named name: 0, or -ENOENT. */
int linux_kallsyms_lookup(const struct linux_kallsyms *ks, const char *name, uint64_t *addr);
/* As /proc/kallsyms prints it to root: "%016lx %c %s\n". */
void linux_kallsyms_render(const struct linux_kallsyms *ks, struct strbuf *sb);

#endif
