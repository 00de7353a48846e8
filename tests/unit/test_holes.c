/*
 * test_holes.c - reading guest memory does not populate it: the runs of data
 * and holes a block reports (memfd and anonymous backing alike), SEEK_DATA /
 * SEEK_HOLE from them, the pieces of a guest-physical read, and whole reads
 * of phys and of the vmcore of a real pc machine that leave exactly the
 * pages written beforehand resident, with the right bytes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "inspect/vmcore.h"
#include "machine/machine.h"
#include "memory/phys.h"
#include "memory/ram.h"
#include "util/compiler.h"

#define PAGE 4096ULL
#define MIB  (1ULL << 20)

static const enum ram_backing backings[] = {RAM_BACKING_MEMFD, RAM_BACKING_ANON};
static const char *const backing_names[] = {"memfd", "anon"};

/* Pages of [host, host+len) the kernel holds for it: what a read must not change. */
static uint64_t resident_pages(const uint8_t *host, uint64_t len)
{
	uint64_t pages = len / PAGE, i, n = 0;
	unsigned char *vec = malloc(pages);

	assert_non_null(vec);
	assert_int_equal(mincore((void *)host, len, vec), 0);
	for (i = 0; i < pages; i++)
		n += vec[i] & 1;
	free(vec);
	return n;
}

struct run {
	uint64_t off, len;
	bool data;
};

struct runs {
	struct run r[16];
	unsigned nr;
	unsigned stop_at; /* return 7 on this run (1-based); 0: never */
};

static int collect(void *opaque, uint64_t off, uint64_t len, bool data)
{
	struct runs *rs = opaque;

	assert_true(rs->nr < 16);
	rs->r[rs->nr++] = (struct run){off, len, data};
	return rs->nr == rs->stop_at ? 7 : 0;
}

static void expect_runs(const struct runs *got, const struct run *want, unsigned nr,
                        const char *what)
{
	unsigned i;

	if (got->nr != nr)
		fail_msg("%s: %u runs, want %u", what, got->nr, nr);
	for (i = 0; i < nr; i++)
		if (got->r[i].off != want[i].off || got->r[i].len != want[i].len ||
		    got->r[i].data != want[i].data)
			fail_msg("%s: run %u is %s 0x%llx+0x%llx, want %s 0x%llx+0x%llx", what, i,
			         got->r[i].data ? "data" : "hole",
			         (unsigned long long)got->r[i].off,
			         (unsigned long long)got->r[i].len, want[i].data ? "data" : "hole",
			         (unsigned long long)want[i].off, (unsigned long long)want[i].len);
}

/* Pages 3, 4, 100 and the last one of a 64 MiB block are written; nothing else. */
#define BLOCK (64 * MIB)
#define LAST  (BLOCK / PAGE - 1)

static const struct run whole[] = {
        {0, 3 * PAGE, false},
        {3 * PAGE, 2 * PAGE, true},
        {5 * PAGE, 95 * PAGE, false},
        {100 * PAGE, PAGE, true},
        {101 * PAGE, (LAST - 101) * PAGE, false},
        {LAST * PAGE, PAGE, true},
};
/* [3 pages + 5, 100 pages + 7): cut inside pages, at both ends. */
static const struct run middle[] = {
        {3 * PAGE + 5, 2 * PAGE - 5, true},
        {5 * PAGE, 95 * PAGE, false},
        {100 * PAGE, 7, true},
};

struct seek_case {
	uint64_t off;
	int whence;
	int ret;
	uint64_t want;
};

static const struct seek_case seeks[] = {
        {0, SEEK_DATA, 0, 3 * PAGE},
        {0, SEEK_HOLE, 0, 0},
        {3 * PAGE + 1, SEEK_HOLE, 0, 5 * PAGE},
        {5 * PAGE, SEEK_DATA, 0, 100 * PAGE},
        {101 * PAGE + 1, SEEK_DATA, 0, LAST *PAGE},
        {LAST * PAGE, SEEK_HOLE, 0, BLOCK},
        {BLOCK, SEEK_DATA, -ENXIO, 0},
        {BLOCK, SEEK_HOLE, -ENXIO, 0},
};

