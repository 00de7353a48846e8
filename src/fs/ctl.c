/*
 * ctl.c - MNT/ctl: read the run state (a snapshot rendered at open, as
 * QEMU's `info status` names it, plus the diagnostic after a failure);
 * write one command per write(), a trailing newline allowed:
 *
 *   stop, cont        stop the vCPUs / let them run again
 *   dirty-log on      hold dirty logging of every RAM block, so that
 *                     dirty/ counts every write from now on, with no
 *                     dirty/ file held open (a tool that asks for it)
 *   dirty-log off     let go of that hold; logging stays on for what
 *                     else holds it (open dirty/ files, cached RAM files)
 *
 * "dirty-log on" twice is one hold, "off" without "on" does nothing.
 * Anything else is EINVAL; a command the VM refuses returns its error
 * (cont of a dead guest: EPERM; cont with -accel none: ENODEV; stop or
 * cont of a dump: EROFS; KVM refusing to log: its errno).  Without KVM
 * (-accel none, a dump) the dirty-log commands are accepted and do
 * nothing: there is no log.  After a refused write ctl reads the reason as
 * its last line, until a command succeeds (refused.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/compiler.h"
#include "util/strbuf.h"
#include "vm.h"

#include "fs/ctl.h"
#include "fs/internal.h"
#include "fs/refused.h"

/* Defined at the end; its state is found through it (fs_kind_priv). */
extern const struct fs_kind fs_ctl_kind;

#define FS_CTL_MAX 64 /* longest write `ctl` accepts */

/* The kind's state: the hold "dirty-log on" took, and the last refusal. */
struct fs_ctl {
	pthread_mutex_t lock; /* guards dirty_log and refused, and orders the holds taken */
	bool dirty_log;
	struct fs_refused refused;
};

static struct fs_ctl *fs_ctl(struct fs *fs)
{
	return fs_kind_priv(fs, &fs_ctl_kind);
}

/* The run state, then why the last write was refused, if it was. */
static void fs_ctl_render(struct fs *fs, struct strbuf *sb)
{
	struct fs_ctl *c = fs_ctl(fs);
	char buf[1024];
	size_t len;

	vm_status(fs->vm, buf, sizeof(buf));
	len = strlen(buf);
	sb_add(sb, buf, len);
	if (!len || buf[len - 1] != '\n')
		sb_add(sb, "\n", 1);
	pthread_mutex_lock(&c->lock);
	fs_refused_render(&c->refused, sb);
	pthread_mutex_unlock(&c->lock);
}

/* A snapshot per open, like every rendered file (snapshot.c). */
static int fs_ctl_open(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi)
{
	struct strbuf sb = STRBUF_INIT;

	(void)n;
	fs_ctl_render(fs, &sb);
	return fs_text_hand_out(&sb, fi);
}

static int fs_ctl_size(struct fs *fs, struct fs_node *n, uint64_t *size)
{
	struct strbuf sb = STRBUF_INIT;
	int ret;

	(void)n;
	fs_ctl_render(fs, &sb);
	ret = sb.err;
	*size = sb.len;
	sb_free(&sb);
	return ret;
}

static int fs_ctl_stop(struct fs *fs)
{
	return vm_stop(fs->vm);
}

static int fs_ctl_cont(struct fs *fs)
{
	return vm_cont(fs->vm);
}

static int fs_ctl_dirty_log(struct fs *fs, bool on)
{
	struct fs_ctl *c = fs_ctl(fs);
	int ret = 0;

	pthread_mutex_lock(&c->lock);
	if (on && !c->dirty_log)
		ret = fs_dirty_log_hold(fs, NULL);
	else if (!on && c->dirty_log)
		fs_dirty_log_drop(fs, NULL);
	if (!ret)
		c->dirty_log = on;
	pthread_mutex_unlock(&c->lock);
	return ret;
}

static int fs_ctl_dirty_log_on(struct fs *fs)
{
	return fs_ctl_dirty_log(fs, true);
}

static int fs_ctl_dirty_log_off(struct fs *fs)
{
	return fs_ctl_dirty_log(fs, false);
}

static const struct {
	const char *word;
	int (*run)(struct fs *fs);
} fs_ctl_cmds[] = {
        {"stop", fs_ctl_stop},
        {"cont", fs_ctl_cont},
        {"dirty-log on", fs_ctl_dirty_log_on},
        {"dirty-log off", fs_ctl_dirty_log_off},
};

