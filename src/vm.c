/*
 * vm.c - one virtual machine: builds the machine, its KVM VM, devices and
 * vCPUs, and owns the run state that `ctl` shows and changes.
 *
 * Stopping is synchronous: vm_stop() returns only once every vCPU thread
 * is parked outside KVM_RUN, and then tells its stop listeners (the dirty
 * sweep makes the page cache exact there).
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "kvmfs/cpuid.h"
#include "kvmfs/dump.h"
#include "kvmfs/guest.h"
#include "kvmfs/vcpu.h"
#include "kvmfs/vm.h"

static const char *const state_names[] = {
        [VM_PRELAUNCH] = "paused (prelaunch)",
        [VM_RUNNING] = "running",
        [VM_PAUSED] = "paused",
        [VM_INTERNAL_ERROR] = "paused (internal-error)",
        [VM_SHUTDOWN] = "paused (shutdown)",
        [VM_QUIT] = "shutting down",
        [VM_DUMP] = "dump",
};

static int vm_create_vcpus(struct vm *vm, char *err, size_t errlen)
{
	struct kvm_cpuid2 *cpuid;
	const char *what = "KVM_GET_SUPPORTED_CPUID";
	unsigned i;
	int max, ret;

	max = ioctl(vm->kvm.fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max <= 0)
		max = ioctl(vm->kvm.fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (max > 0 && vm->opts.cpus > (unsigned)max) {
		snprintf(err, errlen, "-smp %u: this host's KVM allows at most %d vCPUs",
		         vm->opts.cpus, max);
		return -EINVAL;
	}
	vm->vcpus = calloc(vm->opts.cpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	ret = vcpu_supported_cpuid(vm->kvm.fd, &cpuid);
	if (ret)
		goto fail;
	cpuid_filter(cpuid);
	for (i = 0; i < vm->opts.cpus; i++) {
		ret = vcpu_init(&vm->vcpus[i], vm, i, cpuid, &what);
		if (ret)
			break;
		vm->nr_vcpus++;
		if (vm->linux_boot) {
			ret = vcpu_setup_linux(&vm->vcpus[i], i == 0 ? &vm->entry : NULL, &what);
			if (ret)
				break;
		}
	}
	free(cpuid);
	if (!ret)
		return 0;
fail:
	snprintf(err, errlen, "%s: %s", what, strerror(-ret));
	return ret;
}

/* The 8250's interrupt output, wired to ISA IRQ 4 of the in-kernel PIC/IOAPIC. */
static void vm_serial_irq(void *opaque, bool level)
{
	struct vm *vm = opaque;

	/* Fails only without an irqchip, and then nobody is listening. */
	(void)kvm_irq_line(&vm->kvm, SERIAL_COM1_IRQ, level);
}

