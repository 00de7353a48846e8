/*
 * test_qemu_json.c - the JSON reader kvmfs -attach reads QMP with: QMP's
 * own replies (greeting, return, error, events), nesting to its bound and
 * past it, every escape (surrogate pairs, lone halves, \u0000), numbers
 * past INT64_MAX and negative ones (past UINT64_MAX refused), and texts it must refuse: truncated
 * at every byte, trailing garbage, bare control characters, bad literals.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "qemu/json.h"

static struct json *parse(const char *text)
{
	struct json *j = NULL;

	if (json_parse(text, strlen(text), &j))
		fail_msg("refused: %s", text);
	return j;
}

static void refused(const char *text, size_t len)
{
	struct json *j = NULL;
	int ret = json_parse(text, len, &j);

	if (ret != -EINVAL)
		fail_msg("took %d bytes of \"%s\" (ret %d)", (int)len, text, ret);
}

static void test_qmp_replies(void **state)
{
	struct json *j;
	const struct json *v, *e;

	(void)state;
	j = parse("{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, "
	          "\"package\": \"Debian 1:7.2+dfsg-7+deb12u18\"}, \"capabilities\": "
	          "[\"oob\"]}}\r\n");
	v = json_get(json_get(json_get(json_get(j, "QMP"), "version"), "qemu"), "major");
	assert_non_null(v);
	assert_int_equal(v->type, JSON_NUMBER);
	assert_int_equal(v->num, 7);
	assert_string_equal(json_get_str(json_get(json_get(j, "QMP"), "version"), "package"),
	                    "Debian 1:7.2+dfsg-7+deb12u18");
	v = json_get(json_get(j, "QMP"), "capabilities");
	assert_int_equal(json_array_len(v), 1);
	assert_string_equal(v->child->str, "oob");
	/* Absent keys and wrong types are NULL, not a crash. */
	assert_null(json_get(j, "return"));
	assert_null(json_get_str(j, "QMP"));
	assert_null(json_get(v, "oob"));
	assert_int_equal(json_array_len(j), 0);
	json_free(j);

	j = parse("{\"return\": {}}");
	v = json_get(j, "return");
	assert_int_equal(v->type, JSON_OBJECT);
	assert_null(v->child);
	json_free(j);

	j = parse(
	        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid parameter 'x'\"}}");
	assert_string_equal(json_get_str(json_get(j, "error"), "desc"), "Invalid parameter 'x'");
	json_free(j);

	j = parse(
	        "{\"return\": [{\"current\": true, \"CPU\": 0, \"qom_path\": \"/machine/unattached/"
	        "device[0]\", \"thread_id\": 1234, \"halted\": false}, {\"CPU\": 1}, null]}");
	v = json_get(j, "return");
	assert_int_equal(json_array_len(v), 3);
	e = v->child;
	assert_int_equal(json_get(e, "current")->type, JSON_BOOL);
	assert_true(json_get(e, "current")->boolean);
	assert_false(json_get(e, "halted")->boolean);
	assert_int_equal(json_get(e, "thread_id")->num, 1234);
	assert_int_equal(json_get(e->next, "CPU")->num, 1);
	assert_int_equal(e->next->next->type, JSON_NULL);
	json_free(j);
}

