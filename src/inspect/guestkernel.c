/*
 * guestkernel.c - find a Linux x86-64 kernel in guest memory (see
 * guestkernel.h): its text mapping, direct map, page-table root, release
 * and VMCOREINFO, from a vCPU's page tables.
 *
 * What the search relies on, from arch/x86 (head_64.S, __startup_64,
 * cleanup_highmap, kaslr.c) and kernel/crash_core.c:
 *   - only the image is mapped in the text mapping once __startup_64 has
 *     run (it clears the entries before _text and after _end), at one
 *     virtual-to-physical offset: __START_KERNEL_map - phys_base;
 *   - _text is at 0xffffffff81000000 + KERNELOFFSET, both addresses
 *     CONFIG_PHYSICAL_ALIGN (2 MiB) aligned;
 *   - page_offset_base is PUD (1 GiB) aligned, randomized or not, and the
 *     direct map is the lowest mapping of the kernel half;
 *   - every page-table root shares the kernel half of init_top_pgt
 *     (swapper_pg_dir), a page of the image's .data;
 *   - vmcoreinfo_note is a global pointer (in .bss) to a page of the
 *     direct map holding one ELF note "VMCOREINFO" whose text starts with
 *     OSRELEASE=.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inspect/guestkernel.h"
#include "util/compiler.h"
#include "util/strbuf.h"

#define GK_GIB          (1ULL << 30)
#define GK_DATA_ALIGN   (2ULL << 20) /* .data's alignment on x86-64 (vmlinux.lds.S) */
#define GK_SEEK_STEPS   4096         /* walks one search for a mapped page may take */
#define GK_DIRECT_TRIES 64           /* candidate mappings for the direct map */
#define GK_CHUNK        (64 * 1024)
#define GK_BANNER       "Linux version "
#define GK_NOTE_NAME    "VMCOREINFO"
#define GK_NOTE_HDR     24 /* namesz, descsz, type, "VMCOREINFO\0" padded to 12 */

static int gk_read64(void *opaque, uint64_t gpa, uint64_t *val)
{
	const struct guestkernel_mem *mem = opaque;

	return mem->read(mem->opaque, gpa, val, sizeof(*val)) == sizeof(*val) ? 0 : -EFAULT;
}

static bool gk_read(const struct guestkernel_mem *mem, uint64_t gpa, void *buf, size_t len)
{
	return mem->read(mem->opaque, gpa, buf, len) == len;
}

static void gk_walk(const struct pagewalk_cpu *cpu, const struct guestkernel_mem *mem, uint64_t va,
                    struct pagewalk_result *r)
{
	pagewalk(cpu, va, gk_read64, (void *)mem, r);
}

/* va's offset in the walk's terms (pagewalk_seek works on the low va_bits). */
static uint64_t gk_low(const struct pagewalk_cpu *cpu, uint64_t va)
{
	return va & ((1ULL << pagewalk_va_bits(cpu)) - 1);
}

/* The first mapped address in [from, to), canonical; false if none within the budget. */
static bool gk_first_mapped(const struct pagewalk_cpu *cpu, const struct guestkernel_mem *mem,
                            uint64_t from, uint64_t to, uint64_t *va)
{
	uint64_t low;

	if (pagewalk_seek(cpu, gk_low(cpu, from), gk_low(cpu, to), true, GK_SEEK_STEPS, gk_read64,
	                  (void *)mem, &low))
		return false;
	*va = pagewalk_canonical(cpu, low);
	return true;
}

/* Appends a piece to runs, merging it with the last one when it continues it. */
static bool gk_add_run(struct guestkernel_run *runs, unsigned *nr, unsigned max, uint64_t va,
                       const struct pagewalk_result *r, uint64_t size)
{
	struct guestkernel_run *last = *nr ? &runs[*nr - 1] : NULL;

	if (last && last->va + last->size == va && last->pa + last->size == r->pa &&
	    last->writable == r->writable && last->exec == !r->nx) {
		last->size += size;
		return true;
	}
	if (*nr == max)
		return false;
	runs[(*nr)++] = (struct guestkernel_run){va, r->pa, size, r->writable, !r->nx};
	return true;
}

