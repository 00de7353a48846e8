/*
 * linux_tasks.c - the guest's tasks and what /proc shows of each (see
 * linux_tasks.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "inspect/linux_tasks.h"
#include "util/strbuf.h"

/* task_state_index(): the kernel's bits (include/linux/sched.h), stable since 4.14. */
#define TASK_REPORT      0x7f
#define TASK_IDLE        0x402 /* TASK_UNINTERRUPTIBLE | TASK_NOLOAD */
#define TASK_RTLOCK_WAIT 0x1000

static const char *const task_states[] = {
        "R (running)", "S (sleeping)", "D (disk sleep)", "T (stopped)", "t (tracing stop)",
        "X (dead)",    "Z (zombie)",   "P (parked)",     "I (idle)",
};

static unsigned task_state_index(uint32_t state, uint32_t exit_state)
{
	uint32_t s = (state | exit_state) & TASK_REPORT;
	unsigned i = 0;

	if ((state & TASK_IDLE) == TASK_IDLE)
		s = TASK_REPORT + 1;
	if (state == TASK_RTLOCK_WAIT)
		s = 2; /* TASK_UNINTERRUPTIBLE: rt_mutex sleepers show as D */
	while (s) {
		i++;
		s >>= 1;
	}
	return i; /* fls() */
}

int linux_task_read(struct linux_guest *lg, uint64_t addr, struct linux_task *t)
{
	const struct linux_layout *l = &lg->l;
	uint64_t parent, cred, signal, state = 0;
	uint32_t exit_state, ids[8];
	const uint64_t cred_off[8] = {l->cred_uid, l->cred_euid, l->cred_suid, l->cred_fsuid,
	                              l->cred_gid, l->cred_egid, l->cred_sgid, l->cred_fsgid};
	unsigned i;

	memset(t, 0, sizeof(*t));
	t->addr = addr;
	if (!linux_guest_read(lg, addr + l->task_pid, &t->pid, 4) ||
	    !linux_guest_read(lg, addr + l->task_tgid, &t->tgid, 4) ||
	    !linux_guest_read(lg, addr + l->task_comm, t->comm, 16) ||
	    !linux_guest_read(lg, addr + l->task_state, &state,
	                      l->task_state_size > 8 ? 8 : l->task_state_size) ||
	    !linux_guest_u32(lg, addr + l->task_exit_state, &exit_state) ||
	    !linux_guest_u32(lg, addr + l->task_flags, &t->flags) ||
	    !linux_guest_u64(lg, addr + l->task_real_parent, &parent) ||
	    !linux_guest_u64(lg, addr + l->task_mm, &t->mm) ||
	    !linux_guest_u64(lg, addr + l->task_cred, &cred) ||
	    !linux_guest_u64(lg, addr + l->task_signal, &signal))
		return -EFAULT;
	if (t->pid < 0 || t->pid >= LINUX_PID_MAX || t->tgid < 0 || t->tgid >= LINUX_PID_MAX ||
	    !memchr(t->comm, '\0', 16)) {
		linux_guest_error(lg, LINUX_ERR_INVALID);
		return -EINVAL;
	}
	t->exit_state = exit_state;
	t->state = "RSDTtXZPI"[task_state_index((uint32_t)state, exit_state) % 9];
	t->state_name = task_states[task_state_index((uint32_t)state, exit_state) % 9];
	if (!linux_guest_read(lg, parent + l->task_tgid, &t->ppid, 4))
		t->ppid = 0;
	for (i = 0; i < 8; i++)
		if (!linux_guest_u32(lg, cred + cred_off[i], &ids[i]))
			ids[i] = 0;
	memcpy(t->uid, ids, sizeof(t->uid));
	memcpy(t->gid, ids + 4, sizeof(t->gid));
	if (!linux_guest_read(lg, signal + l->signal_nr_threads, &t->nr_threads, 4))
		t->nr_threads = 0;
	if (t->mm && !linux_guest_u64(lg, t->mm + l->mm_total_vm, &t->total_vm))
		t->total_vm = 0;
	return 0;
}

