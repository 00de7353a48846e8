/*
 * fuzz_dump.c - libFuzzer harness for dump_parse(), the ELF core reader of
 * kvmfs -dump.
 *
 * The input is a whole core file.  Read at once, a parse must never ask for
 * more of the file; read from a prefix, it may, but only for bytes the file
 * has.  Whatever it accepts must be a core kvmfs can map: every range's
 * bytes inside the file, whole pages, sorted and apart, no more vCPUs than
 * notes; whatever it refuses must say why in one line.
 *
 *   make fuzz-build && build-fuzz/fuzz_dump tests/fuzz/corpus/fuzz_dump
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inspect/dumpfile.h"

static void check(const struct dump *d, int ret, const char *err, uint64_t file_size)
{
	size_t i;

	if (ret) {
		/* A refusal says why, in one line (ENOEXEC "not an ELF file" included). */
		if (!err[0] || strchr(err, '\n'))
			abort();
		return;
	}
	if (!d->nr_ranges)
		abort();
	for (i = 0; i < d->nr_ranges; i++) {
		const struct machine_file_range *r = &d->ranges[i];

		if (r->file_offset > file_size || r->file_len > file_size - r->file_offset ||
		    r->file_len > r->size || !r->size || ((r->gpa | r->size) & 4095))
			abort();
		if (i && d->ranges[i - 1].gpa + d->ranges[i - 1].size > r->gpa)
			abort();
	}
	if (d->vmcoreinfo && strlen(d->vmcoreinfo) != d->vmcoreinfo_len)
		abort();
}

static void release(struct dump *d)
{
	free(d->ranges);
	free(d->cpus);
	free(d->vmcoreinfo);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dump d;
	char err[512];
	size_t need;
	int ret;

	memset(&d, 0, sizeof(d));
	err[0] = '\0';
	ret = dump_parse(&d, data, size, size, &need, err, sizeof(err));
	if (ret == -EAGAIN)
		abort(); /* it had the whole file */
	check(&d, ret, err, size);
	release(&d);

	/* Half of it at hand, as dump_open's first read may be. */
	memset(&d, 0, sizeof(d));
	err[0] = '\0';
	ret = dump_parse(&d, data, size / 2, size, &need, err, sizeof(err));
	if (ret == -EAGAIN) {
		if (need <= size / 2 || need > size)
			abort();
	} else {
		check(&d, ret, err, size);
	}
	release(&d);
	return 0;
}
