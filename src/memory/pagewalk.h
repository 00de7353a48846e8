/*
 * pagewalk.h - x86-64 page-table walks, as the MMU does them: 4-level
 * paging, or 5-level when CR4.LA57 is set; identity when CR0.PG is clear.
 *
 * Pure: the caller supplies the control registers and a reader for 8-byte
 * guest-physical words, so the walk runs the same on a live guest, a dump
 * or a hand-built table in a unit test.  A walk reports every entry it
 * read, so `vcpus/<n>/translate` can show where a translation ends.
 */
#ifndef KVMFS_MEMORY_PAGEWALK_H
#define KVMFS_MEMORY_PAGEWALK_H

#include <stdbool.h>
#include <stdint.h>

struct strbuf;

#define PAGEWALK_MAX_LEVELS 5

/* Architectural bits the walk looks at. */
#define PW_CR0_PG    (1ULL << 31)
#define PW_CR4_PAE   (1ULL << 5)
#define PW_CR4_LA57  (1ULL << 12)
#define PW_EFER_LMA  (1ULL << 10)
#define PW_EFER_NXE  (1ULL << 11)
#define PW_PTE_P     (1ULL << 0)
#define PW_PTE_RW    (1ULL << 1)
#define PW_PTE_US    (1ULL << 2)
#define PW_PTE_PS    (1ULL << 7)
#define PW_PTE_NX    (1ULL << 63)
#define PW_ADDR_MASK 0x000ffffffffff000ULL /* bits 51:12, MAXPHYADDR 52 */

struct pagewalk_cpu {
	uint64_t cr0, cr3, cr4, efer;
};

/* Read the 8-byte little-endian word at gpa; -errno when it is not memory. */
typedef int (*pagewalk_read_fn)(void *opaque, uint64_t gpa, uint64_t *val);

enum pagewalk_status {
	PW_OK,
	PW_NOT_PRESENT, /* the entry at the last level read has P clear */
	PW_UNREADABLE,  /* a table lies outside guest RAM */
	PW_NONCANONICAL,
	PW_UNSUPPORTED, /* paging without long mode (32-bit or PAE) */
};

struct pagewalk_step {
	unsigned level;     /* 5 PML5E, 4 PML4E, 3 PDPTE, 2 PDE, 1 PTE */
	unsigned index;     /* in the table */
	uint64_t entry_gpa; /* where the entry was read */
	uint64_t entry;
};

struct pagewalk_result {
	enum pagewalk_status status;
	uint64_t va;
	unsigned levels; /* 0 (no paging), 4 or 5 */
	struct pagewalk_step steps[PAGEWALK_MAX_LEVELS];
	unsigned nr_steps;
	/*
	 * The naturally aligned span around va that this result holds for:
	 * the page (4K, 2M, 1G) when mapped, the region an absent entry
	 * covers when not.  A scan moves on by it.
	 */
	uint64_t span;
	/* PW_OK only: */
	uint64_t pa;
	bool writable, user, nx; /* the effective rights of the whole path */
};

/* Bits of virtual address the mode translates: 48, 57, or 32 without paging. */
unsigned pagewalk_va_bits(const struct pagewalk_cpu *cpu);
/* Sign-extend a va_bits-wide offset to the canonical address it stands for. */
uint64_t pagewalk_canonical(const struct pagewalk_cpu *cpu, uint64_t low);

/* Translate va.  Returns 0, with the outcome (mapped or not) in r->status. */
int pagewalk(const struct pagewalk_cpu *cpu, uint64_t va, pagewalk_read_fn read, void *opaque,
             struct pagewalk_result *r);

/*
 * From low-bits offset `from` (see pagewalk_canonical) find the first offset
 * below `end` whose page is mapped (want_mapped) or not.  Skips whole absent
 * subtrees; gives up after max_steps walks with -EAGAIN.  -ENXIO: none.
 */
int pagewalk_seek(const struct pagewalk_cpu *cpu, uint64_t from, uint64_t end, bool want_mapped,
                  unsigned max_steps, pagewalk_read_fn read, void *opaque, uint64_t *out);

/* The walk as text, one line per entry read and a last line with the outcome. */
void pagewalk_render(const struct pagewalk_result *r, struct strbuf *sb);

#endif
