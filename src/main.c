/*
 * main.c - kvmfs: a KVM virtual machine whose memory is a filesystem.
 *
 *   kvmfs [-M pc|q35] [-m SIZE] [-smp N] [-S] [-bios FILE]
 *         [-kernel FILE [-initrd FILE] [-append CMDLINE]] [--writable] MNT
 *   kvmfs -dump FILE [-M pc|q35 -m SIZE] MNT
 *   kvmfs -attach QMP-SOCKET [--writable] MNT
 *
 * Everything that can be wrong with the command line, the firmware, the
 * kernel files or the mountpoint is found before any VM is built or anything
 * is mounted (a kernel too big for the RAM, once the machine is built but
 * before mounting); then
 * the VM is built, the tree mounted, the vCPUs started.  Only main decides
 * to exit.
 */
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "boot/firmware.h"
#include "boot/loader.h"
#include "cmdline.h"
#include "fs/fs.h"
#include "inspect/dumpfile.h"
#include "inspect/vmcore.h"
#include "kvm/dirty_sweep.h"
#include "kvm/host.h"
#include "kvm/kvm.h"
#include "kvmfs/guest.h"
#include "machine/pc.h"
#include "util/errmsg.h"
#include "util/size.h"
#include "vm.h"

#define ERRLEN 512
/* The man page's .TH line names it too (tests/integration/test_install.py checks both agree). */
#define KVMFS_VERSION "0.2"

struct firmware {
	void *data;
	size_t size;
};

/*
 * A -bios file, read whole before anything is built: up to 256 KiB it goes at
 * the top of pc.bios; a larger one becomes pc.bios, in whole 64 KiB as QEMU
 * requires (machine/pc.h).
 */
static int load_bios(const char *path, struct firmware *fw, char *err, size_t errlen)
{
	char head[FIRMWARE_HEAD], why[256];
	struct stat st;
	ssize_t n;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errmsg(err, errlen, -errno, "-bios %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ret = errmsg(err, errlen, -EINVAL, "-bios %s: not a regular file", path);
	} else if (st.st_size == 0) {
		ret = errmsg(err, errlen, -EINVAL, "-bios %s: the file is empty", path);
	} else if ((n = pread(fd, head, sizeof(head), 0)) > 0 &&
	           (ret = firmware_check_head(head, (size_t)n, why, sizeof(why)))) {
		/* What the file is says more than its size would. */
		errmsg(err, errlen, ret, "-bios %s: %s", path, why);
	} else if ((uint64_t)st.st_size > PC_BIOS_MAX_SIZE) {
		ret = errmsg(err, errlen, -EFBIG,
		             "-bios %s: %lld bytes; pc.bios holds at most %llu", path,
		             (long long)st.st_size, (unsigned long long)PC_BIOS_MAX_SIZE);
	} else if ((uint64_t)st.st_size > PC_BIOS_SIZE && st.st_size % PC_BIOS_ALIGN) {
		ret = errmsg(err, errlen, -EINVAL,
		             "-bios %s: %lld bytes; a BIOS larger than %llu KiB must be a multiple "
		             "of %llu KiB, as QEMU requires",
		             path, (long long)st.st_size, (unsigned long long)(PC_BIOS_SIZE >> 10),
		             (unsigned long long)(PC_BIOS_ALIGN >> 10));
	} else if (!(fw->data = malloc((size_t)st.st_size))) {
		ret = errmsg(err, errlen, -ENOMEM, "-bios %s: %lld bytes: out of memory", path,
		             (long long)st.st_size);
	} else if ((n = read(fd, fw->data, (size_t)st.st_size)) != st.st_size) {
		ret = errmsg(err, errlen, -EIO, "-bios %s: short read", path);
		free(fw->data);
		fw->data = NULL;
	} else {
		char note[512];

		fw->size = (size_t)st.st_size;
		/* What cannot be firmware is refused; what will not run is said once. */
		ret = firmware_check(fw->data, fw->size, why, sizeof(why));
		if (ret > 0) {
			errmsg(note, sizeof(note), 0, "-bios %s: %s", path, why);
			fprintf(stderr, "kvmfs: %s\n", note);
			ret = 0;
		} else if (ret < 0) {
			errmsg(err, errlen, ret, "-bios %s: %s", path, why);
			free(fw->data);
			fw->data = NULL;
			fw->size = 0;
		}
	}
	close(fd);
	return ret;
}

