/*
 * test_echo.c - the console's copy on stdout never holds the guest up
 * (hw/echo.h): with a pipe nobody reads, console_write() still returns and
 * the history keeps every byte; the echo drops what does not fit, marks the
 * gap with its count, says so once; a reader gone ends the echo with one
 * line; echo_exit() returns even with the thread stuck.
 *
 * Deadlines here (DEADLINE_S) say "blocked", not "slow": what they wait for
 * takes milliseconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "hw/console.h"
#include "hw/echo.h"

#define DEADLINE_S 10
/* Far more than the pipe and the echo's queue hold together. */
#define FLOOD (256u << 10)

static char pattern(size_t i)
{
	return (char)('a' + i % 26);
}

/* A pipe that holds one page, as a reader that stopped reading leaves it soon. */
static void small_pipe(int p[2])
{
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_true(fcntl(p[1], F_SETPIPE_SZ, 4096) >= 4096);
}

/* Everything readable from fd now, waiting for more up to wait_ms between pieces. */
static size_t drain(int fd, char *buf, size_t size, int wait_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	size_t got = 0;
	ssize_t n;

	while (got < size && poll(&p, 1, wait_ms) == 1) {
		n = read(fd, buf + got, size - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

/* What one read gives within DEADLINE_S (0: nothing came). */
static size_t read_some(int fd, char *buf, size_t size)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ssize_t n;

	if (!size || poll(&p, 1, DEADLINE_S * 1000) != 1)
		return 0;
	n = read(fd, buf, size);
	return n > 0 ? (size_t)n : 0;
}

/* Run fn(arg) in a thread; true if it ended within DEADLINE_S. */
static bool finishes(void *(*fn)(void *), void *arg)
{
	struct timespec until;
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, fn, arg), 0);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += DEADLINE_S;
	if (pthread_timedjoin_np(t, NULL, &until)) {
		pthread_detach(t); /* stuck for good: the process ends it */
		return false;
	}
	return true;
}

static void *flood_console(void *arg)
{
	struct console *c = arg;
	size_t i;
	char b;

	/* A byte at a time, as the UART hands them over. */
	for (i = 0; i < FLOOD; i++) {
		b = pattern(i);
		console_write(c, &b, 1);
	}
	return NULL;
}

struct notes {
	int fd[2];
	char text[4096];
};

static void notes_open(struct notes *n)
{
	assert_int_equal(pipe2(n->fd, O_CLOEXEC), 0);
}

/* Every note said so far, once the echo has ended. */
static const char *notes_read(struct notes *n)
{
	size_t got;

	assert_int_equal(fcntl(n->fd[0], F_SETFL, O_NONBLOCK), 0);
	got = drain(n->fd[0], n->text, sizeof(n->text) - 1, 0);
	n->text[got] = '\0';
	close(n->fd[0]);
	close(n->fd[1]);
	return n->text;
}

static const char drop_note[] = "kvmfs: stdout does not take the guest console as fast as it "
                                "comes: what it cannot take is left out there, each gap marked "
                                "(the console file has every byte)\n";

/*
 * The defect of issue 22: stdout into `| sleep 100` froze the guest in its
 * write to the UART.  Here the vCPU is this thread, stdout a pipe nobody
 * reads.
 */
