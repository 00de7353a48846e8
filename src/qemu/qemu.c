/*
 * qemu.c - attaching to a running QEMU: its model through QMP (import.h),
 * its memory in its process (locate.c), its run state and registers on
 * demand.  QEMU is never changed by attaching or detaching: every
 * question is read-only but `stop` and `cont`, which ctl asks for.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "qemu/cpu.h"
#include "qemu/json.h"
#include "qemu/qemu.h"
#include "qemu/qmp.h"
#include "util/errmsg.h"

#define QEMU_QMP_TIMEOUT_MS 5000

/* A conversation for one question; q->lock held. */
static int qemu_talk(struct qemu *q, struct qmp *qmp, char *err, size_t errlen)
{
	int ret;

	if (qemu_gone(q))
		return errmsg(err, errlen, -ESRCH, "QEMU (PID %d) is gone", (int)q->pid);
	ret = qmp_open(qmp, q->path, QEMU_QMP_TIMEOUT_MS, err, errlen);
	if (!ret && qmp->pid != q->pid) {
		qmp_close(qmp);
		ret = errmsg(err, errlen, -ESRCH, "%s: now served by PID %d, not QEMU %d", q->path,
		             (int)qmp->pid, (int)q->pid);
	}
	return ret;
}

static int qemu_proc_open(struct qemu *q, const char *what, int flags, int *fd, char *err,
                          size_t errlen)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)q->pid, what);
	*fd = open(path, flags | O_CLOEXEC);
	if (*fd >= 0)
		return 0;
	if (errno == EACCES || errno == EPERM)
		return errmsg(err, errlen, -EACCES,
		              "%s: %s: kvmfs needs to read QEMU's memory: run it as root, or as "
		              "QEMU's user where ptrace is allowed (kernel.yama.ptrace_scope=0)",
		              path, strerror(errno));
	return errmsg(err, errlen, -errno, "%s: %s", path, strerror(errno));
}

/* The board QEMU runs, from its machine object's type; NULL: not one kvmfs models. */
static const struct machine_desc *qemu_board(struct qmp *qmp, char *type, size_t len, char *err,
                                             size_t errlen)
{
	struct json *r = NULL;
	const struct machine_desc *d = NULL;

	if (qmp_execute(qmp, "qom-get", "{\"path\": \"/machine\", \"property\": \"type\"}", &r, err,
	                errlen))
		return NULL;
	snprintf(type, len, "%s", r->type == JSON_STRING ? r->str : "?");
	if (strstr(type, "i440fx"))
		d = &machine_pc;
	else if (strstr(type, "q35"))
		d = &machine_q35;
	json_free(r);
	return d;
}

static int qemu_ask(struct qmp *qmp, const char *cmd, struct json **r, char *err, size_t errlen)
{
	return qmp_execute(qmp, cmd, NULL, r, err, errlen);
}

/* The model: blocks, regions, address space; checked against QEMU's flat view. */
static int qemu_import(struct qemu *q, struct qmp *qmp, struct machine *m, char *err, size_t errlen)
{
	char *ramblock = NULL, *mtree = NULL, *flat = NULL;
	int ret;

	ret = qmp_hmp(qmp, "info ramblock", -1, &ramblock, err, errlen);
	if (!ret)
		ret = qmp_hmp(qmp, "info mtree", -1, &mtree, err, errlen);
	if (!ret)
		ret = qmp_hmp(qmp, "info mtree -f", -1, &flat, err, errlen);
	if (ret)
		goto out;
	q->kvm = strstr(flat, " KVM\n") != NULL;
	ret = qemu_import_ramblocks(&m->ram, ramblock, err, errlen);
	if (!ret)
		ret = qemu_import_mtree(&q->regions, &m->ram, mtree, flat, err, errlen);
	if (ret)
		goto out;
	m->system = q->regions.root;
	ret = as_init(&m->as, "memory", m->system);
	if (ret) {
		errmsg(err, errlen, ret, "address space: %s", strerror(-ret));
		goto out;
	}
	ret = qemu_check_flatview(&m->as, flat, err, errlen);
out:
	free(ramblock);
	free(mtree);
	free(flat);
	return ret;
}

/*
 * q->path and an open conversation for arg: a socket path, or a PID whose
 * command line names QMP sockets (the first that answers, and is that
 * PID's: the peer of the socket must be the process named).
 */
