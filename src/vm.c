/*
 * vm.c - one virtual machine: builds the machine, its KVM VM, devices and
 * vCPUs, and wires them together: devices onto the port bus, the vCPUs
 * to the bus, guest memory and the run state (runstate.c), which `ctl`
 * shows and changes.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "boot/linux_cpu.h"
#include "inspect/dumpfile.h"
#include "kvm/cpuid.h"
#include "kvm/vcpu.h"
#include "memory/ram_limits.h"
#include "util/errmsg.h"
#include "util/size.h"
#include "vm.h"

int vm_create_vcpus(struct vm *vm, const struct kvm_cpuid2 *cpuid, char *err, size_t errlen)
{
	unsigned i;
	int ret = 0;

	vm->vcpus = calloc(vm->opts.cpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return errmsg(err, errlen, -ENOMEM, "-smp %u: %s", vm->opts.cpus, strerror(ENOMEM));
	for (i = 0; i < vm->opts.cpus; i++) {
		ret = vcpu_init(&vm->vcpus[i], &vm->vcpu_env, i, cpuid, err, errlen);
		if (ret)
			break;
		vm->nr_vcpus++;
		if (vm->linux_boot) {
			ret = linux_cpu_setup(&vm->vcpus[i], i == 0 ? &vm->entry : NULL, err,
			                      errlen);
			if (ret)
				break;
		}
	}
	return ret;
}

/*
 * As many vCPUs as -smp asks, if the host's KVM allows that many, each
 * with the CPUID KVM supports, marked and filtered for this host.
 */
static int vm_add_vcpus(struct vm *vm, bool filter_cpuid, char *err, size_t errlen)
{
	struct kvm_cpuid2 *cpuid;
	int max, ret;

	max = ioctl(vm->kvm.fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max <= 0)
		max = ioctl(vm->kvm.fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (max > 0 && vm->opts.cpus > (unsigned)max)
		return errmsg(err, errlen, -EINVAL,
		              "-smp %u: this host's KVM allows at most %d vCPUs", vm->opts.cpus,
		              max);
	ret = vcpu_supported_cpuid(vm->kvm.fd, &cpuid);
	if (ret)
		return errmsg(err, errlen, ret, "KVM_GET_SUPPORTED_CPUID: %s", strerror(-ret));
	cpuid_set_hypervisor(cpuid);
	if (filter_cpuid)
		cpuid_filter(cpuid);
	ret = vm_create_vcpus(vm, cpuid, err, errlen);
	free(cpuid);
	return ret;
}

/* The runstate's kick: every vCPU out of KVM_RUN (its lock is held). */
static void vm_kick_vcpus(void *opaque)
{
	struct vm *vm = opaque;
	unsigned i;

	for (i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].run)
			vcpu_kick(&vm->vcpus[i]);
}

static void vm_pio_serial(void *opaque, struct vcpu *v, uint16_t port, bool is_write, uint8_t *data,
                          unsigned size)
{
	unsigned i;

	(void)v;
	/* A wider access touches consecutive registers, as on the ISA bus. */
	for (i = 0; i < size; i++)
		serial_io(opaque, (unsigned)(port + i - SERIAL_COM1_BASE) % SERIAL_NR_PORTS,
		          is_write, &data[i]);
}

static void vm_pio_cmos(void *opaque, struct vcpu *v, uint16_t port, bool is_write, uint8_t *data,
                        unsigned size)
{
	(void)v;
	(void)size;
	cmos_io(opaque, port, is_write, data);
}

/* The devices' port ranges; the built-in guest's ports come from guestport.c. */
static int vm_add_devices(struct vm *vm)
{
	int ret;

	ret = pio_bus_add(&vm->pio, CMOS_PORT_INDEX, CMOS_PORT_DATA, vm_pio_cmos, &vm->cmos);
	if (!ret)
		ret = pio_bus_add(&vm->pio, SERIAL_COM1_BASE,
		                  SERIAL_COM1_BASE + SERIAL_NR_PORTS - 1, vm_pio_serial,
		                  &vm->serial);
	if (!ret)
		ret = pci_host_init(&vm->pci, &vm->machine.desc->host_bridge, &vm->pio);
	if (!ret)
		ret = guestport_init(&vm->guestport, &vm->rs, vm->opts.flat_out, &vm->pio);
	return ret;
}

