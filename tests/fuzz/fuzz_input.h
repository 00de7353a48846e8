/*
 * fuzz_input.h - reading a libFuzzer input as a stream of small decisions.
 *
 * Harnesses turn the fuzzer's bytes into region trees, block names and
 * argument vectors.  Once the input runs out every read returns 0, so any
 * input, however short, describes a complete (if small) case.
 */
#ifndef KVMFS_FUZZ_INPUT_H
#define KVMFS_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	uint8_t v;

	if (!in->n)
		return 0;
	v = *in->p++;
	in->n--;
	return v;
}

static inline uint64_t fuzz_u64(struct fuzz_in *in, unsigned bytes)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < bytes; i++)
		v |= (uint64_t)fuzz_u8(in) << (8 * i);
	return v;
}

/* A number below n (n > 0). */
static inline uint32_t fuzz_below(struct fuzz_in *in, uint32_t n)
{
	return n <= 256 ? fuzz_u8(in) % n : (uint32_t)(fuzz_u64(in, 4) % n);
}

#endif