static int qemu_open_arg(struct qemu *q, const char *arg, struct qmp *qmp, char *err, size_t errlen)
{
	char **socks = NULL;
	size_t nr = 0, i;
	pid_t pid;
	int ret;

	if (!qemu_arg_is_pid(arg, &pid)) {
		q->path = strdup(arg);
		if (!q->path)
			return errmsg(err, errlen, -ENOMEM, "%s", strerror(ENOMEM));
		ret = qmp_open(qmp, arg, QEMU_QMP_TIMEOUT_MS, err, errlen);
		goto out;
	}
	ret = qemu_qmp_sockets(pid, &socks, &nr, err, errlen);
	if (ret)
		return ret;
	/* One client at a time per socket: a socket someone holds is skipped. */
	for (i = 0, ret = -ENOENT; i < nr && ret; i++)
		ret = qmp_open(qmp, socks[i], QEMU_QMP_TIMEOUT_MS, err, errlen);
	if (ret)
		goto out;
	if (qmp->pid != pid) {
		ret = errmsg(err, errlen, -ESRCH, "PID %d: its QMP socket %s is served by PID %d",
		             (int)pid, socks[i - 1], (int)qmp->pid);
		qmp_close(qmp);
		goto out;
	}
	q->path = strdup(socks[i - 1]);
	if (!q->path) {
		qmp_close(qmp);
		ret = errmsg(err, errlen, -ENOMEM, "%s", strerror(ENOMEM));
	}
out:
	if (ret) {
		free(q->path);
		q->path = NULL;
	}
	qemu_free_paths(socks, nr);
	return ret;
}

/* QEMU's process as kvmfs holds it: its pidfd, /proc/PID/mem and pagemap. */
static void qemu_close_process(struct qemu *q)
{
	if (q->pidfd >= 0)
		close(q->pidfd);
	if (q->mem_fd >= 0)
		close(q->mem_fd);
	if (q->pagemap_fd >= 0)
		close(q->pagemap_fd);
	q->pidfd = q->mem_fd = q->pagemap_fd = -1;
}

int qemu_attach(struct qemu *q, const char *path, struct machine *m, bool writable, char *err,
                size_t errlen)
{
	struct qmp qmp;
	struct json *r = NULL;
	const struct json *v;
	char type[128];
	int ret;

	memset(q, 0, sizeof(*q));
	q->pidfd = q->mem_fd = q->pagemap_fd = -1;
	pthread_mutex_init(&q->lock, NULL);
	ret = qemu_open_arg(q, path, &qmp, err, errlen);
	if (ret)
		goto err_path;
	path = q->path;
	q->pid = qmp.pid;
	q->version[0] = qmp.major;
	q->version[1] = qmp.minor;
	q->version[2] = qmp.micro;
	/* The texts read here are QEMU 7's; the flat view check catches a change, not a guess. */
	if (qmp.major < 7 || qmp.major > 9) {
		ret = errmsg(err, errlen, -EPROTONOSUPPORT,
		             "%s: QEMU %d.%d.%d: kvmfs reads the monitor texts of QEMU 7 to 9",
		             path, qmp.major, qmp.minor, qmp.micro);
		goto err_qmp;
	}
	if ((ret = qemu_ask(&qmp, "query-target", &r, err, errlen)))
		goto err_qmp;
	v = json_get(r, "arch");
	if (!v || v->type != JSON_STRING || strcmp(v->str, "x86_64")) {
		ret = errmsg(err, errlen, -EPROTONOSUPPORT,
		             "%s: a QEMU for %s: kvmfs knows x86_64 guests only", path,
		             v && v->type == JSON_STRING ? v->str : "another architecture");
		goto err_r;
	}
	json_free(r);
	r = NULL;
	m->desc = qemu_board(&qmp, type, sizeof(type), err, errlen);
	if (!m->desc) {
		ret = errmsg(err, errlen, -EPROTONOSUPPORT,
		             "%s: machine %s: kvmfs knows -M pc (i440fx) and -M q35", path, type);
		goto err_qmp;
	}
	if ((ret = qemu_ask(&qmp, "query-cpus-fast", &r, err, errlen)))
		goto err_qmp;
	q->nr_cpus = (unsigned)json_array_len(r);
	json_free(r);
	r = NULL;
	if ((ret = qemu_ask(&qmp, "query-memory-size-summary", &r, err, errlen)))
		goto err_qmp;
	v = json_get(r, "base-memory");
	m->ram_size = v ? v->unum : 0;
	m->cpus = q->nr_cpus;
	json_free(r);
	r = NULL;
	/* Permission to read QEMU's memory is asked before anything is built. */
	ret = qemu_proc_open(q, "mem", writable ? O_RDWR : O_RDONLY, &q->mem_fd, err, errlen);
	if (!ret)
		ret = qemu_proc_open(q, "pagemap", O_RDONLY, &q->pagemap_fd, err, errlen);
	if (ret)
		goto err_qmp;
	q->pidfd = (int)syscall(SYS_pidfd_open, q->pid, 0);
	ram_list_init(&m->ram, RAM_BACKING_ANON);
	ret = qemu_import(q, &qmp, m, err, errlen);
	if (!ret)
		ret = qemu_locate(q, &qmp, m, writable, err, errlen);
	if (ret)
		goto err_model;
	qmp_close(&qmp);
	return 0;

err_model:
	if (m->as.fv)
		as_exit(&m->as);
	qemu_regions_free(&q->regions);
	m->system = NULL;
	ram_list_exit(&m->ram);
	m->desc = NULL;
	goto err_qmp;
err_r:
	json_free(r);
err_qmp:
	qmp_close(&qmp);
	qemu_close_process(q);
err_path:
	free(q->path);
	pthread_mutex_destroy(&q->lock);
	return ret;
}

