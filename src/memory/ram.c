/*
 * ram.c - RAM blocks and the ram list.
 *
 * Blocks are host mappings reserved with MAP_NORESERVE and never touched
 * here, so start-up time and resident memory do not grow with the guest's
 * RAM size: a page costs memory only once the guest (or a writer through the
 * tree) touches it.  Readers keep it that way by asking which pages hold
 * data (ram_block_extents) and reading only those.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memory/ram.h"
#include "util/compiler.h"
#include "util/strbuf.h"

/* Pages looked at per mincore() or pagemap read: 2 MiB of guest memory. */
#define RAM_SCAN_PAGES 512
/* /proc/PID/pagemap: one u64 per page; the page is in RAM, or in swap. */
#define RAM_PM_PRESENT (1ULL << 63)
#define RAM_PM_SWAPPED (1ULL << 62)

void ram_list_init(struct ram_list *rl, enum ram_backing backing)
{
	memset(rl, 0, sizeof(*rl));
	pthread_mutex_init(&rl->lock, NULL);
	rl->backing = backing;
	/*
	 * Anonymous memory has no page cache to ask about holes: its page
	 * tables are the record.  Without /proc, every page counts as data.
	 */
	rl->pagemap_fd =
	        backing == RAM_BACKING_ANON ? open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC) : -1;
}

int ram_find_offset(const struct ram_list *rl, uint64_t size, uint64_t *offset)
{
	uint64_t best = UINT64_MAX, best_gap = UINT64_MAX;
	const struct ram_block *b, *n;

	if (!size)
		return -EINVAL;
	if (!rl->head) {
		*offset = 0;
		return 0;
	}
	/*
	 * Every gap starts right after some block; the smallest gap that still
	 * fits wins, the first one in list order on a tie - which is what makes
	 * pc.bios land right after pc.ram and pc.rom right after pc.bios.
	 */
	for (b = rl->head; b; b = b->next) {
		uint64_t cand, next = UINT64_MAX;

		if (b->offset + b->max_length < b->offset ||
		    b->offset + b->max_length > UINT64_MAX - RAM_OFFSET_ALIGN)
			continue;
		cand = ROUND_UP(b->offset + b->max_length, RAM_OFFSET_ALIGN);
		for (n = rl->head; n; n = n->next)
			if (n->offset >= cand && n->offset < next)
				next = n->offset;
		if (next - cand >= size && next - cand < best_gap) {
			best = cand;
			best_gap = next - cand;
		}
	}
	if (best == UINT64_MAX)
		return -ENOSPC;
	*offset = best;
	return 0;
}

/* Insert keeping max_length descending; equal lengths keep their age order. */
static void ram_list_insert(struct ram_list *rl, struct ram_block *rb)
{
	struct ram_block **pp = &rl->head;

	while (*pp && (*pp)->max_length >= rb->max_length)
		pp = &(*pp)->next;
	rb->next = *pp;
	*pp = rb;
}

int ram_reserve(enum ram_backing backing, const char *name, size_t len, uint8_t **host, int *fd)
{
	int ret;

	*fd = -1;
	if (backing == RAM_BACKING_MEMFD) {
		/* A memfd so the same pages can later be handed to other processes. */
		*fd = memfd_create(name, MFD_CLOEXEC);
		if (*fd < 0 || ftruncate(*fd, (off_t)len) < 0)
			goto err;
		*host = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, *fd, 0);
	} else {
		*host = mmap(NULL, len, PROT_READ | PROT_WRITE,
		             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	}
	if (*host != MAP_FAILED)
		return 0;
err:
	ret = -errno;
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	return ret;
}

void ram_unreserve(uint8_t *host, size_t len, int fd)
{
	munmap(host, len);
	if (fd >= 0)
		close(fd);
}

