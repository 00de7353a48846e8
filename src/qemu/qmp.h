/*
 * qmp.h - a client of QEMU's machine protocol over a unix socket (QEMU's
 * `-qmp unix:PATH,server=on,wait=off`).
 *
 * A QMP socket serves one client at a time, so a conversation is opened
 * for a few commands and closed again (qmp_open ... qmp_close): whoever
 * else uses the socket gets in between.  A socket another client holds
 * leaves the greeting unsent; qmp_open gives up after its timeout with
 * -EBUSY.
 */
#ifndef KVMFS_QEMU_QMP_H
#define KVMFS_QEMU_QMP_H

#include <stddef.h>
#include <sys/types.h>

struct json;

struct qmp {
	int fd;
	pid_t pid;               /* QEMU's, from the socket's peer credentials */
	int major, minor, micro; /* QEMU's version, from the greeting */
	char *buf;               /* bytes read past the last message */
	size_t len, cap;
	int timeout_ms; /* for each reply */
};

/*
 * Connect to path, read the greeting and leave negotiation mode
 * (qmp_capabilities).  On failure err says why in one line: not a socket,
 * nobody listening, not QMP (no greeting, or not one), busy.
 */
int qmp_open(struct qmp *q, const char *path, int timeout_ms, char *err, size_t errlen);
void qmp_close(struct qmp *q);

/*
 * Run command name with args (a JSON object's text, or NULL) and wait
 * for its reply, skipping events; *ret is the reply's "return" value,
 * detached from the reply (the caller frees it with json_free).  An
 * error reply is -EIO with QMP's class and description in err.
 */
int qmp_execute(struct qmp *q, const char *name, const char *args, struct json **ret, char *err,
                size_t errlen);
/*
 * A human monitor command ("info mtree -f"), its text in *out (malloc'd,
 * NUL-terminated, the monitor's \r\n made \n).  cpu >= 0 runs it on that
 * vCPU (QMP's cpu-index), as `info registers` needs.
 */
int qmp_hmp(struct qmp *q, const char *cmdline, int cpu, char **out, char *err, size_t errlen);

#endif