unsigned guestkernel_map_range(const struct pagewalk_cpu *cpu, const struct guestkernel_mem *mem,
                               uint64_t va, uint64_t len, struct guestkernel_run *out, unsigned max)
{
	uint64_t pos = va, end = va + len;
	unsigned nr = 0;

	while (pos < end && pos >= va) {
		struct pagewalk_result r;
		uint64_t n;

		gk_walk(cpu, mem, pos, &r);
		n = r.span - (pos & (r.span - 1));
		if (n > end - pos)
			n = end - pos;
		if (r.status == PW_OK && !gk_add_run(out, &nr, max, pos, &r, n))
			break;
		pos += n;
	}
	return nr;
}

/*
 * The image from _text on: every mapped page at the image's offset, until
 * a page mapped elsewhere (a module) or the end of the text mapping.
 */
static void gk_image_runs(struct guestkernel *k, const struct guestkernel_mem *mem)
{
	uint64_t va = k->text_va, delta = k->text_va - k->text_pa;

	k->nr_runs = 0;
	while (va < GUESTKERNEL_TEXT_MAP_END && va >= k->text_va) {
		struct pagewalk_result r;
		uint64_t n;

		gk_walk(&k->cpu, mem, va, &r);
		n = r.span - (va & (r.span - 1));
		if (r.status == PW_OK) {
			if (va - r.pa != delta)
				break;
			if (!gk_add_run(k->runs, &k->nr_runs, GUESTKERNEL_MAX_RUNS, va, &r, n))
				break;
		}
		va += n;
	}
}

/* The text-mapping address of physical pa, if the image maps it there. */
static bool gk_image_va(const struct guestkernel *k, uint64_t pa, uint64_t *va)
{
	unsigned i;

	for (i = 0; i < k->nr_runs; i++) {
		if (pa >= k->runs[i].pa && pa - k->runs[i].pa < k->runs[i].size) {
			*va = k->runs[i].va + (pa - k->runs[i].pa);
			return true;
		}
	}
	return false;
}

/* +1: D maps pa at D + pa; -1: it maps something else there; 0: not mapped. */
static int gk_direct_maps(const struct pagewalk_cpu *cpu, const struct guestkernel_mem *mem,
                          uint64_t d, uint64_t pa)
{
	struct pagewalk_result r;

	gk_walk(cpu, mem, d + pa, &r);
	if (r.status != PW_OK)
		return 0;
	return r.pa == pa ? 1 : -1;
}

static void gk_direct_map(struct guestkernel *k, const struct guestkernel_mem *mem)
{
	const struct pagewalk_cpu *cpu = &k->cpu;
	uint64_t pos = pagewalk_canonical(cpu, 1ULL << (pagewalk_va_bits(cpu) - 1));
	uint64_t pgd = cpu->cr3 & PW_ADDR_MASK, fallback = 0;
	bool have_fallback = false;
	unsigned i;

	for (i = 0; i < GK_DIRECT_TRIES; i++) {
		struct pagewalk_result r;
		uint64_t va, d;
		int a, b;

		if (!gk_first_mapped(cpu, mem, pos, GUESTKERNEL_START_KERNEL_MAP, &va))
			break;
		gk_walk(cpu, mem, va, &r);
		d = va - r.pa;
		if (!(d & (GK_GIB - 1))) {
			a = gk_direct_maps(cpu, mem, d, k->text_pa);
			b = gk_direct_maps(cpu, mem, d, pgd);
			if ((a > 0 && b >= 0) || (b > 0 && a >= 0)) {
				k->page_offset = d;
				k->page_offset_found = true;
				return;
			}
			/* Early boot maps the direct map on demand: neither page may be there yet.
			 */
			if (!a && !b && !have_fallback) {
				fallback = d;
				have_fallback = true;
			}
		}
		pos = (va & ~(GK_GIB - 1)) + GK_GIB;
		if (pos <= va)
			break;
	}
	k->page_offset_found = have_fallback;
	k->page_offset = have_fallback              ? fallback
	                 : (cpu->cr4 & PW_CR4_LA57) ? GUESTKERNEL_PAGE_OFFSET_L5
	                                            : GUESTKERNEL_PAGE_OFFSET_L4;
}

