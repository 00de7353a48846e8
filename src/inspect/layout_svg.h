/*
 * layout.h - layout.svg: the "memory" address space, the RAM blocks behind
 * it and the aliases between them, as one picture.
 *
 * Two columns of stacked pieces: guest-physical addresses on the left (every
 * range of the flat view, and the holes between them, split at 4 GiB) and
 * ram_addr space on the right (every RAM block at its offset, cut where
 * ranges start and end in it).  A band joins each RAM/ROM range to the
 * block bytes behind it and names the aliases it is seen through; a lane
 * beside the left column marks the memslots.
 *
 * The scale is linear in the middle and clamped at both ends, so that a
 * 128 KiB ROM and a 1 TiB RAM range are both visible: a piece of n bytes
 * is n / LAYOUT_BYTES_PER_PX pixels tall, but at least LAYOUT_MIN_PX and
 * at most LAYOUT_MAX_PX; a piece held to the maximum is drawn cut (a zigzag
 * break).  The picture says so.
 */
#ifndef KVMFS_INSPECT_LAYOUT_SVG_H
#define KVMFS_INSPECT_LAYOUT_SVG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memory/ram.h"

struct address_space;
struct kvm;
struct strbuf;

typedef unsigned __int128 layout_u128;

#define LAYOUT_BYTES_PER_PX (16ULL << 20)
#define LAYOUT_MIN_PX       30
#define LAYOUT_MAX_PX       240
#define LAYOUT_MAX_ALIASES  4 /* named per range; deeper chains end in "..." */

enum layout_kind {
	LAYOUT_HOLE, /* no range of the flat view */
	LAYOUT_RAM,
	LAYOUT_ROM, /* read-only to the guest */
	LAYOUT_IO,
};

/*
 * What the picture shows, copied from the model under its locks.  Names
 * point into the region tree, which the renderer reads under the address
 * space's read lock; block names are copied.
 */
struct layout_range {
	uint64_t start, size;
	enum layout_kind kind;                   /* RAM, ROM or I/O */
	const char *region;                      /* the leaf region */
	int block;                               /* index in layout_model.blocks, -1: none */
	uint64_t offset;                         /* of start in the region (and in its block) */
	const char *aliases[LAYOUT_MAX_ALIASES]; /* outermost first */
	size_t nr_aliases;                       /* may exceed LAYOUT_MAX_ALIASES */
};

struct layout_block {
	char idstr[RAM_IDSTR_MAX + 1];
	uint64_t offset; /* in ram_addr space */
	uint64_t used_length, max_length;
	bool readonly;
};

struct layout_slot {
	int id;
	uint64_t gpa, size;
	bool readonly, dirty_log;
};

struct layout_model {
	const char *as_name;
	const struct layout_range *ranges; /* sorted by start, non-overlapping */
	size_t nr_ranges;
	const struct layout_block *blocks; /* any order */
	size_t nr_blocks;
	const struct layout_slot *slots;
	size_t nr_slots;
};

/* Pixels for a piece of size bytes; *cut when it is held to LAYOUT_MAX_PX. */
unsigned layout_px(layout_u128 size, bool *cut);
/* "3 GiB 768 KiB": every non-zero binary unit, largest first; exact. */
void layout_size_str(layout_u128 size, char *buf, size_t len);
/*
 * A name as XML character data, in 7-bit ASCII: & < > " as entities, bytes
 * from 0x80 as &#xNN; (U+0080-U+00FF, as the JSON views decode them), and
 * control bytes, DEL and the backslash as \xNN, as the text views write them
 * (XML cannot carry control characters at all).
 */
void layout_xml_text(struct strbuf *sb, const char *s);
/* A name inside an id: A-Z a-z 0-9 . - as they are, every other byte _xx. */
void layout_xml_id(struct strbuf *sb, const char *s);

/* Pure: the SVG of a model. */
void layout_render_svg(const struct layout_model *m, struct strbuf *sb);
/*
 * layout.svg of a machine: the flat view and region tree of as, the blocks
 * of rl, the memslots of kvm (NULL: none).  Takes the ram list's lock, then
 * (not nested) the address space's read lock.
 */
void layout_render(struct address_space *as, struct ram_list *rl, struct kvm *kvm,
                   struct strbuf *sb);

#endif