int vm_init(struct vm *vm, const struct options *o, const void *firmware, size_t firmware_size,
            const struct loader *kernel, char *err, size_t errlen)
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
	pthread_condattr_t ca;
	const char *what;
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->opts = *o;
	pthread_mutex_init(&vm->ctl_lock, NULL);
	pthread_mutex_init(&vm->lock, NULL);
	/* Delays are measured on the monotonic clock: wall-clock jumps must not matter. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&vm->cond, &ca);
	pthread_condattr_destroy(&ca);
	vm->state = VM_PRELAUNCH;

	ret = console_init(&vm->console, STDOUT_FILENO);
	if (ret) {
		snprintf(err, errlen, "console: %s", strerror(-ret));
		goto err_locks;
	}
	ret = machine_init(&vm->machine, &mc);
	if (ret) {
		snprintf(err, errlen, "building machine %s with %llu MiB: %s", o->machine,
		         (unsigned long long)(o->ram_size >> 20), strerror(-ret));
		goto err_console;
	}
	if (o->accel == ACCEL_KVM) {
		ret = kvm_init(&vm->kvm, &vm->machine.as, true, &what);
		if (ret) {
			snprintf(err, errlen, "%s: %s%s", what, strerror(-ret),
			         ret == -ENOENT ? " (no KVM on this host; -accel none runs without)"
			                        : "");
			goto err_machine;
		}
	} else {
		ret = kvm_init_none(&vm->kvm, &vm->machine.as);
		if (ret) {
			snprintf(err, errlen, "memslots: %s", strerror(-ret));
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
		ret = kvm_create_irqchip(&vm->kvm, &what);
		if (ret) {
			snprintf(err, errlen, "%s: %s", what, strerror(-ret));
			goto err_kvm;
		}
	}
	cmos_init(&vm->cmos, vm->machine.below_4g, vm->machine.above_4g, o->cpus);
	serial_init(&vm->serial, &vm->console);
	if (vm->kvm.irqchip) {
		vm->serial.irq = vm_serial_irq;
		vm->serial.irq_opaque = vm;
	}
	if (o->accel == ACCEL_KVM) {
		ret = vm_create_vcpus(vm, err, errlen);
		if (ret)
			goto err_devices;
	}
	return 0;

err_devices:
	while (vm->nr_vcpus)
		vcpu_exit(&vm->vcpus[--vm->nr_vcpus]);
	free(vm->vcpus);
	serial_exit(&vm->serial);
	cmos_exit(&vm->cmos);
err_kvm:
	kvm_exit(&vm->kvm);
err_machine:
	machine_exit(&vm->machine);
err_console:
	console_exit(&vm->console);
err_locks:
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
	pthread_mutex_destroy(&vm->ctl_lock);
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
	pthread_mutex_init(&vm->ctl_lock, NULL);
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	vm->state = VM_DUMP;
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
		snprintf(err, errlen, "console: %s", strerror(-ret));
		goto err_locks;
	}
	ret = machine_init(&vm->machine, &mc);
	if (ret) {
		snprintf(err, errlen, "building the memory of %s: %s", d->path, strerror(-ret));
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
				snprintf(err, errlen,
				         "-dump %s: truncated: -M %s -m %lluM has RAM up to "
				         "0x%llx, the "
				         "image is %llu bytes",
				         d->path, o->machine,
				         (unsigned long long)(o->ram_size >> 20),
				         (unsigned long long)ram_end,
				         (unsigned long long)d->file_size);
			else
				snprintf(err, errlen, "-dump %s: mapping it: %s", d->path,
				         strerror(-ret));
			goto err_machine;
		}
	}
	ret = kvm_init_none(&vm->kvm, &vm->machine.as);
	if (ret) {
		snprintf(err, errlen, "memslots: %s", strerror(-ret));
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
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
	pthread_mutex_destroy(&vm->ctl_lock);
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
	vm->threads_started = true;
	if (!vm->opts.start_paused && vm->nr_vcpus)
		return vm_cont(vm);
	return 0;
}

/* With vm->lock held: make every vCPU leave KVM_RUN and wait until it did. */
static void vm_kick_all_locked(struct vm *vm)
{
	unsigned i;

	for (i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].run)
			vcpu_kick(&vm->vcpus[i]);
	pthread_cond_broadcast(&vm->cond);
}

static void vm_notify_stopped(struct vm *vm)
{
	struct vm_stop_listener *l;

	for (l = vm->stop_listeners; l; l = l->next)
		l->stopped(l);
}

