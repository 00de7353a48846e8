/*
 * memory.c - memory regions, their flattening into flat views, and the
 * address spaces that hold them (mtree.c prints them as `info mtree` does).
 *
 * Flattening follows QEMU's rendering rules: a region is clipped to its
 * container, subregions are visited highest priority first (the last added
 * first among equals) and only fill what is still uncovered, an alias
 * renders its target shifted by its offset, and a terminal region (RAM, ROM,
 * I/O) finally claims whatever of its own range nobody above it took.
 * Addresses are computed in 128 bits so that 2^64-sized containers and
 * aliases that start below their target's origin need no special cases.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "memory/memory.h"
#include "memory/ram.h"
#include "util/strbuf.h"

typedef __int128 s128;

static s128 mr_size128(const struct memory_region *mr)
{
	return mr->size == MR_SIZE_2_64 ? (s128)1 << 64 : (s128)mr->size;
}

static struct memory_region *mr_new(const char *name, enum mr_kind kind, uint64_t size)
{
	struct memory_region *mr = calloc(1, sizeof(*mr));

	if (!mr)
		return NULL;
	mr->name = strdup(name);
	if (!mr->name) {
		free(mr);
		return NULL;
	}
	mr->kind = kind;
	mr->size = size;
	mr->enabled = true;
	return mr;
}

struct memory_region *mr_new_container(const char *name, uint64_t size)
{
	return mr_new(name, MR_CONTAINER, size);
}

struct memory_region *mr_new_ram(const char *name, struct ram_block *block)
{
	struct memory_region *mr = mr_new(name, MR_RAM, block->used_length);

	if (mr) {
		mr->block = block;
		block->mr = mr;
	}
	return mr;
}

struct memory_region *mr_new_rom(const char *name, struct ram_block *block)
{
	struct memory_region *mr = mr_new_ram(name, block);

	if (mr)
		mr->kind = MR_ROM;
	return mr;
}

struct memory_region *mr_new_alias(const char *name, struct memory_region *target, uint64_t offset,
                                   uint64_t size)
{
	struct memory_region *mr = mr_new(name, MR_ALIAS, size);

	if (mr) {
		mr->alias = target;
		mr->alias_offset = offset;
	}
	return mr;
}

struct memory_region *mr_new_io(const char *name, uint64_t size, const struct mr_ops *ops,
                                void *opaque)
{
	struct memory_region *mr = mr_new(name, MR_IO, size);

	if (mr) {
		mr->ops = ops;
		mr->opaque = opaque;
	}
	return mr;
}

void mr_free(struct memory_region *mr)
{
	size_t i;

	if (!mr)
		return;
	for (i = 0; i < mr->nr_subs; i++) {
		mr->subs[i]->container = NULL;
		mr_free(mr->subs[i]);
	}
	if (mr->container)
		mr_del_subregion(mr->container, mr);
	if (mr->block && mr->block->mr == mr)
		mr->block->mr = NULL;
	free(mr->subs);
	free(mr->name);
	free(mr);
}

int mr_add_subregion_overlap(struct memory_region *parent, uint64_t addr,
                             struct memory_region *child, int priority)
{
	struct memory_region **subs;
	size_t i;

	if (child->container || child == parent)
		return -EBUSY;
	subs = realloc(parent->subs, (parent->nr_subs + 1) * sizeof(*subs));
	if (!subs)
		return -ENOMEM;
	parent->subs = subs;
	child->addr = addr;
	child->priority = priority;
	child->container = parent;
	/* In front of the first one it is at least as important as. */
	for (i = 0; i < parent->nr_subs; i++)
		if (priority >= subs[i]->priority)
			break;
	memmove(&subs[i + 1], &subs[i], (parent->nr_subs - i) * sizeof(*subs));
	subs[i] = child;
	parent->nr_subs++;
	return 0;
}

int mr_add_subregion(struct memory_region *parent, uint64_t addr, struct memory_region *child)
{
	return mr_add_subregion_overlap(parent, addr, child, 0);
}

int mr_del_subregion(struct memory_region *parent, struct memory_region *child)
{
	size_t i;

	for (i = 0; i < parent->nr_subs; i++) {
		if (parent->subs[i] == child) {
			memmove(&parent->subs[i], &parent->subs[i + 1],
			        (parent->nr_subs - i - 1) * sizeof(*parent->subs));
			parent->nr_subs--;
			child->container = NULL;
			return 0;
		}
	}
	return -ENOENT;
}

