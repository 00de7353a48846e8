/*
 * qemu.h - a QEMU kvmfs is attached to (`kvmfs -attach QMP-SOCKET MNT`):
 * its machine model imported through QMP, its guest memory found in its
 * process and verified, its run state and registers asked for on demand.
 *
 * QMP conversations are short (one per question, see qmp.h) so that the
 * socket is free in between; `lock` orders them.  QEMU exiting is noticed
 * through a pidfd: from then on the attachment is gone, reads of its
 * process memory fail (EIO) and every question is refused (ESRCH).
 */
#ifndef KVMFS_QEMU_QEMU_H
#define KVMFS_QEMU_QEMU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "machine/machine.h"
#include "qemu/import.h"

struct qemu {
	char *path;     /* the QMP socket */
	pid_t pid;      /* QEMU, the socket's peer */
	int pidfd;      /* readable once QEMU has exited; -1 without pidfd_open */
	int mem_fd;     /* /proc/PID/mem */
	int pagemap_fd; /* /proc/PID/pagemap */
	int version[3];
	bool kvm; /* QEMU runs its guest with KVM (its flat view says " KVM") */
	unsigned nr_cpus;
	pthread_mutex_t lock; /* one QMP conversation at a time */
	struct qemu_regions regions;
};

/*
 * Attach to the QEMU behind the QMP socket path (or, path a PID, behind
 * the first of the QMP sockets its command line names that answers): fill m (its ram list,
 * regions and address space "memory", as QEMU has them), find every RAM
 * block's memory in QEMU's process and verify it against QEMU's own
 * reading of guest memory.  writable: memory is opened for writing.  On
 * failure err has one line and nothing is left.
 */
int qemu_attach(struct qemu *q, const char *path, struct machine *m, bool writable, char *err,
                size_t errlen);
/* Let go of QEMU (it keeps running) and free the regions; before machine_exit(m). */
void qemu_detach(struct qemu *q);

bool qemu_gone(struct qemu *q);
int qemu_stop(struct qemu *q);
int qemu_cont(struct qemu *q);
/* QEMU's `info status` without its "VM status: ", or "gone". */
void qemu_status(struct qemu *q, char *buf, size_t len);
/* vCPU cpu's registers from `info registers`: exact when QEMU's vCPUs are stopped. */
int qemu_cpu_state(struct qemu *q, unsigned cpu, struct kvm_regs *regs, struct kvm_sregs *sregs,
                   bool *exact);

/*
 * ---- pid.c ----
 * `kvmfs -attach PID`: arg is a PID when it is digits only and no file of
 * that name exists.  qemu_qmp_sockets lists the QMP unix sockets QEMU's
 * command line names (-qmp unix:PATH, -chardev socket,path= with -mon
 * mode=control), absolute; none is an error (err says what to add).
 */
bool qemu_arg_is_pid(const char *arg, pid_t *pid);
int qemu_qmp_sockets(pid_t pid, char ***paths, size_t *nr, char *err, size_t errlen);
void qemu_free_paths(char **paths, size_t nr);

/*
 * ---- locate.c ----
 * Find each block of m's ram list in QEMU's process (q->pid): a mapping of
 * its size, verified by comparing bytes at guest-physical addresses the
 * block is mapped at with QEMU's own `xp` of them.  A block of a shared
 * file (memory-backend-memfd, -file share=on) is then mapped from that
 * file (through /proc/PID/fd), the others read from the process.  Blocks
 * no guest-physical address shows cannot be verified and are left without
 * bytes; a block that is mapped and cannot be verified fails the attach.
 */
struct qmp;
int qemu_locate(struct qemu *q, struct qmp *qmp, struct machine *m, bool writable, char *err,
                size_t errlen);

#endif
