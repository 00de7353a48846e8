/*
 * locate.c - where each RAM block of an attached QEMU lies in QEMU's
 * process, found exactly.
 *
 * QEMU maps every block on its own (qemu_ram_mmap: max_length bytes,
 * then a guard page) and marks it MADV_DONTFORK, which /proc/PID/smaps
 * shows as VmFlags "dc".  So the candidates for a block are QEMU's
 * read-write "dc" mappings of exactly its max_length; several blocks may
 * share a size (ROMs), and sizes alone prove nothing.  A candidate is the
 * block when the bytes at sample offsets equal what QEMU's own `xp` reads
 * at the guest-physical addresses that show those offsets (flat view), and
 * only one candidate agrees.  Samples prefer pages the candidate has
 * populated (its pagemap), so that they hold something to tell blocks
 * apart; a sample the guest changes between our two reads around the `xp`
 * says nothing and is skipped.
 *
 * A shared file mapping (memory-backend-file share=on, -memfd) is proven
 * by the file itself: the mapping's file (/proc/PID/map_files) is a file
 * QEMU holds open (/proc/PID/fd), mapped from its offset 0 and at least
 * the block's size long.  Samples there only cross-check the pages QEMU
 * has populated (reading any other would allocate it), and a block with
 * none populated is accepted: every page reads zero both ways.  Which
 * blocks are memory backends, and whether shared, QEMU says
 * (query-memdev): such a block is looked for only among mappings shared
 * as it is, so that an untouched shared file cannot pass for an anonymous
 * block of zeros or the other way round.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "qemu/json.h"
#include "qemu/qemu.h"
#include "qemu/qmp.h"
#include "util/errmsg.h"

#define LOCATE_SAMPLES    8
#define LOCATE_SAMPLE_LEN 512 /* bytes compared per sample: `xp /64gx` */
#define LOCATE_SCAN_PAGES 512 /* pages looked at for a populated one near a sample */
#define PM_PRESENT        (1ULL << 63)
#define PM_SWAPPED        (1ULL << 62)

struct qemu_map {
	uint64_t start, end, offset;
	char perms[5];
	unsigned major, minor;
	uint64_t inode;
	bool dontfork; /* VmFlags dc */
	bool claimed;  /* a block is there */
};

static int qemu_read_smaps(pid_t pid, struct qemu_map **out, size_t *nr)
{
	char path[64], line[4096];
	struct qemu_map *maps = NULL, *cur = NULL;
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long s, e, off, ino;
		struct qemu_map m = {0};

		if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu", &s, &e, m.perms, &off, &m.major,
		           &m.minor, &ino) == 7) {
			struct qemu_map *p = realloc(maps, (n + 1) * sizeof(*p));

			if (!p) {
				free(maps);
				fclose(f);
				return -ENOMEM;
			}
			maps = p;
			m.start = s;
			m.end = e;
			m.offset = off;
			m.inode = ino;
			maps[n] = m;
			cur = &maps[n++];
		} else if (cur && !strncmp(line, "VmFlags:", 8)) {
			cur->dontfork = strstr(line, " dc") != NULL;
		}
	}
	fclose(f);
	*out = maps;
	*nr = n;
	return 0;
}

/* `xp /64gx GPA` read back into bytes (the guest's little-endian words). */
static int qemu_xp(struct qmp *qmp, uint64_t gpa, uint8_t *buf, char *err, size_t errlen)
{
	char cmd[64], *text, *p;
	size_t got = 0;
	int ret;

	snprintf(cmd, sizeof(cmd), "xp /%ugx 0x%llx", LOCATE_SAMPLE_LEN / 8,
	         (unsigned long long)gpa);
	ret = qmp_hmp(qmp, cmd, -1, &text, err, errlen);
	if (ret)
		return ret;
	for (p = text; *p && got < LOCATE_SAMPLE_LEN;) {
		char *colon = strchr(p, ':'), *nl;

		if (!colon)
			break;
		nl = strchr(colon, '\n');
		for (p = colon + 1; (!nl || p < nl) && got < LOCATE_SAMPLE_LEN;) {
			unsigned long long v;
			char *end;
			int i;

			while (*p == ' ')
				p++;
			if (strncmp(p, "0x", 2))
				break;
			v = strtoull(p + 2, &end, 16);
			for (i = 0; i < 8; i++)
				buf[got++] = (uint8_t)(v >> (8 * i));
			p = end;
		}
		p = nl ? nl + 1 : p + strlen(p);
	}
	free(text);
	if (got != LOCATE_SAMPLE_LEN)
		return errmsg(err, errlen, -EPROTO, "QEMU's xp at 0x%llx: unreadable answer",
		              (unsigned long long)gpa);
	return 0;
}

