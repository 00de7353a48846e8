/*
 * guestport.h - the paravirtual ports of the built-in guest (guest.h):
 * the delay port it paces its passes with, the event port it reports
 * progress on, and the fault port its exception handlers report through.
 */
#ifndef KVMFS_HW_GUESTPORT_H
#define KVMFS_HW_GUESTPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pio_bus;
struct runstate;

struct guestport {
	struct runstate *rs;
	bool flat_out;   /* the delay port returns at once */
	uint64_t passes; /* GUEST_EVENT_PASS count of vCPU 0 (atomic) */
	uint64_t ring3;  /* GUEST_EVENT_RING3 count: vCPUs that reached ring 3 (atomic) */
};

int guestport_init(struct guestport *g, struct runstate *rs, bool flat_out, struct pio_bus *bus);
/*
 * The one line a guest-reported exception becomes, from the frame the
 * firmware's handler passed (guest.h): "#GP(0) at RIP 0x..., CPL 3 ...".
 * Pure; exported for the tests.
 */
struct kvm_regs;
void guestport_describe_fault(const struct kvm_regs *r, char *buf, size_t len);

#endif
