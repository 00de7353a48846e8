/*
 * cpu.c - `info registers` read back (x86, QEMU 7's x86_cpu_dump_state):
 *
 *   RAX=0000000000000000 RBX=...                 (EAX=... outside long mode)
 *   RIP=ffffffff81e1b36e RFL=00000246 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=1
 *   CS =0010 0000000000000000 ffffffff 00af9b00 DPL=0 CS64 [-RA]
 *   GDT=     fffffe0000001000 0000007f
 *   CR0=80050033 CR2=... CR3=... CR4=...
 *   EFER=0000000000000d01
 *
 * A segment's last number is QEMU's packing of its attributes (the
 * descriptor's high word: type << 8, S << 12, DPL << 13, P << 15, AVL << 20,
 * L << 21, D/B << 22, G << 23), which inspect/regs.c packs the same way.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "kvm/segment.h"
#include "qemu/cpu.h"

/* The text after "NAME=" where NAME starts a line or follows a space; NULL if absent. */
static const char *qemu_field(const char *text, const char *name)
{
	size_t n = strlen(name);
	const char *p = text;

	while ((p = strstr(p, name))) {
		if (p == text || p[-1] == ' ' || p[-1] == '\n')
			return p + n;
		p += n;
	}
	return NULL;
}

static bool qemu_u64(const char *text, const char *name, __u64 *out)
{
	const char *p = qemu_field(text, name);
	unsigned long long v;

	if (!p || sscanf(p, "%llx", &v) != 1)
		return false;
	*out = v;
	return true;
}

static bool qemu_seg(const char *text, const char *name, struct kvm_segment *g)
{
	const char *p = qemu_field(text, name);
	unsigned sel, limit, flags;
	unsigned long long base;

	if (!p || sscanf(p, "%x %llx %x %x", &sel, &base, &limit, &flags) != 4)
		return false;
	*g = kvm_segment_from_attrs((uint16_t)sel, base, limit, flags);
	/* QEMU prints a segment that is not present for one KVM calls unusable. */
	g->unusable = !g->present;
	return true;
}

static bool qemu_table(const char *text, const char *name, struct kvm_dtable *t)
{
	const char *p = qemu_field(text, name);
	unsigned long long base;
	unsigned limit;

	if (!p || sscanf(p, " %llx %x", &base, &limit) != 2)
		return false;
	t->base = base;
	t->limit = (__u16)limit;
	return true;
}

int qemu_parse_registers(const char *text, struct kvm_regs *r, struct kvm_sregs *s)
{
	static const char *const names64[] = {
	        "RAX=", "RBX=", "RCX=", "RDX=", "RSI=", "RDI=", "RBP=", "RSP=",
	        "R8 =", "R9 =", "R10=", "R11=", "R12=", "R13=", "R14=", "R15="};
	static const char *const names32[] = {
	        "EAX=", "EBX=", "ECX=", "EDX=", "ESI=", "EDI=", "EBP=", "ESP="};
	__u64 *gprs[] = {&r->rax, &r->rbx, &r->rcx, &r->rdx, &r->rsi, &r->rdi, &r->rbp, &r->rsp,
	                 &r->r8,  &r->r9,  &r->r10, &r->r11, &r->r12, &r->r13, &r->r14, &r->r15};
	bool wide = qemu_field(text, "RAX=") != NULL;
	unsigned i;

	memset(r, 0, sizeof(*r));
	memset(s, 0, sizeof(*s));
	for (i = 0; i < (wide ? 16u : 8u); i++)
		qemu_u64(text, wide ? names64[i] : names32[i], gprs[i]);
	if (!qemu_u64(text, wide ? "RIP=" : "EIP=", &r->rip) ||
	    !qemu_u64(text, wide ? "RFL=" : "EFL=", &r->rflags) ||
	    !qemu_u64(text, "CR0=", &s->cr0) || !qemu_u64(text, "CR3=", &s->cr3) ||
	    !qemu_u64(text, "CR4=", &s->cr4) || !qemu_u64(text, "EFER=", &s->efer) ||
	    !qemu_seg(text, "CS =", &s->cs))
		return -EPROTO;
	qemu_u64(text, "CR2=", &s->cr2);
	qemu_seg(text, "ES =", &s->es);
	qemu_seg(text, "SS =", &s->ss);
	qemu_seg(text, "DS =", &s->ds);
	qemu_seg(text, "FS =", &s->fs);
	qemu_seg(text, "GS =", &s->gs);
	qemu_seg(text, "LDT=", &s->ldt);
	qemu_seg(text, "TR =", &s->tr);
	qemu_table(text, "GDT=", &s->gdt);
	qemu_table(text, "IDT=", &s->idt);
	return 0;
}