static bool qemu_pread_all(int fd, void *buf, size_t len, uint64_t at)
{
	return pread(fd, buf, len, (off_t)at) == (ssize_t)len;
}

/* Where a block shows in guest-physical space: one piece per flat range of it. */
struct qemu_piece {
	uint64_t gpa, offset, len;
};

static size_t qemu_pieces(struct machine *m, struct ram_block *rb, struct qemu_piece *p, size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < m->as.fv->nr && n < max; i++) {
		const struct flat_range *fr = &m->as.fv->ranges[i];

		if (flat_range_is_ram(fr) && fr->mr->block == rb && fr->size >= LOCATE_SAMPLE_LEN)
			p[n++] = (struct qemu_piece){fr->start, fr->offset, fr->size};
	}
	return n;
}

/*
 * The sample offsets of a block shown by pieces: spread over them, each
 * moved to a page the candidate has populated nearby, if any.
 */
static size_t qemu_samples(struct qemu *q, const struct qemu_map *c, const struct qemu_piece *pc,
                           size_t npc, uint64_t *gpas, uint64_t *offs, bool *present)
{
	uint64_t total = 0, ps = (uint64_t)sysconf(_SC_PAGESIZE), pm[LOCATE_SCAN_PAGES];
	size_t i, n = 0;

	for (i = 0; i < npc; i++)
		total += pc[i].len;
	for (i = 0; i < LOCATE_SAMPLES; i++) {
		uint64_t at = total / LOCATE_SAMPLES * i, in, left, pages;
		size_t k = 0, j;
		ssize_t got;

		while (at >= pc[k].len) {
			at -= pc[k].len;
			k++;
		}
		in = at & ~(ps - 1);
		left = pc[k].len - in;
		present[n] = false;
		pages = left / ps < LOCATE_SCAN_PAGES ? left / ps : LOCATE_SCAN_PAGES;
		got = pread(q->pagemap_fd, pm, pages * sizeof(pm[0]),
		            (off_t)((c->start + pc[k].offset + in) / ps * sizeof(pm[0])));
		for (j = 0; got > 0 && j < (size_t)got / sizeof(pm[0]); j++) {
			if (pm[j] & (PM_PRESENT | PM_SWAPPED)) {
				in += j * ps;
				present[n] = true;
				break;
			}
		}
		if (in + LOCATE_SAMPLE_LEN > pc[k].len)
			in = pc[k].len - LOCATE_SAMPLE_LEN;
		gpas[n] = pc[k].gpa + in;
		offs[n++] = pc[k].offset + in;
	}
	return n;
}

/*
 * Does candidate c hold the block the pieces show?  1: every stable sample
 * agreed with QEMU (*nonzero: one of them held more than zeros), 0: one
 * disagreed, or none was stable and c's file is not proven (proven: see
 * qemu_file_proven); < 0: QMP failed.
 */
