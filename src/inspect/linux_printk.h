/*
 * linux_printk.h - the kernel's log, decoded from its printk ring buffer
 * (kernel/printk/printk_ringbuffer.h, 5.10 and later), as `dmesg` prints it.
 *
 * The buffer (`prb`, a struct printk_ringbuffer) is two rings: a ring of
 * descriptors - each with a state_var (the state in its top two bits, the
 * record's id below) and the logical positions [begin, next) of its text
 * block - with a parallel array of struct printk_info (seq, ts_nsec,
 * text_len), and a data ring of text blocks, each starting with the id of
 * its descriptor.  Records are read from tail_id to head_id; a record
 * counts when its descriptor holds that id in the committed or finalized
 * state and its block is a regular one or one that wraps to the ring's
 * start (then its text is at offset 0).  Anything else - a record being
 * written, reused, a block that fails those rules - is skipped and
 * counted.  Pure: the members' offsets come in (from BTF, or a test).
 */
#ifndef KVMFS_INSPECT_LINUX_PRINTK_H
#define KVMFS_INSPECT_LINUX_PRINTK_H

#include <stdint.h>

#include "inspect/linux_kmem.h"

struct linux_btf;
struct strbuf;

#define LINUX_PRINTK_MAX_COUNT_BITS 24 /* 16 M descriptors: far above any log_buf_len */
#define LINUX_PRINTK_MAX_SIZE_BITS  31 /* a 2 GiB text ring */

/* Byte offsets of the members read, and the sizes of the two arrays' elements. */
struct linux_printk_layout {
	uint64_t rb_desc_ring, rb_text_data_ring;
	uint64_t dr_count_bits, dr_descs, dr_infos, dr_head_id, dr_tail_id;
	uint64_t data_size_bits, data_data;
	uint64_t desc_size, desc_state_var, desc_begin, desc_next;
	uint64_t info_size, info_seq, info_ts_nsec, info_text_len;
};

/* From the kernel's BTF: 0, or -ENOENT when a member is missing (an older log format). */
int linux_printk_layout_btf(const struct linux_btf *btf, struct linux_printk_layout *l);

/* What a render met: records shown, and those skipped (not readable, not whole). */
struct linux_printk_stats {
	uint64_t records, skipped;
};

/*
 * The log of the ring buffer at rb into sb: every line of every record,
 * each "[%5lu.%06lu] text\n" as dmesg prints it.  -EINVAL when the buffer
 * itself is unreadable or its sizes unbelievable.
 */
int linux_printk_render(const struct linux_kmem *mem, const struct linux_printk_layout *l,
                        uint64_t rb, struct strbuf *sb, struct linux_printk_stats *st);

#endif
