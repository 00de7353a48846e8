/*
 * linux_printk.c - the printk ring buffer as dmesg's text (see
 * linux_printk.h).  The constants are the kernel's (printk_ringbuffer.h):
 * they have not changed since the format appeared in 5.10.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "inspect/linux_btf.h"
#include "inspect/linux_printk.h"
#include "util/strbuf.h"

#define PRB_STATE_SHIFT 62
#define PRB_ID_MASK     (~(3ULL << PRB_STATE_SHIFT))
#define PRB_COMMITTED   1
#define PRB_FINALIZED   2
#define PRB_ID_SIZE     8      /* the block's leading unsigned long id */
#define PRB_TEXT_MAX    0xffff /* text_len is a u16 */

int linux_printk_layout_btf(const struct linux_btf *btf, struct linux_printk_layout *l)
{
	static const struct {
		const char *type, *path;
		size_t field;
	} m[] = {
#define PRB_M(t, p, f) {t, p, offsetof(struct linux_printk_layout, f)}
	        PRB_M("printk_ringbuffer", "desc_ring", rb_desc_ring),
	        PRB_M("printk_ringbuffer", "text_data_ring", rb_text_data_ring),
	        PRB_M("prb_desc_ring", "count_bits", dr_count_bits),
	        PRB_M("prb_desc_ring", "descs", dr_descs),
	        PRB_M("prb_desc_ring", "infos", dr_infos),
	        PRB_M("prb_desc_ring", "head_id", dr_head_id),
	        PRB_M("prb_desc_ring", "tail_id", dr_tail_id),
	        PRB_M("prb_data_ring", "size_bits", data_size_bits),
	        PRB_M("prb_data_ring", "data", data_data),
	        PRB_M("prb_desc", "state_var", desc_state_var),
	        PRB_M("prb_desc", "text_blk_lpos.begin", desc_begin),
	        PRB_M("prb_desc", "text_blk_lpos.next", desc_next),
	        PRB_M("printk_info", "seq", info_seq),
	        PRB_M("printk_info", "ts_nsec", info_ts_nsec),
	        PRB_M("printk_info", "text_len", info_text_len),
#undef PRB_M
	};
	size_t i;

	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (linux_btf_offsetof(btf, m[i].type, m[i].path,
		                       (uint64_t *)((char *)l + m[i].field)))
			return -ENOENT;
	if (linux_btf_sizeof(btf, "prb_desc", &l->desc_size) ||
	    linux_btf_sizeof(btf, "printk_info", &l->info_size))
		return -ENOENT;
	return 0;
}

/* The ring's geometry, read once per render. */
struct prb {
	const struct linux_kmem *mem;
	const struct linux_printk_layout *l;
	uint64_t descs, infos, data, head_id, tail_id;
	uint64_t count, data_size;
};

static bool prb_u64(const struct prb *p, uint64_t va, uint64_t *v)
{
	return linux_kmem_u64(p->mem, va, v);
}

static int prb_open(struct prb *p, const struct linux_kmem *mem,
                    const struct linux_printk_layout *l, uint64_t rb)
{
	uint64_t dr = rb + l->rb_desc_ring, tr = rb + l->rb_text_data_ring;
	uint32_t count_bits, size_bits;

	p->mem = mem;
	p->l = l;
	if (!linux_kmem_u32(mem, dr + l->dr_count_bits, &count_bits) ||
	    !prb_u64(p, dr + l->dr_descs, &p->descs) || !prb_u64(p, dr + l->dr_infos, &p->infos) ||
	    !prb_u64(p, dr + l->dr_head_id, &p->head_id) ||
	    !prb_u64(p, dr + l->dr_tail_id, &p->tail_id) ||
	    !linux_kmem_u32(mem, tr + l->data_size_bits, &size_bits) ||
	    !prb_u64(p, tr + l->data_data, &p->data))
		return -EINVAL;
	if (count_bits > LINUX_PRINTK_MAX_COUNT_BITS || size_bits > LINUX_PRINTK_MAX_SIZE_BITS ||
	    size_bits < 4)
		return -EINVAL;
	p->count = 1ULL << count_bits;
	p->data_size = 1ULL << size_bits;
	return 0;
}

