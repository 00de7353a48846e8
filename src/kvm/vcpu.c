/*
 * vcpu.c - one thread per vCPU running KVM_RUN, and the exits it handles.
 *
 * Port I/O goes to the port bus (ioport.c); an emulation failure KVM's
 * emulator gave up on is finished here when emulate.c knows the
 * instruction; anything else that the VMM cannot handle stops the whole VM
 * with one diagnostic (exit reason, RIP, CPL and the instruction bytes),
 * and the VM stays stopped so that its memory can be inspected through
 * the FS.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm/emulate.h"
#include "kvm/ioport.h"
#include "kvm/kvm.h"
#include "kvm/runstate.h"
#include "kvm/vcpu.h"
#include "memory/memory.h"
#include "memory/pagewalk.h"
#include "util/compiler.h"
#include "util/errmsg.h"

#define SIG_KICK          SIGUSR1
#define CPUID_MAX_ENTRIES 256

static const char *const exit_names[] = {
        [KVM_EXIT_UNKNOWN] = "KVM_EXIT_UNKNOWN",
        [KVM_EXIT_EXCEPTION] = "KVM_EXIT_EXCEPTION",
        [KVM_EXIT_IO] = "KVM_EXIT_IO",
        [KVM_EXIT_HYPERCALL] = "KVM_EXIT_HYPERCALL",
        [KVM_EXIT_DEBUG] = "KVM_EXIT_DEBUG",
        [KVM_EXIT_HLT] = "KVM_EXIT_HLT",
        [KVM_EXIT_MMIO] = "KVM_EXIT_MMIO",
        [KVM_EXIT_IRQ_WINDOW_OPEN] = "KVM_EXIT_IRQ_WINDOW_OPEN",
        [KVM_EXIT_SHUTDOWN] = "KVM_EXIT_SHUTDOWN",
        [KVM_EXIT_FAIL_ENTRY] = "KVM_EXIT_FAIL_ENTRY",
        [KVM_EXIT_INTR] = "KVM_EXIT_INTR",
        [KVM_EXIT_SET_TPR] = "KVM_EXIT_SET_TPR",
        [KVM_EXIT_TPR_ACCESS] = "KVM_EXIT_TPR_ACCESS",
        [KVM_EXIT_NMI] = "KVM_EXIT_NMI",
        [KVM_EXIT_INTERNAL_ERROR] = "KVM_EXIT_INTERNAL_ERROR",
        [KVM_EXIT_OSI] = "KVM_EXIT_OSI",
        [KVM_EXIT_PAPR_HCALL] = "KVM_EXIT_PAPR_HCALL",
        [KVM_EXIT_WATCHDOG] = "KVM_EXIT_WATCHDOG",
        [KVM_EXIT_EPR] = "KVM_EXIT_EPR",
        [KVM_EXIT_SYSTEM_EVENT] = "KVM_EXIT_SYSTEM_EVENT",
        [KVM_EXIT_IOAPIC_EOI] = "KVM_EXIT_IOAPIC_EOI",
        [KVM_EXIT_HYPERV] = "KVM_EXIT_HYPERV",
        [KVM_EXIT_X86_RDMSR] = "KVM_EXIT_X86_RDMSR",
        [KVM_EXIT_X86_WRMSR] = "KVM_EXIT_X86_WRMSR",
        [KVM_EXIT_DIRTY_RING_FULL] = "KVM_EXIT_DIRTY_RING_FULL",
        [KVM_EXIT_X86_BUS_LOCK] = "KVM_EXIT_X86_BUS_LOCK",
};

static const char *const internal_error_names[] = {
        [KVM_INTERNAL_ERROR_EMULATION] = "emulation failure",
        [KVM_INTERNAL_ERROR_SIMUL_EX] = "exception while delivering an exception",
        [KVM_INTERNAL_ERROR_DELIVERY_EV] = "exit while delivering an event",
        [KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON] = "unexpected exit reason",
};

static const char *exit_name(unsigned reason)
{
	return reason < ARRAY_SIZE(exit_names) && exit_names[reason] ? exit_names[reason]
	                                                             : "unknown exit";
}

/* ---- I/O --------------------------------------------------------------- */

