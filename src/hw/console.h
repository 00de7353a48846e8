/*
 * console.h - what the guest wrote to its serial port: kept for the FS
 * `console` file, and echoed to stdout (hw/echo.h: never at the cost of
 * blocking the guest; what stdout cannot take is dropped there, only there).
 *
 * The file's size is the number of bytes the guest ever wrote, so it only
 * grows and `tail -f` works.  The last CONSOLE_KEEP bytes are kept; older
 * ones read as NUL bytes (a guest flooding its console must not eat the
 * host's memory).
 */
#ifndef KVMFS_HW_CONSOLE_H
#define KVMFS_HW_CONSOLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw/echo.h"

#define CONSOLE_KEEP (8u << 20)

struct console {
	pthread_mutex_t lock; /* guards everything below */
	char *ring;           /* CONSOLE_KEEP bytes */
	uint64_t total;       /* bytes ever written */
	struct echo echo;     /* stdout's copy, locked on its own */
};

/* Echo to echo_fd (stdout), or not (-1); notes about the echo go to stderr. */
int console_init(struct console *c, int echo_fd);
void console_exit(struct console *c);
void console_write(struct console *c, const void *buf, size_t len);
uint64_t console_size(struct console *c);
/* Copy [off, off+len) of the history; returns the bytes copied (short at the end). */
size_t console_read(struct console *c, uint64_t off, void *buf, size_t len);

#endif
