/*
 * pagewalk.c - x86-64 page-table walks (see pagewalk.h).
 *
 * Follows the SDM's 4-level and 5-level paging: each level indexes its
 * table with 9 bits of the address, PS in a PDPTE or PDE ends the walk at a
 * 1 GiB or 2 MiB page, and the rights of a page are those of the whole path
 * (writable and user only if every entry says so; no-execute if any entry
 * does and EFER.NXE makes the bit meaningful).  Reserved-bit faults, PKU,
 * SMEP/SMAP and the accessed/dirty updates are not modelled: a reader only
 * wants to know where a byte is, not whether an access would trap.
 */
#include <errno.h>
#include <inttypes.h>

#include "memory/pagewalk.h"
#include "util/compiler.h"
#include "util/strbuf.h"

#define PW_PAGE_SHIFT 12
#define PW_LEVEL_BITS 9

static const char *const pagewalk_level_names[PAGEWALK_MAX_LEVELS + 1] = {
        [1] = "PTE", [2] = "PDE", [3] = "PDPTE", [4] = "PML4E", [5] = "PML5E",
};

static bool pagewalk_long_mode(const struct pagewalk_cpu *cpu)
{
	return (cpu->cr0 & PW_CR0_PG) && (cpu->efer & PW_EFER_LMA);
}

unsigned pagewalk_va_bits(const struct pagewalk_cpu *cpu)
{
	if (!pagewalk_long_mode(cpu))
		return 32;
	return cpu->cr4 & PW_CR4_LA57 ? 57 : 48;
}

uint64_t pagewalk_canonical(const struct pagewalk_cpu *cpu, uint64_t low)
{
	unsigned bits = pagewalk_va_bits(cpu);

	/* Without long mode linear addresses are 32 bits wide, never sign-extended. */
	if (bits == 32 || !(low & (1ULL << (bits - 1))))
		return low;
	return low | ~((1ULL << bits) - 1);
}

static bool pagewalk_is_canonical(const struct pagewalk_cpu *cpu, uint64_t va)
{
	unsigned bits = pagewalk_va_bits(cpu);

	return pagewalk_canonical(cpu, va & ((1ULL << bits) - 1)) == va;
}

int pagewalk(const struct pagewalk_cpu *cpu, uint64_t va, pagewalk_read_fn read, void *opaque,
             struct pagewalk_result *r)
{
	bool nxe = cpu->efer & PW_EFER_NXE;
	uint64_t table;
	unsigned level;

	*r = (struct pagewalk_result){.va = va, .writable = true, .user = true};
	if (!(cpu->cr0 & PW_CR0_PG)) {
		/* Linear is physical; the whole 4 GiB space is one "page". */
		r->status = PW_OK;
		r->pa = va;
		r->span = 1ULL << 32;
		return 0;
	}
	if (!pagewalk_long_mode(cpu)) {
		r->status = PW_UNSUPPORTED;
		r->span = 1ULL << 32;
		return 0;
	}
	r->levels = cpu->cr4 & PW_CR4_LA57 ? 5 : 4;
	if (!pagewalk_is_canonical(cpu, va)) {
		r->status = PW_NONCANONICAL;
		r->span = 1ULL << PW_PAGE_SHIFT;
		return 0;
	}
	table = cpu->cr3 & PW_ADDR_MASK;
	for (level = r->levels; level >= 1; level--) {
		unsigned shift = PW_PAGE_SHIFT + PW_LEVEL_BITS * (level - 1);
		struct pagewalk_step *s = &r->steps[r->nr_steps++];
		uint64_t e;

		s->level = level;
		s->index = (unsigned)(va >> shift) & ((1u << PW_LEVEL_BITS) - 1);
		s->entry_gpa = table + 8ULL * s->index;
		if (read(opaque, s->entry_gpa, &e)) {
			/* The table is gone: so is everything its parent entry covers. */
			r->status = PW_UNREADABLE;
			r->span = 1ULL << (shift + PW_LEVEL_BITS);
			return 0;
		}
		s->entry = e;
		if (!(e & PW_PTE_P)) {
			r->status = PW_NOT_PRESENT;
			r->span = 1ULL << shift;
			return 0;
		}
		r->writable &= !!(e & PW_PTE_RW);
		r->user &= !!(e & PW_PTE_US);
		r->nx |= nxe && (e & PW_PTE_NX);
		if (level == 1 || ((level == 2 || level == 3) && (e & PW_PTE_PS))) {
			r->status = PW_OK;
			r->span = 1ULL << shift;
			r->pa = (e & PW_ADDR_MASK & ~(r->span - 1)) | (va & (r->span - 1));
			return 0;
		}
		table = e & PW_ADDR_MASK;
	}
	return -EINVAL; /* not reached: level 1 always ends the walk */
}