static void test_console_never_blocks(void **state)
{
	static char hist[FLOOD], out[FLOOD];
	const char after[] = "after\n";
	const char mark_head[] = "\n[kvmfs: ";
	const char mark_tail[] = " bytes of console left out here: stdout did not take them]\n";
	unsigned long long gap, pos = 0, echoed, gaps;
	uint64_t size = 0;
	struct console c;
	struct notes n;
	size_t got = 0, i;
	char *s, *end;
	int p[2], saved;
	bool ok;

	(void)state;
	small_pipe(p);
	notes_open(&n);
	/* The console says its notes on stderr: catch them, and no assertion until it is back. */
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0 && dup2(n.fd[1], STDERR_FILENO) == STDERR_FILENO);
	ok = !console_init(&c, p[1]) && finishes(flood_console, &c);
	if (ok) {
		size = console_size(&c);
		console_read(&c, 0, hist, FLOOD);
		/* The reader comes back, and the guest writes a line more. */
		got = drain(p[0], out, sizeof(out) - 1, 200);
		console_write(&c, after, strlen(after));
		while (got < strlen(after) ||
		       memcmp(out + got - strlen(after), after, strlen(after))) {
			i = read_some(p[0], out + got, sizeof(out) - 1 - got);
			if (!i)
				break;
			got += i;
		}
		out[got] = '\0';
		console_exit(&c);
	}
	dup2(saved, STDERR_FILENO);
	close(saved);
	if (!ok)
		fail_msg("console_write blocked on a stdout nobody reads");
	/* The console file has every byte. */
	assert_int_equal(size, FLOOD);
	for (i = 0; i < FLOOD; i++)
		if (hist[i] != pattern(i))
			fail_msg("console history differs at byte %zu", i);

	/*
	 * What stdout got is the bytes in order, each gap marked with its count
	 * where it is (there may be several: the echo may have written a
	 * little while the flood went on), the last gap's mark coming with the
	 * first byte after it.
	 */
	echoed = gaps = 0;
	for (s = out; pos < FLOOD;) {
		if (!strncmp(s, mark_head, strlen(mark_head))) {
			gap = strtoull(s + strlen(mark_head), &end, 10);
			if (strncmp(end, mark_tail, strlen(mark_tail)))
				fail_msg("a mark without its tail at byte %zu", (size_t)(s - out));
			s = end + strlen(mark_tail);
			pos += gap;
			gaps += gap;
		} else if (*s == pattern(pos)) {
			s++;
			pos++;
			echoed++;
		} else {
			fail_msg("echo byte %zu is not byte %zu of the console", (size_t)(s - out),
			         (size_t)pos);
		}
	}
	/* Every byte is either echoed or counted, once; then what came after. */
	assert_int_equal(pos, FLOOD);
	assert_true(gaps > 0);
	assert_int_equal(echoed + gaps, FLOOD);
	assert_string_equal(s, after);
	/* Said once, in one line. */
	assert_string_equal(notes_read(&n), drop_note);
	close(p[0]);
	close(p[1]);
}

/* Many drops, in several gaps: one line. */
static void test_drop_said_once(void **state)
{
	static char buf[FLOOD], sink[FLOOD];
	struct notes n;
	struct echo e;
	int p[2], round;

	(void)state;
	memset(buf, 'x', sizeof(buf));
	small_pipe(p);
	notes_open(&n);
	assert_int_equal(echo_init(&e, p[1], n.fd[1]), 0);
	for (round = 0; round < 3; round++) {
		echo_put(&e, buf, ECHO_QUEUE / 2);
		echo_put(&e, buf, ECHO_QUEUE / 2);
		echo_put(&e, buf, ECHO_QUEUE / 2); /* cannot fit */
		drain(p[0], sink, sizeof(sink), 100);
	}
	assert_true(echo_dropped(&e) >= 3 * ECHO_QUEUE / 2);
	echo_exit(&e);
	assert_string_equal(notes_read(&n), drop_note);
	close(p[0]);
	close(p[1]);
}

/* `| head -1`: the reader goes; the echo ends, saying why once, and kvmfs lives on. */
static void test_reader_gone(void **state)
{
	const char end_note[] = "kvmfs: stdout: Broken pipe: the guest console is no longer copied "
	                        "there (the console file has every byte)\n";
	struct notes n;
	struct echo e;
	int p[2], i;

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	notes_open(&n);
	assert_int_equal(echo_init(&e, p[1], n.fd[1]), 0);
	close(p[0]);
	for (i = 0; i < 1000; i++)
		echo_put(&e, "pass\n", 5);
	echo_exit(&e);
	assert_string_equal(notes_read(&n), end_note);
	close(p[1]);
}