/*
 * -vmcoreinfo FILE: the text of a VMCOREINFO note, as the kernel writes one
 * ("KEY=value" lines, OSRELEASE first), at most a page of it.
 */
static int load_vmcoreinfo(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
	char *buf = malloc(VMCORE_NOTE_MAX + 2);
	ssize_t n = -1;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || !buf) {
		ret = errmsg(err, errlen, -EINVAL, "-vmcoreinfo %s: %s", path,
		             strerror(fd < 0 ? errno : ENOMEM));
		goto out;
	}
	n = read(fd, buf, VMCORE_NOTE_MAX + 1);
	if (n < 0) {
		ret = errmsg(err, errlen, -EIO, "-vmcoreinfo %s: %s", path, strerror(errno));
	} else if (n > VMCORE_NOTE_MAX) {
		ret = errmsg(err, errlen, -EFBIG,
		             "-vmcoreinfo %s: more than %d bytes (VMCOREINFO is a page)", path,
		             VMCORE_NOTE_MAX);
	} else if (n < 11 || strncmp(buf, "OSRELEASE=", 10) || memchr(buf, '\0', (size_t)n)) {
		ret = errmsg(
		        err, errlen, -EINVAL,
		        "-vmcoreinfo %s: not a VMCOREINFO text (KEY=value lines, OSRELEASE= first)",
		        path);
	} else {
		/* Every line ends with a newline, as readers of the note expect. */
		if (buf[n - 1] != '\n')
			buf[n++] = '\n';
		buf[n] = '\0';
		*out = buf;
		*len = (size_t)n;
		buf = NULL;
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}

/* Guest-physical space the host CPU can address (CPUID 0x80000008). */
static uint64_t host_phys_limit(void)
{
	unsigned a, b, c, d;

	if (!__get_cpuid(0x80000008, &a, &b, &c, &d))
		return 1ULL << 36;
	return 1ULL << (a & 0xff);
}

static int check_ram_fits(const struct options *o, char *err, size_t errlen)
{
	const struct machine_desc *md = machine_find(o->machine);
	char size[SIZE_TEXT_LEN], space[SIZE_TEXT_LEN], most[SIZE_TEXT_LEN];
	uint64_t below, above, top;

	machine_ram_split(md, o->ram_size, &below, &above);
	top = above ? PC_ABOVE_4G_BASE + above : 0x100000000ULL;
	if (above > UINT64_MAX - PC_ABOVE_4G_BASE || top > host_phys_limit()) {
		/* The most: what is below 4G plus what fits from 4G to the limit. */
		machine_ram_split(md, host_phys_limit(), &below, &above);
		return errmsg(err, errlen, -E2BIG,
		              "-m %s: more than this host can address (%s of guest-physical "
		              "space, RAM above 4G included); -m %s is the most it can address for "
		              "-M %s",
		              size_format(o->ram_size, size, sizeof(size)),
		              size_format(host_phys_limit(), space, sizeof(space)),
		              size_format(host_phys_limit() - PC_ABOVE_4G_BASE + below, most,
		                          sizeof(most)),
		              o->machine);
	}
	return 0;
}

/*
 * kvmfs needs nothing but /dev/kvm and /dev/fuse; say which one is missing
 * before anything is built rather than let a library fail later with less
 * to go on.  (/dev/kvm is opened, and named, by kvm_init.)
 */
