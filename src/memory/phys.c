/*
 * phys.c - the guest-physical address space as one sparse byte range (see
 * phys.h): reads and writes through the flat view, holes from the flat view
 * and from the blocks themselves (ram_block_extents), and the translations between
 * block bytes and GPAs that keep every view of the same bytes coherent.
 *
 * The ram list does not change at runtime in this version, so a block's
 * used_length is read without the list lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memory/phys.h"
#include "memory/ram.h"
#include "util/strbuf.h"

static bool phys_is_data(const struct flat_range *fr)
{
	return flat_range_is_ram(fr) && fr->mr->block;
}

/* Bytes of fr from pos (inside it) to its end. */
static uint64_t phys_left(const struct flat_range *fr, uint64_t pos)
{
	return fr->size - (pos - fr->start);
}

/* Index of the first range that ends after pos (nr if none). */
static size_t phys_first_from(const struct flatview *fv, uint64_t pos)
{
	size_t lo = 0, hi = fv->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct flat_range *fr = &fv->ranges[mid];

		if (fr->start > pos || pos - fr->start < fr->size)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/*
 * What lies at pos: the data range holding it, or NULL for a hole; *len
 * is how far that lasts.  The read lock is held.
 */
static const struct flat_range *phys_piece(const struct flatview *fv, uint64_t pos, uint64_t *len)
{
	size_t i = phys_first_from(fv, pos);
	const struct flat_range *fr;

	if (i == fv->nr) {
		*len = UINT64_MAX - pos;
		return NULL;
	}
	fr = &fv->ranges[i];
	if (fr->start > pos) {
		*len = fr->start - pos;
		return NULL;
	}
	*len = phys_left(fr, pos);
	return phys_is_data(fr) ? fr : NULL;
}

static uint64_t phys_size_locked(const struct flatview *fv)
{
	size_t i;

	for (i = fv->nr; i > 0; i--)
		if (phys_is_data(&fv->ranges[i - 1]))
			return fv->ranges[i - 1].start + fv->ranges[i - 1].size;
	return 0;
}

uint64_t phys_size(struct address_space *as)
{
	uint64_t size;

	pthread_rwlock_rdlock(&as->lock);
	size = phys_size_locked(as->fv);
	pthread_rwlock_unlock(&as->lock);
	return size;
}

void phys_read(struct address_space *as, uint64_t gpa, void *buf, size_t len)
{
	as_read(as, gpa, buf, len, true);
}

size_t phys_read_pieces(struct address_space *as, uint64_t gpa, size_t len, as_piece_fn fn,
                        void *opaque)
{
	return as_read_pieces(as, gpa, len, true, fn, opaque);
}

void phys_read_virt_pieces(struct address_space *as, const struct pagewalk_cpu *cpu,
                           pagewalk_read_fn pt, void *pt_opaque, uint64_t off, size_t len,
                           bool user_only, as_piece_fn fn, void *opaque)
{
	struct pagewalk_result r;
	size_t done = 0;

	while (done < len) {
		uint64_t pos = off + done, n;

		pagewalk(cpu, pagewalk_canonical(cpu, pos), pt, pt_opaque, &r);
		n = r.span - (pos & (r.span - 1));
		if (n > len - done)
			n = len - done;
		if (r.status == PW_OK && (r.user || !user_only))
			phys_read_pieces(as, r.pa, (size_t)n, fn, opaque);
		else
			fn(opaque, NULL, (size_t)n);
		done += (size_t)n;
	}
}

size_t phys_read_ram(void *as, uint64_t gpa, void *buf, size_t len)
{
	return as_read(as, gpa, buf, len, false);
}

long phys_write(struct address_space *as, uint64_t gpa, const void *buf, size_t len)
{
	const uint8_t *in = buf;
	size_t done = 0;

	pthread_rwlock_rdlock(&as->lock);
	while (done < len) {
		uint64_t avail, pos = gpa + done;
		const struct flat_range *fr = phys_piece(as->fv, pos, &avail);
		size_t n = avail < len - done ? (size_t)avail : len - done;

		if (!fr || !ram_block_has_bytes(fr->mr->block))
			break;
		/* Races with the guest exactly as a DMA would. */
		if (ram_block_write(fr->mr->block, fr->offset + (pos - fr->start), in + done, n))
			break;
		done += n;
	}
	pthread_rwlock_unlock(&as->lock);
	return done || !len ? (long)done : -ENXIO;
}

static int phys_seek_data(const struct flatview *fv, uint64_t off, uint64_t *out)
{
	size_t i;

	for (i = phys_first_from(fv, off); i < fv->nr; i++) {
		const struct flat_range *fr = &fv->ranges[i];
		uint64_t pos = off > fr->start ? off : fr->start, d;

		if (!phys_is_data(fr))
			continue;
		if (ram_block_seek(fr->mr->block, fr->offset + (pos - fr->start), SEEK_DATA, &d))
			continue;
		if (d - fr->offset < fr->size) {
			*out = fr->start + (d - fr->offset);
			return 0;
		}
	}
	return -ENXIO;
}

static uint64_t phys_seek_hole(const struct flatview *fv, uint64_t off)
{
	uint64_t pos = off, h;
	size_t i;

	for (i = phys_first_from(fv, off); i < fv->nr; i++) {
		const struct flat_range *fr = &fv->ranges[i];

		if (pos < fr->start || !phys_is_data(fr))
			return pos;
		if (!ram_block_seek(fr->mr->block, fr->offset + (pos - fr->start), SEEK_HOLE, &h) &&
		    h - fr->offset < fr->size)
			return fr->start + (h - fr->offset);
		pos = fr->start + fr->size;
	}
	return pos;
}

int phys_seek(struct address_space *as, uint64_t off, int whence, uint64_t *out)
{
	uint64_t size, h;
	int ret = 0;

	pthread_rwlock_rdlock(&as->lock);
	size = phys_size_locked(as->fv);
	if (off >= size) {
		ret = -ENXIO;
	} else if (whence == SEEK_DATA) {
		ret = phys_seek_data(as->fv, off, out);
	} else if (whence == SEEK_HOLE) {
		h = phys_seek_hole(as->fv, off);
		*out = h < size ? h : size;
	} else {
		ret = -EINVAL;
	}
	pthread_rwlock_unlock(&as->lock);
	return ret;
}

uint64_t phys_block_resident(struct ram_block *rb)
{
	struct stat st;
	uint64_t bytes;

	if (rb->fd < 0 || fstat(rb->fd, &st))
		return rb->used_length;
	bytes = (uint64_t)st.st_blocks * 512;
	return bytes < rb->used_length ? bytes : rb->used_length;
}

uint64_t phys_resident(struct address_space *as)
{
	struct {
		struct ram_block *rb;
		uint64_t mapped;
	} *seen = NULL, *p;
	size_t i, j, nr = 0;
	uint64_t total = 0;

	pthread_rwlock_rdlock(&as->lock);
	for (i = 0; i < as->fv->nr; i++) {
		const struct flat_range *fr = &as->fv->ranges[i];

		if (!phys_is_data(fr))
			continue;
		for (j = 0; j < nr && seen[j].rb != fr->mr->block; j++)
			;
		if (j == nr) {
			p = realloc(seen, (nr + 1) * sizeof(*seen));
			if (!p) {
				total += fr->size; /* cannot tell: count it as data */
				continue;
			}
			seen = p;
			seen[nr].rb = fr->mr->block;
			seen[nr++].mapped = 0;
		}
		seen[j].mapped += fr->size;
	}
	pthread_rwlock_unlock(&as->lock);
	/* An estimate: a block's pages are not told apart by where they are mapped. */
	for (j = 0; j < nr; j++) {
		uint64_t r = phys_block_resident(seen[j].rb);

		total += r < seen[j].mapped ? r : seen[j].mapped;
	}
	free(seen);
	return total;
}

void phys_block_to_gpa(struct address_space *as, struct ram_block *rb, uint64_t offset,
                       uint64_t len, phys_piece_fn fn, void *opaque)
{
	size_t i;

	pthread_rwlock_rdlock(&as->lock);
	for (i = 0; i < as->fv->nr; i++) {
		const struct flat_range *fr = &as->fv->ranges[i];
		uint64_t lo, hi;

		if (!phys_is_data(fr) || fr->mr->block != rb)
			continue;
		lo = offset > fr->offset ? offset : fr->offset;
		hi = offset + len < fr->offset + fr->size ? offset + len : fr->offset + fr->size;
		if (lo < hi)
			fn(opaque, rb, lo, fr->start + (lo - fr->offset), hi - lo);
	}
	pthread_rwlock_unlock(&as->lock);
}

void phys_gpa_to_block(struct address_space *as, uint64_t gpa, uint64_t len, phys_piece_fn fn,
                       void *opaque)
{
	uint64_t done = 0;

	pthread_rwlock_rdlock(&as->lock);
	while (done < len) {
		uint64_t avail, pos = gpa + done;
		const struct flat_range *fr = phys_piece(as->fv, pos, &avail);
		uint64_t n = avail < len - done ? avail : len - done;

		if (!n)
			break;
		if (fr)
			fn(opaque, fr->mr->block, fr->offset + (pos - fr->start), pos, n);
		done += n;
	}
	pthread_rwlock_unlock(&as->lock);
}

void phys_render_json(struct address_space *as, struct strbuf *sb)
{
	size_t i, n = 0;

	pthread_rwlock_rdlock(&as->lock);
	sb_printf(sb, "{\"size\": %llu, \"ranges\": [",
	          (unsigned long long)phys_size_locked(as->fv));
	for (i = 0; i < as->fv->nr; i++) {
		const struct flat_range *fr = &as->fv->ranges[i];

		if (!phys_is_data(fr))
			continue;
		sb_printf(sb, "%s\n  {\"start\": %llu, \"last\": %llu, \"size\": %llu, ",
		          n++ ? "," : "", (unsigned long long)fr->start,
		          (unsigned long long)(fr->start + fr->size - 1),
		          (unsigned long long)fr->size);
		sb_printf(sb, "\"type\": \"%s\", \"region\": ", mr_type(fr->mr));
		sb_json_str(sb, fr->mr->name);
		sb_printf(sb, ", \"ramblock\": ");
		sb_json_str(sb, fr->mr->block->idstr);
		sb_printf(sb, ", \"offset\": %llu}", (unsigned long long)fr->offset);
	}
	pthread_rwlock_unlock(&as->lock);
	sb_printf(sb, "\n]}\n");
}