static void vcpu_handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;

	pio_bus_access(v->env->pio, v, run->io.port, run->io.direction == KVM_EXIT_IO_OUT,
	               (uint8_t *)run + run->io.data_offset, run->io.size, run->io.count);
}

static void vcpu_handle_mmio(struct vcpu *v)
{
	/*
	 * Nothing is emulated in MMIO space: reads see all-ones, writes vanish,
	 * as on a PC where no device answers.  A guest write to ROM lands here
	 * too (read-only memslot), and is dropped as QEMU drops it.
	 */
	if (!v->run->mmio.is_write)
		memset(v->run->mmio.data, 0xff, sizeof(v->run->mmio.data));
}

/* ---- diagnostics ----------------------------------------------------- */

/* Page-table reads go to guest RAM; anything else is not a table. */
static int vcpu_read_gpa(void *opaque, uint64_t gpa, uint64_t *val)
{
	return as_read(opaque, gpa, val, sizeof(*val), false) == sizeof(*val) ? 0 : -EFAULT;
}

int vcpu_read_virt(struct vcpu *v, const struct kvm_sregs *s, uint64_t va, void *buf, size_t len,
                   uint64_t *gpa)
{
	struct pagewalk_cpu pc = {.cr0 = s->cr0, .cr3 = s->cr3, .cr4 = s->cr4, .efer = s->efer};
	struct pagewalk_result r;
	size_t done = 0;

	/* Page by page: the bytes may straddle two mappings. */
	while (done < len) {
		uint64_t at = va + done, n;

		if (pagewalk(&pc, at, vcpu_read_gpa, v->env->as, &r) || r.status != PW_OK)
			return -EFAULT;
		if (!done && gpa)
			*gpa = r.pa;
		n = r.span - (at & (r.span - 1));
		if (n > len - done)
			n = len - done;
		if (as_read(v->env->as, r.pa, (uint8_t *)buf + done, (size_t)n, false) != n)
			return -EFAULT;
		done += (size_t)n;
	}
	return 0;
}

/* Reason line: exit, RIP, CPL and the instruction bytes at RIP. */
static void vcpu_describe(struct vcpu *v, const char *what, char *buf, size_t len)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint64_t gpa = 0;
	uint8_t code[16];
	size_t n = 0, got, i;

	n += (size_t)snprintf(buf, len, "vcpu %u: %s", v->id, what);
	if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0 || ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0) {
		snprintf(buf + n, len - n, " (registers unreadable: %s)", strerror(errno));
		return;
	}
	/* The CPL is the DPL of SS (CS's RPL in real mode, where both are 0). */
	n += (size_t)snprintf(buf + n, len - n, " at RIP 0x%llx (CS base 0x%llx), CPL %u",
	                      (unsigned long long)regs.rip, (unsigned long long)sregs.cs.base,
	                      sregs.ss.dpl);
	/* As many bytes as can be read: the instruction may end a mapping. */
	for (got = sizeof(code); got; got--)
		if (!vcpu_read_virt(v, &sregs, sregs.cs.base + regs.rip, code, got, &gpa))
			break;
	if (!got) {
		snprintf(buf + n, len - n, "; code: unreadable");
		return;
	}
	n += (size_t)snprintf(buf + n, len - n, "; code at GPA 0x%llx:", (unsigned long long)gpa);
	for (i = 0; i < got && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, " %02x", code[i]);
}

void vcpu_fail(struct vcpu *v, enum run_state state, const char *what)
{
	char reason[RUNSTATE_REASON_MAX];

	vcpu_describe(v, what, reason, sizeof(reason));
	runstate_fail(v->env->rs, state, reason);
}

/* ---- emulation failures finished here ------------------------------------ */

struct vcpu_mem {
	struct vcpu *v;
	const struct kvm_sregs *sregs;
};

static int vcpu_emu_read(void *opaque, uint64_t linear, void *buf, size_t len)
{
	struct vcpu_mem *m = opaque;

	return vcpu_read_virt(m->v, m->sregs, linear, buf, len, NULL);
}

/*
 * The bytes KVM's emulator failed on: KVM hands them over with the exit
 * where it can (KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES), and
 * otherwise they are read at CS:RIP through the guest's page tables.
 */