/* The 8250's interrupt output, wired to ISA IRQ 4 of the in-kernel PIC/IOAPIC. */
static void vm_serial_irq(void *opaque, bool level)
{
	struct vm *vm = opaque;

	/* Fails only without an irqchip, and then nobody is listening. */
	(void)kvm_irq_line(&vm->kvm, SERIAL_COM1_IRQ, level);
}

/*
 * Threads kvmfs starts after the machine is built, besides the vCPUs: the
 * FUSE loop and its workers (libfuse 3.14 starts at most 10), the dirty
 * sweep, the stdin pump, and a few to spare.  Only a bound, for what ulimit
 * -v and strict overcommit must leave room for (ram_limits.h).
 */
#define VM_OTHER_THREADS 16

/*
 * The page bitmaps kvmfs keeps for guest RAM, a bit per 4 KiB page each
 * (ram_limits.h): with a tree, dirty/'s two readers of each block
 * (kvm/dirty_blocks.c) and the page-cache trackers of its file and of phys
 * (fs/cache.c); with KVM, the dirty-log sweep's buffer (kvm/dirty_sweep.c).
 */
static unsigned vm_page_bitmaps(const struct options *o)
{
	return (o->mountpoint ? 4 : 0) + (o->accel == ACCEL_KVM ? 1 : 0);
}

/*
 * The largest RAM block the options ask for, how it is spelled (what: the
 * line's start; opt: how a size for it is given) and the bytes of the
 * others: the one to name when RAM cannot be had.
 */
static uint64_t vm_largest_block(const struct options *o, char *what, size_t len, const char **opt,
                                 uint64_t *others)
{
	uint64_t want = o->ram_size, total = o->ram_size;
	unsigned i;

	snprintf(what, len, "-m ");
	*opt = "-m ";
	for (i = 0; i < o->nr_backends; i++) {
		total += o->backends[i].size;
		if (o->backends[i].size > want) {
			want = o->backends[i].size;
			snprintf(what, len, "-object id=%s,size=", o->backends[i].id);
			*opt = "size=";
		}
	}
	*others = total - want;
	return want;
}

/*
 * Before anything is reserved: RAM whose page bitmaps the host's accounting
 * would refuse later (ram_limits.h) - at a calloc, or at the fork that
 * mounts the tree, with less to say - is refused now, saying why.
 */
static int vm_check_ram(const struct options *o, char *err, size_t errlen)
{
	char size[SIZE_TEXT_LEN], why[448], what[RAM_IDSTR_MAX + 32];
	const char *opt;
	uint64_t want, others;
	struct ram_limits l;
	int ret;

	want = vm_largest_block(o, what, sizeof(what), &opt, &others);
	ret = ram_limits_check(&l, o->backing, want, others, vm_page_bitmaps(o),
	                       o->cpus + VM_OTHER_THREADS);
	if (!ret)
		return 0;
	ram_limits_explain(&l, o->backing, want, opt, why, sizeof(why));
	return errmsg(err, errlen, ret, "%s%s: %s", what, size_format(want, size, sizeof(size)),
	              why);
}

/*
 * A machine that could not be built.  For want of memory: what kept the
 * largest block asked for from being reserved, and the size that fits now
 * (ram_limits.h), unless that block fits after all and something else ran
 * out.
 */
static void vm_machine_error(const struct options *o, int ret, char *err, size_t errlen)
{
	char size[SIZE_TEXT_LEN], why[448], what[RAM_IDSTR_MAX + 32];
	const char *opt;
	uint64_t want, others;
	struct ram_limits l;

	want = vm_largest_block(o, what, sizeof(what), &opt, &others);
	if (ret == -ENOMEM) {
		ram_limits_probe(&l, o->backing, want, others, vm_page_bitmaps(o),
		                 o->cpus + VM_OTHER_THREADS);
		if (l.limit != RAM_LIMIT_NONE) {
			ram_limits_explain(&l, o->backing, want, opt, why, sizeof(why));
			errmsg(err, errlen, ret, "%s%s: %s", what,
			       size_format(want, size, sizeof(size)), why);
			return;
		}
	}
	errmsg(err, errlen, ret, "building machine %s with -m %s: %s", o->machine,
	       size_format(o->ram_size, size, sizeof(size)), strerror(-ret));
}

