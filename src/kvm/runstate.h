/*
 * runstate.h - whether the VM runs, and the vCPU threads' parking lot.
 *
 * One object per VM that the control side (ctl, signals, main) and the
 * vCPU threads both talk to, so that neither calls the other: stop/cont
 * come in from ctl, failures from vCPU threads, and every vCPU thread
 * waits here, outside KVM_RUN, whenever the VM is not running.  The states
 * are named as QEMU's `info status` names them.
 *
 * Stopping is synchronous: runstate_stop() returns only once every vCPU
 * thread is parked outside KVM_RUN, and then tells its listeners (the
 * dirty sweep makes the page cache exact there).
 */
#ifndef KVMFS_KVM_RUNSTATE_H
#define KVMFS_KVM_RUNSTATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum run_state {
	RUN_PRELAUNCH, /* -S: built, never started */
	RUN_RUNNING,
	RUN_PAUSED,         /* stopped by `ctl` */
	RUN_INTERNAL_ERROR, /* an exit the VMM cannot handle: stays stopped */
	RUN_SHUTDOWN,       /* the guest shut down or triple-faulted */
	RUN_GUEST_PANICKED, /* the guest reported a fatal exception of its own */
	RUN_QUIT,           /* kvmfs is ending: vCPU threads leave */
};

#define RUNSTATE_REASON_MAX 512

/* Told when the vCPUs have all stopped, before runstate_stop() returns. */
struct runstate_listener {
	void (*stopped)(struct runstate_listener *l);
	struct runstate_listener *next;
};

struct runstate {
	/* ctl_lock serializes stop/cont (and readers that need the VM to stay
	 * stopped); lock guards everything below and is what cond waits on. */
	pthread_mutex_t ctl_lock;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum run_state state;
	char reason[RUNSTATE_REASON_MAX]; /* why it stopped, for `ctl` */
	unsigned nr_vcpus;                /* threads that will park here */
	unsigned nr_parked;               /* vCPU threads waiting outside KVM_RUN */
	uint64_t run_gen;                 /* bumped by every cont: wakes halted vCPUs */
	bool threads_started;
	struct runstate_listener *listeners;
	/* Makes every vCPU leave KVM_RUN soon; called with lock held. */
	void (*kick_all)(void *opaque);
	void *kick_opaque;
};

void runstate_init(struct runstate *rs, unsigned nr_vcpus, void (*kick_all)(void *opaque),
                   void *kick_opaque);
void runstate_exit(struct runstate *rs);
/* The vCPU threads exist and will park: stop now waits for them. */
void runstate_threads_started(struct runstate *rs);
/* Stop every vCPU; returns once none is inside KVM_RUN. */
int runstate_stop(struct runstate *rs);
/* -ENODEV without vCPUs, -EPERM for a guest that failed or shut down. */
int runstate_cont(struct runstate *rs);
/* An unrecoverable condition: stop all vCPUs, keep the state for inspection.
 * The first failure wins; it is printed once on stderr. */
void runstate_fail(struct runstate *rs, enum run_state state, const char *reason);
/* Every thread must leave: the VM is ending. */
void runstate_quit(struct runstate *rs);
void runstate_add_listener(struct runstate *rs, struct runstate_listener *l);
/* "running", "paused", "paused (internal-error)", ... and the reason line. */
void runstate_status(struct runstate *rs, char *buf, size_t len);
bool runstate_is_running(struct runstate *rs);
/* Stopped for good: internal error, shutdown or panic. */
bool runstate_is_dead(struct runstate *rs);
/*
 * Keep the VM from being stopped or continued until runstate_release();
 * true when it is stopped with no vCPU inside KVM_RUN, so that vCPU ioctls
 * cannot block meanwhile.
 */
bool runstate_hold(struct runstate *rs);
void runstate_release(struct runstate *rs);

/* For vCPU threads. */
/*
 * Wait outside KVM_RUN while the VM is not running (a halted vCPU also
 * waits for the next cont); false when the thread must end.  On the way
 * back in, *immediate_exit is re-armed (cleared) under the lock every
 * kick is sent under.
 */
bool runstate_park(struct runstate *rs, bool halted, uint8_t *immediate_exit);
/* Sleep ms, waking early when the VM stops. */
void runstate_delay(struct runstate *rs, uint32_t ms);

#endif
