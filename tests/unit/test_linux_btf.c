/*
 * test_linux_btf.c - the BTF parser on a hand-built blob: member offsets
 * through nested and anonymous structs and unions, bitfields, sizes of
 * arrays, pointers and typedef chains; and blobs it must refuse (bad
 * magic, sections past the end, a record cut short, an unknown kind, a
 * string section without its NUL), and a typedef loop that must not hang;
 * enumerator values, an anonymous enum found by a sibling enumerator.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "inspect/linux_btf.h"
#include "util/bytes.h"
#include "util/compiler.h"

/* A blob under construction: header, types, strings. */
struct blob {
	uint8_t types[1024], strs[256], out[2048];
	size_t ntypes, nstrs;
};

static uint32_t str(struct blob *b, const char *s)
{
	uint32_t off = (uint32_t)b->nstrs;

	memcpy(b->strs + b->nstrs, s, strlen(s) + 1);
	b->nstrs += strlen(s) + 1;
	return off;
}

static void u32(struct blob *b, uint32_t v)
{
	put32(b->types + b->ntypes, v);
	b->ntypes += 4;
}

static void type(struct blob *b, const char *name, unsigned kind, unsigned vlen, bool kflag,
                 uint32_t size_or_type)
{
	u32(b, name ? str(b, name) : 0);
	u32(b, (uint32_t)kind << 24 | vlen | (kflag ? 1u << 31 : 0));
	u32(b, size_or_type);
}

static void member(struct blob *b, const char *name, uint32_t t, uint32_t bit_off)
{
	u32(b, name ? str(b, name) : 0);
	u32(b, t);
	u32(b, bit_off);
}

/* The header and both sections into b->out; its length. */
static size_t finish(struct blob *b)
{
	put16(b->out, LINUX_BTF_MAGIC);
	b->out[2] = 1;
	b->out[3] = 0;
	put32(b->out + 4, 24);
	put32(b->out + 8, 0);
	put32(b->out + 12, (uint32_t)b->ntypes);
	put32(b->out + 16, (uint32_t)b->ntypes);
	put32(b->out + 20, (uint32_t)b->nstrs);
	memcpy(b->out + 24, b->types, b->ntypes);
	memcpy(b->out + 24 + b->ntypes, b->strs, b->nstrs);
	return 24 + b->ntypes + b->nstrs;
}

/*
 * The types, by id:
 *   1 int (4)            2 struct inner {int a; int b;}       (8)
 *   3 struct outer { int x; union { struct inner in; int y; }; struct inner *p;
 *                    inner_t t; int arr[3]; }                  (40)
 *   4 the anonymous union (8)   5 struct inner *   6 typedef struct inner inner_t
 *   7 int[3]   8 struct bits { unsigned f1:3, f2:5; } (4)   9 const inner_t
 *  10 typedef loop_t loop_t (a loop)
 */
static size_t build(struct blob *b)
{
	memset(b, 0, sizeof(*b));
	str(b, ""); /* offset 0: the empty name */
	type(b, "int", LINUX_BTF_INT, 0, false, 4);
	u32(b, 32); /* encoding: 32 bits */
	type(b, "inner", LINUX_BTF_STRUCT, 2, false, 8);
	member(b, "a", 1, 0);
	member(b, "b", 1, 32);
	type(b, "outer", LINUX_BTF_STRUCT, 5, false, 40);
	member(b, "x", 1, 0);
	member(b, NULL, 4, 64);
	member(b, "p", 5, 128);
	member(b, "t", 9, 192);
	member(b, "arr", 7, 256);
	type(b, NULL, LINUX_BTF_UNION, 2, false, 8);
	member(b, "in", 2, 0);
	member(b, "y", 1, 0);
	type(b, NULL, LINUX_BTF_PTR, 0, false, 2);
	type(b, "inner_t", LINUX_BTF_TYPEDEF, 0, false, 2);
	type(b, NULL, LINUX_BTF_ARRAY, 0, false, 0);
	u32(b, 1);
	u32(b, 1);
	u32(b, 3);
	type(b, "bits", LINUX_BTF_STRUCT, 2, true, 4);
	member(b, "f1", 1, 3u << 24 | 0);
	member(b, "f2", 1, 5u << 24 | 3);
	type(b, NULL, LINUX_BTF_CONST, 0, false, 6);
	type(b, "loop_t", LINUX_BTF_TYPEDEF, 0, false, 10);
	return finish(b);
}

