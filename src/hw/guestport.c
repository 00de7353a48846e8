/*
 * guestport.c - the built-in guest's paravirtual ports (see guest.h and
 * guestport.h): pacing, progress events, and the exceptions its IDT
 * catches, each of which becomes one diagnostic and a stopped VM.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "hw/guestport.h"
#include "kvm/ioport.h"
#include "kvm/runstate.h"
#include "kvm/vcpu.h"
#include "kvmfs/guest.h"
#include "util/compiler.h"

#define GUESTPORT_MAX_DELAY_MS 10000 /* a guest cannot sleep its vCPU longer */

/* The exception vectors, as the SDM names them; which push an error code. */
static const struct {
	const char *name;
	bool error_code;
} guestport_vectors[32] = {
        [0] = {"#DE", false},  [1] = {"#DB", false},
        [2] = {"NMI", false},  [3] = {"#BP", false},
        [4] = {"#OF", false},  [5] = {"#BR", false},
        [6] = {"#UD", false},  [7] = {"#NM", false},
        [8] = {"#DF", true},   [9] = {"coprocessor segment overrun", false},
        [10] = {"#TS", true},  [11] = {"#NP", true},
        [12] = {"#SS", true},  [13] = {"#GP", true},
        [14] = {"#PF", true},  [16] = {"#MF", false},
        [17] = {"#AC", true},  [18] = {"#MC", false},
        [19] = {"#XM", false}, [20] = {"#VE", false},
        [21] = {"#CP", true},  [28] = {"#HV", false},
        [29] = {"#VC", true},  [30] = {"#SX", true},
};

static uint32_t le32(const uint8_t *data, unsigned size)
{
	uint32_t x = 0;

	memcpy(&x, data, size < 4 ? size : 4);
	return x;
}

static void guestport_delay(void *opaque, struct vcpu *v, uint16_t port, bool is_write,
                            uint8_t *data, unsigned size)
{
	struct guestport *g = opaque;
	uint32_t ms;

	(void)v;
	(void)port;
	if (!is_write) {
		memset(data, 0xff, size);
		return;
	}
	ms = le32(data, size);
	if (g->flat_out || !ms)
		return;
	runstate_delay(g->rs, ms > GUESTPORT_MAX_DELAY_MS ? GUESTPORT_MAX_DELAY_MS : ms);
}

/*
 * Progress markers (GUEST_EVENT_*): the guest says when a vCPU reaches ring
 * 3 and when vCPU 0 ends a pass.  kvmfs needs neither - the status page and
 * the console say the same, and are what the tree shows - so they are
 * taken and dropped; the port exists so that the writes are claimed.
 */
static void guestport_event(void *opaque, struct vcpu *v, uint16_t port, bool is_write,
                            uint8_t *data, unsigned size)
{
	(void)opaque;
	(void)v;
	(void)port;
	if (!is_write)
		memset(data, 0xff, size);
}

void guestport_describe_fault(const struct kvm_regs *r, char *buf, size_t len)
{
	unsigned vec = (unsigned)(r->rax & 0xff);
	const char *name = vec < 32 ? guestport_vectors[vec].name : NULL;
	size_t n = 0;

	if (name)
		n += (size_t)snprintf(buf, len, "guest exception %s", name);
	else
		n += (size_t)snprintf(buf, len, "guest exception vector %u", vec);
	/* As the SDM writes them: #GP(0), #PF(0x4). */
	if (vec < 32 && guestport_vectors[vec].error_code && n < len)
		n += (size_t)snprintf(buf + n, len - n, r->rbx ? "(0x%llx)" : "(%llu)",
		                      (unsigned long long)r->rbx);
	/* The frame's CS names the ring the fault came from. */
	if (n < len)
		n += (size_t)snprintf(buf + n, len - n, " at RIP 0x%llx, CPL %u",
		                      (unsigned long long)r->rcx, (unsigned)(r->rsi & 3));
	if (vec == 14 && n < len)
		n += (size_t)snprintf(buf + n, len - n, ", CR2 0x%llx", (unsigned long long)r->r10);
	if (n < len)
		snprintf(buf + n, len - n, " (CS 0x%llx SS 0x%llx RSP 0x%llx RFLAGS 0x%llx)",
		         (unsigned long long)r->rsi, (unsigned long long)r->r9,
		         (unsigned long long)r->r8, (unsigned long long)r->rdi);
}

/*
 * The firmware's exception handler, in ring 0, with the frame in registers
 * (guest.h).  The VM stops as QEMU stops a panicked guest; the code bytes
 * shown are those at the faulting RIP, not at the handler.
 */
static void guestport_fault(void *opaque, struct vcpu *v, uint16_t port, bool is_write,
                            uint8_t *data, unsigned size)
{
	struct guestport *g = opaque;
	char what[RUNSTATE_REASON_MAX], line[RUNSTATE_REASON_MAX];
	struct kvm_sregs s;
	struct kvm_regs r;
	uint8_t code[16];
	uint64_t gpa = 0;
	size_t n, got, i;

	(void)port;
	if (!is_write) {
		memset(data, 0xff, size);
		return;
	}
	if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 || ioctl(v->fd, KVM_GET_SREGS, &s) < 0) {
		snprintf(what, sizeof(what), "guest exception vector %u (registers unreadable: %s)",
		         le32(data, size), strerror(errno));
		vcpu_fail(v, RUN_GUEST_PANICKED, what);
		return;
	}
	guestport_describe_fault(&r, what, sizeof(what));
	n = (size_t)snprintf(line, sizeof(line), "vcpu %u: %s", v->id, what);
	for (got = sizeof(code); got; got--)
		if (!vcpu_read_virt(v, &s, r.rcx, code, got, &gpa))
			break;
	if (got && n < sizeof(line))
		n += (size_t)snprintf(line + n, sizeof(line) - n,
		                      "; code at GPA 0x%llx:", (unsigned long long)gpa);
	for (i = 0; i < got && n < sizeof(line); i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " %02x", code[i]);
	runstate_fail(g->rs, RUN_GUEST_PANICKED, line);
}

int guestport_init(struct guestport *g, struct runstate *rs, bool flat_out, struct pio_bus *bus)
{
	static const struct {
		uint16_t port;
		pio_fn *io;
	} ports[] = {
	        {GUEST_PORT_DELAY, guestport_delay},
	        {GUEST_PORT_EVENT, guestport_event},
	        {GUEST_PORT_FAULT, guestport_fault},
	};
	size_t i;
	int ret;

	memset(g, 0, sizeof(*g));
	g->rs = rs;
	g->flat_out = flat_out;
	/* Each is one 32-bit register: outl at the port, or bytes of it. */
	for (i = 0; i < ARRAY_SIZE(ports); i++) {
		ret = pio_bus_add(bus, ports[i].port, ports[i].port + 3, ports[i].io, g);
		if (ret)
			return ret;
	}
	return 0;
}
