/*
 * cmdline.c - parse kvmfs's command line.  Single-dash long options as QEMU
 * spells them (-m, -M, -smp, -S, -bios, -kernel, -initrd, -append), plus
 * kvmfs's own.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"
#include "kvmfs/guest.h"
#include "machine/machine.h"
#include "util/compiler.h"
#include "util/errmsg.h"

/*
 * QEMU's size syntax, shared by -m (a plain number is MiB) and -object's
 * size= (a plain number is bytes, as qemu_strtosz reads it); opt names the
 * option in the error line.
 */
static int parse_size(const char *opt, const char *s, unsigned plain_shift, uint64_t *out,
                      char *err, size_t errlen)
{
	static const struct {
		char suffix;
		unsigned shift;
	} units[] = {{'K', 10}, {'M', 20}, {'G', 30}, {'T', 40}};
	const char *arg = s;
	unsigned shift = plain_shift;
	unsigned long long v;
	char *end;
	size_t i;

	if (!strncmp(s, "size=", 5))
		s += 5;
	if (!isdigit((unsigned char)*s))
		return errmsg(err, errlen, CMDLINE_ERROR,
		              "%s '%s': not a size (try 512M, 4G or 4096)", opt, arg);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return errmsg(err, errlen, CMDLINE_ERROR, "%s '%s': number too large", opt, arg);
	if (*end == '.')
		return errmsg(err, errlen, CMDLINE_ERROR,
		              "%s '%s': fractional sizes are not accepted, give whole %s", opt, arg,
		              plain_shift ? "MiB" : "bytes");
	if (*end) {
		for (i = 0; i < ARRAY_SIZE(units); i++)
			if (toupper((unsigned char)*end) == units[i].suffix)
				break;
		if (i == ARRAY_SIZE(units) ||
		    (end[1] && !(toupper((unsigned char)end[1]) == 'B' && !end[2])))
			return errmsg(err, errlen, CMDLINE_ERROR,
			              "%s '%s': unknown size suffix (use K, M, G or T)", opt, arg);
		shift = units[i].shift;
	}
	if (!v)
		return errmsg(err, errlen, CMDLINE_ERROR,
		              "%s '%s': the size must be greater than zero", opt, arg);
	if (v > (UINT64_MAX >> shift))
		return errmsg(err, errlen, CMDLINE_ERROR, "%s '%s': number too large", opt, arg);
	*out = (uint64_t)v << shift;
	return CMDLINE_OK;
}

int cmdline_parse_size(const char *s, uint64_t *out, char *err, size_t errlen)
{
	return parse_size("-m", s, 20, out, err, errlen);
}

static int parse_uint(const char *s, unsigned *out)
{
	unsigned long v;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > 1u << 20)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