/* init_top_pgt's shape at pa: the kernel half given (last entry first), nothing below. */
static bool gk_is_init_pgt(const struct guestkernel_mem *mem, uint64_t pa, const uint64_t *half)
{
	static const uint64_t empty[256];
	uint64_t last, cand[256];

	return gk_read(mem, pa + 4088, &last, sizeof(last)) && last == half[255] &&
	       gk_read(mem, pa + 2048, cand, sizeof(cand)) && !memcmp(cand, half, sizeof(cand)) &&
	       gk_read(mem, pa, cand, sizeof(cand)) && !memcmp(cand, empty, sizeof(cand));
}

/*
 * swapper_pg_dir: the first page of the image's .data whose kernel half
 * equals that of the root CR3 holds and whose user half is empty, as
 * init_top_pgt's is once boot is over (compared by its last entry, the text
 * mapping's, first).  CR3 lying in the image is no proof: the kernel hands
 * image pages it no longer needs to its page allocator, and without PTI it
 * leaves them mapped (writable, not executable): the text/rodata and
 * rodata/data gaps, init memory, the unused part of .bss..decrypted, the
 * rest of the brk area's 2 MiB.  A process's root may be one of them, and
 * so may a dead process's, whose user half exit cleared - the same shape as
 * init_top_pgt's.  .data starts at the first 2 MiB boundary after rodata
 * (vmlinux.lds.S aligns it so), so writable pages before that boundary are
 * the gaps, and within .data init_top_pgt comes first (the freed areas
 * follow it).  Early in boot, when CR3 holds early_top_pgt (identity
 * mappings in its user half), nothing matches and the root itself is taken;
 * failing both, the root in the direct map.
 */
static void gk_swapper_pg_dir(struct guestkernel *k, const struct guestkernel_mem *mem)
{
	uint64_t pgd = k->cpu.cr3 & PW_ADDR_MASK, half[256], data = 0;
	unsigned i;

	if (!gk_image_va(k, pgd, &k->swapper_pg_dir))
		k->swapper_pg_dir = k->page_offset + pgd;
	if (!gk_read(mem, pgd + 2048, half, sizeof(half)))
		return;
	for (i = 0; i < k->nr_runs; i++) {
		const struct guestkernel_run *run = &k->runs[i];
		uint64_t off;

		if (!run->writable) {
			/* Text or rodata: .data can only start at the next 2 MiB. */
			data = ROUND_UP(run->va + run->size, GK_DATA_ALIGN);
			continue;
		}
		for (off = 0; off + GUESTKERNEL_PAGE <= run->size; off += GUESTKERNEL_PAGE) {
			if (run->va + off < data)
				continue; /* a freed gap before .data */
			if (gk_is_init_pgt(mem, run->pa + off, half)) {
				k->swapper_pg_dir = run->va + off;
				return;
			}
		}
	}
}

/* "Linux version <release> (" at gpa: the release into k. */
static bool gk_banner_at(struct guestkernel *k, const struct guestkernel_mem *mem, uint64_t gpa)
{
	char buf[sizeof(GK_BANNER) + GUESTKERNEL_RELEASE_MAX + 2];
	size_t n = sizeof(GK_BANNER) - 1, i;

	if (!gk_read(mem, gpa, buf, sizeof(buf)) || memcmp(buf, GK_BANNER, n))
		return false;
	for (i = n; i < sizeof(buf) - 1 && buf[i] > ' ' && buf[i] < 0x7f; i++)
		;
	if (i == n || i - n > GUESTKERNEL_RELEASE_MAX || buf[i] != ' ' || buf[i + 1] != '(')
		return false;
	memcpy(k->release, buf + n, i - n);
	k->release[i - n] = '\0';
	k->banner_gpa = gpa;
	return true;
}