static int check_device(const char *dev, const char *why, char *err, size_t errlen)
{
	if (access(dev, R_OK | W_OK) == 0)
		return 0;
	return errmsg(err, errlen, -errno, "%s: %s (kvmfs needs read-write access to it %s)", dev,
	              strerror(errno), why);
}

/*
 * Where guest ring 0 is emulated, a Linux kernel must be kept off the
 * features the host forces on it (cpuid.h): their words go before the
 * user's -append, so that the user's own words have the last say.
 */
static int linux_cmdline(const struct host *h, const char *append, char *buf, size_t len)
{
	char extra[512];
	int n;

	if (host_linux_args(h, extra, sizeof(extra)) || !extra[0])
		n = snprintf(buf, len, "%s", append ? append : "");
	else
		n = snprintf(buf, len, "%s%s%s", extra, append ? " " : "", append ? append : "");
	return n < 0 || (size_t)n >= len ? -E2BIG : 0;
}

/* Said once, when all is up: what this host does to the guest. */
static void say_host(const struct host *h, const struct options *o)
{
	char extra[512];

	if (o->accel != ACCEL_KVM || h->kind != HOST_RING0_EMULATED)
		return;
	if (o->kernel && !host_linux_args(h, extra, sizeof(extra)) && extra[0])
		fprintf(stderr, "kvmfs: %s; Linux's command line gets: %s\n", host_describe(h),
		        extra);
	else
		fprintf(stderr, "kvmfs: %s\n", host_describe(h));
}

/*
 * Said once, when all is up: what is mounted, as its kind of VM names it.
 * accel none without -accel is the no-/dev/kvm fallback main chose.
 */
static void say_ready(const struct options *o, const struct vm *vm, const struct dump *dump,
                      const struct host *h)
{
	char size[SIZE_TEXT_LEN];

	if (o->attach) {
		fprintf(stderr,
		        "kvmfs: ready: -attach %s (QEMU %d.%d.%d, PID %d, -M %s, %llu MiB, "
		        "%u vCPUs, %s), mounted at %s\n",
		        o->attach, vm->qemu->version[0], vm->qemu->version[1], vm->qemu->version[2],
		        (int)vm->qemu->pid, vm->machine.desc->name,
		        (unsigned long long)(vm->machine.ram_size >> 20), vm->qemu->nr_cpus,
		        vm->qemu->kvm ? "KVM" : "TCG", o->mountpoint);
		return;
	}
	if (o->dump) {
		fprintf(stderr, "kvmfs: ready: -dump %s (%s, %u vCPUs, %llu MiB), mounted at %s\n",
		        o->dump, dump->format == DUMP_ELF ? "ELF core" : "raw image", dump->nr_cpus,
		        (unsigned long long)(vm->machine.ram_size >> 20), o->mountpoint);
		return;
	}
	say_host(h, o);
	/* The size the guest has, exactly (-m 2049K is 2056K: QEMU's 8 KiB rounding). */
	fprintf(stderr, "kvmfs: ready: -M %s -m %s -smp %u%s%s%s%s%s%s\n", o->machine,
	        size_format(o->ram_size, size, sizeof(size)), o->cpus,
	        o->accel == ACCEL_NONE ? " -accel none" : "",
	        o->accel == ACCEL_NONE && !o->accel_given ? " (no /dev/kvm here: no guest runs)"
	                                                  : "",
	        o->kernel ? " -kernel " : "", o->kernel ? o->kernel : "",
	        o->mountpoint ? ", mounted at " : "", o->mountpoint ? o->mountpoint : "");
}

/* stdin feeds the UART's receiver; a full FIFO makes us wait, not drop. */
static void *stdin_pump(void *arg)
{
	struct serial *s = arg;
	uint8_t buf[256];
	ssize_t n;

	pthread_setname_np(pthread_self(), "stdin");
	while ((n = read(STDIN_FILENO, buf, sizeof(buf))) > 0) {
		unsigned done = 0;

		while (done < (unsigned)n) {
			done += serial_receive(s, buf + done, (unsigned)n - done);
			if (done < (unsigned)n)
				nanosleep(&(struct timespec){0, 1000000}, NULL);
		}
	}
	return NULL;
}