void mr_set_enabled(struct memory_region *mr, bool enabled)
{
	mr->enabled = enabled;
}

const char *mr_type(const struct memory_region *mr)
{
	static const char *const names[] = {
	        [MR_CONTAINER] = "i/o",
	        [MR_RAM] = "ram",
	        [MR_ROM] = "rom",
	        [MR_IO] = "i/o",
	};
	int depth = 0;

	/* Bounded: an alias cycle must not hang a renderer. */
	while (mr->kind == MR_ALIAS && mr->alias && depth++ < 64)
		mr = mr->alias;
	return mr->kind == MR_ALIAS ? "i/o" : names[mr->kind];
}

/* ---- flat views ---------------------------------------------------- */

static int fv_insert(struct flatview *fv, size_t at, const struct flat_range *fr)
{
	if (fv->nr == fv->cap) {
		size_t cap = fv->cap ? fv->cap * 2 : 16;
		struct flat_range *r = realloc(fv->ranges, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		fv->ranges = r;
		fv->cap = cap;
	}
	memmove(&fv->ranges[at + 1], &fv->ranges[at], (fv->nr - at) * sizeof(*fv->ranges));
	fv->ranges[at] = *fr;
	fv->nr++;
	return 0;
}

static s128 fr_end(const struct flat_range *fr)
{
	return (s128)fr->start + fr->size;
}

/* Claim the parts of [start, end) that no range holds yet. */
static int fv_fill(struct flatview *fv, struct memory_region *mr, s128 start, s128 end,
                   uint64_t offset, bool readonly)
{
	s128 pos = start;
	size_t i = 0;
	int ret;

	while (i < fv->nr && fr_end(&fv->ranges[i]) <= pos)
		i++;
	while (pos < end) {
		s128 stop = end;
		struct flat_range fr;

		if (i < fv->nr && fv->ranges[i].start <= pos) {
			pos = fr_end(&fv->ranges[i++]);
			continue;
		}
		if (i < fv->nr && fv->ranges[i].start < stop)
			stop = fv->ranges[i].start;
		/*
		 * A 2^64-byte piece cannot be told in 64 bits: it goes in as two
		 * halves (which fv_simplify leaves apart), so that its last byte
		 * is not lost to whatever lies below it.
		 */
		if (stop - pos > (s128)UINT64_MAX)
			stop = pos + ((s128)1 << 63);
		fr = (struct flat_range){
		        .start = (uint64_t)pos,
		        .size = (uint64_t)(stop - pos),
		        .mr = mr,
		        .offset = offset + (uint64_t)(pos - start),
		        .readonly = readonly,
		};
		ret = fv_insert(fv, i, &fr);
		if (ret)
			return ret;
		i++;
		pos = stop;
	}
	return 0;
}

static int render(struct flatview *fv, struct memory_region *mr, s128 base, s128 clip_start,
                  s128 clip_end, bool readonly, int depth)
{
	s128 start, end;
	size_t i;
	int ret;

	if (!mr->enabled)
		return 0;
	if (depth > 64)
		return -ELOOP;
	readonly |= mr->readonly;
	base += mr->addr;
	start = base > clip_start ? base : clip_start;
	end = base + mr_size128(mr) < clip_end ? base + mr_size128(mr) : clip_end;
	if (start >= end)
		return 0;

	if (mr->kind == MR_ALIAS) {
		if (!mr->alias)
			return 0;
		/* Place the target so that alias_offset lands on our base. */
		return render(fv, mr->alias, base - (s128)mr->alias->addr - (s128)mr->alias_offset,
		              start, end, readonly, depth + 1);
	}
	for (i = 0; i < mr->nr_subs; i++) {
		ret = render(fv, mr->subs[i], base, start, end, readonly, depth + 1);
		if (ret)
			return ret;
	}
	if (mr->kind == MR_CONTAINER)
		return 0;
	return fv_fill(fv, mr, start, end, (uint64_t)(start - base),
	               readonly || mr->kind == MR_ROM);
}

/* Join neighbours that continue one another in the same region. */
static void fv_simplify(struct flatview *fv)
{
	size_t i, j = 0;

	for (i = 0; i < fv->nr; i++) {
		struct flat_range *prev = j ? &fv->ranges[j - 1] : NULL;
		struct flat_range *cur = &fv->ranges[i];

		if (prev && prev->mr == cur->mr && prev->readonly == cur->readonly &&
		    fr_end(prev) == cur->start &&
		    (s128)prev->offset + prev->size == (s128)cur->offset &&
		    (s128)prev->size + cur->size <= (s128)UINT64_MAX) {
			prev->size += cur->size;
			continue;
		}
		fv->ranges[j++] = *cur;
	}
	fv->nr = j;
}

int flatview_build(struct memory_region *root, struct flatview **out)
{
	struct flatview *fv = calloc(1, sizeof(*fv));
	int ret;

	if (!fv)
		return -ENOMEM;
	ret = render(fv, root, -(s128)root->addr, 0, (s128)1 << 64, false, 0);
	if (ret) {
		flatview_free(fv);
		return ret;
	}
	fv_simplify(fv);
	*out = fv;
	return 0;
}

void flatview_free(struct flatview *fv)
{
	if (!fv)
		return;
	free(fv->ranges);
	free(fv);
}

const struct flat_range *flatview_lookup(const struct flatview *fv, uint64_t addr)
{
	size_t lo = 0, hi = fv->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct flat_range *fr = &fv->ranges[mid];

		if (addr < fr->start)
			hi = mid;
		else if ((s128)addr >= fr_end(fr))
			lo = mid + 1;
		else
			return fr;
	}
	return NULL;
}

