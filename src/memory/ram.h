/*
 * ram.h - RAM blocks and the ram list, as QEMU keeps them.
 *
 * A RAM block is one contiguous piece of host memory that backs guest RAM or
 * ROM.  Each has an offset in "ram_addr" space, a linear space of its own in
 * which blocks never overlap; offsets are chosen best-fit like QEMU's
 * find_ram_offset(), so that `ramblocks.json` equals QEMU's `info ramblock`.
 */
#ifndef KVMFS_MEMORY_RAM_H
#define KVMFS_MEMORY_RAM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct memory_region;

#define RAM_IDSTR_MAX 255
/* Candidate offsets are rounded up to this, as QEMU does (ram_addr space). */
#define RAM_OFFSET_ALIGN 0x40000ULL

enum ram_flags {
	RAM_SHARED = 1u << 0,     /* MAP_SHARED mapping (memfd backing) */
	RAM_READONLY = 1u << 1,   /* the guest cannot write it (ROM) */
	RAM_RESIZEABLE = 1u << 2, /* used_length may grow up to max_length */
	RAM_FILE = 1u << 3,       /* a file's bytes (a dump): see ram_file_piece */
	RAM_REMOTE = 1u << 4,     /* another process's memory (an attached QEMU): see remote */
};

enum ram_backing {
	RAM_BACKING_MEMFD, /* default: pages can be shared with other processes */
	RAM_BACKING_ANON,
};

/*
 * Where a block's bytes come from a file (a dump, see dump.h): [offset,
 * offset+len) of the block is [file_offset, file_offset+len) of rb->fd,
 * mapped private and read-only.  The rest of such a block reads as zeros.
 */
struct ram_file_piece {
	uint64_t offset, len, file_offset;
};

struct ram_block {
	char idstr[RAM_IDSTR_MAX + 1];
	uint8_t *host;        /* max_length bytes, page aligned but in a file's block (see map) */
	uint64_t offset;      /* in ram_addr space */
	uint64_t used_length; /* what the guest sees */
	uint64_t max_length;  /* what is reserved */
	uint64_t page_size;
	unsigned flags;           /* enum ram_flags */
	int fd;                   /* memfd, a dump file (see pieces), or -1 for anonymous memory */
	int pagemap_fd;           /* anonymous: the list's /proc/self/pagemap (not owned), or -1 */
	struct memory_region *mr; /* the region that owns the block */
	struct ram_block *next;
	/* A file's block: its pieces (none: fd is a memfd, offset for offset) ... */
	struct ram_file_piece *pieces;
	size_t nr_pieces;
	/* ... and the mapping host lies in when the file offset is not page aligned. */
	uint8_t *map;
	size_t map_len;
	/*
	 * RAM_REMOTE: the bytes are at address remote of the process whose
	 * /proc/PID/mem is mem_fd (not owned); host is NULL, and pagemap_fd, when
	 * not -1, is that process's pagemap (not owned either).
	 */
	uint64_t remote;
	int mem_fd;
};

/*
 * The ram list.  Locking: `lock` guards the list's shape (head, next, and
 * every block's offset/used_length) and `version`.  Take it to walk the
 * list from any thread other than the one that builds the machine; it is
 * never held while guest memory itself is read or written - block contents
 * belong to the guest and are not locked at all.
 */
struct ram_list {
	pthread_mutex_t lock;
	struct ram_block *head; /* sorted by max_length, largest first */
	uint64_t version;       /* bumped on every add, free and resize */
	enum ram_backing backing;
	int pagemap_fd; /* anonymous backing: how holes are told from data (-1: they are not) */
};

void ram_list_init(struct ram_list *rl, enum ram_backing backing);
void ram_list_exit(struct ram_list *rl); /* frees every block */

/*
 * Allocate a block of `size` bytes (rounded up to the host page), reserving
 * `max_size` (0: same as size) when RAM_RESIZEABLE.  -EEXIST for a duplicate
 * idstr, -EINVAL for a bad name or size, -ENOSPC when no offset fits.
 */
int ram_block_alloc(struct ram_list *rl, const char *idstr, uint64_t size, uint64_t max_size,
                    unsigned flags, struct ram_block **out);
void ram_block_free(struct ram_list *rl, struct ram_block *rb);
/*
 * The host mapping behind a block, alone: len bytes reserved as `backing`
 * says (a memfd named name, mapped shared, or private anonymous memory),
 * MAP_NORESERVE, nothing touched.  -errno from memfd_create, ftruncate or
 * mmap.  ram_limits.c reserves the same way to learn what fits.
 */
int ram_reserve(enum ram_backing backing, const char *name, size_t len, uint8_t **host, int *fd);
void ram_unreserve(uint8_t *host, size_t len, int fd);
/*
 * A read-only block of size bytes whose bytes are [file_offset,
 * file_offset+file_len) of fd (file_len <= size; the rest reads as zeros),
 * mapped private: an ELF core's PT_LOAD, at whatever offset the core has it.
 */
int ram_block_alloc_file(struct ram_list *rl, const char *idstr, uint64_t size, int fd,
                         uint64_t file_offset, uint64_t file_len, struct ram_block **out);
