/*
 * memory.h - memory regions, address spaces and flat views, after QEMU's
 * memory API.
 *
 * A machine describes guest-physical memory as a tree of regions: containers
 * that only hold others, RAM and ROM regions backed by a RAM block, aliases
 * that show a window of another region somewhere else, and I/O regions with
 * callbacks.  Committing an address space flattens its tree into a flat
 * view - sorted, non-overlapping ranges, each naming the leaf region and the
 * offset in it - and hands the old and new views to its listeners (KVM turns
 * them into memslots).  Everything else only reads flat views.
 */
#ifndef KVMFS_MEMORY_MEMORY_H
#define KVMFS_MEMORY_MEMORY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ram_block;
struct strbuf;

/* A region size of MR_SIZE_2_64 stands for the whole 2^64 space. */
#define MR_SIZE_2_64 UINT64_MAX

enum mr_kind {
	MR_CONTAINER,
	MR_RAM,
	MR_ROM,
	MR_ALIAS,
	MR_IO,
};

struct mr_ops {
	uint64_t (*read)(void *opaque, uint64_t addr, unsigned size);
	void (*write)(void *opaque, uint64_t addr, uint64_t val, unsigned size);
};

struct memory_region {
	char *name;
	enum mr_kind kind;
	uint64_t size;
	int priority;
	bool enabled;
	uint64_t addr; /* within the container */
	bool readonly; /* the guest cannot write through it (QEMU's pam-rom aliases) */
	struct memory_region *container;

	struct memory_region *alias; /* MR_ALIAS: the region shown ... */
	uint64_t alias_offset;       /* ... from this offset in it */
	struct ram_block *block;     /* MR_RAM, MR_ROM */
	const struct mr_ops *ops;    /* MR_IO */
	void *opaque;

	/*
	 * Subregions in QEMU's order: higher priority first, and among equal
	 * priorities the one added last first.  The first to claim an address
	 * wins it when flattening.
	 */
	struct memory_region **subs;
	size_t nr_subs;
};

struct memory_region *mr_new_container(const char *name, uint64_t size);
struct memory_region *mr_new_ram(const char *name, struct ram_block *block);
struct memory_region *mr_new_rom(const char *name, struct ram_block *block);
struct memory_region *mr_new_alias(const char *name, struct memory_region *target, uint64_t offset,
                                   uint64_t size);
struct memory_region *mr_new_io(const char *name, uint64_t size, const struct mr_ops *ops,
                                void *opaque);
/* Frees mr and, recursively, the subregions it still holds. */
void mr_free(struct memory_region *mr);

int mr_add_subregion(struct memory_region *parent, uint64_t addr, struct memory_region *child);
int mr_add_subregion_overlap(struct memory_region *parent, uint64_t addr,
                             struct memory_region *child, int priority);
int mr_del_subregion(struct memory_region *parent, struct memory_region *child);
void mr_set_enabled(struct memory_region *mr, bool enabled);
/* "ram", "rom" or "i/o", as QEMU names region types; an alias has its target's. */
const char *mr_type(const struct memory_region *mr);

struct flat_range {
	uint64_t start;
	uint64_t size;
	struct memory_region *mr; /* the leaf: RAM, ROM or I/O */
	uint64_t offset;          /* offset of start within mr */
	bool readonly;
};

struct flatview {
	struct flat_range *ranges; /* sorted by start, non-overlapping */
	size_t nr;
	size_t cap;
};

int flatview_build(struct memory_region *root, struct flatview **out);
void flatview_free(struct flatview *fv);
/* The range holding addr, or NULL for a hole. */
const struct flat_range *flatview_lookup(const struct flatview *fv, uint64_t addr);
/*
 * Which leaf the flat view of root shows at addr, found for that one address
 * by the rules flattening applies to all of them (NULL: a hole), *offset the
 * address within the leaf, and the aliases the way to it passes through,
 * outermost first: at most max of them in aliases[], *nr_aliases counts all.
 * For the views that name the alias behind a range (layout.svg).  The caller
 * keeps the tree from changing (the address space's read lock).
 */
struct memory_region *mr_resolve(struct memory_region *root, uint64_t addr, uint64_t *offset,
                                 struct memory_region **aliases, size_t max, size_t *nr_aliases);
static inline bool flat_range_is_ram(const struct flat_range *fr)
{
	return fr->mr->kind == MR_RAM || fr->mr->kind == MR_ROM;
}

struct address_space;

/* Called by as_commit with the old (may be empty) and the new view. */
struct as_listener {
	int (*commit)(struct as_listener *l, const struct flatview *old,
	              const struct flatview *new);
	struct as_listener *next;
};

/*
 * Locking: `lock` guards fv and version.  as_commit() builds the new view
 * outside it, runs the listeners and swaps under the write lock; renderers
 * and anything that looks addresses up hold the read lock for as long as
 * they use ranges of the view.  The region tree is changed only by the thread
 * that calls as_commit(), and only while it holds the write lock once the
 * address space is shared (the tree renderers read it under the read lock).
 */
struct address_space {
	const char *name;
	struct memory_region *root;
	pthread_rwlock_t lock;
	struct flatview *fv;
	uint64_t version; /* bumped by every commit that changed the view */
	struct as_listener *listeners;
};

int as_init(struct address_space *as, const char *name, struct memory_region *root);
void as_exit(struct address_space *as);
/* Registers l and replays the current view to it. */
int as_add_listener(struct address_space *as, struct as_listener *l);
int as_commit(struct address_space *as);

/*
 * One piece of guest-physical memory for a reader: len bytes at bytes, or
 * len zeros when bytes is NULL.  Non-zero stops the walk.  The bytes of a
 * block in another process (RAM_REMOTE) are a copy that the next piece
 * overwrites: a reader that keeps pointers copies them first.
 */
typedef int (*as_piece_fn)(void *opaque, const void *bytes, size_t len);
/*
 * Walk guest-physical [gpa, gpa+len) in pieces, in order, without touching
 * a page nobody populated: those come as zeros (see ram_block_extents), the
 * populated pages of RAM/ROM as their host bytes, to be read while the
 * caller still may (blocks live as long as the machine).  Where no RAM or
 * ROM is, the walk either stops or, with holes_as_zero, yields zeros and
 * goes on.  Returns the bytes of the pieces fn took (all of them unless
 * it, a range without memory or a failed read of another process's
 * memory stopped the walk).  Takes the read lock
 * around the calls.
 */
size_t as_read_pieces(struct address_space *as, uint64_t gpa, size_t len, bool holes_as_zero,
                      as_piece_fn fn, void *opaque);
/* An as_piece_fn that copies each piece to *(uint8_t **)opaque and moves it on. */
int as_copy_piece(void *opaque, const void *bytes, size_t len);
/* The same, copied into buf; never populates guest memory either. */
size_t as_read(struct address_space *as, uint64_t gpa, void *buf, size_t len, bool holes_as_zero);

/* ---- mtree.c: the model as text ---- */
/* `info mtree` for this address space, and a nested JSON of the tree. */
void as_render_tree(struct address_space *as, struct strbuf *sb);
void as_render_tree_json(struct address_space *as, struct strbuf *sb);
/*
 * `info mtree -f`; accel, when not NULL, is appended to every RAM/ROM range
 * the accelerator maps (QEMU prints " KVM").
 */
void as_render_flatview(struct address_space *as, const char *accel, struct strbuf *sb);
void as_render_flatview_json(struct address_space *as, struct strbuf *sb);
void flatview_render_range(const struct flat_range *fr, const char *accel, struct strbuf *sb);

#endif