/* The aliases passed on the way down, for mr_resolve(). */
struct mr_path {
	struct memory_region **aliases;
	size_t max, nr;
};

/*
 * One address at a time, render()'s rules: a disabled region or one that does
 * not hold addr shows nothing; an alias shows its target shifted; the first
 * subregion that shows something wins, else a terminal region itself.
 * Every level checks addr against its own extent, which is what clipping
 * to the container amounts to for a single address.
 */
static struct memory_region *mr_claim(struct memory_region *mr, s128 base, s128 addr,
                                      uint64_t *offset, struct mr_path *path, int depth)
{
	struct memory_region *leaf;
	size_t i;

	if (!mr->enabled || depth > 64)
		return NULL;
	base += mr->addr;
	if (addr < base || addr >= base + mr_size128(mr))
		return NULL;
	if (mr->kind == MR_ALIAS) {
		if (!mr->alias)
			return NULL;
		if (path->nr < path->max)
			path->aliases[path->nr] = mr;
		path->nr++;
		leaf = mr_claim(mr->alias, base - (s128)mr->alias->addr - (s128)mr->alias_offset,
		                addr, offset, path, depth + 1);
		if (!leaf)
			path->nr--;
		return leaf;
	}
	for (i = 0; i < mr->nr_subs; i++) {
		leaf = mr_claim(mr->subs[i], base, addr, offset, path, depth + 1);
		if (leaf)
			return leaf;
	}
	if (mr->kind == MR_CONTAINER)
		return NULL;
	*offset = (uint64_t)(addr - base);
	return mr;
}

struct memory_region *mr_resolve(struct memory_region *root, uint64_t addr, uint64_t *offset,
                                 struct memory_region **aliases, size_t max, size_t *nr_aliases)
{
	struct mr_path path = {aliases, max, 0};
	struct memory_region *leaf;

	/* flatview_build() places the root at 0, whatever its addr. */
	leaf = mr_claim(root, -(s128)root->addr, addr, offset, &path, 0);
	*nr_aliases = leaf ? path.nr : 0;
	return leaf;
}

/* ---- address spaces ------------------------------------------------ */

int as_init(struct address_space *as, const char *name, struct memory_region *root)
{
	memset(as, 0, sizeof(*as));
	as->name = name;
	as->root = root;
	pthread_rwlock_init(&as->lock, NULL);
	as->fv = calloc(1, sizeof(*as->fv));
	return as->fv ? 0 : -ENOMEM;
}

void as_exit(struct address_space *as)
{
	flatview_free(as->fv);
	as->fv = NULL;
	pthread_rwlock_destroy(&as->lock);
}

