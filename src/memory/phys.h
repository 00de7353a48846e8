/*
 * phys.h - the guest-physical address space as one sparse byte range: the
 * model behind the `phys` file (and the vmcore's PT_LOAD data).
 *
 * Offset = guest-physical address; size = end of the highest RAM/ROM range
 * of the "memory" flat view.  Ranges without RAM/ROM are holes; so are the
 * pages of a RAM block that nobody ever populated (ram_block_extents: the
 * memfd's page cache, or the page tables for -mem-backing anon).  Reads
 * never touch those pages, so reading costs no guest memory.
 *
 * Every function here takes the address space's read lock itself.
 */
#ifndef KVMFS_MEMORY_PHYS_H
#define KVMFS_MEMORY_PHYS_H

#include <stddef.h>
#include <stdint.h>

#include "memory/memory.h"
#include "memory/pagewalk.h"

struct ram_block;
struct strbuf;

/* Called for each piece of a translation between GPAs and block bytes. */
typedef void (*phys_piece_fn)(void *opaque, struct ram_block *rb, uint64_t offset, uint64_t gpa,
                              uint64_t len);

/* End of the highest RAM/ROM range: the size of `phys`. */
uint64_t phys_size(struct address_space *as);

/* Copy [gpa, gpa+len) into buf, holes as zeros. */
void phys_read(struct address_space *as, uint64_t gpa, void *buf, size_t len);
/*
 * The same as pieces (see as_read_pieces): guest bytes where they lie, holes
 * as zeros.  Returns the bytes of the pieces fn took.
 */
size_t phys_read_pieces(struct address_space *as, uint64_t gpa, size_t len, as_piece_fn fn,
                        void *opaque);
/*
 * [off, off+len) of a virtual address space as pieces (vcpus/<n>/vmem,
 * linux/tasks/<pid>/mem): off is an address with its sign-extension bits
 * cleared; what cpu's page tables map - user pages only, if user_only - comes
 * from as, without populating it, and the rest is holes.  One walk per page
 * or per absent region; pt reads the 8-byte page-table entries.
 */
void phys_read_virt_pieces(struct address_space *as, const struct pagewalk_cpu *cpu,
                           pagewalk_read_fn pt, void *pt_opaque, uint64_t off, size_t len,
                           bool user_only, as_piece_fn fn, void *opaque);
/*
 * Copy [gpa, gpa+len) up to the first hole; returns the bytes copied.  as is
 * an address_space: the reader of a struct guestkernel_mem.
 */
size_t phys_read_ram(void *as, uint64_t gpa, void *buf, size_t len);
/*
 * Write buf at gpa, up to the first hole; returns the bytes written, or
 * -ENXIO when gpa itself is in a hole.  ROM is written too (host patching).
 */
long phys_write(struct address_space *as, uint64_t gpa, const void *buf, size_t len);

/*
 * lseek(SEEK_DATA/SEEK_HOLE) semantics over [0, size): *out is the next data
 * (resp. hole) offset at or after off; -ENXIO when off >= size or, for
 * SEEK_DATA, no data follows.  The end of the file counts as a hole.
 */
int phys_seek(struct address_space *as, uint64_t off, int whence, uint64_t *out);

/*
 * Bytes of host memory behind the block (its memfd's allocation), at most
 * used_length; anonymous blocks count whole (finding out would mean a walk
 * of every page table, on every stat).
 */
uint64_t phys_block_resident(struct ram_block *rb);
/* Bytes of host memory behind `phys`, for st_blocks: each block counted once. */
uint64_t phys_resident(struct address_space *as);

/* Every GPA range at which [offset, offset+len) of rb is mapped (aliases included). */
void phys_block_to_gpa(struct address_space *as, struct ram_block *rb, uint64_t offset,
                       uint64_t len, phys_piece_fn fn, void *opaque);
/* The block pieces behind [gpa, gpa+len); holes are skipped. */
void phys_gpa_to_block(struct address_space *as, uint64_t gpa, uint64_t len, phys_piece_fn fn,
                       void *opaque);

/* phys.json: {"size": N, "ranges": [{start, last, size, type, region, ramblock, offset}...]} */
void phys_render_json(struct address_space *as, struct strbuf *sb);

#endif