void cmdline_usage(void)
{
	printf("Usage: kvmfs [options] [MOUNTPOINT]\n"
	       "A KVM virtual machine whose memory is a filesystem mounted at MOUNTPOINT.\n"
	       "\n"
	       "Machine (QEMU's spellings):\n"
	       "  -m SIZE        guest RAM: a plain number is MiB, or K/M/G/T suffixed,\n"
	       "                 'size=' may precede it (default 128M)\n"
	       "  -M, -machine MACHINE\n"
	       "                 %s (default pc)\n"
	       "  -smp N         number of vCPUs, 1..%d (default 1)\n"
	       "  -S             build everything, start no vCPU (use ctl: cont)\n"
	       "  -bios FILE     firmware for pc.bios, instead of the built-in guest: up to\n"
	       "                 256 KiB at the top of pc.bios; a larger file (whole 64 KiB,\n"
	       "                 at most 16 MiB) makes pc.bios its size, ending at 4G\n"
	       "  -kernel FILE   boot a Linux bzImage (protocol 2.06+) or ELF vmlinux\n"
	       "  -initrd FILE   initial ramdisk for -kernel\n"
	       "  -append CMDLINE\n"
	       "                 the kernel's command line (e.g. \"console=ttyS0\")\n"
	       "  -accel kvm|none\n"
	       "                 none builds the machine and the tree without a VM\n"
	       "  -mem-backing memfd|anon\n"
	       "                 how guest RAM is allocated (default memfd)\n"
	       "  -flat-out      the built-in guest does not pause between passes\n"
	       "  -serial stdio|null\n"
	       "                 the serial port on stdin/stdout too (default), or only in\n"
	       "                 the tree's console file\n"
	       "  -object memory-backend-ram,id=ID,size=SIZE\n"
	       "                 an extra RAM block, mapped nowhere (size in bytes\n"
	       "                 unless suffixed); it shows in ramblocks/\n"
	       "\n"
	       "A dump instead of a VM (read-only, no KVM needed):\n"
	       "  -dump FILE     mount the guest an ELF core holds (QEMU's dump-guest-memory,\n"
	       "                 a kvmfs vmcore, a kdump vmcore), or a raw memory image\n"
	       "                 (offset = guest-physical address) laid out by -M and -m\n"
	       "\n"
	       "A running QEMU instead of a VM (QEMU keeps running; unmount to detach):\n"
	       "  -attach QMP-SOCKET\n"
	       "                 mount the guest of the QEMU started with\n"
	       "                 -qmp unix:QMP-SOCKET,server=on,wait=off\n"
	       "\n"
	       "Filesystem:\n"
	       "  --writable     RAM files accept writes into guest memory\n"
	       "  -o OPT[,OPT]   direct_io: every read goes to guest memory (no shared mmap)\n"
	       "                 allow_other: let other users in (mode bits still apply)\n"
	       "                 no_passthrough: serve RAM files through kvmfs even where\n"
	       "                 the kernel could pass them through to guest memory\n"
	       "  -sweep-ms N    dirty-log sweep period in ms (default %d)\n"
	       "  -vmcoreinfo FILE\n"
	       "                 the VMCOREINFO note of vmcore, instead of the guest\n"
	       "                 kernel's own or the one kvmfs derives\n"
	       "  -vmlinux FILE  linux/'s struct layouts from FILE's .BTF section, for a\n"
	       "                 guest kernel without BTF (DWARF alone is not read)\n"
	       "  -system-map FILE\n"
	       "                 linux/'s symbols from FILE (moved by the KASLR offset),\n"
	       "                 for a guest kernel without kallsyms\n"
	       "\n"
	       "Information:\n"
	       "  --help         this text\n"
	       "  --version      the versions of kvmfs, of the libfuse it runs with and of\n"
	       "                 the KVM API of /dev/kvm\n"
	       "\n"
	       "The tree: ramblocks/<idstr> (raw RAM block bytes), ramblocks.txt and\n"
	       "ramblocks.json (info ramblock), regions[.json] (info mtree), flatview[.json]\n"
	       "(info mtree -f), memslots[.json] (KVM slots), layout.svg (a picture of\n"
	       "them all), console (serial output),\n"
	       "ctl (write stop/cont; read the run state), phys[.json] (guest-physical\n"
	       "memory), vmcore (an ELF core), dirty/ (pages the guest wrote), vcpus/<n>/\n"
	       "(registers, translate, vmem).  Every file and option: man kvmfs.\n",
	       machine_names(), GUEST_MAX_CPUS, CMDLINE_DEFAULT_SWEEP_MS);
}

