/*
 * memread.c - read the same guest RAM that kvmfs serves, the ways that do not
 * go through kvmfs: the baselines `make bench` divides kvmfs's figures by.
 *
 *   memread procmem PID ADDR LEN [opts]  pread() of /proc/PID/mem at ADDR
 *   memread vmreadv PID ADDR LEN [opts]  process_vm_readv() from PID at ADDR
 *   memread map PATH LEN [opts]          mmap PATH (say /proc/PID/fd/N, the
 *                                        memfd behind a RAM block) and memcpy
 *                                        out of it: the in-process copy
 *   memread file PATH LEN [opts]         pread() of a file (a kvmfs RAM file:
 *                                        the same loop as the baselines)
 *   memread cached PATH                  how much of PATH is in the page cache
 *                                        (mincore of a mapping; reads nothing)
 *   memread tsc                          the host's TSC rate in Hz (rdtsc against
 *                                        CLOCK_MONOTONIC over 200 ms): what turns
 *                                        the built-in guest's "write" cycles into
 *                                        seconds (KVM guests tick at the host's rate)
 *
 *   -b BS   bytes per operation (default 1 MiB)
 *   -r      random BS-aligned offsets instead of one sequential pass
 *   -j N    N threads, each with its own descriptor
 *   -t SEC  run for SEC seconds (wrapping around LEN) instead of one pass
 *   -l      time every operation and report p50/p99 latency
 *   -p      map: populate the mapping before the clock starts, so that only
 *           the copy is timed (the in-process memcpy baseline)
 *   -d      file: open with O_DIRECT (past the page cache: on a FUSE file,
 *           every read is a READ request answered into the caller's buffer)
 *
 * Prints one JSON object: bytes, ops, seconds, MB/s, ops/s and, with -l,
 * lat_p50_us and lat_p99_us; for `cached`, the file's size and its bytes in
 * the page cache.  ADDR is a host virtual address in PID, as
 * kvmfs's memslots.json and ramblocks.json give it (decimal or 0x hex).
 *
 * Every mode copies into a private BS-byte buffer, as read() does, so the
 * figures compare the cost of getting the bytes, not of using them.  `map`
 * maps afresh for each run so that its page faults are counted, as they are
 * for an mmap of a kvmfs file.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Latency samples kept per thread; enough for several seconds at 1 M ops/s. */
#define MAX_SAMPLES (8u << 20)

enum mode { M_PROCMEM, M_VMREADV, M_MAP, M_FILE };

struct run {
	enum mode mode;
	const char *path; /* procmem: /proc/PID/mem; map, file: the file */
	pid_t pid;
	uint64_t addr; /* procmem, vmreadv: where the RAM is in PID */
	uint64_t len;
	size_t bs;
	bool random;
	unsigned jobs;
	double seconds; /* 0: one pass */
	bool lat;
	bool populate;
	bool direct;
	const uint8_t *map; /* M_MAP: the whole mapping, shared by all threads */
	atomic_bool stop;
};