int as_add_listener(struct address_space *as, struct as_listener *l)
{
	struct flatview empty = {NULL, 0, 0};
	struct as_listener **pp;
	int ret;

	/* A late listener first learns the view everyone else already has. */
	pthread_rwlock_wrlock(&as->lock);
	ret = l->commit(l, &empty, as->fv);
	if (!ret) {
		for (pp = &as->listeners; *pp; pp = &(*pp)->next)
			;
		l->next = NULL;
		*pp = l;
	}
	pthread_rwlock_unlock(&as->lock);
	return ret;
}

static bool flatview_equal(const struct flatview *a, const struct flatview *b)
{
	/* Two empty views may both have no array at all: memcmp(NULL, ...) is undefined. */
	return a->nr == b->nr &&
	       (!a->nr || !memcmp(a->ranges, b->ranges, a->nr * sizeof(*a->ranges)));
}

int as_commit(struct address_space *as)
{
	struct flatview *fv, *old;
	struct as_listener *l;
	int ret;

	ret = flatview_build(as->root, &fv);
	if (ret)
		return ret;
	pthread_rwlock_wrlock(&as->lock);
	old = as->fv;
	if (flatview_equal(old, fv)) {
		pthread_rwlock_unlock(&as->lock);
		flatview_free(fv);
		return 0;
	}
	for (l = as->listeners; l; l = l->next) {
		ret = l->commit(l, old, fv);
		if (ret)
			break;
	}
	if (ret) {
		/* Keep the view the listeners last accepted. */
		pthread_rwlock_unlock(&as->lock);
		flatview_free(fv);
		return ret;
	}
	as->fv = fv;
	as->version++;
	pthread_rwlock_unlock(&as->lock);
	flatview_free(old);
	return 0;
}

/* Bytes from addr up to the next range's start (the rest of a hole). */
static uint64_t fv_hole_left(const struct flatview *fv, uint64_t addr)
{
	size_t lo = 0, hi = fv->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (fv->ranges[mid].start > addr)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo < fv->nr ? fv->ranges[lo].start - addr : UINT64_MAX - addr + 1;
}

/* as_read_pieces' walk: the pieces handed on, and how many bytes they held. */
struct as_walk {
	as_piece_fn fn;
	void *opaque;
	size_t done;
};

static int as_walk_piece(void *opaque, const void *bytes, size_t len)
{
	struct as_walk *w = opaque;
	int stop = w->fn(w->opaque, bytes, len);

	if (!stop)
		w->done += len;
	return stop;
}

size_t as_read_pieces(struct address_space *as, uint64_t gpa, size_t len, bool holes_as_zero,
                      as_piece_fn fn, void *opaque)
{
	struct as_walk w = {.fn = fn, .opaque = opaque};
	int stop = 0;

	pthread_rwlock_rdlock(&as->lock);
	while (!stop && w.done < len) {
		uint64_t pos = gpa + w.done;
		const struct flat_range *fr = flatview_lookup(as->fv, pos);
		uint64_t in, n;
		size_t want;

		if (fr && flat_range_is_ram(fr) && fr->mr->block &&
		    ram_block_has_bytes(fr->mr->block)) {
			in = pos - fr->start;
			n = fr->size - in < len - w.done ? fr->size - in : len - w.done;
			want = w.done + n;
			stop = ram_block_pieces(fr->mr->block, fr->offset + in, n, as_walk_piece,
			                        &w);
			/* Past the block's used length (a shrunk block): zeros. */
			if (!stop && w.done < want)
				stop = as_walk_piece(&w, NULL, want - w.done);
		} else if (holes_as_zero) {
			n = fr ? fr->size - (pos - fr->start) : fv_hole_left(as->fv, pos);
			if (n > len - w.done || !n)
				n = len - w.done;
			stop = as_walk_piece(&w, NULL, (size_t)n);
		} else {
			break;
		}
	}
	pthread_rwlock_unlock(&as->lock);
	return w.done;
}

int as_copy_piece(void *opaque, const void *bytes, size_t len)
{
	uint8_t **out = opaque;

	if (bytes)
		memcpy(*out, bytes, len);
	else
		memset(*out, 0, len);
	*out += len;
	return 0;
}

size_t as_read(struct address_space *as, uint64_t gpa, void *buf, size_t len, bool holes_as_zero)
{
	uint8_t *out = buf;

	return as_read_pieces(as, gpa, len, holes_as_zero, as_copy_piece, &out);
}
