/*
 * test_fs_passthrough.c - the bytes fs/passthrough.c changes on the wire to
 * /dev/fuse when libfuse (3.14) has no passthrough API: the INIT reply gets
 * INIT_EXT, the passthrough bit of flags2 and a stack depth of 1, only when
 * the kernel's INIT offered passthrough; an OPEN reply whose handle carries
 * the tag becomes a passthrough onto the id in the handle.  Offsets are the
 * kernel's (include/uapi/linux/fuse.h), written out here apart from the
 * code under test.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fs/internal.h"
#include "fs/passthrough.h"

#define OP_INIT      26
#define OP_OPEN      14
#define INIT_EXT     (1u << 30)
#define FLAGS2_PT    (1u << 5) /* FUSE_PASSTHROUGH, bit 37 */
#define FOPEN_KEEP   (1u << 1)
#define FOPEN_DIRECT (1u << 0)
#define FOPEN_PT     (1u << 7)

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/* A request: fuse_in_header (40 bytes) + the first 20 bytes of fuse_init_in. */
static size_t request(uint8_t *buf, uint32_t opcode, uint64_t unique, uint32_t flags,
                      uint32_t flags2)
{
	memset(buf, 0, 104);
	put32(buf + 0, 104);
	put32(buf + 4, opcode);
	put64(buf + 8, unique);
	put32(buf + 40 + 12, flags);  /* fuse_init_in.flags */
	put32(buf + 40 + 16, flags2); /* fuse_init_in.flags2 */
	return 104;
}

struct reply {
	uint8_t hdr[16], body[64];
	struct iovec iov[2];
};

static void reply(struct reply *r, uint64_t unique, int32_t error, size_t body_len)
{
	memset(r, 0, sizeof(*r));
	put32(r->hdr, 16 + (uint32_t)body_len);
	memcpy(r->hdr + 4, &error, 4);
	put64(r->hdr + 8, unique);
	r->iov[0] = (struct iovec){r->hdr, 16};
	r->iov[1] = (struct iovec){r->body, body_len};
}

static void init_pt(struct fs_passthrough *pt)
{
	memset(pt, 0, sizeof(*pt));
	pthread_mutex_init(&pt->lock, NULL);
}

static void test_init_reply_patched_when_offered(void **state)
{
	struct fs_passthrough pt;
	uint8_t in[128], buf[FS_PT_PATCH_MAX];
	struct reply r;
	const uint8_t *b;

	(void)state;
	init_pt(&pt);
	assert_true(fs_pt_wire_request(&pt, in, request(in, OP_INIT, 2, INIT_EXT, FLAGS2_PT)));
	assert_true(pt.offered);
	reply(&r, 2, 0, 64);
	put32(r.body + 12, 0x11); /* libfuse's own flags survive */
	assert_true(fs_pt_wire_reply(&pt, r.iov, 2, buf));
	b = r.iov[1].iov_base;
	assert_ptr_equal(b, buf); /* a copy: libfuse's buffer is left alone */
	assert_int_equal(get32(r.body + 12), 0x11);
	assert_int_equal(get32(b + 12), 0x11 | INIT_EXT);
	assert_int_equal(get32(b + 32), FLAGS2_PT); /* fuse_init_out.flags2 */
	assert_int_equal(get32(b + 36), 1);         /* max_stack_depth */
	assert_int_equal(r.iov[1].iov_len, 64);
	/* Another reply with the same size is not INIT's. */
	reply(&r, 3, 0, 64);
	assert_false(fs_pt_wire_reply(&pt, r.iov, 2, buf));
}