/*
 * Show [file_offset, file_offset+len) of fd at [offset, offset+len) of rb,
 * read-only: a raw image behind a board's blocks.  Both offsets page
 * aligned; len ends at the file's end or on a page.
 */
int ram_block_map_file(struct ram_block *rb, uint64_t offset, uint64_t len, int fd,
                       uint64_t file_offset);
int ram_block_resize(struct ram_list *rl, struct ram_block *rb, uint64_t new_size);
/*
 * A block whose place in ram_addr space someone else chose (an attached
 * QEMU's `info ramblock`): inserted as it is, without memory.  Its bytes
 * come later from ram_block_set_remote or ram_block_set_fd; until then it
 * has none (ram_block_has_bytes) and reads of it fail.
 */
int ram_block_add(struct ram_list *rl, const char *idstr, uint64_t offset, uint64_t used_length,
                  uint64_t max_length, uint64_t page_size, unsigned flags, struct ram_block **out);
/* rb's bytes are at addr in the process of mem_fd (/proc/PID/mem) and pagemap_fd (or -1). */
void ram_block_set_remote(struct ram_block *rb, int mem_fd, int pagemap_fd, uint64_t addr);
/*
 * rb's bytes are [file_offset, file_offset + max_length) of fd (a memfd or
 * a shared file another process maps), mapped shared here: read-only
 * unless writable.  fd is duplicated.
 */
int ram_block_set_fd(struct ram_block *rb, int fd, uint64_t file_offset, bool writable);
bool ram_block_has_bytes(const struct ram_block *rb);
/*
 * Copy [off, off+len) of rb out of, or into, its memory wherever it lies;
 * -EFAULT past max_length, -EIO when the process that holds it is gone.
 */
int ram_block_read(struct ram_block *rb, uint64_t off, void *buf, size_t len);
int ram_block_write(struct ram_block *rb, uint64_t off, const void *buf, size_t len);
struct ram_block *ram_block_find(struct ram_list *rl, const char *idstr);

/*
 * Holes.  A page of a block that nobody populated - not the guest, not a
 * write through the tree - reads as zeros and costs no memory.  Reading it
 * through rb->host would populate it (a read fault on a memfd allocates and
 * zeroes a page), so a reader that must not allocate asks first.  The
 * kernel knows: for a memfd its page cache (SEEK_DATA for where data
 * starts, mincore for how far it goes, SEEK_DATA again for swapped pages,
 * which mincore does not count), for anonymous memory the page tables
 * (/proc/self/pagemap: present or swapped).  The answer is exact when it is
 * given; the guest may populate a page right after (the FS's cache copes:
 * see fs_ram.c).  Where the kernel cannot answer, everything is data:
 * never wrong, only costly.
 */
typedef int (*ram_extent_fn)(void *opaque, uint64_t off, uint64_t len, bool data);
/*
 * Calls fn, in order, for the runs of data and of holes that make up
 * [off, off+len) of rb, clipped to used_length; runs of one kind are merged,
 * so data and holes alternate.  Stops at the first non-zero value fn
 * returns and returns it; 0 when all was covered.
 */
int ram_block_extents(struct ram_block *rb, uint64_t off, uint64_t len, ram_extent_fn fn,
                      void *opaque);
/*
 * One piece of a block for a reader: len bytes at bytes, or len zeros when
 * bytes is NULL.  Non-zero stops the walk.
 */
typedef int (*ram_piece_fn)(void *opaque, const void *bytes, size_t len);
/*
 * ram_block_extents with the bytes: holes come as NULL, data as rb's own
 * memory or, for another process's (RAM_REMOTE), as copies that the next
 * piece overwrites, so a reader that keeps pointers copies them first.
 * Returns what fn stopped with, -EIO when another process's memory could
 * not be read (it is gone), -ENOMEM, or 0 when all was covered.
 */
int ram_block_pieces(struct ram_block *rb, uint64_t off, uint64_t len, ram_piece_fn fn,
                     void *opaque);
/*
 * lseek(SEEK_DATA/SEEK_HOLE) over [0, used_length): *out is the next data
 * (resp. hole) offset at or after off; -ENXIO when off >= used_length or,
 * for SEEK_DATA, no data follows.  The end of the block counts as a hole.
 */
int ram_block_seek(struct ram_block *rb, uint64_t off, int whence, uint64_t *out);

/* Best-fit search for `size` bytes of ram_addr space; the list lock held. */
int ram_find_offset(const struct ram_list *rl, uint64_t size, uint64_t *offset);

/*
 * The `info ramblock` table, and its JSON twin.  Takes the list lock.  io,
 * when not NULL, names how the block's bytes are served to readers (the
 * JSON's "io"); it is called with the list lock held.
 */
struct strbuf;
typedef const char *(*ram_io_fn)(void *opaque, struct ram_block *rb);
void ram_list_render(struct ram_list *rl, struct strbuf *sb);
void ram_list_render_json(struct ram_list *rl, ram_io_fn io, void *opaque, struct strbuf *sb);

#endif