struct job {
	struct run *r;
	unsigned id;
	pthread_t thread;
	uint64_t bytes, ops;
	uint32_t *lat_ns; /* with -l: one sample per op, up to MAX_SAMPLES */
	uint64_t nr_lat;
	int err;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: cheap enough not to show up next to a 4 KiB copy. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/* One operation: BS bytes at off within the RAM; returns bytes or -errno. */
static ssize_t op(struct run *r, int fd, uint8_t *buf, uint64_t off)
{
	ssize_t n;

	switch (r->mode) {
	case M_PROCMEM:
		n = pread(fd, buf, r->bs, (off_t)(r->addr + off));
		return n < 0 ? -errno : n;
	case M_FILE: n = pread(fd, buf, r->bs, (off_t)off); return n < 0 ? -errno : n;
	case M_VMREADV: {
		struct iovec local = {buf, r->bs};
		struct iovec remote = {(void *)(uintptr_t)(r->addr + off), r->bs};

		n = process_vm_readv(r->pid, &local, 1, &remote, 1, 0);
		return n < 0 ? -errno : n;
	}
	case M_MAP: memcpy(buf, r->map + off, r->bs); return (ssize_t)r->bs;
	}
	return -EINVAL;
}

static void *job_main(void *arg)
{
	struct job *j = arg;
	struct run *r = j->r;
	uint64_t blocks = r->len / r->bs, seed = 0x9e3779b97f4a7c15ull * (j->id + 1);
	/* Sequential: thread i reads the i-th share of the blocks. */
	uint64_t first = blocks * j->id / r->jobs, end = blocks * (j->id + 1) / r->jobs;
	uint64_t next = first;
	uint8_t *buf;
	int fd = -1;

	buf = aligned_alloc(4096, r->bs);
	if (!buf) {
		j->err = ENOMEM;
		return NULL;
	}
	memset(buf, 0, r->bs); /* fault the buffer in before the clock runs */
	if (r->mode == M_PROCMEM || r->mode == M_FILE) {
		fd = open(r->path, O_RDONLY | O_CLOEXEC | (r->direct ? O_DIRECT : 0));
		if (fd < 0) {
			j->err = errno;
			free(buf);
			return NULL;
		}
		/* What fio's randread does: no readahead for random reads. */
		if (r->mode == M_FILE && r->random)
			posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
	}
	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		uint64_t blk, t0 = 0;
		ssize_t n;

		if (r->random) {
			blk = rng_next(&seed) % blocks;
		} else {
			if (next == end) {
				if (!r->seconds)
					break;
				next = first;
			}
			blk = next++;
		}
		if (r->lat)
			t0 = now_ns();
		n = op(r, fd, buf, blk * r->bs);
		if (r->lat && j->nr_lat < MAX_SAMPLES)
			j->lat_ns[j->nr_lat++] = (uint32_t)(now_ns() - t0);
		if (n < 0) {
			j->err = (int)-n;
			break;
		}
		j->bytes += (uint64_t)n;
		j->ops++;
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t parse_u64(const char *s, const char *what)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end) {
		fprintf(stderr, "memread: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

static void *map_file(const char *path, uint64_t len, int flags)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	void *p = MAP_FAILED;

	if (fd >= 0)
		p = mmap(NULL, len, PROT_READ, MAP_SHARED | flags, fd, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "memread: %s: %s\n", path, strerror(errno));
		p = NULL;
	}
	if (fd >= 0)
		close(fd);
	return p;
}

/* memread cached PATH: pages of PATH in the page cache, without faulting any in. */
static int cached(const char *path)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *vec;
	uint64_t size, i, n = 0;
	struct stat st;
	void *map;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st)) {
		fprintf(stderr, "memread: %s: %s\n", path, strerror(errno));
		return 1;
	}
	size = (uint64_t)st.st_size;
	vec = malloc(size / (uint64_t)page + 1);
	map = size ? mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0) : NULL;
	if (!vec || map == MAP_FAILED || (size && mincore(map, size, vec))) {
		fprintf(stderr, "memread: cached %s: %s\n", path, strerror(errno));
		return 1;
	}
	for (i = 0; i < (size + (uint64_t)page - 1) / (uint64_t)page; i++)
		n += vec[i] & 1;
	printf("{\"mode\": \"cached\", \"bytes\": %" PRIu64 ", \"cached\": %" PRIu64 "}\n", size,
	       n * (uint64_t)page);
	if (size)
		munmap(map, size);
	free(vec);
	close(fd);
	return 0;
}

#if defined(__x86_64__) || defined(__i386__)
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return (uint64_t)hi << 32 | lo;
}

static int tsc_rate(void)
{
	struct timespec pause = {0, 200 * 1000 * 1000};
	uint64_t c0, c1;
	double t0, t1;

	t0 = now();
	c0 = rdtsc();
	nanosleep(&pause, NULL);
	c1 = rdtsc();
	t1 = now();
	printf("{\"mode\": \"tsc\", \"tsc_hz\": %.0f}\n", (double)(c1 - c0) / (t1 - t0));
	return 0;
}
#else
static int tsc_rate(void)
{
	fprintf(stderr, "memread: tsc: not an x86 host\n");
	return 1;
}
#endif

static void usage(void)
{
	fprintf(stderr, "usage: memread procmem|vmreadv PID ADDR LEN [-b BS] [-r] [-j N] [-t SEC] "
	                "[-l]\n       memread map|file PATH LEN [...]\n       memread cached PATH\n"
	                "       memread tsc\n");
	exit(2);
}