static uint64_t prb_wraps(const struct prb *p, uint64_t lpos)
{
	return lpos / p->data_size; /* lpos >> size_bits */
}

/*
 * Where a record's text lies in the data ring and how long its block is
 * (after the id); false for a data-less or malformed block.  As get_data().
 */
static bool prb_block(const struct prb *p, uint64_t begin, uint64_t next, uint64_t *off,
                      uint64_t *len)
{
	if ((begin & 1) || (next & 1))
		return false; /* FAILED_LPOS / NO_LPOS: no data */
	if (prb_wraps(p, begin) == prb_wraps(p, next) && begin < next) {
		*off = begin & (p->data_size - 1);
		*len = next - begin;
	} else if (prb_wraps(p, begin + p->data_size) == prb_wraps(p, next)) {
		*off = 0;
		*len = next & (p->data_size - 1);
	} else {
		return false;
	}
	if (*len < PRB_ID_SIZE || *len > p->data_size || *off + *len > p->data_size)
		return false;
	*off += PRB_ID_SIZE;
	*len -= PRB_ID_SIZE;
	return true;
}

/* Record id, if whole: its lines into sb. */
static bool prb_record(const struct prb *p, uint64_t id, struct strbuf *sb)
{
	const struct linux_printk_layout *l = p->l;
	uint64_t idx = id & (p->count - 1);
	uint64_t desc = p->descs + idx * l->desc_size, info = p->infos + idx * l->info_size;
	uint64_t sv, begin, next, ts, off, len;
	uint16_t text_len;
	char text[PRB_TEXT_MAX + 1];
	unsigned state;
	const char *s, *end;

	if (!prb_u64(p, desc + l->desc_state_var, &sv) || (sv & PRB_ID_MASK) != (id & PRB_ID_MASK))
		return false;
	state = (unsigned)(sv >> PRB_STATE_SHIFT);
	if (state != PRB_COMMITTED && state != PRB_FINALIZED)
		return false;
	if (!prb_u64(p, desc + l->desc_begin, &begin) || !prb_u64(p, desc + l->desc_next, &next) ||
	    !prb_u64(p, info + l->info_ts_nsec, &ts) ||
	    !linux_kmem_read(p->mem, info + l->info_text_len, &text_len, sizeof(text_len)))
		return false;
	if (!text_len) {
		len = 0;
	} else {
		if (!prb_block(p, begin, next, &off, &len))
			return false;
		if (len > text_len)
			len = text_len;
		if (!linux_kmem_read(p->mem, p->data + off, text, (size_t)len))
			return false;
	}
	/* One line per line of the text, each with the record's time (record_print_text). */
	s = text;
	end = text + len;
	do {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *e = nl ? nl : end;

		sb_printf(sb, "[%5" PRIu64 ".%06" PRIu64 "] ", ts / 1000000000,
		          (ts % 1000000000) / 1000);
		sb_add(sb, s, (size_t)(e - s));
		sb_add(sb, "\n", 1);
		s = nl ? nl + 1 : end;
	} while (s < end);
	return true;
}

int linux_printk_render(const struct linux_kmem *mem, const struct linux_printk_layout *l,
                        uint64_t rb, struct strbuf *sb, struct linux_printk_stats *st)
{
	struct prb p;
	uint64_t id, n;

	memset(st, 0, sizeof(*st));
	if (prb_open(&p, mem, l, rb))
		return -EINVAL;
	/* At most one pass over the ring, however the ids look. */
	for (id = p.tail_id, n = 0; n < p.count; id = (id + 1) & PRB_ID_MASK, n++) {
		if (prb_record(&p, id, sb))
			st->records++;
		else
			st->skipped++;
		if (id == (p.head_id & PRB_ID_MASK))
			break;
	}
	return 0;
}