/* At the end a reader that keeps up gets every byte queued. */
static void test_exit_writes_what_is_queued(void **state)
{
	static char buf[ECHO_QUEUE], out[ECHO_QUEUE + 1];
	struct notes n;
	struct echo e;
	size_t i;
	int p[2];

	(void)state;
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = pattern(i);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_true(fcntl(p[1], F_SETPIPE_SZ, 1 << 20) >= (int)sizeof(buf));
	notes_open(&n);
	assert_int_equal(echo_init(&e, p[1], n.fd[1]), 0);
	echo_put(&e, buf, sizeof(buf));
	echo_exit(&e);
	assert_int_equal(drain(p[0], out, sizeof(out), 0), sizeof(buf));
	assert_memory_equal(out, buf, sizeof(buf));
	assert_string_equal(notes_read(&n), "");
	close(p[0]);
	close(p[1]);
}

static void *exit_echo(void *arg)
{
	echo_exit(arg);
	return NULL;
}

/* A reader that never reads cannot hold kvmfs's exit. */
static void test_exit_with_reader_stopped(void **state)
{
	static char buf[ECHO_QUEUE];
	struct notes n;
	struct echo e;
	int p[2];

	(void)state;
	memset(buf, 'y', sizeof(buf));
	small_pipe(p);
	notes_open(&n);
	assert_int_equal(echo_init(&e, p[1], n.fd[1]), 0);
	echo_put(&e, buf, sizeof(buf));
	assert_true(finishes(exit_echo, &e));
	notes_read(&n);
	close(p[0]);
	close(p[1]);
}

/*
 * A terminal nobody reads: poll() says it takes bytes while it has room for
 * one, so the thread ends up blocked inside write().  Exit still returns.
 */
static void test_exit_with_terminal_stuck(void **state)
{
	static char buf[ECHO_QUEUE];
	struct notes n;
	struct echo e;
	int master, slave, i;

	(void)state;
	memset(buf, 'z', sizeof(buf));
	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(master >= 0);
	assert_int_equal(grantpt(master), 0);
	assert_int_equal(unlockpt(master), 0);
	slave = open(ptsname(master), O_WRONLY | O_NOCTTY | O_CLOEXEC);
	assert_true(slave >= 0);
	notes_open(&n);
	assert_int_equal(echo_init(&e, slave, n.fd[1]), 0);
	/* More than the terminal's buffer holds (a few pages), with time to fill it. */
	for (i = 0; i < 16; i++) {
		echo_put(&e, buf, sizeof(buf) / 4);
		usleep(10000);
	}
	assert_true(finishes(exit_echo, &e));
	notes_read(&n);
	close(slave);
	close(master);
}

/* No stdout (`>&-`), a read-only one, or -serial null (-1): no echo, nothing breaks. */
static void test_nothing_to_echo_to(void **state)
{
	int fds[] = {-1, 1000, 0};
	struct echo e;
	size_t i;
	int p[2];

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fds[2] = p[0];
	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		assert_int_equal(echo_init(&e, fds[i], STDERR_FILENO), 0);
		assert_false(e.running);
		echo_put(&e, "x", 1);
		assert_int_equal(echo_dropped(&e), 0);
		echo_exit(&e);
	}
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_console_never_blocks),
	        cmocka_unit_test(test_drop_said_once),
	        cmocka_unit_test(test_reader_gone),
	        cmocka_unit_test(test_exit_writes_what_is_queued),
	        cmocka_unit_test(test_exit_with_reader_stopped),
	        cmocka_unit_test(test_exit_with_terminal_stuck),
	        cmocka_unit_test(test_nothing_to_echo_to),
	};

	/* As kvmfs's main does: a reader gone is EPIPE. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