static size_t vcpu_failed_insn(struct vcpu *v, const struct kvm_regs *r, const struct kvm_sregs *s,
                               uint8_t *buf, size_t len)
{
	struct kvm_run *run = v->run;
	size_t n;

	if (run->emulation_failure.ndata >= 3 &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		n = run->emulation_failure.insn_size;
		if (n > len)
			n = len;
		if (n > sizeof(run->emulation_failure.insn_bytes))
			n = sizeof(run->emulation_failure.insn_bytes);
		memcpy(buf, run->emulation_failure.insn_bytes, n);
		return n;
	}
	for (n = len; n; n--)
		if (!vcpu_read_virt(v, s, s->cs.base + r->rip, buf, n, NULL))
			break;
	return n;
}

/* Deliver exception nr, as if the CPU had raised it (see vcpu_complete_emulation). */
static int vcpu_inject(struct vcpu *v, unsigned nr, bool has_error_code, uint32_t error_code)
{
	struct kvm_vcpu_events ev;

	if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
		return -errno;
	ev.exception.injected = 1;
	ev.exception.nr = (uint8_t)nr;
	ev.exception.has_error_code = has_error_code;
	ev.exception.error_code = error_code;
	ev.flags = 0;
	return ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev) < 0 ? -errno : 0;
}

/*
 * MXCSR lives in the guest's XSAVE image.  KVM_SET_FPU writes its legacy
 * area too, but measured on kvm_pvm that alone had no effect: unless the
 * XSAVE header's SSE bit says the state is set, it is restored as the
 * initial one (MXCSR 0x1f80).  KVM_SET_FPU stays for hosts without XSAVE.
 */
#define XSAVE_MXCSR     6   /* u32 index of MXCSR in the legacy area (byte 24) */
#define XSAVE_XSTATE_BV 128 /* u32 index of XSTATE_BV in the header (byte 512) */
#define XSTATE_SSE      (1u << 1)

static int vcpu_set_mxcsr(struct vcpu *v, uint32_t mxcsr)
{
	struct kvm_xsave *x = malloc(sizeof(*x));
	struct kvm_fpu fpu;
	int ret;

	if (x && ioctl(v->fd, KVM_GET_XSAVE, x) == 0) {
		x->region[XSAVE_MXCSR] = mxcsr;
		x->region[XSAVE_XSTATE_BV] |= XSTATE_SSE;
		ret = ioctl(v->fd, KVM_SET_XSAVE, x) < 0 ? -errno : 0;
	} else if (ioctl(v->fd, KVM_GET_FPU, &fpu) < 0) {
		ret = -errno;
	} else {
		fpu.mxcsr = mxcsr;
		ret = ioctl(v->fd, KVM_SET_FPU, &fpu) < 0 ? -errno : 0;
	}
	free(x);
	return ret;
}

/*
 * Finish the instruction KVM's emulator could not, if emulate.c knows it:
 * true when the vCPU can simply go on.  Exceptions (#BP after an int3,
 * #GP(0) for a bad MXCSR) are delivered through the guest's IDT with
 * KVM_SET_VCPU_EVENTS: `injected`, not `pending`, which would need
 * KVM_CAP_EXCEPTION_PAYLOAD.
 */
static bool vcpu_complete_emulation(struct vcpu *v)
{
	struct emu_effects fx;
	struct kvm_regs r;
	struct kvm_sregs s;
	struct emu_insn insn;
	struct vcpu_mem mem = {v, &s};
	uint8_t bytes[15];
	size_t n;

	if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 || ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
		return false;
	n = vcpu_failed_insn(v, &r, &s, bytes, sizeof(bytes));
	if (emu_decode(bytes, n, s.cs.l, &insn) ||
	    emu_complete(&insn, &r, &s, vcpu_emu_read, &mem, &fx))
		return false;
	if (fx.set_mxcsr && vcpu_set_mxcsr(v, fx.mxcsr))
		return false;
	if (ioctl(v->fd, KVM_SET_REGS, &r) < 0)
		return false;
	if ((fx.inject_bp && vcpu_inject(v, 3, false, 0)) ||
	    (fx.inject_gp && vcpu_inject(v, 13, true, 0)))
		return false;
	__atomic_add_fetch(&v->completions[insn.kind], 1, __ATOMIC_RELAXED);
	return true;
}

