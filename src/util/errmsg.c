/*
 * errmsg.c - one line of error text (see errmsg.h).
 */
#include <stdarg.h>
#include <stdio.h>

#include "util/errmsg.h"

int errmsg(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	/* A path or argument may carry a newline; the error must stay one line. */
	for (p = err; errlen && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return ret;
}
