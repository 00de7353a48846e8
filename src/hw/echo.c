/* echo.c - the guest console on stdout, through a queue that drops rather than blocks. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "hw/echo.h"
#include "util/compiler.h"

/*
 * One write() at most this long: after poll() says the descriptor takes
 * bytes, a pipe takes a page without blocking.  A terminal says so while it
 * has room for one byte and may block on the rest: then only the drop note
 * waits, and echo_exit interrupts the write.
 */
#define ECHO_CHUNK 4096
/*
 * echo_exit lets the thread write what is queued as long as each
 * ECHO_DRAIN_MS sees bytes taken, for ECHO_DRAIN_MAX_MS at most; then it
 * interrupts it with ECHO_STOP_SIGNAL every ECHO_STOP_MS until it has
 * ended (a signal that comes just before the thread enters write() is
 * lost, the next one is not).  A signal rather than pthread_cancel():
 * ASan's bookkeeping does not survive a cancelled thread's unwinding.
 */
#define ECHO_DRAIN_MS     200
#define ECHO_DRAIN_MAX_MS 2000
#define ECHO_STOP_MS      10
/* Real-time: SIGUSR1 and SIGUSR2 are the vCPU kick's and the FS wake-up's. */
#define ECHO_STOP_SIGNAL (SIGRTMIN + 1)

/* Only there to make a blocked call return EINTR. */
static void echo_stop_handler(int sig)
{
	(void)sig;
}

static void echo_wake(struct echo *e)
{
	uint64_t one = 1;

	/* Non-blocking, and the counter never comes near its limit: never waits. */
	if (write(e->wake, &one, sizeof(one)) < 0) {
		/* EAGAIN only, with the thread already due to wake. */
	}
}

/* Queue len bytes; the caller made room. */
static void queue_in(struct echo *e, const char *p, size_t len)
{
	size_t tail = (e->head + e->len) % ECHO_QUEUE;
	size_t first = MIN(len, ECHO_QUEUE - tail);

	memcpy(e->queue + tail, p, first);
	memcpy(e->queue, p + first, len - first);
	e->len += len;
}

void echo_put(struct echo *e, const void *buf, size_t len)
{
	char mark[96];
	size_t n = 0;
	bool wake = false;

	if (!e->running || !len)
		return;
	pthread_mutex_lock(&e->lock);
	if (e->fd < 0 || e->quit)
		goto out;
	/* Where bytes went missing the stream says so, and how many. */
	if (e->gap)
		n = (size_t)snprintf(
		        mark, sizeof(mark),
		        "\n[kvmfs: %llu bytes of console left out here: stdout did not "
		        "take them]\n",
		        (unsigned long long)e->gap);
	if (n + len > ECHO_QUEUE - e->len) {
		/* Whole writes or nothing: the serial port writes a byte at a time anyway. */
		e->dropped += len;
		e->gap += len;
		if (!e->said_drop) {
			e->said_drop = e->note_drop = true;
			wake = true;
		}
	} else {
		queue_in(e, mark, n);
		queue_in(e, buf, len);
		e->gap = 0;
		if (e->idle) {
			e->idle = false;
			wake = true;
		}
	}
out:
	pthread_mutex_unlock(&e->lock);
	if (wake)
		echo_wake(e);
}

uint64_t echo_dropped(struct echo *e)
{
	uint64_t n;

	if (!e->running)
		return 0;
	pthread_mutex_lock(&e->lock);
	n = e->dropped;
	pthread_mutex_unlock(&e->lock);
	return n;
}

/*
 * Wait until fd takes bytes (true; also when it is in error, for write()
 * to say which) or something wakes the thread (false).  fd < 0: only the
 * latter.
 */
static bool echo_wait(struct echo *e, int fd)
{
	struct pollfd p[2] = {{.fd = e->wake, .events = POLLIN}, {.fd = fd, .events = POLLOUT}};
	uint64_t v;

	if (poll(p, fd >= 0 ? 2 : 1, -1) < 0)
		return false;
	if ((p[0].revents & POLLIN) && read(e->wake, &v, sizeof(v)) < 0) {
		/* EAGAIN: another read took it; nothing is lost. */
	}
	return fd >= 0 && p[1].revents;
}

/* One line on note_fd, in one write(). */
static void echo_note(struct echo *e, bool drop, int err)
{
	char line[256];
	int n;

	if (drop)
		n = snprintf(line, sizeof(line),
		             "kvmfs: stdout does not take the guest console as fast as it comes: "
		             "what it cannot take is left out there, each gap marked (the console "
		             "file has every byte)\n");
	else
		n = snprintf(line, sizeof(line),
		             "kvmfs: stdout: %s: the guest console is no longer copied there (the "
		             "console file has every byte)\n",
		             strerror(err));
	if (n > 0 && write(e->note_fd, line, (size_t)MIN((size_t)n, sizeof(line) - 1)) < 0) {
		/* Nowhere left to say it. */
	}
}

/*
 * The writer.  Every call that may block (poll, write, nanosleep) is made
 * with the lock released, and ECHO_STOP_SIGNAL - which only this thread
 * takes - makes it return EINTR, or a short count, for echo_exit.
 */