static const struct {
	const char *type, *path;
	int ret;
	uint64_t offset;
} offset_cases[] = {
        {"outer", "x", 0, 0},          {"outer", "y", 0, 8}, /* a member of the anonymous union */
        {"outer", "in", 0, 8},                               /* the same */
        {"outer", "in.b", 0, 12}, /* through it, then into struct inner */
        {"outer", "p", 0, 16},         {"outer", "t.b", 0, 28},      /* through const and typedef */
        {"outer", "arr", 0, 32},       {"outer", "p.a", -ENOENT, 0}, /* a pointer is not followed */
        {"outer", "nope", -ENOENT, 0}, {"outer", "in.", -ENOENT, 0},
        {"nope", "x", -ENOENT, 0},     {"inner", "b", 0, 4},
};

static void test_offsets(void **state)
{
	static struct blob b;
	struct linux_btf btf;
	char err[128];
	size_t len = build(&b), i;

	(void)state;
	assert_int_equal(linux_btf_parse(&btf, b.out, len, err, sizeof(err)), 0);
	assert_int_equal(btf.nr, 11);
	for (i = 0; i < ARRAY_SIZE(offset_cases); i++) {
		uint64_t off = 0;
		int ret =
		        linux_btf_offsetof(&btf, offset_cases[i].type, offset_cases[i].path, &off);

		if (ret != offset_cases[i].ret || (!ret && off != offset_cases[i].offset))
			fail_msg("%s.%s: ret %d offset %llu", offset_cases[i].type,
			         offset_cases[i].path, ret, (unsigned long long)off);
	}
	linux_btf_free(&btf);
}

static void test_types(void **state)
{
	static struct blob b;
	struct linux_btf btf;
	struct linux_btf_member m;
	uint64_t size;
	char err[128];
	size_t len = build(&b);

	(void)state;
	assert_int_equal(linux_btf_parse(&btf, b.out, len, err, sizeof(err)), 0);
	assert_int_equal(linux_btf_find(&btf, LINUX_BTF_STRUCT, "outer"), 3);
	assert_int_equal(linux_btf_find(&btf, LINUX_BTF_UNION, "outer"), -ENOENT);
	assert_int_equal(linux_btf_kind(&btf, 4), LINUX_BTF_UNION);
	assert_int_equal(linux_btf_kind(&btf, 99), LINUX_BTF_UNKN);
	assert_int_equal(linux_btf_sizeof(&btf, "outer", &size), 0);
	assert_int_equal(size, 40);
	assert_int_equal(linux_btf_size(&btf, 7, &size), 0); /* int[3] */
	assert_int_equal(size, 12);
	assert_int_equal(linux_btf_size(&btf, 9, &size), 0); /* const inner_t */
	assert_int_equal(size, 8);
	assert_int_equal(linux_btf_size(&btf, 5, &size), 0); /* a pointer */
	assert_int_equal(size, 8);
	assert_int_equal(linux_btf_resolve(&btf, 9), 2);
	assert_int_equal(linux_btf_target(&btf, 5), 2);
	assert_int_equal(linux_btf_target(&btf, 7), 1);
	assert_int_equal(linux_btf_target(&btf, 1), 0);
	/* A typedef that names itself: refused, not followed forever. */
	assert_int_equal(linux_btf_size(&btf, 10, &size), -EINVAL);
	assert_int_equal(linux_btf_size(&btf, 0, &size), -EINVAL);
	/* Bitfields: where each starts and how wide it is. */
	assert_int_equal(linux_btf_member(&btf, 8, "f2", &m), 0);
	assert_int_equal(m.offset, 0);
	assert_int_equal(m.bitshift, 3);
	assert_int_equal(m.bitsize, 5);
	assert_int_equal(linux_btf_member(&btf, 8, "f1", &m), 0);
	assert_int_equal(m.bitsize, 3);
	linux_btf_free(&btf);
}