enum {
	OPT_M = 'm',
	OPT_MACHINE = 'M',
	OPT_PAUSED = 'S',
	OPT_O = 'o',
	OPT_SMP = 256,
	OPT_BIOS,
	OPT_KERNEL,
	OPT_INITRD,
	OPT_APPEND,
	OPT_ACCEL,
	OPT_BACKING,
	OPT_FLAT_OUT,
	OPT_SERIAL,
	OPT_WRITABLE,
	OPT_SWEEP,
	OPT_OBJECT,
	OPT_DUMP,
	OPT_VMCOREINFO,
	OPT_ATTACH,
	OPT_VMLINUX,
	OPT_SYSTEM_MAP,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option long_opts[] = {
        {"m", required_argument, NULL, OPT_M},
        {"M", required_argument, NULL, OPT_MACHINE},
        {"machine", required_argument, NULL, OPT_MACHINE},
        {"smp", required_argument, NULL, OPT_SMP},
        {"S", no_argument, NULL, OPT_PAUSED},
        {"bios", required_argument, NULL, OPT_BIOS},
        {"kernel", required_argument, NULL, OPT_KERNEL},
        {"initrd", required_argument, NULL, OPT_INITRD},
        {"append", required_argument, NULL, OPT_APPEND},
        {"accel", required_argument, NULL, OPT_ACCEL},
        {"mem-backing", required_argument, NULL, OPT_BACKING},
        {"flat-out", no_argument, NULL, OPT_FLAT_OUT},
        {"serial", required_argument, NULL, OPT_SERIAL},
        {"writable", no_argument, NULL, OPT_WRITABLE},
        {"o", required_argument, NULL, OPT_O},
        {"sweep-ms", required_argument, NULL, OPT_SWEEP},
        {"object", required_argument, NULL, OPT_OBJECT},
        {"dump", required_argument, NULL, OPT_DUMP},
        {"vmcoreinfo", required_argument, NULL, OPT_VMCOREINFO},
        {"attach", required_argument, NULL, OPT_ATTACH},
        {"vmlinux", required_argument, NULL, OPT_VMLINUX},
        {"system-map", required_argument, NULL, OPT_SYSTEM_MAP},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
};

static int parse_mount_opts(const char *arg, struct options *o, char *err, size_t errlen)
{
	char buf[256], *tok, *save;

	if (strlen(arg) >= sizeof(buf))
		return errmsg(err, errlen, CMDLINE_ERROR, "-o '%s': too long", arg);
	strcpy(buf, arg);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "direct_io"))
			o->direct_io = true;
		else if (!strcmp(tok, "allow_other"))
			o->allow_other = true;
		else if (!strcmp(tok, "no_passthrough"))
			o->no_passthrough = true;
		else
			return errmsg(
			        err, errlen, CMDLINE_ERROR,
			        "-o: unknown option '%s' (direct_io, allow_other, no_passthrough)",
			        tok);
	}
	return CMDLINE_OK;
}

/*
 * One comma-separated field of an -object value, with QEMU's ",," standing
 * for a literal comma; *s moves past the field and its comma.  Returns -1
 * when the field does not fit in len bytes.
 */
static int next_field(const char **s, char *out, size_t len)
{
	const char *p = *s;
	size_t n = 0;

	while (*p && !(*p == ',' && p[1] != ',')) {
		if (*p == ',')
			p++; /* the first of ",," */
		if (n + 1 >= len)
			return -1;
		out[n++] = *p++;
	}
	out[n] = '\0';
	*s = *p ? p + 1 : p;
	return 0;
}

/*
 * -object memory-backend-ram,id=ID,size=SIZE: the one QOM type kvmfs knows.
 * Unlike QEMU, any id a RAM block can carry is accepted ('/', "..", control
 * bytes): that is what lets the tests show how the tree encodes such names.
 */
static int parse_object(const char *arg, struct options *o, char *err, size_t errlen)
{
	struct machine_backend *b;
	char field[RAM_IDSTR_MAX + 8];
	const char *s = arg;
	bool have_size = false;
	unsigned i;
	int ret;

	if (o->nr_backends == MACHINE_MAX_BACKENDS)
		return errmsg(err, errlen, CMDLINE_ERROR, "-object: at most %d objects",
		              MACHINE_MAX_BACKENDS);
	b = &o->backends[o->nr_backends];
	*b = (struct machine_backend){.id = ""};
	if (next_field(&s, field, sizeof(field)) ||
	    strcmp(!strncmp(field, "qom-type=", 9) ? field + 9 : field, "memory-backend-ram"))
		return errmsg(err, errlen, CMDLINE_ERROR,
		              "-object '%s': only memory-backend-ram is supported", arg);
	while (*s) {
		if (next_field(&s, field, sizeof(field)))
			return errmsg(err, errlen, CMDLINE_ERROR,
			              "-object: a value is longer than %d bytes", RAM_IDSTR_MAX);
		if (!strncmp(field, "id=", 3)) {
			if (strlen(field + 3) > RAM_IDSTR_MAX)
				return errmsg(err, errlen, CMDLINE_ERROR,
				              "-object: id longer than %d bytes", RAM_IDSTR_MAX);
			strcpy(b->id, field + 3);
		} else if (!strncmp(field, "size=", 5)) {
			ret = parse_size("-object size", field + 5, 0, &b->size, err, errlen);
			if (ret)
				return ret;
			have_size = true;
		} else {
			return errmsg(err, errlen, CMDLINE_ERROR,
			              "-object: unknown property '%.*s' (id, size)",
			              (int)strcspn(field, "="), field);
		}
	}
	if (!b->id[0] || !have_size)
		return errmsg(err, errlen, CMDLINE_ERROR,
		              "-object memory-backend-ram: needs id= and size=");
	for (i = 0; i < o->nr_backends; i++)
		if (!strcmp(o->backends[i].id, b->id))
			return errmsg(err, errlen, CMDLINE_ERROR, "-object: id '%s' given twice",
			              b->id);
	o->nr_backends++;
	return CMDLINE_OK;
}

