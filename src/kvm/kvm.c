/*
 * kvm.c - /dev/kvm, the VM, and memslots derived from the flat view.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvm/kvm.h"
#include "machine/pc.h"
#include "memory/ram.h"
#include "util/compiler.h"
#include "util/errmsg.h"
#include "util/strbuf.h"

#define KVM_PAGE 4096ULL

struct kvm_cap_req {
	int cap;
	const char *name;
};

/* What kvmfs cannot run without. */
static const struct kvm_cap_req kvm_required[] = {
        {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
        {KVM_CAP_READONLY_MEM, "KVM_CAP_READONLY_MEM"},
        {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
        {KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR"},
        {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
        {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
        {KVM_CAP_NR_MEMSLOTS, "KVM_CAP_NR_MEMSLOTS"},
};

int kvm_slots_derive(const struct flatview *fv, uint64_t max_size, kvm_slot_logged_fn *logged,
                     void *opaque, struct kvm_slot_desc **out, size_t *nr)
{
	struct kvm_slot_desc *d = NULL;
	size_t n = 0, cap = 0, i;

	for (i = 0; i < fv->nr; i++) {
		const struct flat_range *fr = &fv->ranges[i];
		uint64_t done = 0;

		bool log;

		if (!flat_range_is_ram(fr) || !fr->mr->block)
			continue;
		/* A read-only slot cannot be written, so there is nothing to log. */
		log = !fr->readonly && logged && logged(opaque, fr->mr->block);
		while (done < fr->size) {
			uint64_t len = fr->size - done < max_size ? fr->size - done : max_size;

			if (n == cap) {
				struct kvm_slot_desc *p;

				cap = cap ? cap * 2 : 8;
				p = realloc(d, cap * sizeof(*d));
				if (!p) {
					free(d);
					return -ENOMEM;
				}
				d = p;
			}
			d[n++] = (struct kvm_slot_desc){
			        .gpa = fr->start + done,
			        .size = len,
			        .host = fr->mr->block->host + fr->offset + done,
			        .block = fr->mr->block,
			        .offset = fr->offset + done,
			        .flags = fr->readonly ? KVM_MEM_READONLY
			                              : (log ? KVM_MEM_LOG_DIRTY_PAGES : 0),
			};
			done += len;
		}
	}
	*out = d;
	*nr = n;
	return 0;
}

static bool desc_equal(const struct kvm_slot_desc *a, const struct kvm_slot_desc *b)
{
	return a->gpa == b->gpa && a->size == b->size && a->host == b->host && a->flags == b->flags;
}

void kvm_slots_diff(const struct kvm_slot *old, size_t nr_old, const struct kvm_slot_desc *new,
                    size_t nr_new, bool *keep, bool *have)
{
	size_t i, j;

	for (i = 0; i < nr_old; i++)
		keep[i] = false;
	for (j = 0; j < nr_new; j++) {
		have[j] = false;
		for (i = 0; i < nr_old; i++) {
			if (!keep[i] && desc_equal(&old[i].d, &new[j])) {
				keep[i] = have[j] = true;
				break;
			}
		}
	}
}

static int kvm_slot_set(struct kvm *kvm, int id, const struct kvm_slot_desc *d, bool remove)
{
	struct kvm_userspace_memory_region r = {
	        .slot = (uint32_t)id,
	        .flags = remove ? 0 : d->flags,
	        .guest_phys_addr = d->gpa,
	        .memory_size = remove ? 0 : d->size,
	        .userspace_addr = (uint64_t)(uintptr_t)d->host,
	};

	if (kvm->vm_fd < 0)
		return 0;
	return ioctl(kvm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

static int slot_gpa_cmp(const void *a, const void *b)
{
	const struct kvm_slot *x = a, *y = b;

	return (x->d.gpa > y->d.gpa) - (x->d.gpa < y->d.gpa);
}

bool kvm_dirty_log_wanted(const struct kvm *kvm, const struct ram_block *rb)
{
	size_t i;

	if (!kvm->dirty_log)
		return false;
	if (kvm->log_all)
		return true;
	for (i = 0; i < kvm->nr_log_users; i++)
		if (kvm->log_users[i].rb == rb)
			return kvm->log_users[i].n > 0;
	return false;
}

static bool kvm_block_logged(void *opaque, const struct ram_block *rb)
{
	return kvm_dirty_log_wanted(opaque, rb);
}

/* The address space's listener: runs under its write lock. */
static int kvm_commit(struct as_listener *l, const struct flatview *old_fv,
                      const struct flatview *new_fv)
{
	struct kvm *kvm = container_of(l, struct kvm, listener);
	struct kvm_slot_table *t = &kvm->table;
	struct kvm_slot_desc *nd;
	struct kvm_slot *slots;
	size_t nn, i, n = 0;
	bool *keep, *have;
	int ret;

	(void)old_fv;
	/* Each block keeps the logging its users asked for. */
	ret = kvm_slots_derive(new_fv, KVM_SLOT_MAX_SIZE, kvm_block_logged, kvm, &nd, &nn);
	if (ret)
		return ret;
	keep = calloc(t->nr + 1, sizeof(*keep));
	have = calloc(nn + 1, sizeof(*have));
	slots = calloc(nn + 1, sizeof(*slots));
	if (!keep || !have || !slots) {
		ret = -ENOMEM;
		goto out;
	}
	kvm_slots_diff(t->slots, t->nr, nd, nn, keep, have);

	/* Deletions first: a new slot may reuse an old one's addresses. */
	for (i = 0; i < t->nr; i++) {
		if (keep[i]) {
			slots[n++] = t->slots[i];
			continue;
		}
		ret = kvm_slot_set(kvm, t->slots[i].id, &t->slots[i].d, true);
		if (ret)
			goto out;
		t->used_ids[t->slots[i].id] = 0;
	}
	for (i = 0; i < nn; i++) {
		int id = 0;

		if (have[i])
			continue;
		while ((unsigned)id < t->max_slots && t->used_ids[id])
			id++;
		if ((unsigned)id == t->max_slots) {
			ret = -ENOSPC;
			goto out;
		}
		ret = kvm_slot_set(kvm, id, &nd[i], false);
		if (ret)
			goto out;
		t->used_ids[id] = 1;
		slots[n++] = (struct kvm_slot){.id = id, .d = nd[i]};
	}
	qsort(slots, n, sizeof(*slots), slot_gpa_cmp);
	free(t->slots);
	t->slots = slots;
	t->nr = n;
	slots = NULL;
out:
	/*
	 * On a failed ioctl the table no longer matches KVM; the caller keeps
	 * the old view and kvmfs stops - there is no half-applied layout to
	 * continue with.
	 */
	free(slots);
	free(keep);
	free(have);
	free(nd);
	return ret;
}

/* rb's count of users, made on first use; NULL: out of memory.  Write lock held. */
static unsigned *kvm_log_count(struct kvm *kvm, const struct ram_block *rb)
{
	struct kvm_log_users *p;
	size_t i;

	for (i = 0; i < kvm->nr_log_users; i++)
		if (kvm->log_users[i].rb == rb)
			return &kvm->log_users[i].n;
	p = realloc(kvm->log_users, (kvm->nr_log_users + 1) * sizeof(*p));
	if (!p)
		return NULL;
	kvm->log_users = p;
	p[kvm->nr_log_users] = (struct kvm_log_users){.rb = rb, .n = 0};
	return &p[kvm->nr_log_users++].n;
}

/*
 * Bring every RAM slot's logging to what its block's users want, with the
 * write lock held.  The table always says what KVM has: a slot changes in
 * it only once KVM took the change.
 */
static int kvm_slots_relog(struct kvm *kvm)
{
	struct kvm_slot_table *t = &kvm->table;
	size_t i;
	int ret = 0, r;

	for (i = 0; i < t->nr; i++) {
		struct kvm_slot *s = &t->slots[i];
		struct kvm_slot_desc d = s->d;

		if (d.flags & KVM_MEM_READONLY)
			continue;
		d.flags &= ~(uint32_t)KVM_MEM_LOG_DIRTY_PAGES;
		if (kvm_dirty_log_wanted(kvm, d.block))
			d.flags |= KVM_MEM_LOG_DIRTY_PAGES;
		if (d.flags == s->d.flags)
			continue;
		/* Same slot, addresses and size: KVM changes only the flag (KVM_MR_FLAGS_ONLY). */
		r = kvm_slot_set(kvm, s->id, &d, false);
		if (r) {
			/* The others still get theirs: one failure must not stick every slot. */
			ret = ret ? ret : r;
			continue;
		}
		s->d.flags = d.flags;
	}
	return ret;
}

int kvm_dirty_log_users(struct kvm *kvm, struct ram_block *rb, bool get)
{
	unsigned *n;
	int ret = 0;

	if (!kvm->dirty_log)
		return 0;
	pthread_rwlock_wrlock(&kvm->as->lock);
	n = rb ? kvm_log_count(kvm, rb) : &kvm->log_all;
	if (!n) {
		ret = -ENOMEM;
	} else if (get) {
		(*n)++;
		ret = kvm_slots_relog(kvm);
		if (ret) {
			/* Nobody holds what failed: as it was, as far as KVM lets us. */
			(*n)--;
			kvm_slots_relog(kvm);
		}
	} else if (*n) {
		(*n)--;
		/* Counted even if KVM refuses: the slot logs on, which costs only time. */
		ret = kvm_slots_relog(kvm);
	} else {
		ret = -EINVAL; /* a put without its get */
	}
	pthread_rwlock_unlock(&kvm->as->lock);
	return ret;
}

static int kvm_table_init(struct kvm *kvm, unsigned max_slots)
{
	kvm->table.max_slots = max_slots;
	kvm->table.used_ids = calloc(max_slots, 1);
	return kvm->table.used_ids ? 0 : -ENOMEM;
}

/* The remedy every advice ends with: a VM without KVM still builds and mounts. */
#define KVM_ADVICE_NONE "or run without a guest: -accel none"

const char *kvm_open_advice(int errnum, const struct kvm_dev_access *a, char *buf, size_t len)
{
	switch (errnum) {
	case ENOENT:
		snprintf(buf, len,
		         " (no KVM on this host: with VMX or SVM in /proc/cpuinfo, modprobe "
		         "kvm_intel "
		         "or kvm_amd; " KVM_ADVICE_NONE ")");
		break;
	case ENXIO:
	case ENODEV:
		/* The node exists (a container's /dev, a static /dev) but no driver is behind it.
		 */
		snprintf(buf, len,
		         " (no KVM driver behind the device: modprobe kvm_intel or "
		         "kvm_amd; " KVM_ADVICE_NONE ")");
		break;
	case EACCES:
		/* The mode bits: group membership is the usual way in. */
		if (a->group && a->listed)
			snprintf(
			        buf, len,
			        " (you are in group %s, but this session is not yet: log in again, "
			        "or start a shell with newgrp %s; " KVM_ADVICE_NONE ")",
			        a->group, a->group);
		else if (a->group)
			snprintf(buf, len,
			         " (it belongs to group %s: sudo adduser $USER %s, then log in "
			         "again; " KVM_ADVICE_NONE ")",
			         a->group, a->group);
		else
			snprintf(buf, len,
			         " (only root may open it: run kvmfs as root, or give /dev/kvm to "
			         "group kvm with mode 0660 as udev does and join that "
			         "group; " KVM_ADVICE_NONE ")");
		break;
	case EPERM:
		/* Not the mode bits: a device cgroup or a security module said no. */
		snprintf(
		        buf, len,
		        " (refused whatever the file's mode says: a container's device cgroup or a "
		        "security module; allow the device there, " KVM_ADVICE_NONE ")");
		break;
	default: buf[0] = '\0'; break;
	}
	return buf;
}

void kvm_dev_access_probe(struct kvm_dev_access *a, char *buf, size_t len)
{
	struct group gr, *g = NULL;
	struct passwd pw, *p = NULL;
	char pwbuf[1024];
	struct stat st;
	size_t i;

	*a = (struct kvm_dev_access){0};
	if (stat("/dev/kvm", &st) || st.st_gid == 0 || getgrgid_r(st.st_gid, &gr, buf, len, &g) ||
	    !g)
		return;
	a->group = g->gr_name;
	/* Listed, but not in this process's groups: added since the user logged in. */
	if (getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf), &p) || !p)
		return;
	for (i = 0; g->gr_mem[i]; i++)
		if (!strcmp(g->gr_mem[i], p->pw_name))
			a->listed = true;
	if (p->pw_gid == st.st_gid)
		a->listed = true;
}

int kvm_init(struct kvm *kvm, struct address_space *as, bool dirty_log, char *err, size_t errlen)
{
	char advice[512] = "";
	struct kvm_enable_cap cap = {.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2};
	const char *what;
	int ret, n;
	size_t i;

	memset(kvm, 0, sizeof(*kvm));
	kvm->vm_fd = -1;
	kvm->as = as;
	kvm->dirty_log = dirty_log;
	kvm->listener.commit = kvm_commit;

	what = "open /dev/kvm";
	kvm->fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm->fd < 0) {
		struct kvm_dev_access a;
		char group[16384]; /* a group with many members needs room */

		ret = -errno;
		kvm_dev_access_probe(&a, group, sizeof(group));
		kvm_open_advice(-ret, &a, advice, sizeof(advice));
		goto err;
	}
	what = "KVM_GET_API_VERSION";
	ret = ioctl(kvm->fd, KVM_GET_API_VERSION, 0);
	if (ret != KVM_API_VERSION) {
		ret = ret < 0 ? -errno : -EPROTO;
		goto err;
	}
	for (i = 0; i < ARRAY_SIZE(kvm_required); i++) {
		what = kvm_required[i].name;
		if (ioctl(kvm->fd, KVM_CHECK_EXTENSION, kvm_required[i].cap) <= 0) {
			ret = -ENOSYS;
			goto err;
		}
	}
	what = "KVM_CAP_NR_MEMSLOTS";
	n = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	ret = kvm_table_init(kvm, n > 0 ? (unsigned)n : 32);
	if (ret)
		goto err;
	what = "KVM_GET_VCPU_MMAP_SIZE";
	kvm->vcpu_mmap_size = ioctl(kvm->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (kvm->vcpu_mmap_size <= 0) {
		/* A size of 0 is a failure too, with errno untouched. */
		ret = kvm->vcpu_mmap_size < 0 ? -errno : -EPROTO;
		goto err;
	}
	what = "KVM_CREATE_VM";
	kvm->vm_fd = ioctl(kvm->fd, KVM_CREATE_VM, 0);
	if (kvm->vm_fd < 0) {
		ret = -errno;
		goto err;
	}
	/*
	 * Intel needs three pages for a real-mode TSS and one for an identity
	 * page table; both live in the PCI hole, where no memslot ever is.
	 */
	what = "KVM_SET_TSS_ADDR";
	if (ioctl(kvm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)PC_KVM_TSS_ADDR) < 0) {
		ret = -errno;
		goto err;
	}
	what = "KVM_SET_IDENTITY_MAP_ADDR";
	{
		uint64_t addr = PC_KVM_IDENTITY_MAP_ADDR;

		if (ioctl(kvm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &addr) < 0) {
			ret = -errno;
			goto err;
		}
	}
	/*
	 * With manual protect, fetching the dirty log does not re-protect the
	 * pages; we clear exactly what we fetched, which is cheaper and lets
	 * the sweep run often.  Optional: without it the plain log is used.
	 */
	if (dirty_log &&
	    ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) > 0) {
		cap.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;
		what = "KVM_ENABLE_CAP KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2";
		if (ioctl(kvm->vm_fd, KVM_ENABLE_CAP, &cap) < 0) {
			ret = -errno;
			goto err;
		}
		kvm->manual_dirty_protect = true;
	}
	what = "KVM_SET_USER_MEMORY_REGION";
	ret = as_add_listener(as, &kvm->listener);
	if (ret)
		goto err;
	return 0;
err:
	errmsg(err, errlen, ret, "%s: %s%s", what, strerror(-ret), advice);
	kvm_exit(kvm);
	return ret;
}

int kvm_api_version(void)
{
	int fd, ret;

	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (ret < 0)
		ret = -errno;
	close(fd);
	return ret;
}

int kvm_init_none(struct kvm *kvm, struct address_space *as)
{
	int ret;

	memset(kvm, 0, sizeof(*kvm));
	kvm->fd = kvm->vm_fd = -1;
	kvm->as = as;
	kvm->listener.commit = kvm_commit;
	ret = kvm_table_init(kvm, 32);
	if (!ret)
		ret = as_add_listener(as, &kvm->listener);
	return ret;
}

void kvm_exit(struct kvm *kvm)
{
	if (kvm->vm_fd >= 0)
		close(kvm->vm_fd);
	if (kvm->fd >= 0)
		close(kvm->fd);
	kvm->fd = kvm->vm_fd = -1;
	free(kvm->table.slots);
	free(kvm->table.used_ids);
	memset(&kvm->table, 0, sizeof(kvm->table));
	free(kvm->log_users);
	kvm->log_users = NULL;
	kvm->nr_log_users = 0;
	kvm->log_all = 0;
}

/* What kvm_create_irqchip cannot do without. */
static const struct kvm_cap_req kvm_irqchip_required[] = {
        {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
        {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
};

/* The one line a failed step leaves: the step, then the errno. */
static int kvm_fail(const char *what, int ret, char *err, size_t errlen)
{
	return errmsg(err, errlen, ret, "%s: %s", what, strerror(-ret));
}

int kvm_create_irqchip(struct kvm *kvm, char *err, size_t errlen)
{
	/* The dummy speaker answers port 0x61, which Linux reads calibrating the PIT. */
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(kvm_irqchip_required); i++)
		if (ioctl(kvm->fd, KVM_CHECK_EXTENSION, kvm_irqchip_required[i].cap) <= 0)
			return kvm_fail(kvm_irqchip_required[i].name, -ENOSYS, err, errlen);
	if (ioctl(kvm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return kvm_fail("KVM_CREATE_IRQCHIP", -errno, err, errlen);
	kvm->irqchip = true;
	if (ioctl(kvm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return kvm_fail("KVM_CREATE_PIT2", -errno, err, errlen);
	/*
	 * Ticks the guest was too slow to take are dropped, not queued: by
	 * default KVM re-injects every missed PIT tick, and a guest whose
	 * ring 0 is emulated (kvm_pvm) takes longer than a tick to handle one,
	 * so it would do nothing but catch up.  Linux keeps time with
	 * kvm-clock or the TSC, not by counting ticks (QEMU's
	 * lost_tick_policy=discard).
	 */
	if (ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_REINJECT_CONTROL) > 0) {
		struct kvm_reinject_control rc = {.pit_reinject = 0};

		if (ioctl(kvm->vm_fd, KVM_REINJECT_CONTROL, &rc) < 0)
			return kvm_fail("KVM_REINJECT_CONTROL", -errno, err, errlen);
	}
	return 0;
}

int kvm_irq_line(struct kvm *kvm, unsigned irq, bool level)
{
	struct kvm_irq_level l = {.irq = irq, .level = level};

	if (!kvm->irqchip)
		return -ENODEV;
	return ioctl(kvm->vm_fd, KVM_IRQ_LINE, &l) < 0 ? -errno : 0;
}

int kvm_slot_dirty_log(struct kvm *kvm, const struct kvm_slot *slot, uint64_t *bitmap)
{
	struct kvm_dirty_log log = {.slot = (uint32_t)slot->id, .dirty_bitmap = bitmap};
	uint64_t pages = slot->d.size / KVM_PAGE;

	if (kvm->vm_fd < 0 || !(slot->d.flags & KVM_MEM_LOG_DIRTY_PAGES))
		return -EINVAL;
	if (ioctl(kvm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
		return -errno;
	if (kvm->manual_dirty_protect) {
		struct kvm_clear_dirty_log clear = {
		        .slot = (uint32_t)slot->id,
		        .first_page = 0,
		        /* KVM wants a multiple of 64 pages, or the slot's end. */
		        .num_pages = (uint32_t)pages,
		        .dirty_bitmap = bitmap,
		};

		if (ioctl(kvm->vm_fd, KVM_CLEAR_DIRTY_LOG, &clear) < 0)
			return -errno;
	}
	return 0;
}

static const char *slot_flags(uint32_t flags)
{
	if (flags & KVM_MEM_READONLY)
		return "ro";
	return flags & KVM_MEM_LOG_DIRTY_PAGES ? "log" : "-";
}

void kvm_slots_render(struct kvm *kvm, struct strbuf *sb)
{
	size_t i;

	sb_printf(sb, "%4s %-5s %-18s %-18s %-18s %-16s %s\n", "slot", "flags", "guest_phys_addr",
	          "memory_size", "userspace_addr", "ramblock", "offset");
	pthread_rwlock_rdlock(&kvm->as->lock);
	for (i = 0; i < kvm->table.nr; i++) {
		const struct kvm_slot *s = &kvm->table.slots[i];

		sb_printf(sb, "%4d %-5s 0x%016llx 0x%016llx 0x%016llx ", s->id,
		          slot_flags(s->d.flags), (unsigned long long)s->d.gpa,
		          (unsigned long long)s->d.size, (unsigned long long)(uintptr_t)s->d.host);
		sb_name(sb, s->d.block->idstr, -16);
		sb_printf(sb, " 0x%016llx\n", (unsigned long long)s->d.offset);
	}
	pthread_rwlock_unlock(&kvm->as->lock);
}

void kvm_slots_render_json(struct kvm *kvm, struct strbuf *sb)
{
	size_t i;

	sb_printf(sb, "[");
	pthread_rwlock_rdlock(&kvm->as->lock);
	for (i = 0; i < kvm->table.nr; i++) {
		const struct kvm_slot *s = &kvm->table.slots[i];

		sb_printf(
		        sb,
		        "%s\n  {\"slot\": %d, \"flags\": %u, \"readonly\": %s, \"dirty_log\": %s, "
		        "\"guest_phys_addr\": %llu, \"memory_size\": %llu, \"userspace_addr\": "
		        "%llu, "
		        "\"ramblock\": ",
		        i ? "," : "", s->id, s->d.flags,
		        s->d.flags & KVM_MEM_READONLY ? "true" : "false",
		        s->d.flags & KVM_MEM_LOG_DIRTY_PAGES ? "true" : "false",
		        (unsigned long long)s->d.gpa, (unsigned long long)s->d.size,
		        (unsigned long long)(uintptr_t)s->d.host);
		sb_json_str(sb, s->d.block->idstr);
		sb_printf(sb, ", \"offset\": %llu}", (unsigned long long)s->d.offset);
	}
	pthread_rwlock_unlock(&kvm->as->lock);
	sb_printf(sb, "\n]\n");
}