static int qemu_try(struct qemu *q, struct qmp *qmp, const struct qemu_map *c,
                    const struct qemu_piece *pc, size_t npc, bool proven, bool *nonzero, char *err,
                    size_t errlen)
{
	uint64_t gpas[LOCATE_SAMPLES], offs[LOCATE_SAMPLES];
	uint8_t a[LOCATE_SAMPLE_LEN], b[LOCATE_SAMPLE_LEN], x[LOCATE_SAMPLE_LEN];
	bool present[LOCATE_SAMPLES];
	size_t n = qemu_samples(q, c, pc, npc, gpas, offs, present), i, j, stable = 0;
	int ret;

	*nonzero = false;
	for (i = 0; i < n; i++) {
		/*
		 * A shared file's page nobody mapped would be allocated by reading
		 * it (ours or QEMU's xp): only populated pages are compared there.
		 * Private anonymous memory reads the zero page, allocating nothing.
		 */
		if (!present[i] && c->perms[3] == 's')
			continue;
		if (!qemu_pread_all(q->mem_fd, a, sizeof(a), c->start + offs[i]))
			return 0;
		ret = qemu_xp(qmp, gpas[i], x, err, errlen);
		if (ret)
			return ret;
		if (!qemu_pread_all(q->mem_fd, b, sizeof(b), c->start + offs[i]))
			return 0;
		if (memcmp(a, b, sizeof(a)))
			continue; /* the guest is writing there: says nothing */
		if (memcmp(a, x, sizeof(a)))
			return 0;
		stable++;
		for (j = 0; j < sizeof(a) && !*nonzero; j++)
			*nonzero = a[j] != 0;
	}
	return stable > 0 || proven;
}

/*
 * The file mapping c maps: /proc/PID/map_files names it exactly (the
 * kernel's own file of the mapping); where that is not readable, the maps
 * line's dev:inode.
 */
static void qemu_map_file_id(struct qemu *q, const struct qemu_map *c, dev_t *dev, ino_t *ino)
{
	char path[96];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", (int)q->pid,
	         (unsigned long long)c->start, (unsigned long long)c->end);
	if (!stat(path, &st)) {
		*dev = st.st_dev;
		*ino = st.st_ino;
		return;
	}
	*dev = makedev(c->major, c->minor);
	*ino = (ino_t)c->inode;
}

/*
 * The fd QEMU holds open on a shared mapping's file: its /proc/PID/fd/N in
 * path and the file's stat in *st; -ENOENT if none.
 */
static int qemu_find_mapped_file(struct qemu *q, const struct qemu_map *c, char *path,
                                 size_t pathlen, struct stat *st)
{
	char dir[64];
	struct dirent *d;
	dev_t dev;
	ino_t ino;
	int ret = -ENOENT;
	DIR *dp;

	if (c->perms[3] != 's' || !c->inode)
		return -ENOENT;
	qemu_map_file_id(q, c, &dev, &ino);
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)q->pid);
	dp = opendir(dir);
	if (!dp)
		return -errno;
	while ((d = readdir(dp))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, pathlen, "%s/%s", dir, d->d_name);
		if (stat(path, st) || st->st_ino != ino || st->st_dev != dev ||
		    !S_ISREG(st->st_mode))
			continue;
		ret = 0;
		break;
	}
	closedir(dp);
	return ret;
}

/*
 * Is c a shared mapping of a file QEMU holds open, from the file's offset
 * 0 and covering len bytes of it?  Then its bytes are that file's: exact.
 */
static bool qemu_file_proven(struct qemu *q, const struct qemu_map *c, uint64_t len)
{
	char path[320];
	struct stat st;

	return c->offset == 0 && !qemu_find_mapped_file(q, c, path, sizeof(path), &st) &&
	       (uint64_t)st.st_size >= len;
}

/* Give rb the bytes of candidate c: its file where QEMU shares one, else QEMU's memory. */
static void qemu_take(struct qemu *q, struct ram_block *rb, const struct qemu_map *c, bool writable)
{
	bool shared = c->perms[3] == 's', file = c->inode != 0;
	int fd;

	if (shared && file) {
		char path[320];
		struct stat st;

		if (!qemu_find_mapped_file(q, c, path, sizeof(path), &st) &&
		    (fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC)) >= 0) {
			int ret = ram_block_set_fd(rb, fd, c->offset, writable);

			close(fd);
			if (!ret)
				return;
		}
	}
	/*
	 * Private anonymous memory: a page is data if QEMU's page tables have it
	 * (present or swapped), else a hole.  A file's private mapping has the
	 * file's bytes where QEMU never touched it: all data.
	 */
	ram_block_set_remote(rb, q->mem_fd, file ? -1 : q->pagemap_fd, c->start);
}

