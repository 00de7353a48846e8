/*
 * test_ram.c - the ram list: best-fit offsets as QEMU's find_ram_offset
 * picks them, ordering, duplicates, resize, and lazy commitment.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "memory/ram.h"
#include "util/compiler.h"

struct gap_case {
	const char *what;
	uint64_t blocks[4][2]; /* offset, max_length; {0,0} ends */
	uint64_t size;
	int ret;
	uint64_t want;
};

static const struct gap_case gap_cases[] = {
        {"empty list: 0", {{0, 0}}, 0x1000, 0, 0},
        {"after the only block", {{0, 0x20000000}}, 0x40000, 0, 0x20000000},
        {"rounded up to 256 KiB", {{0, 0x1001}}, 0x1000, 0, 0x40000},
        {"smallest gap that fits wins",
         {{0, 0x40000}, {0x100000, 0x40000}, {0x180000, 0x40000}},
         0x40000,
         0,
         0x140000},
        {"a gap too small is skipped", {{0, 0x40000}, {0x80000, 0x40000}}, 0x80000, 0, 0xc0000},
        {"the gap before the first block is never used", {{0x100000, 0x1000}}, 0x1000, 0, 0x140000},
        {"no fit is an error", {{0, UINT64_MAX - 0x80000}}, 0x100000, -ENOSPC, 0},
};

static void test_find_offset(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(gap_cases); i++) {
		const struct gap_case *c = &gap_cases[i];
		struct ram_block b[4];
		struct ram_list rl;
		uint64_t off = 0;
		int ret;

		ram_list_init(&rl, RAM_BACKING_ANON);
		memset(b, 0, sizeof(b));
		for (j = 0; j < 4 && c->blocks[j][1]; j++) {
			b[j].offset = c->blocks[j][0];
			b[j].max_length = c->blocks[j][1];
			b[j].next = j + 1 < 4 && c->blocks[j + 1][1] ? &b[j + 1] : NULL;
		}
		rl.head = j ? &b[0] : NULL;
		ret = ram_find_offset(&rl, c->size, &off);
		if (ret != c->ret || (!ret && off != c->want))
			fail_msg("%s: got %d/0x%llx, want %d/0x%llx", c->what, ret,
			         (unsigned long long)off, c->ret, (unsigned long long)c->want);
	}
}

static long rss_kib(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%ld %ld", &pages, &rss), 2);
	fclose(f);
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static void test_alloc_order_and_laziness(void **state)
{
	struct ram_block *big, *small, *mid, *dup;
	struct ram_list rl;
	uint8_t byte = 0;
	long before;

	(void)state;
	ram_list_init(&rl, RAM_BACKING_MEMFD);
	before = rss_kib();
	assert_int_equal(ram_block_alloc(&rl, "big", 16ULL << 30, 0, 0, &big), 0);
	/* 16 GiB reserved, nothing touched: resident memory must not follow. */
	assert_true(rss_kib() - before < 4096);
	assert_int_equal(ram_block_alloc(&rl, "small", 0x20000, 0, RAM_READONLY, &small), 0);
	assert_int_equal(ram_block_alloc(&rl, "mid", 0x40000, 0, 0, &mid), 0);
	assert_int_equal(ram_block_alloc(&rl, "mid", 0x1000, 0, 0, &dup), -EEXIST);
	assert_int_equal(big->offset, 0);
	assert_int_equal(small->offset, 16ULL << 30);
	assert_int_equal(mid->offset, (16ULL << 30) + 0x40000);
	/* Sorted largest first. */
	assert_ptr_equal(rl.head, big);
	assert_ptr_equal(big->next, mid);
	assert_ptr_equal(mid->next, small);
	assert_true(big->fd >= 0 && (big->flags & RAM_SHARED));
	assert_int_equal((uintptr_t)big->host % (uintptr_t)sysconf(_SC_PAGESIZE), 0);
	/* The mapping is the memfd itself: a byte stored through it is in the file. */
	big->host[(8ULL << 30) + 5] = 0x5a;
	assert_int_equal(pread(big->fd, &byte, 1, (8LL << 30) + 5), 1);
	assert_int_equal(byte, 0x5a);
	assert_int_equal(pread(big->fd, &byte, 1, (8LL << 30) + 6), 1);
	assert_int_equal(byte, 0);
	assert_int_equal(rl.version, 3);
	ram_list_exit(&rl);
}

static void test_resize(void **state)
{
	struct ram_block *rb, *fixed;
	struct ram_list rl;

	(void)state;
	ram_list_init(&rl, RAM_BACKING_ANON);
	assert_int_equal(ram_block_alloc(&rl, "r", 0x10000, 0x100000, RAM_RESIZEABLE, &rb), 0);
	assert_int_equal(ram_block_alloc(&rl, "f", 0x10000, 0, 0, &fixed), 0);
	assert_int_equal(rb->max_length, 0x100000);
	/* ram_addr space is reserved for max_length, not used_length. */
	assert_int_equal(fixed->offset, 0x100000);
	assert_int_equal(ram_block_resize(&rl, rb, 0x80000), 0);
	assert_int_equal(rb->used_length, 0x80000);
	assert_int_equal(ram_block_resize(&rl, rb, 0x200000), -EINVAL);
	assert_int_equal(ram_block_resize(&rl, fixed, 0x20000), -EINVAL);
	assert_int_equal(ram_block_alloc(&rl, "", 0x1000, 0, 0, &fixed), -EINVAL);
	ram_list_exit(&rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_find_offset),
	        cmocka_unit_test(test_alloc_order_and_laziness),
	        cmocka_unit_test(test_resize),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
