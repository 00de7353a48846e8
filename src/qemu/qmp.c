/*
 * qmp.c - QEMU's machine protocol: a unix socket, one JSON object per
 * line each way.  The server greets first ({"QMP": {"version": ...}}),
 * refuses every command but qmp_capabilities until it is sent, and may
 * put asynchronous events ({"event": ...}) between a command and its
 * reply; every reply carries the "id" we gave its command.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "qemu/json.h"
#include "qemu/qmp.h"
#include "util/errmsg.h"
#include "util/strbuf.h"

/* Longest message accepted: `info mtree` of a large machine is a few hundred KiB. */
#define QMP_MAX_MSG (64u << 20)

static long qmp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* One line from the socket, without its \r\n; -ETIMEDOUT, -EPIPE (closed), -E2BIG. */
static int qmp_read_line(struct qmp *q, char **line, size_t *len)
{
	long deadline = qmp_now_ms() + q->timeout_ms;

	for (;;) {
		char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;
		struct pollfd pfd = {q->fd, POLLIN, 0};
		long left;
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - q->buf);

			*line = malloc(l + 1);
			if (!*line)
				return -ENOMEM;
			memcpy(*line, q->buf, l);
			(*line)[l] = '\0';
			*len = l && (*line)[l - 1] == '\r' ? l - 1 : l;
			memmove(q->buf, nl + 1, q->len - l - 1);
			q->len -= l + 1;
			return 0;
		}
		if (q->len == q->cap) {
			size_t cap = q->cap ? q->cap * 2 : 65536;
			char *b;

			if (cap > QMP_MAX_MSG)
				return -E2BIG;
			b = realloc(q->buf, cap);
			if (!b)
				return -ENOMEM;
			q->buf = b;
			q->cap = cap;
		}
		left = deadline - qmp_now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n <= 0)
			continue;
		n = recv(q->fd, q->buf + q->len, q->cap - q->len, 0);
		if (n == 0)
			return -EPIPE;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		q->len += (size_t)n;
	}
}

static int qmp_read_msg(struct qmp *q, struct json **msg)
{
	char *line;
	size_t len;
	int ret = qmp_read_line(q, &line, &len);

	if (ret)
		return ret;
	ret = json_parse(line, len, msg);
	free(line);
	if (!ret && (*msg)->type != JSON_OBJECT) {
		json_free(*msg);
		ret = -EINVAL;
	}
	return ret;
}