static int parse_smp(const char *arg, struct options *o, char *err, size_t errlen)
{
	const char *s = !strncmp(arg, "cpus=", 5) ? arg + 5 : arg;

	if (parse_uint(s, &o->cpus) || !o->cpus)
		return errmsg(err, errlen, CMDLINE_ERROR,
		              "-smp '%s': the number of vCPUs must be 1 or more", arg);
	if (o->cpus > GUEST_MAX_CPUS)
		return errmsg(err, errlen, CMDLINE_ERROR, "-smp %u: at most %d vCPUs are supported",
		              o->cpus, GUEST_MAX_CPUS);
	return CMDLINE_OK;
}

/* The name an option is spelled with (its first spelling in long_opts). */
static const char *option_name(int c)
{
	size_t i;

	for (i = 0; long_opts[i].name; i++)
		if (long_opts[i].val == c)
			return long_opts[i].name;
	return "?";
}

/* Options that only mean something for a VM that runs: none of them goes with -dump. */
static bool live_only(int c)
{
	static const int opts[] = {OPT_SMP,    OPT_PAUSED,   OPT_BIOS,    OPT_KERNEL,   OPT_INITRD,
	                           OPT_APPEND, OPT_ACCEL,    OPT_BACKING, OPT_FLAT_OUT, OPT_SWEEP,
	                           OPT_OBJECT, OPT_WRITABLE, OPT_SERIAL};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(opts); i++)
		if (opts[i] == c)
			return true;
	return false;
}