/* The banner is in .rodata: the image's non-executable runs first, then all of it. */
static bool gk_find_banner(struct guestkernel *k, const struct guestkernel_mem *mem,
                           const struct guestkernel *prev)
{
	static const size_t overlap = sizeof(GK_BANNER) - 1;
	char *buf;
	unsigned i;
	bool found = false;

	if (prev && prev->banner_gpa && gk_banner_at(k, mem, prev->banner_gpa))
		return true;
	buf = malloc(GK_CHUNK + overlap);
	if (!buf)
		return false;
	for (i = 0; !found && i < k->nr_runs; i++) {
		const struct guestkernel_run *run = &k->runs[i];
		uint64_t off;

		for (off = 0; !found && off < run->size; off += GK_CHUNK) {
			size_t len = run->size - off < GK_CHUNK + overlap ? run->size - off
			                                                  : GK_CHUNK + overlap;
			const char *p = buf, *end;

			if (!gk_read(mem, run->pa + off, buf, len))
				continue;
			end = buf + len;
			while (!found && (p = memmem(p, (size_t)(end - p), GK_BANNER, overlap))) {
				found = gk_banner_at(k, mem, run->pa + off + (uint64_t)(p - buf));
				p++;
			}
		}
	}
	free(buf);
	return found;
}

/* The note at gpa, if it is the kernel's VMCOREINFO for this release. */
static bool gk_note_at(struct guestkernel *k, const struct guestkernel_mem *mem, uint64_t gpa)
{
	uint8_t hdr[GK_NOTE_HDR];
	uint32_t namesz, descsz, type;
	char want[sizeof("OSRELEASE=") + GUESTKERNEL_RELEASE_MAX + 1];
	int n;

	if (!gk_read(mem, gpa, hdr, sizeof(hdr)))
		return false;
	memcpy(&namesz, hdr, 4);
	memcpy(&descsz, hdr + 4, 4);
	memcpy(&type, hdr + 8, 4);
	if (namesz != sizeof(GK_NOTE_NAME) || type != 0 || !descsz ||
	    descsz > GUESTKERNEL_VMCOREINFO_MAX || memcmp(hdr + 12, GK_NOTE_NAME "\0", 12))
		return false;
	if (!gk_read(mem, gpa + GK_NOTE_HDR, k->vmcoreinfo, descsz))
		return false;
	k->vmcoreinfo[descsz] = '\0';
	/* A note left in RAM by an earlier boot of another kernel is not this one's. */
	n = snprintf(want, sizeof(want), "OSRELEASE=%s\n", k->release);
	if (strncmp(k->vmcoreinfo, want, (size_t)n) || strlen(k->vmcoreinfo) != descsz)
		return false;
	k->vmcoreinfo_len = descsz;
	k->vmcoreinfo_gpa = gpa;
	return true;
}

/* A direct-map pointer at gpa to the note. */
static bool gk_note_ptr(struct guestkernel *k, const struct guestkernel_mem *mem, uint64_t gpa,
                        uint64_t ptr)
{
	if ((ptr & (GUESTKERNEL_PAGE - 1)) || ptr < k->page_offset ||
	    ptr - k->page_offset >= 1ULL << 52 || !gk_note_at(k, mem, ptr - k->page_offset))
		return false;
	k->vmcoreinfo_ptr_gpa = gpa;
	return true;
}