int pagewalk_seek(const struct pagewalk_cpu *cpu, uint64_t from, uint64_t end, bool want_mapped,
                  unsigned max_steps, pagewalk_read_fn read, void *opaque, uint64_t *out)
{
	struct pagewalk_result r;
	uint64_t pos = from, next;
	unsigned i;

	for (i = 0; i < max_steps; i++) {
		if (pos >= end)
			return -ENXIO;
		pagewalk(cpu, pagewalk_canonical(cpu, pos), read, opaque, &r);
		if ((r.status == PW_OK) == want_mapped) {
			*out = pos;
			return 0;
		}
		next = (pos & ~(r.span - 1)) + r.span;
		if (next <= pos)
			return -ENXIO;
		pos = next;
	}
	return -EAGAIN;
}

/* Flag letters of an entry, in the order the SDM lists the bits. */
static void pagewalk_render_flags(uint64_t e, unsigned level, struct strbuf *sb)
{
	static const struct {
		uint64_t bit;
		const char *name;
	} flags[] = {
	        {PW_PTE_P, "P"},    {PW_PTE_RW, "RW"}, {PW_PTE_US, "US"}, {1ULL << 3, "PWT"},
	        {1ULL << 4, "PCD"}, {1ULL << 5, "A"},  {1ULL << 6, "D"},  {PW_PTE_PS, "PS"},
	        {1ULL << 8, "G"},   {PW_PTE_NX, "NX"},
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(flags); i++) {
		/* Bit 7 is PAT, not PS, in a PTE; D and G only mean something in a leaf. */
		if (flags[i].bit == PW_PTE_PS && level == 1)
			continue;
		if (e & flags[i].bit)
			sb_printf(sb, " %s", flags[i].name);
	}
}

static const char *pagewalk_size_name(uint64_t span)
{
	return span == 1ULL << 30 ? "1G" : span == 1ULL << 21 ? "2M" : "4K";
}

void pagewalk_render(const struct pagewalk_result *r, struct strbuf *sb)
{
	unsigned i;

	sb_printf(sb, "va 0x%016" PRIx64, r->va);
	if (r->levels)
		sb_printf(sb, " (%u-level paging)", r->levels);
	sb_printf(sb, "\n");
	for (i = 0; i < r->nr_steps; i++) {
		const struct pagewalk_step *s = &r->steps[i];
		bool failed = i + 1 == r->nr_steps && r->status == PW_UNREADABLE;

		sb_printf(sb, "%-5s[%3u] at 0x%016" PRIx64 ": ", pagewalk_level_names[s->level],
		          s->index, s->entry_gpa);
		if (failed) {
			sb_printf(sb, "not guest RAM\n");
			continue;
		}
		sb_printf(sb, "0x%016" PRIx64, s->entry);
		pagewalk_render_flags(s->entry, s->level, sb);
		sb_printf(sb, "\n");
	}
	switch (r->status) {
	case PW_OK:
		if (!r->levels) {
			sb_printf(sb, "pa 0x%016" PRIx64 " (paging off)\n", r->pa);
			break;
		}
		sb_printf(sb, "pa 0x%016" PRIx64 " %s page%s%s%s\n", r->pa,
		          pagewalk_size_name(r->span), r->writable ? " rw" : " ro",
		          r->user ? " user" : " supervisor", r->nx ? " nx" : " exec");
		break;
	case PW_NOT_PRESENT:
		sb_printf(sb, "fault at %s: not present\n",
		          pagewalk_level_names[r->steps[r->nr_steps - 1].level]);
		break;
	case PW_UNREADABLE:
		sb_printf(sb, "fault at %s: table outside guest RAM\n",
		          pagewalk_level_names[r->steps[r->nr_steps - 1].level]);
		break;
	case PW_NONCANONICAL: sb_printf(sb, "fault: non-canonical address\n"); break;
	case PW_UNSUPPORTED:
		sb_printf(sb, "fault: paging without long mode is not supported\n");
		break;
	}
}