/*
 * Is block idstr one of QEMU's memory backends (query-memdev lists them by
 * id, which is their block's idstr), and is it shared?  1 shared, 0
 * private, -1 unknown: not a backend's block, or no list.
 */
static int qemu_memdev_shared(const struct json *memdevs, const char *idstr)
{
	const struct json *d;

	for (d = memdevs && memdevs->type == JSON_ARRAY ? memdevs->child : NULL; d; d = d->next) {
		const char *id = json_get_str(d, "id");
		const struct json *share = json_get(d, "share");

		if (id && !strcmp(id, idstr) && share && share->type == JSON_BOOL)
			return share->boolean;
	}
	return -1;
}

int qemu_locate(struct qemu *q, struct qmp *qmp, struct machine *m, bool writable, char *err,
                size_t errlen)
{
	struct json *memdevs = NULL;
	struct qemu_piece pc[64];
	struct qemu_map *maps = NULL;
	struct ram_block *rb;
	size_t nmaps = 0, i;
	int ret;

	ret = qemu_read_smaps(q->pid, &maps, &nmaps);
	if (ret)
		return errmsg(err, errlen, ret, "/proc/%d/smaps: %s", (int)q->pid, strerror(-ret));
	/* A QEMU without query-memdev (or its "share") leaves sharing unknown. */
	if (qmp_execute(qmp, "query-memdev", NULL, &memdevs, err, errlen))
		memdevs = NULL;
	for (rb = m->ram.head; rb; rb = rb->next) {
		size_t npc = qemu_pieces(m, rb, pc, 64), found = 0, nr_cand = 0, fzero = 0;
		struct qemu_map *hit = NULL, *zero_hit = NULL;
		int shared = qemu_memdev_shared(memdevs, rb->idstr);

		if (!npc)
			continue; /* no GPA shows it: nothing to verify with, left without bytes */
		for (i = 0; i < nmaps; i++) {
			struct qemu_map *c = &maps[i];
			bool nonzero;

			if (c->claimed || !c->dontfork || c->end - c->start != rb->max_length ||
			    c->perms[0] != 'r' || c->perms[1] != 'w' ||
			    (shared >= 0 && shared != (c->perms[3] == 's')))
				continue;
			nr_cand++;
			ret = qemu_try(q, qmp, c, pc, npc, qemu_file_proven(q, c, rb->max_length),
			               &nonzero, err, errlen);
			if (ret < 0)
				goto out;
			if (ret && nonzero) {
				hit = c;
				found++;
			} else if (ret) {
				zero_hit = c;
				fzero++;
			}
		}
		/*
		 * Agreement on data names the mapping; agreement on zeros only
		 * when no other mapping of that size agrees at all.
		 */
		if (found > 1 || (!found && fzero > 1)) {
			ret = errmsg(
			        err, errlen, -EPROTO,
			        "RAM block %s: %zu mappings of QEMU's agree with its guest memory; "
			        "cannot tell which is the block",
			        rb->idstr, found ? found : fzero);
			goto out;
		}
		if (!found)
			hit = zero_hit;
		if (!hit) {
			ret = errmsg(
			        err, errlen, -EPROTO,
			        "RAM block %s: none of QEMU's %zu mappings of its size (0x%llx) "
			        "holds what QEMU reads at GPA 0x%llx: cannot verify its memory",
			        rb->idstr, nr_cand, (unsigned long long)rb->max_length,
			        (unsigned long long)pc[0].gpa);
			goto out;
		}
		hit->claimed = true;
		qemu_take(q, rb, hit, writable);
	}
	ret = 0;
out:
	json_free(memdevs);
	free(maps);
	return ret;
}
