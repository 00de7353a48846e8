/*
 * kvm.h - the KVM VM and its memslots.
 *
 * Memslots are derived from the flat view of the machine's "memory" address
 * space: one slot per RAM or ROM range (ROM read-only to the guest), split
 * at KVM's largest slot size.  A new flat view is applied as a diff: slots
 * that did not change stay, changed ones are deleted, new ones added with
 * ids from a free list.
 *
 * Dirty logging (KVM_MEM_LOG_DIRTY_PAGES) costs the guest a write-protect
 * fault per page it writes, so a RAM block's slots log only while the block
 * has users (kvm_dirty_log_users; dirty_sweep.h's dirty_log_get/put count
 * them for the FS) and a new flat view keeps each block as it is.
 */
#ifndef KVMFS_KVM_KVM_H
#define KVMFS_KVM_KVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memory/memory.h"

struct ram_block;
struct strbuf;

/*
 * KVM refuses slots of 2^31 pages or more; split on a 1 GiB multiple below
 * that so that every piece stays huge-page aligned.
 */
#define KVM_SLOT_MAX_SIZE (((1ULL << 31) - 1) * 4096ULL & ~((1ULL << 30) - 1))

struct kvm_slot_desc {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
	struct ram_block *block;
	uint64_t offset; /* in block */
	uint32_t flags;  /* KVM_MEM_* */
};

struct kvm_slot {
	int id;
	struct kvm_slot_desc d;
};

struct kvm_slot_table {
	struct kvm_slot *slots; /* sorted by gpa */
	size_t nr;
	unsigned max_slots;
	uint8_t *used_ids; /* max_slots entries: 1 if the id is taken */
};

/* Whether the RAM slots of rb log dirty pages. */
typedef bool kvm_slot_logged_fn(void *opaque, const struct ram_block *rb);
/*
 * Pure: the slots a flat view needs.  A RAM slot whose block logged()
 * says yes gets KVM_MEM_LOG_DIRTY_PAGES; logged NULL: none does.
 */
int kvm_slots_derive(const struct flatview *fv, uint64_t max_size, kvm_slot_logged_fn *logged,
                     void *opaque, struct kvm_slot_desc **out, size_t *nr);
/*
 * Pure: which old slots stay (keep[i]) and which new descs are already
 * present (have[j]); everything else is removed resp. added.
 */
void kvm_slots_diff(const struct kvm_slot *old, size_t nr_old, const struct kvm_slot_desc *new,
                    size_t nr_new, bool *keep, bool *have);

/* A RAM block's users of dirty logging (kvm_dirty_log_users). */
struct kvm_log_users {
	const struct ram_block *rb;
	unsigned n;
};

struct kvm {
	int fd;    /* /dev/kvm */
	int vm_fd; /* -1: no VM (-accel none) */
	int vcpu_mmap_size;
	bool manual_dirty_protect; /* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 enabled */
	bool dirty_log;            /* RAM slots may log dirty pages (while they have users) */
	bool irqchip;              /* in-kernel PIC, IOAPIC, LAPICs and PIT exist */
	struct address_space *as;
	struct as_listener listener;
	struct kvm_slot_table table; /* guarded by as->lock */
	/*
	 * The users of dirty logging, guarded by as->lock (changed under the
	 * write lock, with the slots they turn on or off): per RAM block, and
	 * of every block at once (log_all).  A block's RAM slots log while
	 * either count is above 0.
	 */
	struct kvm_log_users *log_users;
	size_t nr_log_users;
	unsigned log_all;
};

/*
 * Open /dev/kvm, check the API and every capability kvmfs uses, create the
 * VM.  On failure nothing is left open and err names the step
 * ("KVM_CREATE_VM: ...", "open /dev/kvm: ..."); a failed open also says
 * what to do about it (kvm_open_advice).
 */
int kvm_init(struct kvm *kvm, struct address_space *as, bool dirty_log, char *err, size_t errlen);
/*
 * /dev/kvm's KVM_GET_API_VERSION (12 on every kernel since 2.6.22), or
 * -errno: -ENOENT when the host has no /dev/kvm.  For --version; opens and
 * closes the device, creates nothing.
 */
int kvm_api_version(void);
/*
 * Who may open /dev/kvm, as far as a failed open() needs it: the device's
 * group, when it is not root's (udev's rule gives it to group kvm, mode
 * 0660), and whether the user is listed in that group though this process
 * is not (a membership added since the user logged in).
 */
struct kvm_dev_access {
	const char *group; /* NULL: root's group, or unknown */
	bool listed;       /* in the group database, not in this process's groups */
};

/* /dev/kvm's kvm_dev_access; group points into buf. */
void kvm_dev_access_probe(struct kvm_dev_access *a, char *buf, size_t len);
/*
 * What to do when opening /dev/kvm failed with errnum, as the parenthesis
 * that follows "open /dev/kvm: <strerror>": " (it belongs to group kvm:
 * sudo adduser $USER kvm, ...; or -accel none ...)".  "" for an errno with
 * nothing to advise.  Pure: a table of errno and access, for the tests.
 */
const char *kvm_open_advice(int errnum, const struct kvm_dev_access *a, char *buf, size_t len);
/* No /dev/kvm: slots are derived and shown but registered nowhere. */
int kvm_init_none(struct kvm *kvm, struct address_space *as);
void kvm_exit(struct kvm *kvm);
/*
 * The in-kernel PIC, IOAPIC and LAPICs, and the PIT, that a Linux guest
 * needs; before any vCPU exists.  The built-in guest runs without them.
 * On failure err names the step or the missing capability.
 */
int kvm_create_irqchip(struct kvm *kvm, char *err, size_t errlen);
/* Drive an ISA/IOAPIC interrupt line (KVM_IRQ_LINE). */
int kvm_irq_line(struct kvm *kvm, unsigned irq, bool level);

/*
 * Fetch (and, with manual protect, clear) the dirty bitmap of one slot:
 * one bit per 4 KiB page.  bitmap holds size/4096 bits.
 */
int kvm_slot_dirty_log(struct kvm *kvm, const struct kvm_slot *slot, uint64_t *bitmap);

/*
 * One user more (get) or fewer of rb's dirty logging; rb NULL: of every
 * RAM block at once.  Takes the address space's write lock, so no sweep
 * walks the table meanwhile; each slot whose logging this turns on or off
 * is re-registered (same id, addresses and size; KVM_MEM_LOG_DIRTY_PAGES
 * added or dropped), and a slot turned off loses what it logged since the
 * last fetch: dirty_log_put (dirty_sweep.h) fetches it first.  A get that
 * fails is undone; a put always counts.  A VM without dirty logging
 * (-accel none, a dump) only returns 0.
 */
int kvm_dirty_log_users(struct kvm *kvm, struct ram_block *rb, bool get);
/* With as->lock held: whether rb's RAM slots are to log now (they do, unless an ioctl failed). */
bool kvm_dirty_log_wanted(const struct kvm *kvm, const struct ram_block *rb);

void kvm_slots_render(struct kvm *kvm, struct strbuf *sb);
void kvm_slots_render_json(struct kvm *kvm, struct strbuf *sb);

#endif
