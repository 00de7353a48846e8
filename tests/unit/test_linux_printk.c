/*
 * test_linux_printk.c - the printk ring buffer decoder on a hand-built
 * ring in a fake kernel memory: records in id order with their times, a
 * record of two lines, a block that wraps to the ring's start, records it
 * must skip (a stale descriptor, one still reserved, a data-less one with
 * text_len set), a tail/head pair that would go round forever, and rings
 * it must refuse.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "inspect/linux_printk.h"
#include "util/bytes.h"
#include "util/strbuf.h"

/* The fake kernel memory: MEM_SIZE bytes at BASE. */
#define BASE     0xffff888000100000ULL
#define MEM_SIZE 0x4000
#include "fake_kmem.h"

static const struct linux_kmem kmem = {fake_read, NULL};

/* A layout of our own choosing: the decoder must use it, not the kernel's numbers. */
static const struct linux_printk_layout layout = {
        .rb_desc_ring = 8,
        .rb_text_data_ring = 64,
        .dr_count_bits = 0,
        .dr_descs = 8,
        .dr_infos = 16,
        .dr_head_id = 24,
        .dr_tail_id = 32,
        .data_size_bits = 4,
        .data_data = 8,
        .desc_size = 32,
        .desc_state_var = 8,
        .desc_begin = 16,
        .desc_next = 24,
        .info_size = 48,
        .info_seq = 0,
        .info_ts_nsec = 16,
        .info_text_len = 40,
};

#define RB     (BASE + 0x100)
#define DESCS  (BASE + 0x1000)
#define INFOS  (BASE + 0x1400)
#define DATA   (BASE + 0x2000)
#define COUNT  4
#define DSIZE  256 /* the text ring */
#define FINAL  (2ULL << 62)
#define COMMIT (1ULL << 62)

static void desc(uint64_t id, uint64_t state, uint64_t begin, uint64_t next, uint64_t ts,
                 const char *text)
{
	uint64_t idx = id % COUNT, d = DESCS - BASE + idx * 32, in = INFOS - BASE + idx * 48;

	put64(mem + d + 8, state | id);
	put64(mem + d + 16, begin);
	put64(mem + d + 24, next);
	put64(mem + in + 0, id);
	put64(mem + in + 16, ts);
	put16(mem + in + 40, (uint16_t)strlen(text));
	if (begin & 1)
		return;
	/* The block: the id, then the text, where get_data() looks. */
	if (begin / DSIZE == next / DSIZE) {
		put64(mem + DATA - BASE + begin % DSIZE, id);
		memcpy(mem + DATA - BASE + begin % DSIZE + 8, text, strlen(text));
	} else {
		put64(mem + DATA - BASE, id);
		memcpy(mem + DATA - BASE + 8, text, strlen(text));
	}
}

static void ring(uint64_t tail, uint64_t head, uint32_t count_bits, uint32_t size_bits)
{
	memset(mem, 0, sizeof(mem));
	put32(mem + RB - BASE + 8 + 0, count_bits);
	put64(mem + RB - BASE + 8 + 8, DESCS);
	put64(mem + RB - BASE + 8 + 16, INFOS);
	put64(mem + RB - BASE + 8 + 24, head);
	put64(mem + RB - BASE + 8 + 32, tail);
	put32(mem + RB - BASE + 64 + 4, size_bits);
	put64(mem + RB - BASE + 64 + 8, DATA);
}

/* Ids 5..8 in slots 1, 2, 3, 0; the text ring in its second and third wrap. */
static void standard(void)
{
	ring(5, 8, 2, 8);
	desc(5, FINAL, DSIZE + 16, DSIZE + 16 + 8 + 16, 1000001000ULL, "first line");
	desc(6, COMMIT, DSIZE + 48, DSIZE + 48 + 8 + 16, 2500000000ULL, "two\nlines");
	desc(7, FINAL, DSIZE + 80, DSIZE + 80 + 24, 3000000000ULL, "stale");
	put64(mem + DESCS - BASE + 3 * 32 + 8, FINAL | 3); /* slot 3 still holds id 3 */
	/* Wraps: begins 16 bytes before the ring's end, its text at the start. */
	desc(8, FINAL, 2 * DSIZE - 16, 2 * DSIZE + 24, 10000000000ULL, "wrapped text!!!!");
}

static void test_records(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct linux_printk_stats st;

	(void)state;
	standard();
	assert_int_equal(linux_printk_render(&kmem, &layout, RB, &sb, &st), 0);
	sb_add(&sb, "", 1);
	assert_string_equal(sb.buf, "[    1.000001] first line\n"
	                            "[    2.500000] two\n"
	                            "[    2.500000] lines\n"
	                            "[   10.000000] wrapped text!!!!\n");
	assert_int_equal(st.records, 3);
	assert_int_equal(st.skipped, 1);
	sb_free(&sb);
}

static void test_skipped(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct linux_printk_stats st;

	(void)state;
	standard();
	/* Record 5 still reserved (state 0); record 6's block data-less (NO_LPOS) though it has
	 * text. */
	put64(mem + DESCS - BASE + 1 * 32 + 8, 5);
	put64(mem + DESCS - BASE + 2 * 32 + 16, 3);
	assert_int_equal(linux_printk_render(&kmem, &layout, RB, &sb, &st), 0);
	sb_add(&sb, "", 1);
	assert_string_equal(sb.buf, "[   10.000000] wrapped text!!!!\n");
	assert_int_equal(st.records, 1);
	assert_int_equal(st.skipped, 3);
	sb_free(&sb);
}

static void test_bounded(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct linux_printk_stats st;

	(void)state;
	standard();
	/* head one behind tail: a naive walk goes round the whole id space. */
	put64(mem + RB - BASE + 8 + 24, 4);
	assert_int_equal(linux_printk_render(&kmem, &layout, RB, &sb, &st), 0);
	assert_int_equal(st.records + st.skipped, COUNT);
	sb_free(&sb);
}

static void test_refused(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct linux_printk_stats st;

	(void)state;
	standard();
	put32(mem + RB - BASE + 8, 40); /* 2^40 descriptors */
	assert_int_equal(linux_printk_render(&kmem, &layout, RB, &sb, &st), -EINVAL);
	standard();
	put32(mem + RB - BASE + 64 + 4, 63); /* a 2^63-byte ring */
	assert_int_equal(linux_printk_render(&kmem, &layout, RB, &sb, &st), -EINVAL);
	assert_int_equal(linux_printk_render(&kmem, &layout, BASE + MEM_SIZE, &sb, &st), -EINVAL);
	assert_int_equal(sb.len, 0);
	sb_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_records),
	        cmocka_unit_test(test_skipped),
	        cmocka_unit_test(test_bounded),
	        cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
