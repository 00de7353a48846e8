/*
 * fuzz_size.c - libFuzzer harness for cmdline_parse_size(), QEMU's -m syntax.
 *
 * The input is the argument; the result is compared with a reference
 * written from the syntax alone (README, cmdline.h): optional "size=",
 * decimal digits, an optional K/M/G/T suffix in either case with an optional
 * B after it, a plain number meaning MiB; zero, fractions and overflow are
 * refused.  An error must be one line naming the argument.
 *
 *   make fuzz-build && build-fuzz/fuzz_size tests/fuzz/corpus/fuzz_size
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"

/* The value the syntax gives s, or false when it is not a valid size. */
static bool reference(const char *s, uint64_t *out)
{
	unsigned __int128 v = 0;
	unsigned shift = 20;
	bool big = false;

	if (!strncmp(s, "size=", 5))
		s += 5;
	if (!isdigit((unsigned char)*s))
		return false;
	while (isdigit((unsigned char)*s)) {
		v = v * 10 + (unsigned)(*s++ - '0');
		if (v > UINT64_MAX)
			big = true, v = (unsigned __int128)UINT64_MAX + 1;
	}
	if (*s) {
		const char *u = strchr("KMGT", toupper((unsigned char)*s));

		if (!u || !*u)
			return false;
		shift = 10 * (unsigned)(u - "KMGT" + 1);
		s++;
		if (*s && !((*s == 'B' || *s == 'b') && !s[1]))
			return false;
	}
	if (big || !v || v > (UINT64_MAX >> shift))
		return false;
	*out = (uint64_t)v << shift;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *arg = malloc(size + 1), err[256] = "";
	uint64_t got = 0, want = 0;
	bool ok;
	int ret;

	if (!arg)
		return 0;
	memcpy(arg, data, size);
	arg[size] = '\0';
	ret = cmdline_parse_size(arg, &got, err, sizeof(err));
	ok = reference(arg, &want);
	if (ok != (ret == CMDLINE_OK) || (ok && got != want)) {
		fprintf(stderr, "'%s': parser %d %llu '%s', reference %d %llu\n", arg, ret,
		        (unsigned long long)got, err, ok, (unsigned long long)want);
		abort();
	}
	if (!ok && (!err[0] || strchr(err, '\n') || strncmp(err, "-m '", 4)))
		abort(); /* one line, naming the option */
	free(arg);
	return 0;
}
