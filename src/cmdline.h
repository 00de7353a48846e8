/*
 * cmdline.h - kvmfs's command line, in QEMU's spellings where QEMU has one.
 * Parsing allocates nothing and touches nothing, so a bad value is reported
 * before any VM exists.
 */
#ifndef KVMFS_CMDLINE_H
#define KVMFS_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "machine/machine.h"
#include "memory/ram.h"

enum accel {
	ACCEL_KVM,
	ACCEL_NONE, /* build the machine and the tree, run no guest */
};

struct options {
	const char *machine;
	uint64_t ram_size;
	unsigned cpus;
	bool start_paused; /* -S */
	const char *bios;
	const char *kernel; /* -kernel: a bzImage or an ELF vmlinux */
	const char *initrd; /* -initrd, only with -kernel */
	const char *append; /* -append: the kernel command line */
	const char *mountpoint;
	const char *dump;       /* -dump: mount a dump file instead of running a VM */
	bool layout_given;      /* -M or -m appeared (a raw -dump image's layout) */
	const char *attach;     /* -attach: a running QEMU's QMP socket, instead of a VM */
	const char *vmcoreinfo; /* -vmcoreinfo: the vmcore's VMCOREINFO note, from a file */
	const char *vmlinux;    /* -vmlinux: linux/'s types from its .BTF */
	const char *system_map; /* -system-map: linux/'s symbols */
	bool writable;
	bool direct_io;
	bool no_passthrough; /* -o no_passthrough: RAM files never bypass kvmfs */
	bool allow_other;
	bool flat_out;
	bool serial_null; /* -serial null: the console only in the tree, stdin not read */
	enum accel accel;
	bool accel_given; /* -accel appeared: no falling back to none */
	enum ram_backing backing;
	unsigned sweep_ms; /* dirty-log sweep period */
	/* -object memory-backend-ram,id=ID,size=SIZE: extra, unmapped RAM blocks */
	struct machine_backend backends[MACHINE_MAX_BACKENDS];
	unsigned nr_backends;
};

#define CMDLINE_DEFAULT_RAM      (128ULL << 20) /* QEMU's default -m */
#define CMDLINE_MIN_RAM          (2ULL << 20)
#define CMDLINE_DEFAULT_SWEEP_MS 5

enum cmdline_result {
	CMDLINE_OK = 0,
	CMDLINE_EXIT = 1,    /* --help printed: exit 0 */
	CMDLINE_VERSION = 2, /* --version: the caller prints it (it asks libfuse and KVM), exit 0 */
	CMDLINE_ERROR = -1,  /* err holds one line */
};

/*
 * QEMU's -m syntax: a plain number is MiB, or a number with a K, M, G or T
 * suffix (either case; a trailing B allowed); "size=" may precede it.
 * Whole numbers only.
 */
int cmdline_parse_size(const char *s, uint64_t *out, char *err, size_t errlen);
int cmdline_parse(int argc, char **argv, struct options *o, char *err, size_t errlen);
void cmdline_usage(void);

#endif
