/*
 * pid.c - `kvmfs -attach PID`: the QMP sockets of a QEMU from its command
 * line (/proc/PID/cmdline), as QEMU itself was told them:
 *
 *   -qmp unix:PATH[,server=on,...]            (also --qmp, -qmp-pretty)
 *   -chardev socket,id=ID,path=PATH,server=on  with  -mon chardev=ID,mode=control
 *                                              (what libvirt writes)
 *
 * A relative PATH is QEMU's, so it is taken from QEMU's working directory.
 * Nothing is guessed from the socket's name; which of the sockets answers is
 * left to the caller (a QMP socket serves one client at a time).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qemu/qemu.h"
#include "util/errmsg.h"

bool qemu_arg_is_pid(const char *arg, pid_t *pid)
{
	struct stat st;
	char *end;
	long v;

	if (!*arg || arg[strspn(arg, "0123456789")])
		return false;
	/* A file of that name wins: a socket may well be called "4242". */
	if (!stat(arg, &st))
		return false;
	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || v <= 0 || v > INT_MAX)
		return false;
	*pid = (pid_t)v;
	return true;
}

/* /proc/PID/cmdline whole: *len bytes, NUL-separated arguments. */
static int qemu_read_cmdline(pid_t pid, char **out, size_t *len)
{
	char path[64], *buf = NULL, *b;
	size_t cap = 0, n = 0;
	ssize_t r;
	int fd, ret = 0;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			b = realloc(buf, cap + 1);
			if (!b) {
				ret = -ENOMEM;
				break;
			}
			buf = b;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			break;
		}
		if (!r)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (ret) {
		free(buf);
		return ret;
	}
	if (!buf) {
		buf = malloc(1);
		if (!buf)
			return -ENOMEM;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* The value of key=VALUE among a chardev's comma-separated options, copied; NULL if absent. */
static char *qemu_opt(const char *opts, const char *key)
{
	size_t klen = strlen(key);
	const char *p = opts;

	while (p && *p) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (l > klen && !strncmp(p, key, klen) && p[klen] == '=')
			return strndup(p + klen + 1, l - klen - 1);
		p = e ? e + 1 : NULL;
	}
	return NULL;
}

static int qemu_add_path(pid_t pid, const char *sock, char ***paths, size_t *nr)
{
	char cwd_link[64], cwd[PATH_MAX], **a, *full;
	ssize_t n;

	if (sock[0] == '/') {
		full = strdup(sock);
	} else {
		snprintf(cwd_link, sizeof(cwd_link), "/proc/%d/cwd", (int)pid);
		n = readlink(cwd_link, cwd, sizeof(cwd) - 1);
		if (n < 0)
			return -errno;
		cwd[n] = '\0';
		full = NULL;
		if (asprintf(&full, "%s/%s", cwd, sock) < 0)
			full = NULL;
	}
	if (!full)
		return -ENOMEM;
	a = realloc(*paths, (*nr + 1) * sizeof(*a));
	if (!a) {
		free(full);
		return -ENOMEM;
	}
	a[(*nr)++] = full;
	*paths = a;
	return 0;
}

static bool qemu_is_opt(const char *arg, const char *name)
{
	/* QEMU takes every option with one dash or two. */
	if (arg[0] != '-')
		return false;
	arg += arg[1] == '-' ? 2 : 1;
	return !strcmp(arg, name);
}

void qemu_free_paths(char **paths, size_t nr)
{
	while (nr)
		free(paths[--nr]);
	free(paths);
}

int qemu_qmp_sockets(pid_t pid, char ***paths, size_t *nr, char *err, size_t errlen)
{
	char *buf, **argv = NULL, *p;
	size_t len, argc = 0, i, j;
	int ret;

	*paths = NULL;
	*nr = 0;
	ret = qemu_read_cmdline(pid, &buf, &len);
	if (ret)
		return errmsg(err, errlen, ret, "/proc/%d/cmdline: %s", (int)pid,
		              ret == -ENOENT ? "no such process" : strerror(-ret));
	for (p = buf; p < buf + len; p += strlen(p) + 1) {
		char **a = realloc(argv, (argc + 1) * sizeof(*a));

		if (!a) {
			ret = errmsg(err, errlen, -ENOMEM, "%s", strerror(ENOMEM));
			goto out;
		}
		argv = a;
		argv[argc++] = p;
	}
	for (i = 0; i + 1 < argc && !ret; i++) {
		const char *v = argv[i + 1];

		if ((qemu_is_opt(argv[i], "qmp") || qemu_is_opt(argv[i], "qmp-pretty")) &&
		    !strncmp(v, "unix:", 5)) {
			char *sock = strndup(v + 5, strcspn(v + 5, ","));

			ret = sock ? qemu_add_path(pid, sock, paths, nr) : -ENOMEM;
			free(sock);
		} else if (qemu_is_opt(argv[i], "mon")) {
			/* -mon chardev=ID,mode=control: the chardev ID's socket path. */
			char *id = qemu_opt(v, "chardev"), *mode = qemu_opt(v, "mode");

			for (j = 0; id && mode && !strcmp(mode, "control") && j + 1 < argc && !ret;
			     j++) {
				char *cid, *sock;

				if (!qemu_is_opt(argv[j], "chardev") ||
				    strncmp(argv[j + 1], "socket,", 7))
					continue;
				cid = qemu_opt(argv[j + 1] + 7, "id");
				sock = cid && !strcmp(cid, id) ? qemu_opt(argv[j + 1] + 7, "path")
				                               : NULL;
				if (sock)
					ret = qemu_add_path(pid, sock, paths, nr);
				free(sock);
				free(cid);
			}
			free(id);
			free(mode);
		}
	}
	if (ret)
		errmsg(err, errlen, ret, "/proc/%d/cmdline: %s", (int)pid, strerror(-ret));
	else if (!*nr)
		ret = errmsg(err, errlen, -ENOENT,
		             "PID %d: no QMP socket on its command line (kvmfs needs -qmp "
		             "unix:PATH,server=on,wait=off, or a -chardev socket with -mon "
		             "mode=control)",
		             (int)pid);
out:
	if (ret) {
		qemu_free_paths(*paths, *nr);
		*paths = NULL;
		*nr = 0;
	}
	free(argv);
	free(buf);
	return ret;
}
