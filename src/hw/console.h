/*
 * console.h - what the guest wrote to its serial port: echoed to stdout and
 * kept for the FS `console` file.
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

#define CONSOLE_KEEP (8u << 20)

struct console {
	pthread_mutex_t lock; /* guards everything below */
	char *ring;           /* CONSOLE_KEEP bytes */
	uint64_t total;       /* bytes ever written */
	int echo_fd;          /* stdout, or -1 */
};

int console_init(struct console *c, int echo_fd);
void console_exit(struct console *c);
void console_write(struct console *c, const void *buf, size_t len);
uint64_t console_size(struct console *c);
/* Copy [off, off+len) of the history; returns the bytes copied (short at the end). */
size_t console_read(struct console *c, uint64_t off, void *buf, size_t len);

#endif