static int ram_map(struct ram_list *rl, struct ram_block *rb)
{
	size_t len = rb->max_length;
	uint8_t *host;
	int fd, ret;

	ret = ram_reserve(rl->backing, rb->idstr, len, &host, &fd);
	if (ret)
		return ret;
	if (fd >= 0)
		rb->flags |= RAM_SHARED;

	/*
	 * Guest memory must not be copied into a child on fork(): a fork would
	 * otherwise make every later guest write copy-on-write for KVM, and the
	 * child has no business with guest RAM.
	 */
	madvise(host, len, MADV_DONTFORK);
	/*
	 * No transparent huge pages: a guest that touches one 4 KiB page in
	 * every 2 MiB would otherwise populate all of them - the built-in guest
	 * writes a record at every MiB (measured on kvm_pvm, -m 2G -mem-backing
	 * anon, 4 s after start: 1.7 GiB resident with MADV_HUGEPAGE, 9 MiB
	 * without).  Guests are mostly idle memory; a page should cost memory
	 * only once it is used.  Saying so explicitly also holds on hosts whose
	 * THP setting is "always", and for a memfd where shmem_enabled allows.
	 */
	madvise(host, len, MADV_NOHUGEPAGE);
	rb->host = host;
	rb->fd = fd;
	rb->pagemap_fd = fd < 0 ? rl->pagemap_fd : -1;
	return 0;
}

int ram_block_alloc(struct ram_list *rl, const char *idstr, uint64_t size, uint64_t max_size,
                    unsigned flags, struct ram_block **out)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	struct ram_block *rb;
	int ret;

	if (!idstr || !*idstr || strlen(idstr) > RAM_IDSTR_MAX || !size)
		return -EINVAL;
	if (size > UINT64_MAX - page)
		return -EINVAL;
	size = ROUND_UP(size, page);
	max_size = (flags & RAM_RESIZEABLE) && max_size ? ROUND_UP(max_size, page) : size;
	if (max_size < size || max_size > SIZE_MAX / 2)
		return -EINVAL;

	rb = calloc(1, sizeof(*rb));
	if (!rb)
		return -ENOMEM;
	strcpy(rb->idstr, idstr);
	rb->used_length = size;
	rb->max_length = max_size;
	rb->page_size = page;
	rb->flags = flags & (RAM_READONLY | RAM_RESIZEABLE);
	rb->fd = -1;
	rb->pagemap_fd = -1;
	rb->mem_fd = -1;

	pthread_mutex_lock(&rl->lock);
	ret = ram_block_find(rl, idstr) ? -EEXIST : ram_find_offset(rl, max_size, &rb->offset);
	pthread_mutex_unlock(&rl->lock);
	if (ret)
		goto err_free;
	ret = ram_map(rl, rb);
	if (ret)
		goto err_free;

	pthread_mutex_lock(&rl->lock);
	/* Re-check: the list may have changed while we were mapping. */
	ret = ram_block_find(rl, idstr) ? -EEXIST : ram_find_offset(rl, max_size, &rb->offset);
	if (!ret) {
		ram_list_insert(rl, rb);
		rl->version++;
	}
	pthread_mutex_unlock(&rl->lock);
	if (ret)
		goto err_unmap;
	*out = rb;
	return 0;

err_unmap:
	ram_unreserve(rb->host, rb->max_length, rb->fd);
err_free:
	free(rb);
	return ret;
}

void ram_block_free(struct ram_list *rl, struct ram_block *rb)
{
	struct ram_block **pp;

	pthread_mutex_lock(&rl->lock);
	for (pp = &rl->head; *pp; pp = &(*pp)->next) {
		if (*pp == rb) {
			*pp = rb->next;
			rl->version++;
			break;
		}
	}
	pthread_mutex_unlock(&rl->lock);
	if (rb->map)
		munmap(rb->map, rb->map_len);
	else if (rb->host)
		munmap(rb->host, rb->max_length);
	if (rb->fd >= 0)
		close(rb->fd);
	free(rb->pieces);
	free(rb);
}

static int ram_add_piece(struct ram_block *rb, uint64_t offset, uint64_t len, uint64_t file_offset)
{
	struct ram_file_piece *p = realloc(rb->pieces, (rb->nr_pieces + 1) * sizeof(*p));
	size_t i;

	if (!p)
		return -ENOMEM;

	rb->pieces = p;
	/* In block order, which the hole search walks. */
	for (i = rb->nr_pieces; i > 0 && p[i - 1].offset > offset; i--)
		p[i] = p[i - 1];
	p[i] = (struct ram_file_piece){offset, len, file_offset};
	rb->nr_pieces++;
	return 0;
}