int cmdline_parse(int argc, char **argv, struct options *o, char *err, size_t errlen)
{
	const char *live = NULL; /* the first option a dump cannot take, as written */
	int c, ret = CMDLINE_OK;

	*o = (struct options){
	        .machine = "pc",
	        .ram_size = CMDLINE_DEFAULT_RAM,
	        .cpus = 1,
	        .accel = ACCEL_KVM,
	        .backing = RAM_BACKING_MEMFD,
	        .sweep_ms = CMDLINE_DEFAULT_SWEEP_MS,
	};
	/*
	 * 0, not 1: glibc then forgets where it was inside the previous argv
	 * (a cluster it stopped in), which a second parse must not touch.
	 */
	optind = 0;
	opterr = 0;
	while (ret == CMDLINE_OK &&
	       (c = getopt_long_only(argc, argv, "+:", long_opts, NULL)) != -1) {
		if (live_only(c) && !live)
			live = option_name(c);
		switch (c) {
		case OPT_M:
			ret = cmdline_parse_size(optarg, &o->ram_size, err, errlen);
			o->layout_given = true;
			break;
		case OPT_MACHINE:
			o->layout_given = true;
			if (!machine_find(optarg))
				ret = errmsg(err, errlen, CMDLINE_ERROR,
				             "-M '%s': unknown machine (%s)", optarg,
				             machine_names());
			o->machine = optarg;
			break;
		case OPT_SMP: ret = parse_smp(optarg, o, err, errlen); break;
		case OPT_PAUSED: o->start_paused = true; break;
		case OPT_BIOS: o->bios = optarg; break;
		case OPT_KERNEL: o->kernel = optarg; break;
		case OPT_INITRD: o->initrd = optarg; break;
		case OPT_APPEND: o->append = optarg; break;
		case OPT_ACCEL:
			o->accel_given = true;
			if (!strcmp(optarg, "kvm"))
				o->accel = ACCEL_KVM;
			else if (!strcmp(optarg, "none"))
				o->accel = ACCEL_NONE;
			else
				ret = errmsg(err, errlen, CMDLINE_ERROR,
				             "-accel '%s': unknown (kvm, none)", optarg);
			break;
		case OPT_BACKING:
			if (!strcmp(optarg, "memfd"))
				o->backing = RAM_BACKING_MEMFD;
			else if (!strcmp(optarg, "anon"))
				o->backing = RAM_BACKING_ANON;
			else
				ret = errmsg(err, errlen, CMDLINE_ERROR,
				             "-mem-backing '%s': unknown (memfd, anon)", optarg);
			break;
		case OPT_FLAT_OUT: o->flat_out = true; break;
		case OPT_SERIAL:
			/* QEMU's null: the port is there, its output only in the tree. */
			if (!strcmp(optarg, "stdio") || !strcmp(optarg, "null"))
				o->serial_null = !strcmp(optarg, "null");
			else
				ret = errmsg(err, errlen, CMDLINE_ERROR,
				             "-serial '%s': unknown (stdio, null)", optarg);
			break;
		case OPT_WRITABLE: o->writable = true; break;
		case OPT_O: ret = parse_mount_opts(optarg, o, err, errlen); break;
		case OPT_SWEEP:
			if (parse_uint(optarg, &o->sweep_ms) || !o->sweep_ms || o->sweep_ms > 10000)
				ret = errmsg(err, errlen, CMDLINE_ERROR,
				             "-sweep-ms '%s': give 1..10000", optarg);
			break;
		case OPT_OBJECT: ret = parse_object(optarg, o, err, errlen); break;
		case OPT_DUMP: o->dump = optarg; break;
		case OPT_VMCOREINFO: o->vmcoreinfo = optarg; break;
		case OPT_ATTACH: o->attach = optarg; break;
		case OPT_VMLINUX: o->vmlinux = optarg; break;
		case OPT_SYSTEM_MAP: o->system_map = optarg; break;
		case OPT_HELP: cmdline_usage(); return CMDLINE_EXIT;
		case OPT_VERSION: return CMDLINE_VERSION;
		case ':':
			return errmsg(err, errlen, CMDLINE_ERROR, "%s: needs a value",
			              argv[optind - 1]);
		default:
			return errmsg(err, errlen, CMDLINE_ERROR, "%s: unknown option (see --help)",
			              argv[optind - 1]);
		}
	}
	if (ret != CMDLINE_OK)
		return ret;
	if (o->dump && live)
		return errmsg(err, errlen, CMDLINE_ERROR,
		              "%s%s cannot be used with -dump: a dump never runs and is read-only",
		              strcmp(live, "writable") ? "-" : "--", live);
	/* QEMU's guest is QEMU's: nothing of a VM of kvmfs's own applies, but --writable. */
	if (o->attach && (o->dump || o->layout_given || (live && strcmp(live, "writable"))))
		return errmsg(err, errlen, CMDLINE_ERROR,
		              "-attach takes no -dump, -M, -m or option of a VM's: the machine is "
		              "QEMU's");
	/* QEMU's rule: both only make sense for a kernel it loads itself. */
	if (!o->kernel && o->initrd)
		return errmsg(err, errlen, CMDLINE_ERROR, "-initrd cannot be used without -kernel");
	if (!o->kernel && o->append)
		return errmsg(err, errlen, CMDLINE_ERROR, "-append cannot be used without -kernel");
	if (o->ram_size < CMDLINE_MIN_RAM)
		return errmsg(err, errlen, CMDLINE_ERROR, "-m: at least 2 MiB of RAM is needed");
	/* QEMU rounds RAM up to 8 KiB; so do we, so that layouts agree. */
	o->ram_size = (o->ram_size + 8191) & ~8191ULL;
	if (optind < argc)
		o->mountpoint = argv[optind++];
	/*
	 * Parsing stops at the first word that is not an option (QEMU's
	 * order, and what lets a mountpoint start with a dash after "--"), so
	 * an option written after the mountpoint lands here: say so, rather
	 * than call it a second mountpoint.
	 */
	if (optind < argc && argv[optind][0] == '-' && argv[optind][1])
		return errmsg(err, errlen, CMDLINE_ERROR,
		              "'%s' comes after the mountpoint %s: options go before it "
		              "(usage: kvmfs [options] MOUNTPOINT)",
		              argv[optind], o->mountpoint);
	if (optind < argc)
		return errmsg(err, errlen, CMDLINE_ERROR,
		              "'%s': only one mountpoint may be given "
		              "(usage: kvmfs [options] MOUNTPOINT)",
		              argv[optind]);
	if (o->attach && !o->mountpoint)
		return errmsg(err, errlen, CMDLINE_ERROR,
		              "-attach needs a mountpoint: the tree is what it is for");
	if (o->dump && !o->mountpoint)
		return errmsg(err, errlen, CMDLINE_ERROR,
		              "-dump needs a mountpoint: a dump is only there to be read");
	return CMDLINE_OK;
}
