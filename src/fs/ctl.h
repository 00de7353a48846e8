/*
 * ctl.h - why `ctl` refused a write, as the line it then reads back
 * (refused.h).  Apart from ctl.c for the unit tests: a pure mapping.
 */
#ifndef KVMFS_FS_CTL_H
#define KVMFS_FS_CTL_H

#include <stddef.h>

/*
 * The reason after "refused: 'WHAT': ".  cmd: the command the VM refused
 * with err (-ENODEV, -EPERM, -EROFS, ...), or NULL when the write was no
 * command at all (size: its length); state: the first line ctl reads
 * ("paused (shutdown)"); cmds: the commands ctl takes, for the remedy.
 */
void fs_ctl_why(const char *cmd, size_t size, int err, const char *state, const char *cmds,
                char *buf, size_t len);

#endif