/* Insert a block that is already mapped, under its own name, at a best-fit offset. */
static int ram_list_add(struct ram_list *rl, struct ram_block *rb)
{
	int ret;

	pthread_mutex_lock(&rl->lock);
	ret = ram_block_find(rl, rb->idstr) ? -EEXIST
	                                    : ram_find_offset(rl, rb->max_length, &rb->offset);
	if (!ret) {
		ram_list_insert(rl, rb);
		rl->version++;
	}
	pthread_mutex_unlock(&rl->lock);
	return ret;
}

int ram_block_alloc_file(struct ram_list *rl, const char *idstr, uint64_t size, int fd,
                         uint64_t file_offset, uint64_t file_len, struct ram_block **out)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), skew = file_offset % page;
	struct ram_block *rb;
	uint8_t *map;
	int ret;

	if (!idstr || !*idstr || strlen(idstr) > RAM_IDSTR_MAX || !size || file_len > size ||
	    size > SIZE_MAX / 2)
		return -EINVAL;
	rb = calloc(1, sizeof(*rb));
	if (!rb)
		return -ENOMEM;
	strcpy(rb->idstr, idstr);
	rb->used_length = rb->max_length = ROUND_UP(size, page);
	rb->page_size = page;
	rb->flags = RAM_READONLY | RAM_FILE;
	rb->pagemap_fd = -1;
	rb->mem_fd = -1;
	rb->map_len = (size_t)ROUND_UP(skew + rb->max_length, page);
	/*
	 * Zeros first (what the file does not hold reads as zeros), then the
	 * file over them from the page holding file_offset: host is skew bytes
	 * into the mapping, since a core's PT_LOAD need not start on a page.
	 */
	map = mmap(NULL, rb->map_len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
	           0);
	if (map == MAP_FAILED) {
		ret = -errno;
		free(rb);
		return ret;
	}
	rb->map = map;
	rb->host = map + skew;
	rb->fd = -1;
	ret = -errno;
	if (file_len && mmap(map, (size_t)(skew + file_len), PROT_READ, MAP_PRIVATE | MAP_FIXED, fd,
	                     (off_t)(file_offset - skew)) == MAP_FAILED)
		goto err;
	rb->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (rb->fd < 0)
		goto err;
	ret = file_len ? ram_add_piece(rb, 0, file_len, file_offset) : 0;
	if (!ret)
		ret = ram_list_add(rl, rb);
	if (ret)
		goto err;
	*out = rb;
	return 0;
err:
	if (rb->fd >= 0)
		close(rb->fd);
	munmap(map, rb->map_len);
	free(rb->pieces);
	free(rb);
	return ret;
}

int ram_block_map_file(struct ram_block *rb, uint64_t offset, uint64_t len, int fd,
                       uint64_t file_offset)
{
	uint64_t page = rb->page_size;

	if (offset % page || file_offset % page || offset > rb->used_length ||
	    len > rb->used_length - offset)
		return -EINVAL;
	if (!len)
		return 0;
	if (mmap(rb->host + offset, (size_t)len, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd,
	         (off_t)file_offset) == MAP_FAILED)
		return -errno;
	if (!(rb->flags & RAM_FILE)) {
		/* The block's own memfd, if any, no longer says where its data is. */
		if (rb->fd >= 0)
			close(rb->fd);
		rb->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (rb->fd < 0)
			return -errno;
	}
	rb->flags |= RAM_READONLY | RAM_FILE;
	return ram_add_piece(rb, offset, len, file_offset);
}

int ram_block_resize(struct ram_list *rl, struct ram_block *rb, uint64_t new_size)
{
	uint64_t page = rb->page_size;
	int ret = 0;

	if (!new_size || new_size > UINT64_MAX - page)
		return -EINVAL;
	new_size = ROUND_UP(new_size, page);
	pthread_mutex_lock(&rl->lock);
	if (new_size == rb->used_length)
		goto out;
	if (!(rb->flags & RAM_RESIZEABLE) || new_size > rb->max_length) {
		ret = -EINVAL;
		goto out;
	}
	/* What the guest no longer sees is given back to the host. */
	if (new_size < rb->used_length && rb->host)
		madvise(rb->host + new_size, rb->used_length - new_size,
		        rb->fd >= 0 ? MADV_REMOVE : MADV_DONTNEED);
	rb->used_length = new_size;
	rl->version++;
out:
	pthread_mutex_unlock(&rl->lock);
	return ret;
}