static bool vcpu_internal_error(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	unsigned sub = run->internal.suberror;
	char what[160];

	if (sub == KVM_INTERNAL_ERROR_EMULATION && vcpu_complete_emulation(v))
		return true;
	snprintf(what, sizeof(what), "KVM_EXIT_INTERNAL_ERROR (suberror %u: %s)", sub,
	         sub < ARRAY_SIZE(internal_error_names) && internal_error_names[sub]
	                 ? internal_error_names[sub]
	                 : "unknown");
	vcpu_fail(v, RUN_INTERNAL_ERROR, what);
	return false;
}

/* ---- the run loop ---------------------------------------------------- */

/* Returns false when the VM must not run any further on this vCPU. */
static bool vcpu_handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	char what[128];

	switch (run->exit_reason) {
	case KVM_EXIT_IO: vcpu_handle_io(v); return true;
	case KVM_EXIT_MMIO: vcpu_handle_mmio(v); return true;
	case KVM_EXIT_INTR: return true;
	case KVM_EXIT_HLT:
		/* No interrupt can wake it (no irqchip): idle until the next cont. */
		runstate_park(v->env->rs, true, &v->run->immediate_exit);
		return true;
	case KVM_EXIT_SHUTDOWN:
		vcpu_fail(v, RUN_SHUTDOWN, "KVM_EXIT_SHUTDOWN (triple fault)");
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(what, sizeof(what), "KVM_EXIT_FAIL_ENTRY (hardware reason 0x%llx)",
		         (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		vcpu_fail(v, RUN_INTERNAL_ERROR, what);
		return false;
	case KVM_EXIT_INTERNAL_ERROR: return vcpu_internal_error(v);
	case KVM_EXIT_SYSTEM_EVENT:
		snprintf(what, sizeof(what), "KVM_EXIT_SYSTEM_EVENT (type %u)",
		         run->system_event.type);
		vcpu_fail(v, RUN_SHUTDOWN, what);
		return false;
	default:
		snprintf(what, sizeof(what), "unhandled exit %u (%s)", run->exit_reason,
		         exit_name(run->exit_reason));
		vcpu_fail(v, RUN_INTERNAL_ERROR, what);
		return false;
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	sigset_t set;
	char name[16];

	snprintf(name, sizeof(name), "vcpu%u", v->id);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&set);
	sigaddset(&set, SIG_KICK);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	while (runstate_park(v->env->rs, false, &v->run->immediate_exit)) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			/* A kick: immediate_exit or the signal made KVM_RUN return. */
			if (errno == EINTR || errno == EAGAIN)
				continue;
			char what[96];

			snprintf(what, sizeof(what), "KVM_RUN: %s", strerror(errno));
			vcpu_fail(v, RUN_INTERNAL_ERROR, what);
			continue;
		}
		if (!vcpu_handle_exit(v))
			continue; /* parks: the VM is stopped now */
	}
	return NULL;
}

static void kick_handler(int sig)
{
	(void)sig; /* only there to interrupt KVM_RUN */
}

/* ---- state setters, for boot code (boot/linux_cpu.c) ------------------ */

int vcpu_set_msrs(struct vcpu *v, const struct kvm_msrs *msrs)
{
	int n = ioctl(v->fd, KVM_SET_MSRS, msrs);

	return n < 0 ? -errno : n;
}

int vcpu_get_lapic(struct vcpu *v, struct kvm_lapic_state *s)
{
	return ioctl(v->fd, KVM_GET_LAPIC, s) < 0 ? -errno : 0;
}

int vcpu_set_lapic(struct vcpu *v, const struct kvm_lapic_state *s)
{
	return ioctl(v->fd, KVM_SET_LAPIC, s) < 0 ? -errno : 0;
}

int vcpu_get_sregs(struct vcpu *v, struct kvm_sregs *s)
{
	return ioctl(v->fd, KVM_GET_SREGS, s) < 0 ? -errno : 0;
}

int vcpu_set_sregs(struct vcpu *v, const struct kvm_sregs *s)
{
	return ioctl(v->fd, KVM_SET_SREGS, s) < 0 ? -errno : 0;
}

int vcpu_set_regs(struct vcpu *v, const struct kvm_regs *r)
{
	return ioctl(v->fd, KVM_SET_REGS, r) < 0 ? -errno : 0;
}