static void test_block_runs_and_seek(void **state)
{
	size_t b, i;

	(void)state;
	for (b = 0; b < 2; b++) {
		struct ram_list rl;
		struct ram_block *rb;
		struct runs rs = {0};
		uint64_t out = 0;

		ram_list_init(&rl, backings[b]);
		assert_int_equal(ram_block_alloc(&rl, "h", BLOCK, 0, 0, &rb), 0);
		rb->host[3 * PAGE + 10] = 1;
		rb->host[4 * PAGE] = 2;
		rb->host[100 * PAGE + 4095] = 3;
		rb->host[LAST * PAGE] = 4;
		assert_int_equal(resident_pages(rb->host, BLOCK), 4);

		assert_int_equal(ram_block_extents(rb, 0, BLOCK, collect, &rs), 0);
		expect_runs(&rs, whole, 6, backing_names[b]);
		rs = (struct runs){0};
		assert_int_equal(ram_block_extents(rb, 3 * PAGE + 5, 97 * PAGE + 2, collect, &rs),
		                 0);
		expect_runs(&rs, middle, 3, backing_names[b]);
		/* Clipped to the block; nothing at all past it. */
		rs = (struct runs){0};
		assert_int_equal(ram_block_extents(rb, LAST * PAGE, 10 * PAGE, collect, &rs), 0);
		expect_runs(&rs, &whole[5], 1, backing_names[b]);
		rs = (struct runs){0};
		assert_int_equal(ram_block_extents(rb, BLOCK, PAGE, collect, &rs), 0);
		assert_int_equal(rs.nr, 0);
		/* fn's non-zero value ends the walk and comes back. */
		rs = (struct runs){.stop_at = 2};
		assert_int_equal(ram_block_extents(rb, 0, BLOCK, collect, &rs), 7);
		assert_int_equal(rs.nr, 2);

		for (i = 0; i < ARRAY_SIZE(seeks); i++) {
			const struct seek_case *c = &seeks[i];
			int ret = ram_block_seek(rb, c->off, c->whence, &out);

			if (ret != c->ret || (!ret && out != c->want))
				fail_msg("%s: seek %s from 0x%llx: %d/0x%llx, want %d/0x%llx",
				         backing_names[b], c->whence == SEEK_DATA ? "data" : "hole",
				         (unsigned long long)c->off, ret, (unsigned long long)out,
				         c->ret, (unsigned long long)c->want);
		}
		/* Asking populated nothing. */
		assert_int_equal(resident_pages(rb->host, BLOCK), 4);
		ram_list_exit(&rl);
	}
}

/* as_read_pieces' pieces, kept: bytes or NULL, and length. */
struct pieces {
	const void *bytes[16];
	size_t len[16];
	unsigned nr;
};

static int keep_piece(void *opaque, const void *bytes, size_t len)
{
	struct pieces *p = opaque;

	assert_true(p->nr < 16);
	p->bytes[p->nr] = bytes;
	p->len[p->nr++] = len;
	return 0;
}

static int count_piece(void *opaque, const void *bytes, size_t len)
{
	(void)bytes;
	*(uint64_t *)opaque += len;
	return 0;
}

static void test_machine_reads(void **state)
{
	size_t b;

	(void)state;
	for (b = 0; b < 2; b++) {
		struct machine_config mc = {
		        .type = "pc", .ram_size = 512 * MIB, .cpus = 1, .backing = backings[b]};
		struct vmcore_info info = {.machine = "pc", .ram_size = 512 * MIB, .nr_cpus = 1};
		struct machine m;
		struct ram_block *ram;
		struct vmcore *vc = NULL;
		struct pieces p = {0};
		uint8_t *buf = malloc(MIB), *want = malloc(MIB);
		uint64_t size, gpa, off, walked = 0, before;

		assert_true(buf && want);
		assert_int_equal(machine_init(&m, &mc), 0);
		ram = m.ram_block;
		/* Bytes at GPA 0x1000 and in the page at 300 MiB; nothing else of pc.ram. */
		memcpy(ram->host + 0x1000, "KVMFSSTA", 8);
		memset(ram->host + 300 * MIB, 0x5a, PAGE);
		before = resident_pages(ram->host, ram->used_length);
		assert_int_equal(before, 2);

		/* The pieces of [300 MiB - 1 page, 300 MiB + 2 pages): zeros, the page, zeros. */
		assert_int_equal(
		        as_read_pieces(&m.as, 300 * MIB - PAGE, 3 * PAGE, false, keep_piece, &p),
		        3 * PAGE);
		assert_int_equal(p.nr, 3);
		assert_null(p.bytes[0]);
		assert_int_equal(p.len[0], PAGE);
		assert_ptr_equal(p.bytes[1], ram->host + 300 * MIB);
		assert_int_equal(p.len[1], PAGE);
		assert_null(p.bytes[2]);
		assert_int_equal(p.len[2], PAGE);

		/*
		 * All of phys, read: the RAM below the legacy hole and above 1 MiB
		 * holds zeros but for the two places written.
		 */
		size = phys_size(&m.as);
		for (gpa = 0; gpa < size; gpa += MIB) {
			size_t n = size - gpa < MIB ? (size_t)(size - gpa) : MIB;

			memset(buf, 0xee, n);
			phys_read(&m.as, gpa, buf, n);
			memset(want, 0, MIB);
			if (gpa == 0)
				memcpy(want + 0x1000, "KVMFSSTA", 8);
			if (gpa == 300 * MIB)
				memset(want, 0x5a, PAGE);
			if (gpa == 0)
				assert_memory_equal(buf, want, 0xa0000);
			else if (gpa < 512 * MIB)
				assert_memory_equal(buf, want, n);
		}
		assert_int_equal(resident_pages(ram->host, ram->used_length), before);

		/* The whole vmcore too, as the FS reads it: in pieces. */
		assert_int_equal(vmcore_build(&m.as, &info, &vc), 0);
		for (off = 0; off < vc->size; off += MIB)
			vmcore_read_pieces(vc, &m.as, off, MIB, count_piece, &walked);
		assert_true(walked >= vc->size);
		vmcore_free(vc);
		assert_int_equal(resident_pages(ram->host, ram->used_length), before);
		machine_exit(&m);
		free(buf);
		free(want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_block_runs_and_seek),
	        cmocka_unit_test(test_machine_reads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