int ram_block_add(struct ram_list *rl, const char *idstr, uint64_t offset, uint64_t used_length,
                  uint64_t max_length, uint64_t page_size, unsigned flags, struct ram_block **out)
{
	struct ram_block *rb;
	int ret = 0;

	if (!idstr || !*idstr || strlen(idstr) > RAM_IDSTR_MAX || !used_length ||
	    max_length < used_length || max_length > SIZE_MAX / 2 || !page_size ||
	    offset > UINT64_MAX - max_length)
		return -EINVAL;
	rb = calloc(1, sizeof(*rb));
	if (!rb)
		return -ENOMEM;
	strcpy(rb->idstr, idstr);
	rb->offset = offset;
	rb->used_length = used_length;
	rb->max_length = max_length;
	rb->page_size = page_size;
	rb->flags = flags & (RAM_READONLY | RAM_RESIZEABLE | RAM_SHARED);
	rb->fd = rb->pagemap_fd = rb->mem_fd = -1;
	pthread_mutex_lock(&rl->lock);
	if (ram_block_find(rl, idstr)) {
		ret = -EEXIST;
	} else {
		ram_list_insert(rl, rb);
		rl->version++;
	}
	pthread_mutex_unlock(&rl->lock);
	if (ret) {
		free(rb);
		return ret;
	}
	*out = rb;
	return 0;
}

void ram_block_set_remote(struct ram_block *rb, int mem_fd, int pagemap_fd, uint64_t addr)
{
	rb->flags |= RAM_REMOTE;
	rb->mem_fd = mem_fd;
	rb->pagemap_fd = pagemap_fd;
	rb->remote = addr;
}

int ram_block_set_fd(struct ram_block *rb, int fd, uint64_t file_offset, bool writable)
{
	uint8_t *host;
	int ret;

	if (rb->host || file_offset % (uint64_t)sysconf(_SC_PAGESIZE))
		return -EINVAL;
	rb->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (rb->fd < 0)
		return -errno;
	/* Shared: the same pages as the other process's, never a copy of them. */
	host = mmap(NULL, rb->max_length, PROT_READ | (writable ? PROT_WRITE : 0),
	            MAP_SHARED | MAP_NORESERVE, rb->fd, (off_t)file_offset);
	if (host == MAP_FAILED) {
		ret = -errno;
		close(rb->fd);
		rb->fd = -1;
		return ret;
	}
	madvise(host, rb->max_length, MADV_DONTFORK);
	rb->host = host;
	rb->flags |= RAM_SHARED;
	return 0;
}

bool ram_block_has_bytes(const struct ram_block *rb)
{
	return rb->host || (rb->flags & RAM_REMOTE);
}