int vm_stop(struct vm *vm)
{
	if (vm->dump)
		return -EROFS; /* a dump is as stopped as it gets, and cannot be changed */
	pthread_mutex_lock(&vm->ctl_lock);
	pthread_mutex_lock(&vm->lock);
	if (vm->state == VM_RUNNING)
		vm->state = VM_PAUSED;
	vm_kick_all_locked(vm);
	while (vm->threads_started && vm->nr_parked < vm->nr_vcpus)
		pthread_cond_wait(&vm->cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
	vm_notify_stopped(vm);
	pthread_mutex_unlock(&vm->ctl_lock);
	return 0;
}

int vm_cont(struct vm *vm)
{
	int ret = 0;

	if (vm->dump)
		return -EROFS;
	pthread_mutex_lock(&vm->ctl_lock);
	pthread_mutex_lock(&vm->lock);
	if (!vm->nr_vcpus)
		ret = -ENODEV; /* -accel none: there is nothing to run */
	else if (vm->state == VM_PAUSED || vm->state == VM_PRELAUNCH) {
		vm->state = VM_RUNNING;
		vm->reason[0] = '\0';
		vm->run_gen++;
		pthread_cond_broadcast(&vm->cond);
	} else if (vm->state != VM_RUNNING) {
		ret = -EPERM; /* a failed or shut down guest stays as it is */
	}
	pthread_mutex_unlock(&vm->lock);
	pthread_mutex_unlock(&vm->ctl_lock);
	return ret;
}

void vm_fail(struct vm *vm, enum vm_state state, const char *reason)
{
	pthread_mutex_lock(&vm->lock);
	/* The first failure is the one worth reporting; later ones follow from it. */
	if (vm->state == VM_RUNNING) {
		vm->state = state;
		snprintf(vm->reason, sizeof(vm->reason), "%s", reason);
		fprintf(stderr, "kvmfs: %s; the VM is stopped, its memory stays inspectable\n",
		        reason);
		vm_kick_all_locked(vm);
	}
	pthread_mutex_unlock(&vm->lock);
}

bool vm_vcpu_park(struct vm *vm, struct vcpu *v, bool halted)
{
	uint64_t gen;
	bool ok;

	pthread_mutex_lock(&vm->lock);
	gen = vm->run_gen;
	vm->nr_parked++;
	pthread_cond_broadcast(&vm->cond);
	while (vm->state != VM_QUIT && (vm->state != VM_RUNNING || (halted && vm->run_gen == gen)))
		pthread_cond_wait(&vm->cond, &vm->lock);
	vm->nr_parked--;
	ok = vm->state == VM_RUNNING;
	/* Re-armed under the lock that every kick is sent under. */
	if (ok)
		__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&vm->lock);
	return ok;
}

void vm_vcpu_delay(struct vm *vm, uint32_t ms)
{
	struct timespec ts;

	if (vm->opts.flat_out || !ms)
		return;
	if (ms > 10000)
		ms = 10000;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&vm->lock);
	while (vm->state == VM_RUNNING)
		if (pthread_cond_timedwait(&vm->cond, &vm->lock, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&vm->lock);
}

void vm_guest_event(struct vm *vm, unsigned cpu, uint32_t code)
{
	if (cpu == 0 && code == GUEST_EVENT_PASS)
		__atomic_add_fetch(&vm->guest_passes, 1, __ATOMIC_RELAXED);
}

void vm_add_stop_listener(struct vm *vm, struct vm_stop_listener *l)
{
	pthread_mutex_lock(&vm->lock);
	l->next = vm->stop_listeners;
	vm->stop_listeners = l;
	pthread_mutex_unlock(&vm->lock);
}

void vm_status(struct vm *vm, char *buf, size_t len)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->dump)
		snprintf(buf, len, "dump %s\n", vm->dump->path);
	else if (!vm->nr_vcpus)
		snprintf(buf, len, "no vcpus (-accel none)\n");
	else if (vm->reason[0])
		snprintf(buf, len, "%s\n%s\n", state_names[vm->state], vm->reason);
	else
		snprintf(buf, len, "%s\n", state_names[vm->state]);
	pthread_mutex_unlock(&vm->lock);
}

bool vm_is_running(struct vm *vm)
{
	bool r;

	pthread_mutex_lock(&vm->lock);
	r = vm->state == VM_RUNNING;
	pthread_mutex_unlock(&vm->lock);
	return r;
}

unsigned vm_nr_cpus(const struct vm *vm)
{
	return vm->dump ? vm->dump->nr_cpus : vm->nr_vcpus;
}

int vm_cpu_state(struct vm *vm, unsigned cpu, struct kvm_regs *regs, struct kvm_sregs *sregs,
                 bool *exact)
{
	if (cpu >= vm_nr_cpus(vm))
		return -ENOENT;
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
	return !vm->dump;
}

void vm_exit(struct vm *vm)
{
	unsigned i;

	pthread_mutex_lock(&vm->lock);
	vm->state = VM_QUIT;
	vm_kick_all_locked(vm);
	pthread_mutex_unlock(&vm->lock);
	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_exit(&vm->vcpus[i]);
	free(vm->vcpus);
	vm->vcpus = NULL;
	vm->nr_vcpus = 0;
	serial_exit(&vm->serial);
	cmos_exit(&vm->cmos);
	kvm_exit(&vm->kvm);
	machine_exit(&vm->machine);
	console_exit(&vm->console);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
	pthread_mutex_destroy(&vm->ctl_lock);
}