static void *echo_thread(void *arg)
{
	struct echo *e = arg;
	char chunk[ECHO_CHUNK];
	bool drop, ready;
	sigset_t stop;
	size_t n;
	ssize_t w;
	int fd, err;

	pthread_setname_np(pthread_self(), "echo");
	sigemptyset(&stop);
	sigaddset(&stop, ECHO_STOP_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &stop, NULL);
	pthread_mutex_lock(&e->lock);
	for (;;) {
		if (e->abort)
			break;
		if (e->note_drop || e->note_end) {
			drop = e->note_drop;
			err = e->err;
			if (drop)
				e->note_drop = false;
			else
				e->note_end = false;
			pthread_mutex_unlock(&e->lock);
			echo_note(e, drop, err);
			pthread_mutex_lock(&e->lock);
			continue;
		}
		if (e->fd < 0 || (e->quit && !e->len))
			break;
		if (!e->len) {
			e->idle = true;
			pthread_mutex_unlock(&e->lock);
			echo_wait(e, -1);
			pthread_mutex_lock(&e->lock);
			continue;
		}
		fd = e->fd;
		pthread_mutex_unlock(&e->lock);
		ready = echo_wait(e, fd);
		pthread_mutex_lock(&e->lock);
		if (!ready)
			continue;
		n = MIN(sizeof(chunk), ECHO_QUEUE - e->head);
		n = MIN(n, e->len);
		memcpy(chunk, e->queue + e->head, n);
		pthread_mutex_unlock(&e->lock);
		w = write(fd, chunk, n);
		err = errno;
		if (w < 0 && err == EAGAIN) {
			/*
			 * Someone else made the shared description O_NONBLOCK and
			 * poll() was too hopeful: do not spin.
			 */
			nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
		}
		pthread_mutex_lock(&e->lock);
		if (w > 0) {
			e->head = (e->head + (size_t)w) % ECHO_QUEUE;
			e->len -= (size_t)w;
			e->written += (size_t)w;
		} else if (w == 0 || (err != EINTR && err != EAGAIN)) {
			/* EPIPE, ENOSPC, EBADF, EIO...: the echo ends, the VM goes on. */
			e->fd = -1;
			e->err = w < 0 ? err : EIO;
			e->len = 0;
			e->note_end = true;
		}
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

int echo_init(struct echo *e, int fd, int note_fd)
{
	sigset_t all, old;
	int flags, ret;

	memset(e, 0, sizeof(*e));
	e->fd = -1;
	e->wake = -1;
	e->note_fd = note_fd;
	/* A closed or read-only stdout (`kvmfs >&-`) has nothing to echo to. */
	flags = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
	if (flags < 0 || (flags & O_ACCMODE) == O_RDONLY)
		return 0;
	e->queue = malloc(ECHO_QUEUE);
	if (!e->queue)
		return -ENOMEM;
	e->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (e->wake < 0) {
		ret = -errno;
		goto err_queue;
	}
	pthread_mutex_init(&e->lock, NULL);
	e->fd = fd;
	/* No SA_RESTART: the signal must end a blocked write() with EINTR. */
	sigaction(ECHO_STOP_SIGNAL, &(struct sigaction){.sa_handler = echo_stop_handler}, NULL);
	/* Signals are for the other threads (main's sigtimedwait, the vCPU kicks), but one. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = -pthread_create(&e->thread, NULL, echo_thread, e);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		goto err_lock;
	e->running = true;
	return 0;

err_lock:
	pthread_mutex_destroy(&e->lock);
	close(e->wake);
	e->wake = -1;
	e->fd = -1;
err_queue:
	free(e->queue);
	e->queue = NULL;
	return ret;
}

static uint64_t echo_written(struct echo *e)
{
	uint64_t n;

	pthread_mutex_lock(&e->lock);
	n = e->written;
	pthread_mutex_unlock(&e->lock);
	return n;
}

/* True once t has ended, false if it has not within ms. */
static bool join_within(pthread_t t, long ms)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += ms * 1000000L;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	return !pthread_timedjoin_np(t, NULL, &until);
}

void echo_exit(struct echo *e)
{
	uint64_t last, now;
	bool joined;
	long waited;

	if (!e->running)
		return;
	pthread_mutex_lock(&e->lock);
	e->quit = true;
	pthread_mutex_unlock(&e->lock);
	echo_wake(e);
	/* A reader that takes what is left gets it; one that does not cannot hold kvmfs. */
	last = echo_written(e);
	for (waited = ECHO_DRAIN_MS; !(joined = join_within(e->thread, ECHO_DRAIN_MS));
	     waited += ECHO_DRAIN_MS) {
		now = echo_written(e);
		if (now == last || waited >= ECHO_DRAIN_MAX_MS)
			break;
		last = now;
	}
	if (!joined) {
		pthread_mutex_lock(&e->lock);
		e->abort = true;
		pthread_mutex_unlock(&e->lock);
		echo_wake(e);
		do
			pthread_kill(e->thread, ECHO_STOP_SIGNAL);
		while (!join_within(e->thread, ECHO_STOP_MS));
	}
	e->running = false;
	pthread_mutex_destroy(&e->lock);
	close(e->wake);
	free(e->queue);
	e->queue = NULL;
}
