/* console.c - the guest's serial output, kept in a ring and echoed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hw/console.h"

int console_init(struct console *c, int echo_fd)
{
	int ret;

	memset(c, 0, sizeof(*c));
	/* Lazily committed like guest RAM: a quiet guest costs no memory. */
	c->ring = calloc(1, CONSOLE_KEEP);
	if (!c->ring)
		return -ENOMEM;
	ret = echo_init(&c->echo, echo_fd, STDERR_FILENO);
	if (ret) {
		free(c->ring);
		c->ring = NULL;
		return ret;
	}
	pthread_mutex_init(&c->lock, NULL);
	return 0;
}

void console_exit(struct console *c)
{
	if (!c->ring)
		return;
	echo_exit(&c->echo);
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
	/* Never a write(2) here: this is a vCPU thread (hw/echo.h). */
	echo_put(&c->echo, buf, len);
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