/*
 * Run until a signal, until the user unmounts the tree, or - without a
 * mountpoint, where nothing is left to inspect - until the guest stops for
 * good (then the exit status is 1).
 */
static int wait_for_end(struct vm *vm, struct fs *fs, const sigset_t *sigs)
{
	struct timespec tick = {0, 100 * 1000000L};

	for (;;) {
		if (sigtimedwait(sigs, NULL, &tick) > 0)
			return 0;
		if (fs && fs_done(fs))
			return 0;
		if (fs)
			continue;
		if (runstate_is_dead(&vm->rs))
			return 1;
	}
}

/*
 * --version: kvmfs's own, then what it runs with, as a bug report needs
 * them: libfuse's runtime version (the shared library loaded, which may be
 * newer than the headers) and the KVM API this host's /dev/kvm speaks.
 */
static void print_version(void)
{
	int api = kvm_api_version();
	struct host h;

	host_probe(&h);
	printf("kvmfs %s (libfuse %s; ", KVMFS_VERSION, fs_fuse_version());
	if (api >= 0)
		printf("KVM API %d, %s)\n", api, host_describe(&h));
	else if (api == -ENOENT)
		printf("KVM: /dev/kvm absent)\n");
	else
		printf("KVM: /dev/kvm: %s)\n", strerror(-api));
}

