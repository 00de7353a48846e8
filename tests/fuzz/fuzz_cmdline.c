/*
 * fuzz_cmdline.c - libFuzzer harness for cmdline_parse(): the whole command
 * line, QEMU spellings and kvmfs's own options, -object included.
 *
 * The input is an argument vector, arguments separated by NUL bytes.  Every
 * vector either parses into options that hold the promises made to the rest
 * of kvmfs (RAM at least 2 MiB, a multiple of 8 KiB; a known machine; 1..16
 * vCPUs; backend ids non-empty, distinct, no longer than a RAM block's idstr)
 * or is refused with exactly one non-empty line.  Parsing twice gives the
 * same answer (getopt keeps state between calls).
 *
 *   make fuzz-build && build-fuzz/fuzz_cmdline tests/fuzz/corpus/fuzz_cmdline
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmdline.h"
#include "kvmfs/guest.h"
#include "machine/machine.h"

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* --help prints; keep the fuzzer's output readable. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	if (!freopen("/dev/null", "w", stdout))
		return 0;
	return 0;
}

static int parse(char *buf, size_t size, struct options *o, char *err, size_t errlen)
{
	char *argv[MAX_ARGS + 2];
	int argc = 0;
	size_t i = 0;

	argv[argc++] = "kvmfs";
	while (i < size && argc < MAX_ARGS) {
		argv[argc++] = buf + i;
		i += strlen(buf + i) + 1;
	}
	argv[argc] = NULL;
	return cmdline_parse(argc, argv, o, err, errlen);
}

static void check_options(const struct options *o)
{
	unsigned i, j;

	if (o->ram_size < CMDLINE_MIN_RAM || o->ram_size % 8192 || !machine_find(o->machine) ||
	    !o->cpus || o->cpus > GUEST_MAX_CPUS || o->nr_backends > MACHINE_MAX_BACKENDS ||
	    !o->sweep_ms || o->sweep_ms > 10000)
		abort();
	for (i = 0; i < o->nr_backends; i++) {
		if (!o->backends[i].id[0] || strlen(o->backends[i].id) > RAM_IDSTR_MAX ||
		    !o->backends[i].size)
			abort();
		for (j = 0; j < i; j++)
			if (!strcmp(o->backends[i].id, o->backends[j].id))
				abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), err[512], err2[512];
	static struct options o, o2; /* 2 KiB each: keep them off the stack */
	int ret, ret2;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	err[0] = err2[0] = '\0';
	ret = parse(buf, size, &o, err, sizeof(err));
	ret2 = parse(buf, size, &o2, err2, sizeof(err2));
	if (ret != ret2 || (ret == CMDLINE_ERROR && strcmp(err, err2)))
		abort();
	if (ret == CMDLINE_OK)
		check_options(&o);
	else if (ret == CMDLINE_ERROR && (!err[0] || strchr(err, '\n')))
		abort();
	else if (ret != CMDLINE_OK && ret != CMDLINE_ERROR && ret != CMDLINE_EXIT &&
	         ret != CMDLINE_VERSION)
		abort();
	free(buf);
	return 0;
}
