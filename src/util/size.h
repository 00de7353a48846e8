/*
 * size.h - a byte count written the way QEMU's -m reads it: "6G", "2056K".
 */
#ifndef KVMFS_UTIL_SIZE_H
#define KVMFS_UTIL_SIZE_H

#include <stddef.h>
#include <stdint.h>

/* Room for any size_format text: "18446744073709551615B" and its NUL. */
#define SIZE_TEXT_LEN 24

/*
 * size in the largest of K, M, G, T that divides it, so that the text reads
 * back as exactly size ("6G" for 6144 MiB, "2056K"); a size that is not a
 * whole KiB in bytes with a B suffix.  Writes at most len bytes to buf and
 * returns buf.
 */
const char *size_format(uint64_t size, char *buf, size_t len);

#endif