static void test_init_not_offered_is_left_alone(void **state)
{
	struct fs_passthrough pt;
	uint8_t in[128], buf[FS_PT_PATCH_MAX];
	struct reply r;

	(void)state;
	init_pt(&pt);
	/* The passthrough bit without INIT_EXT means nothing: flags2 is not valid. */
	assert_true(fs_pt_wire_request(&pt, in, request(in, OP_INIT, 2, 0, FLAGS2_PT)));
	assert_false(pt.offered);
	assert_int_equal(pt.state, FS_PT_OFF);
	assert_int_equal(pt.err, -EOPNOTSUPP);
	assert_non_null(fs_pt_why(&pt));
	reply(&r, 2, 0, 64);
	assert_false(fs_pt_wire_reply(&pt, r.iov, 2, buf));
	assert_ptr_equal(r.iov[1].iov_base, r.body);
	/* Other requests are not INIT. */
	assert_false(fs_pt_wire_request(&pt, in, request(in, OP_OPEN, 9, INIT_EXT, FLAGS2_PT)));
}

static void test_open_reply_with_the_tag(void **state)
{
	struct fs_passthrough pt;
	struct fuse_file_info fi = {.keep_cache = 1, .direct_io = 1};
	uint8_t buf[FS_PT_PATCH_MAX];
	struct reply r;
	const uint8_t *b;

	(void)state;
	init_pt(&pt);
	fs_pt_open(&pt, &fi, 7);
	assert_false(fi.keep_cache);
	assert_true(fs_pt_is_handle(fi.fh));
	reply(&r, 40, 0, 16);
	put64(r.body, fi.fh);
	put32(r.body + 8, FOPEN_KEEP | FOPEN_DIRECT);
	assert_true(fs_pt_wire_reply(&pt, r.iov, 2, buf));
	b = r.iov[1].iov_base;
	assert_int_equal(get32(b + 8), FOPEN_DIRECT | FOPEN_PT); /* keep_cache dropped: EIO */
	assert_int_equal(get32(b + 12), 7);                      /* backing_id */
}

static void test_other_replies_untouched(void **state)
{
	struct fs_passthrough pt;
	uint8_t buf[FS_PT_PATCH_MAX];
	struct reply r;

	(void)state;
	init_pt(&pt);
	/* An open of another file: its handle is a pointer (or 0). */
	reply(&r, 41, 0, 16);
	put64(r.body, (uint64_t)(uintptr_t)&pt);
	assert_false(fs_pt_wire_reply(&pt, r.iov, 2, buf));
	assert_false(fs_pt_is_handle((uint64_t)(uintptr_t)&pt));
	/* An error reply, and a notification (unique 0), even with the tag. */
	reply(&r, 42, -EIO, 16);
	put64(r.body, (uint64_t)0xfe7c0000u << 32 | 3);
	assert_false(fs_pt_wire_reply(&pt, r.iov, 2, buf));
	reply(&r, 0, 1, 16);
	put64(r.body, (uint64_t)0xfe7c0000u << 32 | 3);
	assert_false(fs_pt_wire_reply(&pt, r.iov, 2, buf));
	/* A data reply: more than two pieces, or one too big to be a header's payload. */
	reply(&r, 43, 0, 16);
	assert_false(fs_pt_wire_reply(&pt, r.iov, 1, buf));
	r.iov[1].iov_len = FS_PT_PATCH_MAX + 1;
	assert_false(fs_pt_wire_reply(&pt, r.iov, 2, buf));
}

static void test_register_refused_once_decides(void **state)
{
	struct fs_passthrough pt;

	(void)state;
	init_pt(&pt);
	/* Never offered (no INIT seen): refused without asking the kernel. */
	assert_int_equal(fs_pt_register(&pt, 0), -EOPNOTSUPP);
	assert_int_equal(pt.state, FS_PT_OFF);
	assert_string_equal(fs_pt_why(&pt),
	                    "the kernel does not offer FUSE passthrough (Linux 6.9+, "
	                    "CONFIG_FUSE_PASSTHROUGH)");
	pt.offered = true; /* a later offer changes nothing: the first refusal decided */
	assert_int_equal(fs_pt_register(&pt, 0), -EOPNOTSUPP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_init_reply_patched_when_offered),
	        cmocka_unit_test(test_init_not_offered_is_left_alone),
	        cmocka_unit_test(test_open_reply_with_the_tag),
	        cmocka_unit_test(test_other_replies_untouched),
	        cmocka_unit_test(test_register_refused_once_decides),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
