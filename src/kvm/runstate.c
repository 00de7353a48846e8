/*
 * runstate.c - the run state of the VM and the place vCPU threads wait
 * while it does not run (see runstate.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kvm/runstate.h"

static const char *const runstate_names[] = {
        [RUN_PRELAUNCH] = "paused (prelaunch)",
        [RUN_RUNNING] = "running",
        [RUN_PAUSED] = "paused",
        [RUN_INTERNAL_ERROR] = "paused (internal-error)",
        [RUN_SHUTDOWN] = "paused (shutdown)",
        [RUN_GUEST_PANICKED] = "paused (guest-panicked)",
        [RUN_QUIT] = "shutting down",
};

void runstate_init(struct runstate *rs, unsigned nr_vcpus, void (*kick_all)(void *opaque),
                   void *kick_opaque)
{
	pthread_condattr_t ca;

	memset(rs, 0, sizeof(*rs));
	pthread_mutex_init(&rs->ctl_lock, NULL);
	pthread_mutex_init(&rs->lock, NULL);
	/* Delays are measured on the monotonic clock: wall-clock jumps must not matter. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rs->cond, &ca);
	pthread_condattr_destroy(&ca);
	rs->state = RUN_PRELAUNCH;
	rs->nr_vcpus = nr_vcpus;
	rs->kick_all = kick_all;
	rs->kick_opaque = kick_opaque;
}

void runstate_exit(struct runstate *rs)
{
	pthread_cond_destroy(&rs->cond);
	pthread_mutex_destroy(&rs->lock);
	pthread_mutex_destroy(&rs->ctl_lock);
}

/* With lock held: make every vCPU leave KVM_RUN, and wake the parked ones. */
static void runstate_kick_locked(struct runstate *rs)
{
	if (rs->kick_all)
		rs->kick_all(rs->kick_opaque);
	pthread_cond_broadcast(&rs->cond);
}

void runstate_threads_started(struct runstate *rs)
{
	pthread_mutex_lock(&rs->lock);
	rs->threads_started = true;
	pthread_mutex_unlock(&rs->lock);
}

static void runstate_notify_stopped(struct runstate *rs)
{
	struct runstate_listener *l;

	for (l = rs->listeners; l; l = l->next)
		l->stopped(l);
}

int runstate_stop(struct runstate *rs)
{
	pthread_mutex_lock(&rs->ctl_lock);
	pthread_mutex_lock(&rs->lock);
	if (rs->state == RUN_RUNNING)
		rs->state = RUN_PAUSED;
	runstate_kick_locked(rs);
	while (rs->threads_started && rs->nr_parked < rs->nr_vcpus)
		pthread_cond_wait(&rs->cond, &rs->lock);
	pthread_mutex_unlock(&rs->lock);
	runstate_notify_stopped(rs);
	pthread_mutex_unlock(&rs->ctl_lock);
	return 0;
}

int runstate_cont(struct runstate *rs)
{
	int ret = 0;

	pthread_mutex_lock(&rs->ctl_lock);
	pthread_mutex_lock(&rs->lock);
	if (!rs->nr_vcpus) {
		ret = -ENODEV; /* -accel none: there is nothing to run */
	} else if (rs->state == RUN_PAUSED || rs->state == RUN_PRELAUNCH) {
		rs->state = RUN_RUNNING;
		rs->reason[0] = '\0';
		rs->run_gen++;
		pthread_cond_broadcast(&rs->cond);
	} else if (rs->state != RUN_RUNNING) {
		ret = -EPERM; /* a failed or shut down guest stays as it is */
	}
	pthread_mutex_unlock(&rs->lock);
	pthread_mutex_unlock(&rs->ctl_lock);
	return ret;
}

void runstate_fail(struct runstate *rs, enum run_state state, const char *reason)
{
	pthread_mutex_lock(&rs->lock);
	/* The first failure is the one worth reporting; later ones follow from it. */
	if (rs->state == RUN_RUNNING) {
		rs->state = state;
		snprintf(rs->reason, sizeof(rs->reason), "%s", reason);
		fprintf(stderr, "kvmfs: %s; the VM is stopped, its memory stays inspectable\n",
		        reason);
		runstate_kick_locked(rs);
	}
	pthread_mutex_unlock(&rs->lock);
}

void runstate_quit(struct runstate *rs)
{
	pthread_mutex_lock(&rs->lock);
	rs->state = RUN_QUIT;
	runstate_kick_locked(rs);
	pthread_mutex_unlock(&rs->lock);
}

void runstate_add_listener(struct runstate *rs, struct runstate_listener *l)
{
	pthread_mutex_lock(&rs->lock);
	l->next = rs->listeners;
	rs->listeners = l;
	pthread_mutex_unlock(&rs->lock);
}

void runstate_status(struct runstate *rs, char *buf, size_t len)
{
	pthread_mutex_lock(&rs->lock);
	if (!rs->nr_vcpus)
		snprintf(buf, len, "no vcpus (-accel none)\n");
	else if (rs->reason[0])
		snprintf(buf, len, "%s\n%s\n", runstate_names[rs->state], rs->reason);
	else
		snprintf(buf, len, "%s\n", runstate_names[rs->state]);
	pthread_mutex_unlock(&rs->lock);
}

bool runstate_is_running(struct runstate *rs)
{
	bool r;

	pthread_mutex_lock(&rs->lock);
	r = rs->state == RUN_RUNNING;
	pthread_mutex_unlock(&rs->lock);
	return r;
}

bool runstate_is_dead(struct runstate *rs)
{
	bool r;

	pthread_mutex_lock(&rs->lock);
	r = rs->state == RUN_INTERNAL_ERROR || rs->state == RUN_SHUTDOWN ||
	    rs->state == RUN_GUEST_PANICKED;
	pthread_mutex_unlock(&rs->lock);
	return r;
}

bool runstate_hold(struct runstate *rs)
{
	bool stopped;

	/* ctl_lock keeps the VM from being continued until the release. */
	pthread_mutex_lock(&rs->ctl_lock);
	pthread_mutex_lock(&rs->lock);
	stopped =
	        rs->state != RUN_RUNNING && (!rs->threads_started || rs->nr_parked == rs->nr_vcpus);
	pthread_mutex_unlock(&rs->lock);
	return stopped;
}

void runstate_release(struct runstate *rs)
{
	pthread_mutex_unlock(&rs->ctl_lock);
}

bool runstate_park(struct runstate *rs, bool halted, uint8_t *immediate_exit)
{
	uint64_t gen;
	bool ok;

	pthread_mutex_lock(&rs->lock);
	gen = rs->run_gen;
	rs->nr_parked++;
	pthread_cond_broadcast(&rs->cond);
	while (rs->state != RUN_QUIT &&
	       (rs->state != RUN_RUNNING || (halted && rs->run_gen == gen)))
		pthread_cond_wait(&rs->cond, &rs->lock);
	rs->nr_parked--;
	ok = rs->state == RUN_RUNNING;
	if (ok)
		__atomic_store_n(immediate_exit, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&rs->lock);
	return ok;
}

void runstate_delay(struct runstate *rs, uint32_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&rs->lock);
	while (rs->state == RUN_RUNNING)
		if (pthread_cond_timedwait(&rs->cond, &rs->lock, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&rs->lock);
}
