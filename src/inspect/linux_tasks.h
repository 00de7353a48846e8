/*
 * linux_tasks.h - the guest's tasks, from init_task's list: each thread
 * group leader on init_task.tasks, its other threads on
 * signal->thread_head (task->thread_node; before 6.7 also thread_group),
 * each task's pid, tgid, comm, state, parent, credentials and mm, and what
 * /proc/PID/status and /proc/PID/cmdline show of them.
 *
 * Walks are bounded (LINUX_TASKS_MAX tasks) and every task read is
 * checked: a list node whose neighbour does not point back at it, a pid
 * out of range, a comm without its NUL end the walk there, counted in the
 * guest's errors; what was read before stays.
 */
#ifndef KVMFS_INSPECT_LINUX_TASKS_H
#define KVMFS_INSPECT_LINUX_TASKS_H

#include <stddef.h>
#include <stdint.h>

#include "inspect/linux_guest.h"

#define LINUX_TASKS_MAX   (1u << 18) /* far above any real guest's, below PID_MAX_LIMIT */
#define LINUX_PID_MAX     (1 << 22)  /* PID_MAX_LIMIT */
#define LINUX_CMDLINE_MAX (1u << 20)
#define LINUX_PF_KTHREAD  0x00200000

struct linux_task {
	uint64_t addr; /* the task_struct */
	int32_t pid, tgid, ppid;
	char comm[17];
	char state;             /* 'R', 'S', ... as ps prints it */
	const char *state_name; /* "S (sleeping)", as /proc/PID/status spells it */
	uint32_t flags, exit_state;
	uint32_t uid[4], gid[4]; /* real, effective, saved, fs */
	int32_t nr_threads;
	uint64_t mm;       /* 0: a kernel thread */
	uint64_t total_vm; /* pages */
};

/* Read and check the task at addr. */
int linux_task_read(struct linux_guest *lg, uint64_t addr, struct linux_task *t);
/*
 * Every task: each thread group leader in the order of init_task's list
 * (init_task itself, pid 0, first), followed by its other threads.  *out
 * is malloc'd.  0, or -errno (-ENOTSUP: no BTF).
 */
int linux_tasks_list(struct linux_guest *lg, struct linux_task **out, size_t *nr);
/*
 * The tasks a directory of /proc would list, in pid order, each pid once:
 * the thread group leaders (tgid 0; not pid 0, which /proc does not show),
 * or the threads of thread group tgid.  As linux_tasks_list otherwise.
 */
int linux_tasks_select(struct linux_guest *lg, int32_t tgid, struct linux_task **out, size_t *nr);
/*
 * The task of pid tid (a thread's too): at hint (its task_struct when last
 * seen; 0: none) if that still is it and has not exited, else found in the
 * list.  0 or -ENOENT.
 */
int linux_task_find(struct linux_guest *lg, int32_t tid, uint64_t hint, struct linux_task *t);

/* /proc/PID/status's lines for t: Name, State, Tgid, Pid, PPid, Uid, Gid, Threads, Kthread, VmSize.
 */
void linux_task_render_status(const struct linux_task *t, struct strbuf *sb);
/* /proc/PID/cmdline: the bytes between mm->arg_start and arg_end; empty for a kernel thread. */
void linux_task_render_cmdline(struct linux_guest *lg, const struct linux_task *t,
                               struct strbuf *sb);
/* A JSON array of tasks, one object each (pid, tgid, ppid, comm, state, uid, gid, kthread,
 * threads). */
void linux_tasks_render_json(const struct linux_task *t, size_t nr, struct strbuf *sb);

/* The task's user address space (false: a kernel thread, or its mm unreadable). */
bool linux_task_uspace(struct linux_guest *lg, const struct linux_task *t, struct linux_uspace *u);

#endif