void fs_ctl_why(const char *cmd, size_t size, int err, const char *state, const char *cmds,
                char *buf, size_t len)
{
	if (!cmd && size > FS_CTL_MAX)
		snprintf(buf, len,
		         "a write of %zu bytes; a command is at most %d, one per write: %s", size,
		         FS_CTL_MAX, cmds);
	else if (!cmd)
		snprintf(buf, len, "not a command; ctl takes %s, one per write", cmds);
	else if (err == -ENODEV)
		snprintf(buf, len,
		         "there is no vCPU to run: kvmfs was started with -accel none (the machine "
		         "and its tree, no guest); start it without -accel none where /dev/kvm is");
	else if (err == -EPERM)
		snprintf(buf, len,
		         "the guest stopped for good (%s) and cannot resume; its memory stays "
		         "readable until kvmfs ends; start kvmfs again for a new guest",
		         state);
	else if (err == -EROFS)
		snprintf(buf, len, "a dump never runs: there is nothing to stop or continue");
	else if (!strncmp(cmd, "dirty-log", 9))
		snprintf(buf, len, "KVM refused dirty logging: %s", strerror(-err));
	else
		snprintf(buf, len, "%s", strerror(-err));
}

/* Why a write was refused, said by the next read (refused.h). */
static void fs_ctl_refuse(struct fs *fs, const char *buf, size_t size, const char *cmd, int err)
{
	struct fs_ctl *c = fs_ctl(fs);
	char state[1024], cmds[128] = "", why[FS_REFUSED_MAX];
	size_t i;

	vm_status(fs->vm, state, sizeof(state));
	state[strcspn(state, "\n")] = '\0';
	for (i = 0; i < ARRAY_SIZE(fs_ctl_cmds); i++)
		snprintf(cmds + strlen(cmds), sizeof(cmds) - strlen(cmds), "%s%s", i ? ", " : "",
		         fs_ctl_cmds[i].word);
	fs_ctl_why(cmd, size, err, state, cmds, why, sizeof(why));
	pthread_mutex_lock(&c->lock);
	fs_refused_set(&c->refused, buf, size, "%s", why);
	pthread_mutex_unlock(&c->lock);
}

static void fs_ctl_write(struct fs *fs, struct fs_node *n, fuse_req_t req, const char *buf,
                         size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs_ctl *c = fs_ctl(fs);
	size_t len = size, i;
	int ret;

	(void)n;
	(void)fi;
	(void)off; /* every write is one command, wherever it lands */
	if (len && buf[len - 1] == '\n')
		len--;
	for (i = 0; len && size <= FS_CTL_MAX && i < ARRAY_SIZE(fs_ctl_cmds); i++) {
		if (strlen(fs_ctl_cmds[i].word) != len || memcmp(fs_ctl_cmds[i].word, buf, len))
			continue;
		ret = fs_ctl_cmds[i].run(fs);
		if (ret < 0) {
			fs_ctl_refuse(fs, buf, size, fs_ctl_cmds[i].word, ret);
			fuse_reply_err(req, -ret);
			return;
		}
		pthread_mutex_lock(&c->lock);
		fs_refused_clear(&c->refused);
		pthread_mutex_unlock(&c->lock);
		fuse_reply_write(req, size);
		return;
	}
	fs_ctl_refuse(fs, buf, size, NULL, -EINVAL);
	fuse_reply_err(req, EINVAL);
}

static const struct fs_kind_ops fs_ctl_ops = {
        .open = fs_ctl_open,
        .read = fs_text_read,
        .write = fs_ctl_write,
        .release = fs_text_release,
        .size = fs_ctl_size,
        .dynamic = true,
        .live_mtime = true,
        .writable = true,
        .truncate_ok = true,
};

static int fs_ctl_init(struct fs *fs, void **priv)
{
	struct fs_ctl *c = calloc(1, sizeof(*c));

	(void)fs;
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	*priv = c;
	return 0;
}

/*
 * A hold still taken goes with the VM: the sweep has ended, and other
 * kinds' listeners may be gone, so it is not let go here.
 */
static void fs_ctl_exit(void *priv)
{
	struct fs_ctl *c = priv;

	pthread_mutex_destroy(&c->lock);
	free(c);
}

const struct fs_kind fs_ctl_kind = {
        .name = "ctl",
        .ops = &fs_ctl_ops,
        .init = fs_ctl_init,
        .exit = fs_ctl_exit,
};
