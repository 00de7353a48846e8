/*
 * ram.c - RAM blocks and the ram list.
 *
 * Blocks are host mappings reserved with MAP_NORESERVE and never touched
 * here, so start-up time and resident memory do not grow with the guest's
 * RAM size: a page costs memory only once the guest (or a reader) touches it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvmfs/ram.h"
#include "kvmfs/strbuf.h"

#define HUGE_2M (2ULL << 20)

void ram_list_init(struct ram_list *rl, enum ram_backing backing)
{
	memset(rl, 0, sizeof(*rl));
	pthread_mutex_init(&rl->lock, NULL);
	rl->backing = backing;
}

static uint64_t round_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) & ~(align - 1);
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
		cand = round_up(b->offset + b->max_length, RAM_OFFSET_ALIGN);
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

static int ram_map(struct ram_list *rl, struct ram_block *rb)
{
	size_t len = rb->max_length;
	uint8_t *resv, *host;
	size_t align = len % HUGE_2M ? (size_t)rb->page_size : HUGE_2M;
	int fd = -1;

	/*
	 * Reserve with room to align the block to 2 MiB, so that the host can
	 * back it with transparent huge pages and KVM can map it with large
	 * pages; the reservation is address space only (PROT_NONE).
	 */
	resv = mmap(NULL, len + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
	            0);
	if (resv == MAP_FAILED)
		return -errno;
	host = (uint8_t *)round_up((uint64_t)(uintptr_t)resv, align);

	if (rl->backing == RAM_BACKING_MEMFD) {
		/* A memfd so the same pages can later be handed to other processes. */
		fd = memfd_create(rb->idstr, MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, (off_t)len) < 0)
			goto err;
		if (mmap(host, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_NORESERVE,
		         fd, 0) == MAP_FAILED)
			goto err;
		rb->flags |= RAM_SHARED;
	} else if (mmap(host, len, PROT_READ | PROT_WRITE,
	                MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1,
	                0) == MAP_FAILED) {
		goto err;
	}
	if (host > resv)
		munmap(resv, (size_t)(host - resv));
	if (host + len < resv + len + align)
		munmap(host + len, (size_t)(resv + len + align - (host + len)));

	/*
	 * Guest memory must not be copied into a child on fork(): a fork would
	 * otherwise make every later guest write copy-on-write for KVM, and the
	 * child has no business with guest RAM.
	 */
	madvise(host, len, MADV_DONTFORK);
	/*
	 * Huge pages where the block is whole 2 MiB pages: fewer TLB misses for
	 * the guest and for readers.  Advisory only; shmem (memfd) honours it
	 * only when /sys/kernel/mm/transparent_hugepage/shmem_enabled allows.
	 */
	if (align == HUGE_2M)
		madvise(host, len, MADV_HUGEPAGE);
	rb->host = host;
	rb->fd = fd;
	return 0;
err : {
	int ret = -errno;

	if (fd >= 0)
		close(fd);
	munmap(resv, len + align);
	return ret;
}
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
	size = round_up(size, page);
	max_size = (flags & RAM_RESIZEABLE) && max_size ? round_up(max_size, page) : size;
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
	munmap(rb->host, rb->max_length);
	if (rb->fd >= 0)
		close(rb->fd);
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

	if (!p)
		return -ENOMEM;
	rb->pieces = p;
	p[rb->nr_pieces++] = (struct ram_file_piece){offset, len, file_offset};
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
	rb->used_length = rb->max_length = round_up(size, page);
	rb->page_size = page;
	rb->flags = RAM_READONLY;
	rb->map_len = (size_t)round_up(skew + rb->max_length, page);
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
	if (rb->fd < 0 || !rb->nr_pieces) {
		/* The block's own memfd, if any, no longer says where its data is. */
		if (rb->fd >= 0)
			close(rb->fd);
		rb->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (rb->fd < 0)
			return -errno;
	}
	rb->flags |= RAM_READONLY;
	return ram_add_piece(rb, offset, len, file_offset);
}

int ram_block_resize(struct ram_list *rl, struct ram_block *rb, uint64_t new_size)
{
	uint64_t page = rb->page_size;
	int ret = 0;

	if (!new_size || new_size > UINT64_MAX - page)
		return -EINVAL;
	new_size = round_up(new_size, page);
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
	pthread_mutex_destroy(&rl->lock);
}

/* QEMU's size_to_str(), for the PSize column: "4 KiB", "2 MiB". */
static void page_size_str(uint64_t v, char *buf, size_t len)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB"};
	unsigned i = 0;

	while (i + 1 < sizeof(unit) / sizeof(unit[0]) && v >= 1024 && !(v % 1024)) {
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

void ram_list_render_json(struct ram_list *rl, struct strbuf *sb)
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
		          "\"resizeable\": %s, \"fd_backed\": %s}",
		          (unsigned long long)rb->offset, (unsigned long long)rb->used_length,
		          (unsigned long long)rb->max_length, (unsigned long long)rb->page_size,
		          (unsigned long long)(uintptr_t)rb->host,
		          rb->flags & RAM_SHARED ? "true" : "false",
		          rb->flags & RAM_READONLY ? "true" : "false",
		          rb->flags & RAM_RESIZEABLE ? "true" : "false",
		          rb->fd >= 0 ? "true" : "false");
		sep = ",";
	}
	pthread_mutex_unlock(&rl->lock);
	sb_printf(sb, "\n]\n");
}