int vcpu_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **out)
{
	struct kvm_cpuid2 *c;

	c = calloc(1, sizeof(*c) + CPUID_MAX_ENTRIES * sizeof(c->entries[0]));
	if (!c)
		return -ENOMEM;
	c->nent = CPUID_MAX_ENTRIES;
	if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		int ret = -errno;

		free(c);
		return ret;
	}
	*out = c;
	return 0;
}

int vcpu_init(struct vcpu *v, const struct vcpu_env *env, unsigned id,
              const struct kvm_cpuid2 *cpuid, char *err, size_t errlen)
{
	struct sigaction sa = {.sa_handler = kick_handler};
	size_t size = sizeof(*cpuid) + cpuid->nent * sizeof(cpuid->entries[0]);
	struct kvm_cpuid2 *c;
	const char *what;
	unsigned i;
	int ret;

	memset(v, 0, sizeof(*v));
	v->env = env;
	v->id = id;
	v->fd = -1;
	/* No SA_RESTART: the signal must end KVM_RUN with EINTR. */
	sigaction(SIG_KICK, &sa, NULL);

	v->fd = ioctl(env->kvm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd < 0)
		return errmsg(err, errlen, -errno, "KVM_CREATE_VCPU: %s", strerror(errno));
	what = "mmap kvm_run";
	v->run = mmap(NULL, (size_t)env->kvm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
	              v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		ret = -errno;
		goto err;
	}

	/* Registers readable while the guest runs (vcpu_get_state), at the cost of a copy per exit.
	 */
	if ((ioctl(env->kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS) &
	     (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS)) ==
	    (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS)) {
		v->run->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
		v->sync_regs = true;
	}

	/*
	 * The guest finds its index in the initial APIC ID (leaf 1, EBX bits
	 * 31:24; leaves 0xb/0x1f EDX), as firmware does on real hardware.
	 */
	what = "KVM_SET_CPUID2";
	c = malloc(size);
	if (!c) {
		ret = -ENOMEM;
		goto err;
	}
	memcpy(c, cpuid, size);
	for (i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == 1)
			e->ebx = (e->ebx & 0x00ffffff) | (id << 24);
		else if (e->function == 0xb || e->function == 0x1f)
			e->edx = id;
	}
	ret = ioctl(v->fd, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
	free(c);
	if (ret)
		goto err;
	return 0;
err:
	errmsg(err, errlen, ret, "%s: %s", what, strerror(-ret));
	vcpu_exit(v);
	return ret;
}

int vcpu_get_state(struct vcpu *v, struct kvm_regs *regs, struct kvm_sregs *sregs, bool *exact)
{
	/* Held: with every vCPU thread parked outside KVM_RUN, its ioctls cannot block. */
	bool stopped = runstate_hold(v->env->rs);
	int ret = 0;

	if (stopped) {
		if (ioctl(v->fd, KVM_GET_REGS, regs) < 0 || ioctl(v->fd, KVM_GET_SREGS, sregs) < 0)
			ret = -errno;
	} else if (v->sync_regs) {
		memcpy(regs, &v->run->s.regs.regs, sizeof(*regs));
		memcpy(sregs, &v->run->s.regs.sregs, sizeof(*sregs));
	} else {
		ret = -EBUSY;
	}
	runstate_release(v->env->rs);
	*exact = stopped;
	return ret;
}

int vcpu_start(struct vcpu *v)
{
	sigset_t set, old;
	int ret;

	/* Born with the kick blocked; the thread unblocks it itself. */
	sigemptyset(&set);
	sigaddset(&set, SIG_KICK);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	ret = -pthread_create(&v->thread, NULL, vcpu_thread, v);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!ret)
		v->thread_started = true;
	return ret;
}

void vcpu_kick(struct vcpu *v)
{
	/*
	 * immediate_exit covers the window before the thread enters KVM_RUN;
	 * the signal covers a thread already inside it.
	 */
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (v->thread_started)
		pthread_kill(v->thread, SIG_KICK);
}

void vcpu_exit(struct vcpu *v)
{
	if (v->thread_started) {
		pthread_join(v->thread, NULL);
		v->thread_started = false;
	}
	if (v->run)
		munmap(v->run, (size_t)v->env->kvm->vcpu_mmap_size);
	if (v->fd >= 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}
