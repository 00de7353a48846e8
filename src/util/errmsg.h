/*
 * errmsg.h - the one line of error text a library function leaves for
 * main() to print, and the -errno it returns with it.
 */
#ifndef KVMFS_UTIL_ERRMSG_H
#define KVMFS_UTIL_ERRMSG_H

#include <stddef.h>

/* Format into err (errlen bytes) and return ret, for `return errmsg(...)`. */
int errmsg(char *err, size_t errlen, int ret, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

#endif