void qemu_detach(struct qemu *q)
{
	/* The machine's tree goes with machine_exit; only what it does not hold goes here. */
	while (q->regions.nr_extra)
		mr_free(q->regions.extra[--q->regions.nr_extra]);
	free(q->regions.extra);
	q->regions.extra = NULL;
	q->regions.root = NULL;
	qemu_close_process(q);
	free(q->path);
	q->path = NULL;
	pthread_mutex_destroy(&q->lock);
}

bool qemu_gone(struct qemu *q)
{
	struct pollfd p = {q->pidfd, POLLIN, 0};

	if (q->pidfd >= 0)
		return poll(&p, 1, 0) > 0;
	return kill(q->pid, 0) < 0 && errno == ESRCH;
}

static int qemu_command(struct qemu *q, const char *cmd)
{
	char err[256];
	struct json *r = NULL;
	struct qmp qmp;
	int ret;

	pthread_mutex_lock(&q->lock);
	ret = qemu_talk(q, &qmp, err, sizeof(err));
	if (!ret) {
		ret = qmp_execute(&qmp, cmd, NULL, &r, err, sizeof(err));
		json_free(r);
		qmp_close(&qmp);
	}
	pthread_mutex_unlock(&q->lock);
	/* A refusal of QEMU's own is a refused operation; anything else an I/O failure. */
	return ret == -EIO ? -EPERM : ret;
}

int qemu_stop(struct qemu *q)
{
	return qemu_command(q, "stop");
}

int qemu_cont(struct qemu *q)
{
	return qemu_command(q, "cont");
}

void qemu_status(struct qemu *q, char *buf, size_t len)
{
	char err[256], *text = NULL;
	struct qmp qmp;
	const char *s;
	int ret;

	pthread_mutex_lock(&q->lock);
	ret = qemu_talk(q, &qmp, err, sizeof(err));
	if (!ret) {
		ret = qmp_hmp(&qmp, "info status", -1, &text, err, sizeof(err));
		qmp_close(&qmp);
	}
	pthread_mutex_unlock(&q->lock);
	if (ret == -ESRCH && qemu_gone(q)) {
		snprintf(buf, len, "gone\nQEMU (PID %d) has exited\n", (int)q->pid);
	} else if (ret) {
		snprintf(buf, len, "unknown\n%s\n", err);
	} else {
		s = strncmp(text, "VM status: ", 11) ? text : text + 11;
		snprintf(buf, len, "%s", s);
	}
	free(text);
}

int qemu_cpu_state(struct qemu *q, unsigned cpu, struct kvm_regs *regs, struct kvm_sregs *sregs,
                   bool *exact)
{
	char err[256], *text = NULL, *status = NULL;
	struct qmp qmp;
	int ret;

	if (cpu >= q->nr_cpus)
		return -ENOENT;
	pthread_mutex_lock(&q->lock);
	ret = qemu_talk(q, &qmp, err, sizeof(err));
	if (!ret) {
		ret = qmp_hmp(&qmp, "info status", -1, &status, err, sizeof(err));
		if (!ret)
			ret = qmp_hmp(&qmp, "info registers", (int)cpu, &text, err, sizeof(err));
		qmp_close(&qmp);
	}
	pthread_mutex_unlock(&q->lock);
	if (!ret)
		ret = qemu_parse_registers(text, regs, sregs);
	/* Exact while QEMU's vCPUs are stopped; a running one's are of some moment. */
	*exact = !ret && !strstr(status, "running");
	free(text);
	free(status);
	return ret == -ESRCH ? -EIO : ret;
}