static void test_escapes(void **state)
{
	struct json *j;

	(void)state;
	j = parse("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"");
	assert_string_equal(j->str, "a\"b\\c/d\b\f\n\r\t");
	assert_int_equal(j->len, strlen("a\"b\\c/d\b\f\n\r\t"));
	json_free(j);
	/* HMP text comes back with \r\n, and QEMU escapes non-ASCII. */
	j = parse("\"pc.ram\\r\\n\\u00e9\\u20ac\\ud83d\\ude00\"");
	assert_string_equal(j->str, "pc.ram\r\n\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	json_free(j);
	/* A lone high half is kept as a code point of its own; the next escape is read. */
	j = parse("\"\\ud800\\u0041\"");
	assert_string_equal(j->str, "\xed\xa0\x80"
	                            "A");
	json_free(j);
	/* \u0000 ends the C string, not the value: len counts it. */
	j = parse("\"ab\\u0000cd\"");
	assert_int_equal(j->len, 5);
	assert_memory_equal(j->str, "ab\0cd", 5);
	json_free(j);
	/* Keys are decoded like values. */
	j = parse("{\"k\\u0065y\": \"v\"}");
	assert_string_equal(json_get_str(j, "key"), "v");
	json_free(j);
	/* Raw UTF-8 passes through. */
	j = parse("\"\xc3\xa9\"");
	assert_string_equal(j->str, "\xc3\xa9");
	json_free(j);
}

static void test_numbers(void **state)
{
	struct json *j;

	(void)state;
	j = parse("[0, -1, 9223372036854775807, 18446744073709551615, 4294967296, 1.5, 2e3, -0]");
	const struct json *e = j->child;
	assert_int_equal(e->num, 0);
	e = e->next;
	assert_int_equal(e->num, -1);
	e = e->next;
	assert_true(e->num == INT64_MAX);
	e = e->next;
	assert_true(e->unum == UINT64_MAX); /* a 64-bit address QMP may send */
	e = e->next;
	assert_true(e->unum == 1ULL << 32);
	e = e->next;
	assert_int_equal(e->num, 1); /* the integer part */
	e = e->next;
	assert_int_equal(e->num, 2);
	e = e->next;
	assert_int_equal(e->num, 0);
	json_free(j);
}

static void test_nesting(void **state)
{
	char deep[2 * 70 + 1];
	struct json *j;
	const struct json *v;
	int i, n;

	(void)state;
	j = parse(" { \"a\" : [ { \"b\" : { \"c\" : [ [ ] , { } , \"x\" ] } } ] } ");
	v = json_get(json_get(json_get(j, "a")->child, "b"), "c");
	assert_int_equal(json_array_len(v), 3);
	assert_int_equal(v->child->type, JSON_ARRAY);
	assert_null(v->child->child);
	assert_int_equal(v->child->next->type, JSON_OBJECT);
	assert_string_equal(v->child->next->next->str, "x");
	json_free(j);
	/* 64 levels below the top are read; one more is refused (a bounded stack). */
	for (n = 65; n <= 66; n++) {
		for (i = 0; i < n; i++) {
			deep[i] = '[';
			deep[2 * n - 1 - i] = ']';
		}
		deep[2 * n] = '\0';
		if (n == 65) {
			j = parse(deep);
			for (v = j, i = 1; v->child; v = v->child)
				i++;
			assert_int_equal(i, 65);
			json_free(j);
		} else {
			refused(deep, strlen(deep));
		}
	}
}

static void test_refused(void **state)
{
	static const char *const bad[] = {
	        "",
	        "   ",
	        "{",
	        "}",
	        "[1,]",
	        "[1 2]",
	        "{\"a\" 1}",
	        "{\"a\":}",
	        "{a:1}",
	        "{\"a\":1,}",
	        "\"abc",
	        "\"a\\\"",
	        "\"\\x\"",
	        "\"\\u12\"",
	        "\"\\u12g4\"",
	        "tru",
	        "nul",
	        "falsey",
	        "-",
	        "+1",
	        "{} {}",
	        "[1] x",
	        "\"a\nb\"",
	        "\"\t\"",
	        "{\"a\":1}}",
	        "[\"a\",",
	        "{\"a\":[1,2}",
	        "'single'",
	        "\"\\",
	        ".5",
	        "18446744073709551616",
	        "[99999999999999999999]",
	};
	/* A QMP reply cut anywhere is refused, never read as a shorter value. */
	static const char full[] = "{\"return\": {\"a\": [1, \"t\\u00e9xt\", {\"b\": null}], "
	                           "\"c\": true}}";
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refused(bad[i], strlen(bad[i]));
	for (i = 0; i < sizeof(full) - 1; i++)
		refused(full, i);
	json_free(parse(full));
	/* A NUL inside the given length is not white space. */
	refused("{}\0", 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_qmp_replies), cmocka_unit_test(test_escapes),
	        cmocka_unit_test(test_numbers),     cmocka_unit_test(test_nesting),
	        cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
