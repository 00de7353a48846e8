/*
 * linux_cpu.c - the state a Linux boot loader leaves in a vCPU (see
 * linux_cpu.h): boot MSRs, LINT0/1 in virtual-wire mode, flat segments
 * and the entry registers of Linux's boot protocol (boot.rst).
 *
 * Each step is one checked ioctl through kvm/vcpu.h, in the order KVM sees
 * them: KVM_SET_MSRS, KVM_GET_LAPIC, KVM_SET_LAPIC, then for the boot vCPU
 * KVM_GET_SREGS, KVM_SET_SREGS, KVM_SET_REGS.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "boot/linux_cpu.h"
#include "boot/loader.h"
#include "kvm/vcpu.h"
#include "util/compiler.h"
#include "util/errmsg.h"

/* The one line every failure here leaves: the step, then the errno. */
static int linux_cpu_fail(const char *what, int ret, char *err, size_t errlen)
{
	return errmsg(err, errlen, ret, "%s: %s", what, strerror(-ret));
}

struct msr_init {
	uint32_t index;
	uint64_t value;
	const char *name; /* the error's "what" when KVM refuses it */
};

/* What firmware leaves in MSRs that Linux's early boot reads. */
static const struct msr_init linux_msrs[] = {
        /* Fast strings on, as every BIOS leaves them; Linux reads the MSR at CPU setup. */
        {0x1a0, 1, "KVM_SET_MSRS IA32_MISC_ENABLE (0x1a0)"},
        /*
         * MTRRs enabled, default type write-back: with MTRRs off all memory is
         * uncacheable architecturally, and Linux then leaves PAT off too.
         */
        {0x2ff, (1u << 11) | 6, "KVM_SET_MSRS IA32_MTRR_DEF_TYPE (0x2ff)"},
};

static int linux_cpu_set_msrs(struct vcpu *v, char *err, size_t errlen)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e[ARRAY_SIZE(linux_msrs)];
	} m = {.h.nmsrs = ARRAY_SIZE(linux_msrs)};
	size_t i;
	int n;

	for (i = 0; i < ARRAY_SIZE(linux_msrs); i++)
		m.e[i] = (struct kvm_msr_entry){.index = linux_msrs[i].index,
		                                .data = linux_msrs[i].value};
	n = vcpu_set_msrs(v, &m.h);
	if (n < 0)
		return linux_cpu_fail("KVM_SET_MSRS", n, err, errlen);
	/* It returns how many it set: the first refused one is named. */
	if ((size_t)n < ARRAY_SIZE(linux_msrs))
		return linux_cpu_fail(linux_msrs[n].name, -EINVAL, err, errlen);
	return 0;
}

#define APIC_LVT_LINT0  0x350
#define APIC_LVT_LINT1  0x360
#define APIC_LVT_MASKED (1u << 16)
#define APIC_DM_NMI     4u
#define APIC_DM_EXTINT  7u

static void lapic_set_lvt(struct kvm_lapic_state *s, unsigned reg, unsigned mode, bool unmask)
{
	uint32_t v;

	memcpy(&v, s->regs + reg, sizeof(v));
	v = (v & ~0x700u) | mode << 8;
	if (unmask)
		v &= ~APIC_LVT_MASKED;
	memcpy(s->regs + reg, &v, sizeof(v));
}

/*
 * Virtual-wire mode, as the MP specification has firmware leave the LAPICs:
 * LINT0 takes the PIC's interrupts (ExtINT) on the boot CPU, LINT1 is NMI.
 * Until Linux programs its APIC, PIC interrupts reach the boot vCPU only
 * through an unmasked ExtINT LINT0.
 */
static int linux_cpu_set_lint(struct vcpu *v, char *err, size_t errlen)
{
	struct kvm_lapic_state s;
	bool bsp = v->id == 0;
	int ret;

	ret = vcpu_get_lapic(v, &s);
	if (ret)
		return linux_cpu_fail("KVM_GET_LAPIC", ret, err, errlen);
	lapic_set_lvt(&s, APIC_LVT_LINT0, APIC_DM_EXTINT, bsp);
	lapic_set_lvt(&s, APIC_LVT_LINT1, APIC_DM_NMI, bsp);
	ret = vcpu_set_lapic(v, &s);
	if (ret)
		return linux_cpu_fail("KVM_SET_LAPIC", ret, err, errlen);
	return 0;
}

static struct kvm_segment flat_segment(uint16_t selector, uint8_t type, bool code64)
{
	/* 4 GiB, base 0; a 64-bit code segment has L set and D clear. */
	return (struct kvm_segment){.base = 0,
	                            .limit = 0xffffffff,
	                            .selector = selector,
	                            .type = type,
	                            .present = 1,
	                            .dpl = 0,
	                            .db = !code64,
	                            .s = 1,
	                            .l = code64,
	                            .g = 1};
}

#define CR0_PE      0x1ULL
#define CR0_ET      0x10ULL
#define CR0_PG      0x80000000ULL
#define CR4_PAE     0x20ULL
#define EFER_LME    0x100ULL
#define EFER_LMA    0x400ULL
#define SEG_CODE_XR 0xb /* execute/read, accessed */
#define SEG_DATA_RW 0x3 /* read/write, accessed */

/*
 * boot.rst: 32-bit entry - protected mode, paging off, flat __BOOT_CS and
 * __BOOT_DS, ESI the zero page, interrupts off; 64-bit entry - the same in
 * long mode on identity page tables, RSI the zero page.
 */
static int linux_cpu_set_entry(struct vcpu *v, const struct loader_entry *e, char *err,
                               size_t errlen)
{
	bool lm = e->mode == 64;
	struct kvm_sregs sr;
	struct kvm_regs r = {.rflags = 2, .rip = e->rip, .rsi = e->rsi};
	int ret;

	ret = vcpu_get_sregs(v, &sr);
	if (ret)
		return linux_cpu_fail("KVM_GET_SREGS", ret, err, errlen);
	sr.cs = flat_segment(LOADER_BOOT_CS, SEG_CODE_XR, lm);
	sr.ds = sr.es = sr.fs = sr.gs = sr.ss = flat_segment(LOADER_BOOT_DS, SEG_DATA_RW, false);
	sr.gdt.base = e->gdt_base;
	sr.gdt.limit = e->gdt_limit;
	sr.idt.base = 0;
	sr.idt.limit = 0;
	sr.cr0 = CR0_PE | CR0_ET | (lm ? CR0_PG : 0);
	sr.cr3 = lm ? e->cr3 : 0;
	sr.cr4 = lm ? CR4_PAE : 0;
	sr.efer = lm ? EFER_LME | EFER_LMA : 0;
	ret = vcpu_set_sregs(v, &sr);
	if (ret)
		return linux_cpu_fail("KVM_SET_SREGS", ret, err, errlen);
	ret = vcpu_set_regs(v, &r);
	if (ret)
		return linux_cpu_fail("KVM_SET_REGS", ret, err, errlen);
	return 0;
}

int linux_cpu_setup(struct vcpu *v, const struct loader_entry *entry, char *err, size_t errlen)
{
	int ret;

	ret = linux_cpu_set_msrs(v, err, errlen);
	if (!ret)
		ret = linux_cpu_set_lint(v, err, errlen);
	if (!ret && entry)
		ret = linux_cpu_set_entry(v, entry, err, errlen);
	return ret;
}
