/*
 * compiler.h - the small macros every layer uses, defined once: the length
 * of an array, the struct around a member, min/max that evaluate their
 * arguments once, and rounding to a power-of-two boundary.
 */
#ifndef KVMFS_UTIL_COMPILER_H
#define KVMFS_UTIL_COMPILER_H

#include <stddef.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The structure of type `type` whose member `member` ptr points at. */
#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#define MIN(a, b)                                                                                  \
	({                                                                                         \
		__typeof__(a) min_a_ = (a);                                                        \
		__typeof__(b) min_b_ = (b);                                                        \
		min_a_ < min_b_ ? min_a_ : min_b_;                                                 \
	})
#define MAX(a, b)                                                                                  \
	({                                                                                         \
		__typeof__(a) max_a_ = (a);                                                        \
		__typeof__(b) max_b_ = (b);                                                        \
		max_a_ > max_b_ ? max_a_ : max_b_;                                                 \
	})

/* x rounded up to a multiple of align, a power of two. */
#define ROUND_UP(x, align) (((x) + ((align)-1)) & ~((__typeof__(x))(align)-1))

#endif
