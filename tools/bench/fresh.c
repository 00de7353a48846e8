/*
 * fresh.c - how long after the guest writes a word does a reader of the kvmfs
 * file see it, through read() and through a shared mmap.
 *
 *   fresh PID ADDR FILE OFF SECONDS
 *
 * The word is a counter the guest only increases (the built-in guest's
 * heartbeat: ADDR is its host address in kvmfs PID, OFF its offset in FILE,
 * the RAM file that holds it).  The truth is read from PID's memory with
 * process_vm_readv, which no cache stands in front of; every time it shows
 * a new value, that value and the time are queued, and each reader's queue
 * is drained as soon as the reader sees a value at least as new.  Prints
 * one JSON object with the sample counts and p50/p99/max delay in ms for
 * "read" and "mmap".
 *
 * The loop polls every POLL_US, so delays are known to about that much; the
 * bound make bench checks (two sweep periods, 10 ms) is fifty times coarser.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define POLL_US    200
#define QUEUE_LEN  (1u << 16)
#define MAX_DELAYS (1u << 20)

/* Values the truth took that one reader has not seen yet, oldest first. */
struct reader {
	const char *name;
	uint64_t val[QUEUE_LEN], t_ns[QUEUE_LEN];
	unsigned head, len;
	uint64_t *delays; /* ns */
	uint64_t nr_delays;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void reader_push(struct reader *r, uint64_t val, uint64_t t)
{
	/* A full queue means a reader far behind; its oldest sample is kept. */
	if (r->len == QUEUE_LEN)
		return;
	r->val[(r->head + r->len) % QUEUE_LEN] = val;
	r->t_ns[(r->head + r->len) % QUEUE_LEN] = t;
	r->len++;
}

static void reader_saw(struct reader *r, uint64_t val, uint64_t t)
{
	while (r->len && r->val[r->head] <= val) {
		if (r->nr_delays < MAX_DELAYS)
			r->delays[r->nr_delays++] = t - r->t_ns[r->head];
		r->head = (r->head + 1) % QUEUE_LEN;
		r->len--;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void reader_print(struct reader *r)
{
	uint64_t n = r->nr_delays;

	printf("\"%s\": {\"samples\": %" PRIu64 ", \"unseen\": %u", r->name, n, r->len);
	if (n) {
		qsort(r->delays, n, sizeof(*r->delays), cmp_u64);
		printf(", \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f",
		       r->delays[n / 2] / 1e6, r->delays[n * 99 / 100] / 1e6,
		       r->delays[n - 1] / 1e6);
	}
	printf("}");
}

int main(int argc, char **argv)
{
	static struct reader rd = {.name = "read"}, mm = {.name = "mmap"};
	uint64_t addr, off, page, truth = 0, last = 0, v, end;
	const volatile uint64_t *word;
	uint8_t *map;
	bool first = true;
	pid_t pid;
	int fd;

	if (argc != 6) {
		fprintf(stderr, "usage: fresh PID ADDR FILE OFF SECONDS\n");
		return 2;
	}
	pid = (pid_t)strtol(argv[1], NULL, 0);
	addr = strtoull(argv[2], NULL, 0);
	off = strtoull(argv[4], NULL, 0);
	end = now_ns() + (uint64_t)(strtod(argv[5], NULL) * 1e9);
	page = off & ~4095ull;
	fd = open(argv[3], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "fresh: %s: %s\n", argv[3], strerror(errno));
		return 1;
	}
	map = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, (off_t)page);
	if (map == MAP_FAILED) {
		fprintf(stderr, "fresh: mmap %s: %s\n", argv[3], strerror(errno));
		return 1;
	}
	word = (const volatile uint64_t *)(map + (off - page));
	rd.delays = malloc(MAX_DELAYS * sizeof(uint64_t));
	mm.delays = malloc(MAX_DELAYS * sizeof(uint64_t));
	if (!rd.delays || !mm.delays)
		return 1;

	while (now_ns() < end) {
		struct iovec local = {&truth, sizeof(truth)};
		struct iovec remote = {(void *)(uintptr_t)addr, sizeof(truth)};
		uint64_t t;

		if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != sizeof(truth)) {
			fprintf(stderr, "fresh: process_vm_readv %d: %s\n", (int)pid,
			        strerror(errno));
			return 1;
		}
		t = now_ns();
		/* The value found first has no known birth time: not a sample. */
		if (first) {
			last = truth;
			first = false;
		} else if (truth != last) {
			reader_push(&rd, truth, t);
			reader_push(&mm, truth, t);
			last = truth;
		}
		if (pread(fd, &v, sizeof(v), (off_t)off) == sizeof(v))
			reader_saw(&rd, v, now_ns());
		reader_saw(&mm, *word, now_ns());
		nanosleep(&(struct timespec){0, POLL_US * 1000}, NULL);
	}
	printf("{\"last\": %" PRIu64 ", ", last);
	reader_print(&rd);
	printf(", ");
	reader_print(&mm);
	printf("}\n");
	munmap(map, 4096);
	close(fd);
	return 0;
}