/* A growing array of tasks. */
struct task_vec {
	struct linux_task *v;
	size_t nr, cap;
};

static int task_push(struct task_vec *tv, const struct linux_task *t)
{
	if (tv->nr == tv->cap) {
		size_t cap = tv->cap ? 2 * tv->cap : 256;
		struct linux_task *v = realloc(tv->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		tv->v = v;
		tv->cap = cap;
	}
	tv->v[tv->nr++] = *t;
	return 0;
}

/*
 * The next node of the list after node, checked: its prev must be node.
 * False at a broken link (counted).
 */
static bool list_next(struct linux_guest *lg, uint64_t node, uint64_t *next)
{
	uint64_t back;

	if (!linux_guest_u64(lg, node, next) || !linux_guest_u64(lg, *next + 8, &back))
		return false;
	if (back != node) {
		linux_guest_error(lg, LINUX_ERR_INVALID);
		return false;
	}
	return true;
}

/* leader's threads but leader itself, in list order. */
static int task_threads(struct linux_guest *lg, const struct linux_task *leader,
                        struct task_vec *tv, size_t *budget)
{
	const struct linux_layout *l = &lg->l;
	uint64_t head, node, link, signal;
	struct linux_task t;
	int ret;

	if (l->have_thread_node) {
		if (!linux_guest_u64(lg, leader->addr + l->task_signal, &signal))
			return 0;
		head = signal + l->signal_thread_head;
		link = l->task_thread_node;
	} else {
		head = leader->addr + l->task_thread_group;
		link = l->task_thread_group;
	}
	for (node = head; list_next(lg, node, &node) && node != head;) {
		if (!(*budget)--) {
			linux_guest_error(lg, LINUX_ERR_LOOP);
			break;
		}
		if (node - link == leader->addr)
			continue;
		if (linux_task_read(lg, node - link, &t))
			break;
		if (t.tgid != leader->tgid) {
			linux_guest_error(lg, LINUX_ERR_INVALID);
			break;
		}
		ret = task_push(tv, &t);
		if (ret)
			return ret;
	}
	return 0;
}

int linux_tasks_list(struct linux_guest *lg, struct linux_task **out, size_t *nr)
{
	const struct linux_layout *l = &lg->l;
	struct task_vec tv = {0};
	uint64_t head = lg->init_task + l->task_tasks, node = head;
	size_t budget = LINUX_TASKS_MAX;
	struct linux_task t;
	const char *why;
	int ret = 0;

	if (!linux_guest_has_types(lg, &why) || !lg->init_task)
		return -ENOTSUP;
	do {
		if (linux_task_read(lg, node - l->task_tasks, &t))
			break;
		ret = task_push(&tv, &t);
		if (!ret)
			ret = task_threads(lg, &t, &tv, &budget);
		if (ret)
			break;
		if (!budget--) {
			linux_guest_error(lg, LINUX_ERR_LOOP);
			break;
		}
	} while (list_next(lg, node, &node) && node != head);
	if (ret) {
		free(tv.v);
		return ret;
	}
	*out = tv.v;
	*nr = tv.nr;
	return 0;
}

int linux_task_find(struct linux_guest *lg, int32_t tid, uint64_t hint, struct linux_task *t)
{
	struct linux_task *all;
	size_t nr, i;
	const char *why;
	int ret;

	if (!linux_guest_has_types(lg, &why))
		return -ENOTSUP;
	/* Where it was: still a task of that pid (not freed and reused for another). */
	if (hint && !linux_task_read(lg, hint, t) && t->pid == tid && !t->exit_state)
		return 0;
	ret = linux_tasks_list(lg, &all, &nr);

	if (ret)
		return ret;
	ret = -ENOENT;
	for (i = 0; i < nr; i++)
		if (all[i].pid == tid) {
			*t = all[i];
			ret = 0;
			break;
		}
	free(all);
	return ret;
}

void linux_task_render_status(const struct linux_task *t, struct strbuf *sb)
{
	sb_printf(sb, "Name:\t");
	sb_name(sb, t->comm, 0);
	sb_printf(sb, "\nState:\t%s\nTgid:\t%d\nPid:\t%d\nPPid:\t%d\n", t->state_name, t->tgid,
	          t->pid, t->ppid);
	sb_printf(sb, "Uid:\t%u\t%u\t%u\t%u\nGid:\t%u\t%u\t%u\t%u\n", t->uid[0], t->uid[1],
	          t->uid[2], t->uid[3], t->gid[0], t->gid[1], t->gid[2], t->gid[3]);
	sb_printf(sb, "Threads:\t%d\nKthread:\t%d\n", t->nr_threads,
	          !!(t->flags & LINUX_PF_KTHREAD));
	if (t->mm)
		sb_printf(sb, "VmSize:\t%8" PRIu64 " kB\n", t->total_vm * 4);
}

bool linux_task_uspace(struct linux_guest *lg, const struct linux_task *t, struct linux_uspace *u)
{
	uint64_t pgd, pa;

	if (!t->mm || !linux_guest_u64(lg, t->mm + lg->l.mm_pgd, &pgd) ||
	    !linux_guest_virt_to_phys(lg, pgd, &pa))
		return false;
	linux_uspace_init(u, lg, pa);
	return true;
}

void linux_task_render_cmdline(struct linux_guest *lg, const struct linux_task *t,
                               struct strbuf *sb)
{
	struct linux_uspace u;
	uint64_t start, end;
	char *buf;
	size_t got;

	if (!linux_task_uspace(lg, t, &u) ||
	    !linux_guest_u64(lg, t->mm + lg->l.mm_arg_start, &start) ||
	    !linux_guest_u64(lg, t->mm + lg->l.mm_arg_end, &end) || end <= start)
		return;
	if (end - start > LINUX_CMDLINE_MAX)
		end = start + LINUX_CMDLINE_MAX;
	buf = malloc((size_t)(end - start));
	if (!buf) {
		sb->err = -ENOMEM;
		return;
	}
	/* Pages of the arguments the guest swapped out or never touched end it, as
	 * access_remote_vm. */
	got = linux_uspace_read(&u, start, buf, (size_t)(end - start));
	sb_add(sb, buf, got);
	free(buf);
}

static int task_pid_cmp(const void *a, const void *b)
{
	return ((const struct linux_task *)a)->pid - ((const struct linux_task *)b)->pid;
}

int linux_tasks_select(struct linux_guest *lg, int32_t tgid, struct linux_task **out, size_t *nr)
{
	struct linux_task *t;
	size_t all, i, n = 0;
	int ret = linux_tasks_list(lg, &t, &all);

	if (ret)
		return ret;
	for (i = 0; i < all; i++)
		if (t[i].pid > 0 && (tgid ? t[i].tgid == tgid : t[i].pid == t[i].tgid))
			t[n++] = t[i];
	qsort(t, n, sizeof(*t), task_pid_cmp);
	/* A task seen twice (it moved in the list during the walk) is listed once. */
	for (all = n, n = 0, i = 0; i < all; i++)
		if (!n || t[i].pid != t[n - 1].pid)
			t[n++] = t[i];
	*out = t;
	*nr = n;
	return 0;
}

void linux_tasks_render_json(const struct linux_task *t, size_t nr, struct strbuf *sb)
{
	size_t i;

	sb_printf(sb, "[");
	for (i = 0; i < nr; i++) {
		sb_printf(sb, "%s\n  {\"pid\": %d, \"tgid\": %d, \"ppid\": %d, \"comm\": ",
		          i ? "," : "", t[i].pid, t[i].tgid, t[i].ppid);
		sb_json_str(sb, t[i].comm);
		sb_printf(sb,
		          ", \"state\": \"%c\", \"uid\": %u, \"gid\": %u, \"kthread\": %s, "
		          "\"threads\": %d, \"task\": \"%#" PRIx64 "\"}",
		          t[i].state, t[i].uid[0], t[i].gid[0],
		          t[i].flags & LINUX_PF_KTHREAD ? "true" : "false", t[i].nr_threads,
		          t[i].addr);
	}
	sb_printf(sb, "%s]\n", nr ? "\n" : "");
}