static int qmp_send(struct qmp *q, const char *text, size_t len)
{
	while (len) {
		ssize_t n = send(q->fd, text, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		text += n;
		len -= (size_t)n;
	}
	return 0;
}

static const char *qmp_strerr(int ret)
{
	switch (ret) {
	case -EPIPE: return "QEMU closed the connection";
	case -ETIMEDOUT: return "no reply in time";
	case -EINVAL: return "not JSON";
	default: return strerror(-ret);
	}
}

int qmp_execute(struct qmp *q, const char *name, const char *args, struct json **ret, char *err,
                size_t errlen)
{
	static unsigned long next_id;
	struct strbuf sb = STRBUF_INIT;
	unsigned long id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
	struct json *msg = NULL;
	const struct json *v;
	char idstr[32];
	int r;

	sb_printf(&sb, "{\"execute\": ");
	sb_json_str(&sb, name);
	if (args)
		sb_printf(&sb, ", \"arguments\": %s", args);
	sb_printf(&sb, ", \"id\": \"kvmfs-%lu\"}\n", id);
	if (sb.err) {
		sb_free(&sb);
		return errmsg(err, errlen, -ENOMEM, "QMP %s: %s", name, strerror(ENOMEM));
	}
	r = qmp_send(q, sb.buf, sb.len);
	sb_free(&sb);
	if (r)
		return errmsg(err, errlen, r, "QMP %s: %s", name, qmp_strerr(r));
	snprintf(idstr, sizeof(idstr), "kvmfs-%lu", id);
	for (;;) {
		r = qmp_read_msg(q, &msg);
		if (r)
			return errmsg(err, errlen, r, "QMP %s: %s", name, qmp_strerr(r));
		if (json_get(msg, "event") || !json_get_str(msg, "id") ||
		    strcmp(json_get_str(msg, "id"), idstr)) {
			json_free(msg);
			continue;
		}
		break;
	}
	if ((v = json_get(msg, "error"))) {
		const char *cls = json_get_str(v, "class"), *desc = json_get_str(v, "desc");

		r = errmsg(err, errlen, -EIO, "QMP %s: %s: %s", name, cls ? cls : "error",
		           desc ? desc : "(no description)");
	} else if ((v = json_get(msg, "return"))) {
		struct json **pp;

		/* Detach the value from the reply, so that only it survives. */
		for (pp = &msg->child; *pp != v; pp = &(*pp)->next)
			;
		*pp = v->next;
		((struct json *)v)->next = NULL;
		*ret = (struct json *)v;
		r = 0;
	} else {
		r = errmsg(err, errlen, -EPROTO, "QMP %s: a reply without return or error", name);
	}
	json_free(msg);
	return r;
}

int qmp_hmp(struct qmp *q, const char *cmdline, int cpu, char **out, char *err, size_t errlen)
{
	struct strbuf args = STRBUF_INIT;
	struct json *ret = NULL;
	char *s, *o;
	int r;

	sb_printf(&args, "{\"command-line\": ");
	sb_json_str(&args, cmdline);
	if (cpu >= 0)
		sb_printf(&args, ", \"cpu-index\": %d", cpu);
	sb_printf(&args, "}");
	r = args.err ? -ENOMEM
	             : qmp_execute(q, "human-monitor-command", args.buf, &ret, err, errlen);
	sb_free(&args);
	if (r)
		return r;
	if (ret->type != JSON_STRING) {
		json_free(ret);
		return errmsg(err, errlen, -EPROTO, "QMP human-monitor-command %s: not a text",
		              cmdline);
	}
	/* The monitor ends its lines \r\n; the texts kvmfs compares with end them \n. */
	for (s = o = ret->str; s < ret->str + ret->len; s++)
		if (!(*s == '\r' && s + 1 < ret->str + ret->len && s[1] == '\n'))
			*o++ = *s;
	*o = '\0';
	*out = ret->str;
	ret->str = NULL;
	json_free(ret);
	return 0;
}

int qmp_open(struct qmp *q, const char *path, int timeout_ms, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct ucred cred;
	socklen_t credlen = sizeof(cred);
	struct json *msg = NULL, *ret = NULL;
	const struct json *v;
	struct stat st;
	int r;

	memset(q, 0, sizeof(*q));
	q->fd = -1;
	q->timeout_ms = timeout_ms;
	if (stat(path, &st) < 0)
		return errmsg(err, errlen, -errno, "%s: %s", path, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return errmsg(err, errlen, -ENOTSOCK, "%s: not a QMP socket (not a socket at all)",
		              path);
	if (strlen(path) >= sizeof(sa.sun_path))
		return errmsg(err, errlen, -ENAMETOOLONG, "%s: path too long for a unix socket",
		              path);
	strcpy(sa.sun_path, path);
	q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (q->fd < 0)
		return errmsg(err, errlen, -errno, "socket: %s", strerror(errno));
	if (connect(q->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = errmsg(err, errlen, -errno, "%s: %s%s", path, strerror(errno),
		           errno == ECONNREFUSED ? " (nobody listens: QEMU gone?)" : "");
		goto fail;
	}
	if (getsockopt(q->fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) < 0 || cred.pid <= 0) {
		r = errmsg(err, errlen, -EPROTO, "%s: the peer process is unknown", path);
		goto fail;
	}
	q->pid = cred.pid;
	r = qmp_read_msg(q, &msg);
	if (r == -ETIMEDOUT) {
		r = errmsg(err, errlen, -EBUSY,
		           "%s: no QMP greeting within %d ms: another client holds the socket "
		           "(give kvmfs a -qmp socket of its own), or it is not QMP",
		           path, timeout_ms);
		goto fail;
	}
	v = r ? NULL : json_get(json_get(json_get(msg, "QMP"), "version"), "qemu");
	if (!v) {
		r = errmsg(err, errlen, -EPROTO, "%s: not a QMP socket (%s)", path,
		           r ? qmp_strerr(r) : "its first message is not a QMP greeting");
		goto fail;
	}
	q->major = (int)(json_get(v, "major") ? json_get(v, "major")->num : 0);
	q->minor = (int)(json_get(v, "minor") ? json_get(v, "minor")->num : 0);
	q->micro = (int)(json_get(v, "micro") ? json_get(v, "micro")->num : 0);
	json_free(msg);
	msg = NULL;
	r = qmp_execute(q, "qmp_capabilities", NULL, &ret, err, errlen);
	if (r)
		goto fail;
	json_free(ret);
	return 0;
fail:
	json_free(msg);
	qmp_close(q);
	return r;
}

void qmp_close(struct qmp *q)
{
	if (q->fd >= 0)
		close(q->fd);
	free(q->buf);
	q->buf = NULL;
	q->len = q->cap = 0;
	q->fd = -1;
}