int vm_init(struct vm *vm, const struct options *o, bool ring0_emulated, const void *firmware,
            size_t firmware_size, const struct loader *kernel, char *err, size_t errlen)
{
	struct machine_config mc = {
	        .type = o->machine,
	        .ram_size = o->ram_size,
	        .cpus = o->cpus,
	        .backing = o->backing,
	        .firmware = firmware,
	        .firmware_size = firmware_size,
	        .backends = o->backends,
	        .nr_backends = o->nr_backends,
	};
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->opts = *o;
	runstate_init(&vm->rs, o->accel == ACCEL_KVM ? o->cpus : 0, vm_kick_vcpus, vm);

	ret = console_init(&vm->console, o->serial_null ? -1 : STDOUT_FILENO);
	if (ret) {
		errmsg(err, errlen, ret, "console: %s", strerror(-ret));
		goto err_locks;
	}
	ret = vm_check_ram(o, err, errlen);
	if (ret)
		goto err_console;
	ret = machine_init(&vm->machine, &mc);
	if (ret) {
		vm_machine_error(o, ret, err, errlen);
		goto err_console;
	}
	if (o->accel == ACCEL_KVM) {
		ret = kvm_init(&vm->kvm, &vm->machine.as, true, err, errlen);
		if (ret)
			goto err_machine;
	} else {
		ret = kvm_init_none(&vm->kvm, &vm->machine.as);
		if (ret) {
			errmsg(err, errlen, ret, "memslots: %s", strerror(-ret));
			goto err_machine;
		}
	}
	if (kernel) {
		/* Into RAM even with -accel none: the FS shows what would boot. */
		ret = loader_place(kernel, &vm->machine, &vm->entry, err, errlen);
		if (ret)
			goto err_kvm;
		vm->linux_boot = true;
	}
	/* Linux needs interrupts; the built-in guest relies on HLT exits instead. */
	if (kernel && o->accel == ACCEL_KVM) {
		ret = kvm_create_irqchip(&vm->kvm, err, errlen);
		if (ret)
			goto err_kvm;
	}
	cmos_init(&vm->cmos, vm->machine.below_4g, vm->machine.above_4g, o->cpus);
	serial_init(&vm->serial, &vm->console);
	if (vm->kvm.irqchip) {
		vm->serial.irq = vm_serial_irq;
		vm->serial.irq_opaque = vm;
	}
	ret = vm_add_devices(vm);
	if (ret) {
		errmsg(err, errlen, ret, "port I/O devices: %s", strerror(-ret));
		goto err_devices;
	}
	vm->vcpu_env = (struct vcpu_env){
	        .kvm = &vm->kvm, .as = &vm->machine.as, .rs = &vm->rs, .pio = &vm->pio};
	if (o->accel == ACCEL_KVM) {
		ret = vm_add_vcpus(vm, ring0_emulated, err, errlen);
		if (ret)
			goto err_devices;
	}
	return 0;

err_devices:
	while (vm->nr_vcpus)
		vcpu_exit(&vm->vcpus[--vm->nr_vcpus]);
	free(vm->vcpus);
	/* vm was zeroed: a host bridge never set up has a zero, destroyable lock. */
	pci_host_exit(&vm->pci);
	serial_exit(&vm->serial);
	cmos_exit(&vm->cmos);
err_kvm:
	kvm_exit(&vm->kvm);
err_machine:
	machine_exit(&vm->machine);
err_console:
	console_exit(&vm->console);
err_locks:
	runstate_exit(&vm->rs);
	return ret;
}

