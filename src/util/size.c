/*
 * size.c - byte counts as text (size.h).
 */
#include <stdio.h>

#include "util/size.h"

const char *size_format(uint64_t size, char *buf, size_t len)
{
	static const char suffix[] = "KMGT";
	int i;

	for (i = 3; i >= 0; i--) {
		unsigned shift = 10 * (unsigned)(i + 1);

		if (size && !(size & ((1ULL << shift) - 1))) {
			snprintf(buf, len, "%llu%c", (unsigned long long)(size >> shift),
			         suffix[i]);
			return buf;
		}
	}
	snprintf(buf, len, "%lluB", (unsigned long long)size);
	return buf;
}