int main(int argc, char **argv)
{
	struct fs_config fc = {0};
	struct firmware fw = {NULL, 0};
	struct loader kernel = {0};
	struct dump dump = {.fd = -1};
	char *vmcoreinfo = NULL;
	size_t vmcoreinfo_len = 0;
	struct options o;
	struct dirty dirty;
	struct fs *fs = NULL;
	sigset_t sigs;
	pthread_t pump;
	/* Empty, not garbage, should a failure ever leave it unwritten. */
	char err[ERRLEN] = "";
	static char append[LOADER_CMDLINE_ROOM];
	static struct vm vm;
	struct host host;
	int ret, status = 0;

	ret = cmdline_parse(argc, argv, &o, err, sizeof(err));
	if (ret == CMDLINE_EXIT)
		return 0;
	if (ret == CMDLINE_VERSION) {
		print_version();
		return 0;
	}
	if (ret != CMDLINE_OK) {
		ret = -EINVAL;
		goto out;
	}
	/*
	 * As QEMU falls back from one accelerator to the next when none is
	 * named: on a host without /dev/kvm the machine and its tree are still
	 * worth having.  Only absence falls back, and only with a tree to show
	 * (without a mountpoint there is nothing but the guest to run); a
	 * /dev/kvm kvmfs may not open is an error that says what to do.
	 */
	if (o.mountpoint && !o.dump && !o.attach && !o.accel_given && access("/dev/kvm", F_OK) &&
	    errno == ENOENT)
		o.accel = ACCEL_NONE;
	if (!o.dump && !o.attach && (ret = check_ram_fits(&o, err, sizeof(err))))
		goto out;
	if (o.mountpoint &&
	    ((ret = check_device("/dev/fuse", "to mount its tree", err, sizeof(err))) ||
	     (ret = fs_check_mountpoint(o.mountpoint, err, sizeof(err)))))
		goto out;
	if (o.bios && (ret = load_bios(o.bios, &fw, err, sizeof(err))))
		goto out_fw;
	if (o.vmcoreinfo &&
	    (ret = load_vmcoreinfo(o.vmcoreinfo, &vmcoreinfo, &vmcoreinfo_len, err, sizeof(err))))
		goto out_vmcoreinfo;
	if (o.dump && (ret = dump_open(&dump, o.dump, o.layout_given, err, sizeof(err))))
		goto out_dump;
	host_probe(&host);
	if (o.kernel && o.accel == ACCEL_KVM &&
	    (ret = linux_cmdline(&host, o.append, append, sizeof(append)))) {
		errmsg(err, sizeof(err), ret,
		       "-append: longer than the %llu bytes a command line may have",
		       (unsigned long long)LOADER_CMDLINE_ROOM - 1);
		goto out_dump;
	}
	if (o.kernel &&
	    (ret = loader_open(&kernel, o.kernel, o.initrd,
	                       o.accel == ACCEL_KVM ? append : o.append, err, sizeof(err))))
		goto out_kernel;
	if (!o.bios) {
		fw.size = (size_t)(guest_firmware_end - guest_firmware);
	}

	/*
	 * The ending signals stay blocked in every thread: main takes them
	 * with sigtimedwait() and ends things in order.
	 */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	/*
	 * Whoever holds kvmfs's stdout or its terminal must not stop or end
	 * it (hw/echo.h): a reader gone is EPIPE, not death; terminal I/O of
	 * a background kvmfs (`kvmfs MNT &`) is EIO, not a stopped process.
	 */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTTOU, SIG_IGN);
	signal(SIGTTIN, SIG_IGN);

	if (o.attach)
		ret = vm_init_attach(&vm, &o, err, sizeof(err));
	else if (o.dump)
		ret = vm_init_dump(&vm, &o, &dump, err, sizeof(err));
	else
		ret = vm_init(&vm, &o, host.kind == HOST_RING0_EMULATED,
		              o.bios ? fw.data : guest_firmware, fw.size, o.kernel ? &kernel : NULL,
		              err, sizeof(err));
	/* The kernel is in guest RAM now (or refused): the file copies can go. */
	loader_close(&kernel);
	if (ret)
		goto out_kernel;
	dirty_init(&dirty, &vm.kvm, &vm.rs, o.sweep_ms);
	if (o.mountpoint) {
		fc = (struct fs_config){.mountpoint = o.mountpoint,
		                        .writable = o.writable,
		                        .direct_io = o.direct_io,
		                        .no_passthrough = o.no_passthrough,
		                        .allow_other = o.allow_other,
		                        .vmcoreinfo = vmcoreinfo,
		                        .vmcoreinfo_len = vmcoreinfo_len};
		/* QEMU's guest writes unseen: no page cache of its memory can be kept true. */
		if (o.attach)
			fc.direct_io = true;
		ret = fs_mount(&vm, &dirty, &fc, &fs, err, sizeof(err));
		if (ret)
			goto out_dirty; /* fs is NULL: nothing to unmount */
	}
	if ((fs && (ret = fs_start(fs))) || (ret = dirty_start(&dirty)) || (ret = vm_start(&vm))) {
		errmsg(err, sizeof(err), ret, "starting threads: %s", strerror(-ret));
		goto out_dirty;
	}
	if (!o.serial_null && pthread_create(&pump, NULL, stdin_pump, &vm.serial) == 0)
		pthread_detach(pump);

	say_ready(&o, &vm, &dump, &host);
	status = wait_for_end(&vm, fs, &sigs);
	/*
	 * Producers of invalidations first, while the session still answers
	 * the reads they may wait for; the session last.
	 */
	vm_end(&vm);
	/* From here on, what was set up is undone in reverse order. */
out_dirty:
	dirty_stop(&dirty);
	if (fs)
		fs_unmount(fs);
	/* Not before: the files still open at unmount let go of their dirty logging. */
	dirty_exit(&dirty);
	vm_exit(&vm);
out_kernel:
	loader_close(&kernel);
out_dump:
	if (o.dump)
		dump_close(&dump);
out_vmcoreinfo:
	free(vmcoreinfo);
out_fw:
	free(fw.data);
out:
	if (ret) {
		/* Every failure above wrote its line; were one empty, the errno still says
		 * something. */
		fprintf(stderr, "kvmfs: %s\n", err[0] ? err : strerror(-ret));
		return 1;
	}
	return status;
}