int vm_init_dump(struct vm *vm, const struct options *o, const struct dump *d, char *err,
                 size_t errlen)
{
	struct machine_config mc = {
	        .type = o->machine,
	        .ram_size = o->ram_size,
	        .cpus = d->nr_cpus,
	        .backing = RAM_BACKING_ANON, /* replaced by the file's mapping */
	        .fd = d->fd,
	};
	uint64_t ram_end = 0;
	size_t i;
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->opts = *o;
	vm->dump = d;
	/* No vCPU thread will ever park: stop and cont are refused before they get there. */
	runstate_init(&vm->rs, 0, NULL, NULL);
	if (d->format == DUMP_ELF) {
		mc.ram_size = 0;
		mc.ranges = d->ranges;
		mc.nr_ranges = d->nr_ranges;
		for (i = 0; i < d->nr_ranges; i++)
			mc.ram_size += d->ranges[i].size;
	}
	/* The console file is not shown; it exists so that the rest is a VM's. */
	ret = console_init(&vm->console, -1);
	if (ret) {
		errmsg(err, errlen, ret, "console: %s", strerror(-ret));
		goto err_locks;
	}
	ret = machine_init(&vm->machine, &mc);
	if (ret) {
		errmsg(err, errlen, ret, "building the memory of %s: %s", d->path, strerror(-ret));
		goto err_console;
	}
	if (d->format == DUMP_RAW) {
		/* Every RAM byte must be in the image; ROM past its end reads as zeros. */
		for (i = 0; i < vm->machine.as.fv->nr; i++) {
			const struct flat_range *fr = &vm->machine.as.fv->ranges[i];

			if (fr->mr->kind == MR_RAM && fr->start + fr->size > ram_end)
				ram_end = fr->start + fr->size;
		}
		ret = ram_end > d->file_size ? -EINVAL : dump_map_raw(d, &vm->machine);
		if (ret) {
			if (ret == -EINVAL)
				errmsg(err, errlen, ret,
				       "-dump %s: truncated: -M %s -m %lluM has RAM up to 0x%llx, "
				       "the image is %llu bytes",
				       d->path, o->machine, (unsigned long long)(o->ram_size >> 20),
				       (unsigned long long)ram_end,
				       (unsigned long long)d->file_size);
			else
				errmsg(err, errlen, ret, "-dump %s: mapping it: %s", d->path,
				       strerror(-ret));
			goto err_machine;
		}
	}
	ret = kvm_init_none(&vm->kvm, &vm->machine.as);
	if (ret) {
		errmsg(err, errlen, ret, "memslots: %s", strerror(-ret));
		goto err_machine;
	}
	cmos_init(&vm->cmos, vm->machine.below_4g, vm->machine.above_4g, d->nr_cpus);
	serial_init(&vm->serial, &vm->console);
	return 0;

err_machine:
	machine_exit(&vm->machine);
err_console:
	console_exit(&vm->console);
err_locks:
	runstate_exit(&vm->rs);
	return ret;
}

int vm_init_attach(struct vm *vm, const struct options *o, char *err, size_t errlen)
{
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->opts = *o;
	runstate_init(&vm->rs, 0, NULL, NULL);
	vm->qemu = calloc(1, sizeof(*vm->qemu));
	ret = vm->qemu ? console_init(&vm->console, -1) : -ENOMEM;
	if (ret) {
		errmsg(err, errlen, ret, "%s", strerror(-ret));
		goto err_locks;
	}
	ret = qemu_attach(vm->qemu, o->attach, &vm->machine, o->writable, err, errlen);
	if (ret)
		goto err_console;
	vm->opts.cpus = vm->qemu->nr_cpus;
	vm->opts.ram_size = vm->machine.ram_size;
	vm->opts.machine = vm->machine.desc->name;
	/* memslots: what QEMU's KVM would have of this flat view; QEMU's TCG has none. */
	if (vm->qemu->kvm) {
		ret = kvm_init_none(&vm->kvm, &vm->machine.as);
	} else {
		memset(&vm->kvm, 0, sizeof(vm->kvm));
		vm->kvm.fd = vm->kvm.vm_fd = -1;
		vm->kvm.as = &vm->machine.as;
	}
	if (ret) {
		errmsg(err, errlen, ret, "memslots: %s", strerror(-ret));
		goto err_qemu;
	}
	cmos_init(&vm->cmos, 0, 0, vm->qemu->nr_cpus);
	serial_init(&vm->serial, &vm->console);
	return 0;

err_qemu:
	qemu_detach(vm->qemu);
	machine_exit(&vm->machine);
err_console:
	console_exit(&vm->console);
err_locks:
	free(vm->qemu);
	vm->qemu = NULL;
	runstate_exit(&vm->rs);
	return ret;
}