/* /proc/PID/mem at the block's address: short means the process (or its mapping) went away. */
static int ram_remote_io(struct ram_block *rb, uint64_t off, void *buf, size_t len, bool write)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write ? pwrite(rb->mem_fd, (const char *)buf + done, len - done,
		                           (off_t)(rb->remote + off + done))
		                  : pread(rb->mem_fd, (char *)buf + done, len - done,
		                          (off_t)(rb->remote + off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

int ram_block_read(struct ram_block *rb, uint64_t off, void *buf, size_t len)
{
	if (off > rb->max_length || len > rb->max_length - off)
		return -EFAULT;
	if (rb->flags & RAM_REMOTE)
		return ram_remote_io(rb, off, buf, len, false);
	if (!rb->host)
		return -EIO;
	memcpy(buf, rb->host + off, len);
	return 0;
}

int ram_block_write(struct ram_block *rb, uint64_t off, const void *buf, size_t len)
{
	if (off > rb->max_length || len > rb->max_length - off)
		return -EFAULT;
	if (rb->flags & RAM_REMOTE)
		return ram_remote_io(rb, off, (void *)buf, len, true);
	if (!rb->host)
		return -EIO;
	memcpy(rb->host + off, buf, len);
	return 0;
}

struct ram_block *ram_block_find(struct ram_list *rl, const char *idstr)
{
	struct ram_block *rb;

	for (rb = rl->head; rb; rb = rb->next)
		if (!strcmp(rb->idstr, idstr))
			return rb;
	return NULL;
}

void ram_list_exit(struct ram_list *rl)
{
	while (rl->head)
		ram_block_free(rl, rl->head);
	if (rl->pagemap_fd >= 0)
		close(rl->pagemap_fd);
	pthread_mutex_destroy(&rl->lock);
}

/* ---- holes ---- */

/* Runs handed to a ram_extent_fn, pieces of one kind merged first. */
struct ram_runs {
	ram_extent_fn fn;
	void *opaque;
	uint64_t start, len;
	bool data;
};

static int ram_runs_add(struct ram_runs *r, uint64_t off, uint64_t len, bool data)
{
	int ret;

	if (!len)
		return 0;
	if (r->len && r->data == data && r->start + r->len == off) {
		r->len += len;
		return 0;
	}
	if (r->len) {
		ret = r->fn(r->opaque, r->start, r->len, r->data);
		if (ret)
			return ret;
	}
	*r = (struct ram_runs){r->fn, r->opaque, off, len, data};
	return 0;
}

static int ram_runs_end(struct ram_runs *r)
{
	return r->len ? r->fn(r->opaque, r->start, r->len, r->data) : 0;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/*
 * A memfd: SEEK_DATA jumps over a hole in one call, however long; but
 * SEEK_HOLE walks the page cache page by page up to the end of the data
 * (14 ms for 2 GiB of it), too slow to ask per read.  So where data starts
 * is SEEK_DATA's answer, and how far it goes is mincore()'s over at most
 * RAM_SCAN_PAGES: a page in the page cache is data.  A page mincore does not
 * count (swapped out) ends the run, and the next SEEK_DATA says it is data.
 */
static int ram_memfd_extents(struct ram_block *rb, uint64_t pos, uint64_t end,
                             struct ram_runs *runs)
{
	uint64_t ps = rb->page_size;
	unsigned char vec[RAM_SCAN_PAGES];
	int ret = 0;

	while (!ret && pos < end) {
		off_t d = lseek(rb->fd, (off_t)pos, SEEK_DATA);
		uint64_t page, n, i;

		if (d < 0 && errno != ENXIO) /* cannot tell: data */
			return ram_runs_add(runs, pos, end - pos, true);
		if (d < 0 || (uint64_t)d >= end)
			return ram_runs_add(runs, pos, end - pos, false);
		ret = ram_runs_add(runs, pos, (uint64_t)d - pos, false);
		pos = (uint64_t)d;
		page = pos & ~(ps - 1);
		n = min_u64(RAM_SCAN_PAGES, (end - page + ps - 1) / ps);
		if (mincore(rb->host + page, n * ps, vec)) {
			i = n; /* cannot tell: data */
		} else {
			/* The first page is data whatever mincore says: SEEK_DATA found it. */
			for (i = 1; i < n && (vec[i] & 1); i++)
				;
		}
		if (!ret)
			ret = ram_runs_add(runs, pos, min_u64(end, page + i * ps) - pos, true);
		pos = min_u64(end, page + i * ps);
	}
	return ret;
}

/* Anonymous memory: a page is data if it is present (the zero page too) or swapped. */
static int ram_anon_extents(struct ram_block *rb, uint64_t pos, uint64_t end, struct ram_runs *runs)
{
	/* pagemap has an entry per base page, whatever page size the block reports. */
	uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t base = rb->flags & RAM_REMOTE ? rb->remote : (uint64_t)(uintptr_t)rb->host;
	uint64_t pm[RAM_SCAN_PAGES];
	int ret = 0;

	while (!ret && pos < end) {
		uint64_t page = pos & ~(ps - 1), n, i;
		uint64_t vpn = (base + page) / ps;
		ssize_t got;

		n = min_u64(RAM_SCAN_PAGES, (end - page + ps - 1) / ps);
		got = pread(rb->pagemap_fd, pm, n * sizeof(pm[0]), (off_t)(vpn * sizeof(pm[0])));
		if (got < (ssize_t)sizeof(pm[0])) /* cannot tell: data */
			return ram_runs_add(runs, pos, end - pos, true);
		n = (uint64_t)got / sizeof(pm[0]);
		for (i = 0; !ret && i < n; i++) {
			uint64_t lo = page + i * ps > pos ? page + i * ps : pos;
			uint64_t hi = min_u64(end, page + (i + 1) * ps);

			ret = ram_runs_add(runs, lo, hi - lo,
			                   pm[i] & (RAM_PM_PRESENT | RAM_PM_SWAPPED));
		}
		pos = min_u64(end, page + n * ps);
	}
	return ret;
}

/*
 * A file's block (a dump): data where the file has data inside a piece -
 * SEEK_DATA and SEEK_HOLE, which a regular file answers in one call each -
 * and holes between pieces and past them, where nothing of the file is.
 */
static int ram_file_extents(struct ram_block *rb, uint64_t pos, uint64_t end, struct ram_runs *runs)
{
	size_t i;
	int ret = 0;

	for (i = 0; !ret && i < rb->nr_pieces && pos < end; i++) {
		const struct ram_file_piece *p = &rb->pieces[i];
		uint64_t pend = min_u64(end, p->offset + p->len);

		if (pend <= pos)
			continue;
		if (p->offset > pos) {
			ret = ram_runs_add(runs, pos, p->offset - pos, false);
			pos = p->offset;
		}
		while (!ret && pos < pend) {
			uint64_t f = p->file_offset + (pos - p->offset), d, h;
			off_t r = lseek(rb->fd, (off_t)f, SEEK_DATA);

			if (r < 0 && errno != ENXIO) /* cannot tell: data */
				return ram_runs_add(runs, pos, pend - pos, true);
			d = r < 0 ? UINT64_MAX : (uint64_t)r;
			if (d - p->file_offset >= pend - p->offset) {
				ret = ram_runs_add(runs, pos, pend - pos, false);
				pos = pend;
				break;
			}
			ret = ram_runs_add(runs, pos, p->offset + (d - p->file_offset) - pos,
			                   false);
			pos = p->offset + (d - p->file_offset);
			r = lseek(rb->fd, (off_t)d, SEEK_HOLE);
			h = r < 0 ? UINT64_MAX : (uint64_t)r;
			h = min_u64(pend, h - p->file_offset + p->offset);
			if (!ret)
				ret = ram_runs_add(runs, pos, h - pos, true);
			pos = h;
		}
	}
	if (!ret && pos < end)
		ret = ram_runs_add(runs, pos, end - pos, false);
	return ret;
}

int ram_block_extents(struct ram_block *rb, uint64_t off, uint64_t len, ram_extent_fn fn,
                      void *opaque)
{
	struct ram_runs runs = {.fn = fn, .opaque = opaque};
	uint64_t end;
	int ret;

	if (off >= rb->used_length || !len)
		return 0;
	end = len < rb->used_length - off ? off + len : rb->used_length;
	if (rb->flags & RAM_FILE)
		ret = ram_file_extents(rb, off, end, &runs);
	else if (rb->fd >= 0)
		ret = ram_memfd_extents(rb, off, end, &runs);
	else if (rb->pagemap_fd >= 0)
		ret = ram_anon_extents(rb, off, end, &runs);
	else
		ret = ram_runs_add(&runs, off, end - off, true);
	return ret ? ret : ram_runs_end(&runs);
}

/* Bytes of another process's memory copied per piece (RAM_REMOTE blocks). */
#define RAM_BOUNCE (256u << 10)

/* ram_block_pieces' walk: the block, and the buffer its copies go through. */
struct ram_pieces {
	struct ram_block *rb;
	uint8_t *bounce; /* RAM_BOUNCE bytes, once a RAM_REMOTE block's data is read */
	ram_piece_fn fn;
	void *opaque;
};

static int ram_pieces_run(void *opaque, uint64_t off, uint64_t len, bool data)
{
	struct ram_pieces *p = opaque;
	int stop = 0;

	if (!data || !(p->rb->flags & RAM_REMOTE))
		return p->fn(p->opaque, data ? p->rb->host + off : NULL, (size_t)len);
	/* Another process's memory is copied out piece by piece; a failed read ends the walk. */
	if (!p->bounce && !(p->bounce = malloc(RAM_BOUNCE)))
		return -ENOMEM;
	while (!stop && len) {
		size_t n = len < RAM_BOUNCE ? (size_t)len : RAM_BOUNCE;

		if (ram_block_read(p->rb, off, p->bounce, n))
			return -EIO;
		stop = p->fn(p->opaque, p->bounce, n);
		off += n;
		len -= n;
	}
	return stop;
}

int ram_block_pieces(struct ram_block *rb, uint64_t off, uint64_t len, ram_piece_fn fn,
                     void *opaque)
{
	struct ram_pieces p = {.rb = rb, .fn = fn, .opaque = opaque};
	int ret = ram_block_extents(rb, off, len, ram_pieces_run, &p);

	free(p.bounce);
	return ret;
}

/* ram_block_seek's search: the first run of the wanted kind ends the walk. */
struct ram_seek {
	bool want_data;
	uint64_t found;
};

static int ram_seek_run(void *opaque, uint64_t off, uint64_t len, bool data)
{
	struct ram_seek *s = opaque;

	(void)len;
	if (data != s->want_data)
		return 0;
	s->found = off;
	return 1;
}

int ram_block_seek(struct ram_block *rb, uint64_t off, int whence, uint64_t *out)
{
	struct ram_seek s = {.want_data = whence == SEEK_DATA};
	uint64_t len = rb->used_length;
	off_t r;

	if (off >= len)
		return -ENXIO;
	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	/* A memfd answers both itself, and faster than a walk of its runs. */
	if (rb->fd >= 0 && !(rb->flags & RAM_FILE)) {
		r = lseek(rb->fd, (off_t)off, whence);
		if (r < 0 && errno == ENXIO)
			return -ENXIO;
		if (r >= 0) {
			if (whence == SEEK_DATA && (uint64_t)r >= len)
				return -ENXIO;
			*out = min_u64((uint64_t)r, len);
			return 0;
		}
	}
	if (ram_block_extents(rb, off, len - off, ram_seek_run, &s)) {
		*out = s.found;
		return 0;
	}
	if (whence == SEEK_DATA)
		return -ENXIO;
	*out = len;
	return 0;
}

/* QEMU's size_to_str(), for the PSize column: "4 KiB", "2 MiB". */
static void page_size_str(uint64_t v, char *buf, size_t len)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB"};
	unsigned i = 0;

	while (i + 1 < ARRAY_SIZE(unit) && v >= 1024 && !(v % 1024)) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, "%llu %s", (unsigned long long)v, unit[i]);
}

void ram_list_render(struct ram_list *rl, struct strbuf *sb)
{
	struct ram_block *rb;
	char ps[32];

	sb_printf(sb, "%24s %8s  %18s %18s %18s\n", "Block Name", "PSize", "Offset", "Used",
	          "Total");
	pthread_mutex_lock(&rl->lock);
	for (rb = rl->head; rb; rb = rb->next) {
		page_size_str(rb->page_size, ps, sizeof(ps));
		sb_name(sb, rb->idstr, 24);
		sb_printf(sb, " %8s  0x%016llx 0x%016llx 0x%016llx\n", ps,
		          (unsigned long long)rb->offset, (unsigned long long)rb->used_length,
		          (unsigned long long)rb->max_length);
	}
	pthread_mutex_unlock(&rl->lock);
}

void ram_list_render_json(struct ram_list *rl, ram_io_fn io, void *opaque, struct strbuf *sb)
{
	struct ram_block *rb;
	const char *sep = "";

	sb_printf(sb, "[");
	pthread_mutex_lock(&rl->lock);
	for (rb = rl->head; rb; rb = rb->next) {
		sb_printf(sb, "%s\n  {\"idstr\": ", sep);
		sb_json_str(sb, rb->idstr);
		sb_printf(sb,
		          ", \"offset\": %llu, \"used_length\": %llu, \"max_length\": %llu, "
		          "\"page_size\": %llu, \"host\": %llu, \"shared\": %s, \"readonly\": %s, "
		          "\"resizeable\": %s, \"fd_backed\": %s",
		          (unsigned long long)rb->offset, (unsigned long long)rb->used_length,
		          (unsigned long long)rb->max_length, (unsigned long long)rb->page_size,
		          (unsigned long long)(uintptr_t)rb->host,
		          rb->flags & RAM_SHARED ? "true" : "false",
		          rb->flags & RAM_READONLY ? "true" : "false",
		          rb->flags & RAM_RESIZEABLE ? "true" : "false",
		          rb->fd >= 0 ? "true" : "false");
		if (io) {
			sb_printf(sb, ", \"io\": ");
			sb_json_str(sb, io(opaque, rb));
		}
		sb_printf(sb, "}");
		sep = ",";
	}
	pthread_mutex_unlock(&rl->lock);
	sb_printf(sb, "\n]\n");
}
