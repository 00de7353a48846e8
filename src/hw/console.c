/* console.c - the guest's serial output, echoed and kept in a ring. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hw/console.h"

int console_init(struct console *c, int echo_fd)
{
	memset(c, 0, sizeof(*c));
	/* Lazily committed like guest RAM: a quiet guest costs no memory. */
	c->ring = calloc(1, CONSOLE_KEEP);
	if (!c->ring)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->echo_fd = echo_fd;
	return 0;
}

void console_exit(struct console *c)
{
	if (!c->ring)
		return;
	free(c->ring);
	c->ring = NULL;
	pthread_mutex_destroy(&c->lock);
}

void console_write(struct console *c, const void *buf, size_t len)
{
	const char *p = buf;
	size_t i;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < len; i++)
		c->ring[(c->total + i) % CONSOLE_KEEP] = p[i];
	c->total += len;
	pthread_mutex_unlock(&c->lock);
	/*
	 * Best effort: a closed stdout must not stop the guest.  EINTR is
	 * expected - vCPU threads are kicked with a signal to leave KVM_RUN.
	 */
	while (c->echo_fd >= 0 && len) {
		ssize_t n = write(c->echo_fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			c->echo_fd = -1;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
}

uint64_t console_size(struct console *c)
{
	uint64_t n;

	pthread_mutex_lock(&c->lock);
	n = c->total;
	pthread_mutex_unlock(&c->lock);
	return n;
}

size_t console_read(struct console *c, uint64_t off, void *buf, size_t len)
{
	char *out = buf;
	uint64_t first;
	size_t i;

	pthread_mutex_lock(&c->lock);
	if (off >= c->total) {
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	if (len > c->total - off)
		len = (size_t)(c->total - off);
	first = c->total > CONSOLE_KEEP ? c->total - CONSOLE_KEEP : 0;
	for (i = 0; i < len; i++)
		out[i] = off + i < first ? '\0' : c->ring[(off + i) % CONSOLE_KEEP];
	pthread_mutex_unlock(&c->lock);
	return len;
}