int vm_start(struct vm *vm)
{
	unsigned i;
	int ret;

	for (i = 0; i < vm->nr_vcpus; i++) {
		ret = vcpu_start(&vm->vcpus[i]);
		if (ret)
			return ret;
	}
	runstate_threads_started(&vm->rs);
	if (!vm->opts.start_paused && vm->nr_vcpus)
		return runstate_cont(&vm->rs);
	return 0;
}

int vm_stop(struct vm *vm)
{
	if (vm->qemu)
		return qemu_stop(vm->qemu);
	if (vm->dump)
		return -EROFS; /* a dump is as stopped as it gets, and cannot be changed */
	return runstate_stop(&vm->rs);
}

int vm_end(struct vm *vm)
{
	/* Only vCPUs of ours: a dump has none, an attached QEMU goes on running. */
	if (vm->qemu || vm->dump)
		return 0;
	return runstate_stop(&vm->rs);
}

int vm_cont(struct vm *vm)
{
	if (vm->qemu)
		return qemu_cont(vm->qemu);
	if (vm->dump)
		return -EROFS;
	return runstate_cont(&vm->rs);
}

void vm_status(struct vm *vm, char *buf, size_t len)
{
	if (vm->qemu)
		qemu_status(vm->qemu, buf, len);
	else if (vm->dump)
		snprintf(buf, len, "dump %s\n", vm->dump->path);
	else
		runstate_status(&vm->rs, buf, len);
}

unsigned vm_nr_cpus(const struct vm *vm)
{
	if (vm->qemu)
		return vm->qemu->nr_cpus;
	return vm->dump ? vm->dump->nr_cpus : vm->nr_vcpus;
}

int vm_cpu_state(struct vm *vm, unsigned cpu, struct kvm_regs *regs, struct kvm_sregs *sregs,
                 bool *exact)
{
	if (cpu >= vm_nr_cpus(vm))
		return -ENOENT;
	if (vm->qemu)
		return qemu_cpu_state(vm->qemu, cpu, regs, sregs, exact);
	if (!vm->dump)
		return vcpu_get_state(&vm->vcpus[cpu], regs, sregs, exact);
	*regs = vm->dump->cpus[cpu].regs;
	*sregs = vm->dump->cpus[cpu].sregs;
	*exact = true;
	return 0;
}

bool vm_has_layout(const struct vm *vm)
{
	return !vm->dump || vm->dump->format == DUMP_RAW;
}

bool vm_is_live(const struct vm *vm)
{
	return !vm->dump && !vm->qemu;
}

const char *vm_accel(const struct vm *vm)
{
	if (vm->qemu)
		return vm->qemu->kvm ? "KVM" : NULL;
	return vm->kvm.vm_fd >= 0 ? "KVM" : NULL;
}

void vm_exit(struct vm *vm)
{
	unsigned i;

	runstate_quit(&vm->rs);
	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_exit(&vm->vcpus[i]);
	free(vm->vcpus);
	vm->vcpus = NULL;
	vm->nr_vcpus = 0;
	pci_host_exit(&vm->pci);
	serial_exit(&vm->serial);
	cmos_exit(&vm->cmos);
	kvm_exit(&vm->kvm);
	if (vm->qemu)
		qemu_detach(vm->qemu);
	machine_exit(&vm->machine);
	console_exit(&vm->console);
	runstate_exit(&vm->rs);
	free(vm->qemu);
	vm->qemu = NULL;
}
