/*
 * linux_given.h - what the user gives kvmfs for a guest kernel that lacks
 * its own types or symbols: -vmlinux FILE, whose .BTF section stands in for
 * a kernel built without CONFIG_DEBUG_INFO_BTF, and -system-map FILE, whose
 * symbols stand in for a kernel without kallsyms (at their link addresses:
 * linux_guest.c moves them by the KASLR offset it finds from _text).
 *
 * Both files are read whole when kvmfs starts, so that a wrong one is one
 * clear line then and not a surprise when the kernel is found.  Only the
 * .BTF of an ELF is taken: a vmlinux with DWARF alone is refused (kvmfs
 * reads no DWARF; `pahole -J` adds a .BTF section to it).
 */
#ifndef KVMFS_INSPECT_LINUX_GIVEN_H
#define KVMFS_INSPECT_LINUX_GIVEN_H

#include <stddef.h>
#include <stdint.h>

struct linux_given {
	const char *vmlinux, *system_map; /* as given; NULL: not given */
	uint8_t *btf;                     /* -vmlinux's .BTF section */
	size_t btf_len;
	char *map; /* -system-map's text, NUL-terminated */
	size_t map_len;
};

/* Read what is given (either may be NULL).  0, or -errno with one line in err. */
int linux_given_load(struct linux_given *g, const char *vmlinux, const char *system_map, char *err,
                     size_t errlen);
void linux_given_free(struct linux_given *g);

#endif