static void gk_find_vmcoreinfo(struct guestkernel *k, const struct guestkernel_mem *mem,
                               const struct guestkernel *prev)
{
	uint64_t *buf, ptr;
	unsigned i;
	bool found = false;

	k->vmcoreinfo_len = 0;
	if (prev && prev->vmcoreinfo_ptr_gpa &&
	    gk_read(mem, prev->vmcoreinfo_ptr_gpa, &ptr, sizeof(ptr)) &&
	    gk_note_ptr(k, mem, prev->vmcoreinfo_ptr_gpa, ptr))
		return;
	buf = malloc(GK_CHUNK);
	if (!buf)
		return;
	for (i = 0; !found && i < k->nr_runs; i++) {
		const struct guestkernel_run *run = &k->runs[i];
		uint64_t off;
		size_t j;

		if (!run->writable)
			continue; /* a variable: .data or .bss */
		for (off = 0; !found && off < run->size; off += GK_CHUNK) {
			size_t len = run->size - off < GK_CHUNK ? run->size - off : GK_CHUNK;

			if (!gk_read(mem, run->pa + off, buf, len))
				continue;
			for (j = 0; !found && j < len / 8; j++)
				if (buf[j] && !(buf[j] & (GUESTKERNEL_PAGE - 1)))
					found = gk_note_ptr(k, mem, run->pa + off + j * 8, buf[j]);
		}
	}
	free(buf);
	if (!found)
		k->vmcoreinfo_len = 0;
}

/* One candidate root: the whole search through it. */
static int gk_find_with(struct guestkernel *k, const struct guestkernel_mem *mem,
                        const struct guestkernel *prev)
{
	const struct pagewalk_cpu *cpu = &k->cpu;
	struct pagewalk_result r;

	if (!gk_first_mapped(cpu, mem, GUESTKERNEL_START_KERNEL_MAP, GUESTKERNEL_TEXT_MAP_END,
	                     &k->text_va))
		return -ENOENT;
	gk_walk(cpu, mem, k->text_va, &r);
	if (r.status != PW_OK)
		return -ENOENT;
	k->text_pa = r.pa;
	gk_image_runs(k, mem);
	if (!gk_find_banner(k, mem, prev))
		return -ENOENT;
	k->phys_base = k->text_pa - (k->text_va - GUESTKERNEL_START_KERNEL_MAP);
	k->kernel_offset = k->text_va - GUESTKERNEL_START_KERNEL;
	gk_direct_map(k, mem);
	gk_swapper_pg_dir(k, mem);
	gk_find_vmcoreinfo(k, mem, prev);
	return 0;
}

int guestkernel_find(const struct pagewalk_cpu *cpu, const struct guestkernel_mem *mem,
                     const struct guestkernel *prev, struct guestkernel *k)
{
	/* With PTI the user half's root is the kernel's plus one page (bit 12): try that first. */
	const uint64_t roots[] = {cpu->cr3 & ~0x1fffULL, cpu->cr3 & ~0xfffULL};
	unsigned i;

	if (pagewalk_va_bits(cpu) == 32)
		return -ENOENT;
	for (i = cpu->cr3 & 0x1000 ? 0 : 1; i < 2; i++) {
		memset(k, 0, sizeof(*k));
		k->cpu = *cpu;
		k->cpu.cr3 = roots[i];
		if (!gk_find_with(k, mem, prev))
			return 0;
	}
	memset(k, 0, sizeof(*k));
	return -ENOENT;
}

void guestkernel_derive_vmcoreinfo(const struct guestkernel *k, struct strbuf *sb)
{
	/* The kernel's own spellings (crash_core.c, arch/x86/kernel/machine_kexec_64.c). */
	sb_printf(sb, "OSRELEASE=%s\n", k->release);
	sb_printf(sb, "PAGESIZE=%llu\n", GUESTKERNEL_PAGE);
	sb_printf(sb, "SYMBOL(swapper_pg_dir)=%" PRIx64 "\n", k->swapper_pg_dir);
	sb_printf(sb, "SYMBOL(_stext)=%" PRIx64 "\n", k->text_va);
	sb_printf(sb, "NUMBER(phys_base)=%" PRId64 "\n", (int64_t)k->phys_base);
	sb_printf(sb, "SYMBOL(init_top_pgt)=%" PRIx64 "\n", k->swapper_pg_dir);
	sb_printf(sb, "NUMBER(pgtable_l5_enabled)=%d\n", !!(k->cpu.cr4 & PW_CR4_LA57));
	sb_printf(sb, "KERNELOFFSET=%" PRIx64 "\n", k->kernel_offset);
}
