/*
 * echo.h - the guest console copied to a descriptor kvmfs does not own:
 * its stdout, which may be a terminal, a pipe into `less` or `head`, a file.
 *
 * Whoever reads that descriptor must not decide whether the VM runs.  A
 * reader that is slow, stopped (Ctrl-S, `| sleep 100`) or gone (`| head -1`)
 * must block no vCPU, no FUSE thread and no `ctl` write, and must not end
 * kvmfs.  So echo_put(), which the vCPU threads call, never touches the
 * descriptor: it copies into a bounded queue, and a thread of the echo's own
 * writes from there with ordinary blocking writes.  What does not fit is
 * dropped from the echo only (the console's history keeps every byte),
 * counted, and marked in the stream where it is missing; the first drop is
 * said once, in one line, on the note descriptor (stderr).  A write error -
 * EPIPE (kvmfs ignores SIGPIPE), ENOSPC, EBADF - ends the echo, said once
 * too; the VM goes on.
 *
 * Why a thread rather than O_NONBLOCK: O_NONBLOCK belongs to the open file
 * description, which stdout shares with the shell and whatever else holds
 * it.  Set on a terminal it makes the shell's own reads and writes fail
 * with EAGAIN, during kvmfs's run and after it if kvmfs is killed before it
 * could clear it.  MSG_DONTWAIT would leave the description alone, but
 * works on sockets only, and reopening /proc/self/fd/1 gives a pipe or a
 * terminal a description of its own, but a file a second offset (and no
 * description at all to a socket).  A thread of our own may block in
 * write() at no cost to anyone.  Before each write it waits with poll() for
 * the descriptor to take bytes, so that it mostly waits where it can still
 * say the drop note and end when told; a write that blocks all the same (a
 * terminal with room for less than it was given) is interrupted at exit.
 */
#ifndef KVMFS_HW_ECHO_H
#define KVMFS_HW_ECHO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes waiting for the descriptor; more are dropped.  Minutes of the built-in guest. */
#define ECHO_QUEUE (64u << 10)

struct echo {
	pthread_mutex_t lock; /* guards queue ... idle */
	char *queue;          /* ECHO_QUEUE bytes, a ring */
	size_t head, len;     /* the oldest byte not yet written; how many there are */
	uint64_t written;     /* bytes the descriptor took */
	uint64_t dropped;     /* bytes left out of the echo, in all */
	uint64_t gap;         /* of those, since the last byte queued: the next mark's count */
	int fd;               /* where the echo goes; -1 once it has ended */
	int err;              /* why it ended (an errno), for the note */
	bool note_drop;       /* the drop note is due ... */
	bool said_drop;       /* ... once: it never is again */
	bool note_end;        /* the end note is due */
	bool idle;            /* the thread waits for bytes: echo_put wakes it */
	bool quit;            /* echo_exit: write what is queued, then end */
	bool abort;           /* echo_exit: end now */

	/* Set by echo_init, constant after. */
	bool running; /* the thread exists */
	int note_fd;  /* where the notes go (stderr) */
	int wake;     /* eventfd: echo_put and echo_exit wake the thread */
	pthread_t thread;
};

/*
 * Echo to fd (< 0, or not open for writing: no echo, no thread), saying
 * what happens to it on note_fd.  -errno when the thread cannot be had.
 */
int echo_init(struct echo *e, int fd, int note_fd);
/*
 * Writes what is queued while fd keeps taking it, then ends the thread -
 * even one blocked in write().
 */
void echo_exit(struct echo *e);
/* Queue len bytes, or drop them; never blocks on fd.  Any thread. */
void echo_put(struct echo *e, const void *buf, size_t len);
/* Bytes dropped so far. */
uint64_t echo_dropped(struct echo *e);

#endif