static void test_refused(void **state)
{
	static struct blob b;
	struct linux_btf btf;
	char err[128];
	size_t len;

	(void)state;
	len = build(&b);
	b.out[0] ^= 1; /* magic */
	assert_int_equal(linux_btf_parse(&btf, b.out, len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "magic"));

	len = build(&b);
	assert_int_equal(linux_btf_parse(&btf, b.out, len - 1, err, sizeof(err)), -EINVAL);

	len = build(&b);
	put32(b.out + 12, (uint32_t)b.ntypes - 4); /* the last record cut short */
	assert_int_equal(linux_btf_parse(&btf, b.out, len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "malformed"));

	len = build(&b);
	b.out[24 + 4 + 3] = 31; /* type 1's kind: none btf.h knows */
	assert_int_equal(linux_btf_parse(&btf, b.out, len, err, sizeof(err)), -EINVAL);

	len = build(&b);
	b.out[len - 1] = 'x'; /* the string section's last NUL */
	assert_int_equal(linux_btf_parse(&btf, b.out, len, err, sizeof(err)), -EINVAL);

	assert_int_equal(linux_btf_parse(&btf, b.out, 10, err, sizeof(err)), -EINVAL);
}

static void enumerator(struct blob *b, const char *name, int32_t v)
{
	u32(b, str(b, name));
	u32(b, (uint32_t)v);
}

/* An anonymous enum found by its members (vsyscall_mode's), past another with NONE. */
static void test_enum_value(void **state)
{
	struct linux_btf btf;
	struct blob b;
	char err[128];
	int64_t v = 0;

	(void)state;
	memset(&b, 0, sizeof(b));
	str(&b, "");
	type(&b, "other", LINUX_BTF_ENUM, 2, false, 4);
	enumerator(&b, "NONE", 7);
	enumerator(&b, "SOME", -1);
	type(&b, NULL, LINUX_BTF_ENUM, 3, false, 4);
	enumerator(&b, "EMULATE", 0);
	enumerator(&b, "XONLY", 1);
	enumerator(&b, "NONE", 2);
	type(&b, "big", LINUX_BTF_ENUM64, 2, false, 8);
	u32(&b, str(&b, "WIDE"));
	u32(&b, 5);
	u32(&b, 1);
	u32(&b, str(&b, "TAG"));
	u32(&b, 0);
	u32(&b, 0);
	assert_int_equal(linux_btf_parse(&btf, b.out, finish(&b), err, sizeof(err)), 0);
	assert_int_equal(linux_btf_enum_value(&btf, "EMULATE", "NONE", &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(linux_btf_enum_value(&btf, "SOME", "NONE", &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(linux_btf_enum_value(&btf, "SOME", "SOME", &v), 0);
	assert_int_equal(v, -1);
	assert_int_equal(linux_btf_enum_value(&btf, "TAG", "WIDE", &v), 0);
	assert_true(v == (int64_t)(1ULL << 32 | 5));
	assert_int_equal(linux_btf_enum_value(&btf, "EMULATE", "SOME", &v), -ENOENT);
	assert_int_equal(linux_btf_enum_value(&btf, "NOPE", "NONE", &v), -ENOENT);
	linux_btf_free(&btf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_offsets),
	        cmocka_unit_test(test_types),
	        cmocka_unit_test(test_refused),
	        cmocka_unit_test(test_enum_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