/* argv after the mode: the positional arguments, then the options. */
static void parse(struct run *r, int argc, char **argv)
{
	static char procmem[64];
	int i = 2, opt;

	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "procmem") || !strcmp(argv[1], "vmreadv")) {
		if (argc < 5)
			usage();
		r->mode = argv[1][0] == 'p' ? M_PROCMEM : M_VMREADV;
		r->pid = (pid_t)parse_u64(argv[2], "PID");
		r->addr = parse_u64(argv[3], "ADDR");
		snprintf(procmem, sizeof(procmem), "/proc/%d/mem", (int)r->pid);
		r->path = procmem;
		i = 4;
	} else if (!strcmp(argv[1], "map") || !strcmp(argv[1], "file")) {
		if (argc < 4)
			usage();
		r->mode = argv[1][0] == 'm' ? M_MAP : M_FILE;
		r->path = argv[2];
		i = 3;
	} else {
		usage();
	}
	r->len = parse_u64(argv[i], "LEN");
	r->bs = 1u << 20;
	r->jobs = 1;
	optind = i + 1;
	while ((opt = getopt(argc, argv, "b:rj:t:lpd")) != -1) {
		switch (opt) {
		case 'b': r->bs = (size_t)parse_u64(optarg, "block size"); break;
		case 'r': r->random = true; break;
		case 'j': r->jobs = (unsigned)parse_u64(optarg, "jobs"); break;
		case 't': r->seconds = strtod(optarg, NULL); break;
		case 'l': r->lat = true; break;
		case 'p': r->populate = true; break;
		case 'd': r->direct = true; break;
		default: usage();
		}
	}
	if (!r->bs || r->len < r->bs || !r->jobs || r->jobs > 64) {
		fprintf(stderr, "memread: need 0 < BS <= LEN and 1..64 jobs\n");
		exit(2);
	}
	if (r->random && !r->seconds) {
		fprintf(stderr, "memread: -r needs -t\n");
		exit(2);
	}
}

int main(int argc, char **argv)
{
	struct run r = {0};
	struct job *jobs;
	uint64_t bytes = 0, ops = 0, nr_lat = 0, k;
	uint32_t *all = NULL;
	double t0, dt;
	void *map = NULL;
	unsigned i;
	int err = 0;

	if (argc == 3 && !strcmp(argv[1], "cached"))
		return cached(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "tsc"))
		return tsc_rate();
	parse(&r, argc, argv);
	jobs = calloc(r.jobs, sizeof(*jobs));
	if (!jobs)
		return 1;
	for (i = 0; i < r.jobs; i++) {
		jobs[i] = (struct job){.r = &r, .id = i};
		if (r.lat && !(jobs[i].lat_ns = malloc(MAX_SAMPLES * sizeof(uint32_t)))) {
			fprintf(stderr, "memread: out of memory\n");
			return 1;
		}
	}

	if (r.mode == M_MAP && r.populate && !(map = map_file(r.path, r.len, MAP_POPULATE)))
		return 1;
	t0 = now();
	/* Otherwise mapping is part of what is measured: fio's mmap engine pays it too. */
	if (r.mode == M_MAP && !map && !(map = map_file(r.path, r.len, 0)))
		return 1;
	r.map = map;
	for (i = 0; i < r.jobs; i++) {
		if (pthread_create(&jobs[i].thread, NULL, job_main, &jobs[i])) {
			fprintf(stderr, "memread: pthread_create failed\n");
			return 1;
		}
	}
	if (r.seconds) {
		struct timespec ts = {(time_t)r.seconds,
		                      (long)((r.seconds - (double)(time_t)r.seconds) * 1e9)};

		nanosleep(&ts, NULL);
		atomic_store(&r.stop, true);
	}
	for (i = 0; i < r.jobs; i++) {
		pthread_join(jobs[i].thread, NULL);
		bytes += jobs[i].bytes;
		ops += jobs[i].ops;
		nr_lat += jobs[i].nr_lat;
		if (jobs[i].err)
			err = jobs[i].err;
	}
	dt = now() - t0; /* before munmap: the reader's work ends with its last copy */
	if (map)
		munmap(map, r.len);
	if (err) {
		fprintf(stderr, "memread: %s %s: %s\n", argv[1], r.path, strerror(err));
		return 1;
	}

	printf("{\"mode\": \"%s\", \"bs\": %zu, \"jobs\": %u, \"random\": %s, \"bytes\": %" PRIu64
	       ", \"ops\": %" PRIu64 ", \"seconds\": %.6f, \"MBps\": %.1f, \"iops\": %.0f",
	       argv[1], r.bs, r.jobs, r.random ? "true" : "false", bytes, ops, dt, bytes / dt / 1e6,
	       ops / dt);
	if (r.lat && nr_lat) {
		all = malloc(nr_lat * sizeof(*all));
		if (!all)
			return 1;
		for (k = 0, i = 0; i < r.jobs; i++) {
			memcpy(all + k, jobs[i].lat_ns, jobs[i].nr_lat * sizeof(*all));
			k += jobs[i].nr_lat;
		}
		qsort(all, nr_lat, sizeof(*all), cmp_u32);
		printf(", \"lat_p50_us\": %.3f, \"lat_p99_us\": %.3f", all[nr_lat / 2] / 1e3,
		       all[nr_lat * 99 / 100] / 1e3);
		free(all);
	}
	printf("}\n");
	for (i = 0; i < r.jobs; i++)
		free(jobs[i].lat_ns);
	free(jobs);
	return 0;
}
