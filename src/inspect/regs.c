/*
 * regs.c - registers as QEMU's `info registers` lays them out (see regs.h).
 *
 * The descriptor "flags" column is QEMU's packing of a segment's attributes
 * (type << 8, S << 12, DPL << 13, P << 15, AVL << 20, L << 21, D/B << 22,
 * G << 23), so the text compares equal with QEMU's for the same state.
 * (QEMU under TCG also shows the descriptor's limit bits 19:16 at << 16;
 * struct kvm_segment has no such field, and QEMU under KVM shows 0 there.)
 * The widths follow the mode as QEMU's target/i386/cpu-dump.c does: 64-bit
 * registers and segment bases with a 64-bit CS, 64-bit GDT, IDT, CR2 and
 * CR3 with EFER.LMA, 32-bit ones otherwise.
 * What KVM_GET_REGS/SREGS do not hold (interrupt shadow, A20, SMM, HLT,
 * debug registers) is left out rather than guessed.
 */
#include <inttypes.h>

#include "inspect/regs.h"
#include "util/compiler.h"
#include "util/strbuf.h"

#define REGS_EFER_LMA (1ULL << 10)

static bool regs_lma(const struct kvm_sregs *s)
{
	return s->efer & REGS_EFER_LMA;
}

/* 64-bit mode, as against compatibility mode: QEMU's HF_CS64. */
static bool regs_long_mode(const struct kvm_sregs *s)
{
	return regs_lma(s) && s->cs.l;
}

void regs_render(const struct kvm_regs *r, const struct kvm_sregs *s, struct strbuf *sb)
{
	static const struct {
		uint64_t bit;
		char letter;
	} flags[] = {
	        {1 << 10, 'D'}, {1 << 11, 'O'}, {1 << 7, 'S'}, {1 << 6, 'Z'},
	        {1 << 4, 'A'},  {1 << 2, 'P'},  {1 << 0, 'C'},
	};
	char fl[ARRAY_SIZE(flags) + 1];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(flags); i++)
		fl[i] = r->rflags & flags[i].bit ? flags[i].letter : '-';
	fl[i] = '\0';
	if (regs_long_mode(s)) {
		sb_printf(sb,
		          "RAX=%016llx RBX=%016llx RCX=%016llx RDX=%016llx\n"
		          "RSI=%016llx RDI=%016llx RBP=%016llx RSP=%016llx\n"
		          "R8 =%016llx R9 =%016llx R10=%016llx R11=%016llx\n"
		          "R12=%016llx R13=%016llx R14=%016llx R15=%016llx\n"
		          "RIP=%016llx RFL=%08llx [%s] CPL=%u\n",
		          r->rax, r->rbx, r->rcx, r->rdx, r->rsi, r->rdi, r->rbp, r->rsp, r->r8,
		          r->r9, r->r10, r->r11, r->r12, r->r13, r->r14, r->r15, r->rip, r->rflags,
		          fl, s->ss.dpl);
		return;
	}
	sb_printf(sb,
	          "EAX=%08x EBX=%08x ECX=%08x EDX=%08x\n"
	          "ESI=%08x EDI=%08x EBP=%08x ESP=%08x\n"
	          "EIP=%08x EFL=%08x [%s] CPL=%u\n",
	          (uint32_t)r->rax, (uint32_t)r->rbx, (uint32_t)r->rcx, (uint32_t)r->rdx,
	          (uint32_t)r->rsi, (uint32_t)r->rdi, (uint32_t)r->rbp, (uint32_t)r->rsp,
	          (uint32_t)r->rip, (uint32_t)r->rflags, fl, s->ss.dpl);
}

static uint32_t regs_seg_flags(const struct kvm_segment *g)
{
	return (uint32_t)g->type << 8 | (uint32_t)g->s << 12 | (uint32_t)g->dpl << 13 |
	       (uint32_t)g->present << 15 | (uint32_t)g->avl << 20 | (uint32_t)g->l << 21 |
	       (uint32_t)g->db << 22 | (uint32_t)g->g << 23;
}

/*
 * QEMU's names of system descriptor types, legacy and long mode (where type
 * 0 is the upper half of a 16-byte descriptor).
 */
static const char *const regs_sys_types[2][16] = {
        {"Reserved", "TSS16-avl", "LDT", "TSS16-busy", "CallGate16", "TaskGate", "IntGate16",
         "TrapGate16", "Reserved", "TSS32-avl", "Reserved", "TSS32-busy", "CallGate32", "Reserved",
         "IntGate32", "TrapGate32"},
        {"<hiword>", "Reserved", "LDT", "Reserved", "Reserved", "Reserved", "Reserved", "Reserved",
         "Reserved", "TSS64-avl", "Reserved", "TSS64-busy", "CallGate64", "Reserved", "IntGate64",
         "TrapGate64"},
};

static void regs_render_seg(const char *name, const struct kvm_segment *g,
                            const struct kvm_sregs *s, struct strbuf *sb)
{
	if (regs_long_mode(s))
		sb_printf(sb, "%-3s=%04x %016llx %08x %08x", name, g->selector, g->base, g->limit,
		          regs_seg_flags(g));
	else
		sb_printf(sb, "%-3s=%04x %08x %08x %08x", name, g->selector, (uint32_t)g->base,
		          g->limit, regs_seg_flags(g));
	/* Attributes mean something only in protected mode and for a present segment. */
	if (!(s->cr0 & 1) || !g->present) {
		sb_printf(sb, "\n");
		return;
	}
	sb_printf(sb, " DPL=%u ", g->dpl);
	if (!g->s) {
		sb_printf(sb, "%s\n", regs_sys_types[regs_lma(s)][g->type & 15]);
	} else if (g->type & 8) {
		sb_printf(sb, "%s [%c%c%c]\n",
		          g->l    ? "CS64"
		          : g->db ? "CS32"
		                  : "CS16",
		          g->type & 4 ? 'C' : '-', g->type & 2 ? 'R' : '-',
		          g->type & 1 ? 'A' : '-');
	} else {
		/* In long mode D/B means nothing for data: QEMU calls them all "DS". */
		sb_printf(sb, "%s [%c%c%c]\n", g->db || regs_lma(s) ? "DS  " : "DS16",
		          g->type & 4 ? 'E' : '-', g->type & 2 ? 'W' : '-',
		          g->type & 1 ? 'A' : '-');
	}
}

void regs_render_sregs(const struct kvm_sregs *s, struct strbuf *sb)
{
	const struct {
		const char *name;
		const struct kvm_segment *seg;
	} segs[] = {
	        {"ES", &s->es}, {"CS", &s->cs}, {"SS", &s->ss},   {"DS", &s->ds},
	        {"FS", &s->fs}, {"GS", &s->gs}, {"LDT", &s->ldt}, {"TR", &s->tr},
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(segs); i++)
		regs_render_seg(segs[i].name, segs[i].seg, s, sb);
	if (regs_lma(s)) {
		sb_printf(sb, "GDT=     %016llx %08x\n", s->gdt.base, s->gdt.limit);
		sb_printf(sb, "IDT=     %016llx %08x\n", s->idt.base, s->idt.limit);
		sb_printf(sb, "CR0=%08x CR2=%016llx CR3=%016llx CR4=%08x\n", (uint32_t)s->cr0,
		          s->cr2, s->cr3, (uint32_t)s->cr4);
	} else {
		sb_printf(sb, "GDT=     %08x %08x\n", (uint32_t)s->gdt.base, s->gdt.limit);
		sb_printf(sb, "IDT=     %08x %08x\n", (uint32_t)s->idt.base, s->idt.limit);
		sb_printf(sb, "CR0=%08x CR2=%08x CR3=%08x CR4=%08x\n", (uint32_t)s->cr0,
		          (uint32_t)s->cr2, (uint32_t)s->cr3, (uint32_t)s->cr4);
	}
	sb_printf(sb, "EFER=%016llx\n", s->efer);
}

void regs_render_json(const struct kvm_regs *r, bool exact, struct strbuf *sb)
{
	const struct {
		const char *name;
		uint64_t val;
	} regs[] = {
	        {"rax", r->rax}, {"rbx", r->rbx},       {"rcx", r->rcx}, {"rdx", r->rdx},
	        {"rsi", r->rsi}, {"rdi", r->rdi},       {"rbp", r->rbp}, {"rsp", r->rsp},
	        {"r8", r->r8},   {"r9", r->r9},         {"r10", r->r10}, {"r11", r->r11},
	        {"r12", r->r12}, {"r13", r->r13},       {"r14", r->r14}, {"r15", r->r15},
	        {"rip", r->rip}, {"rflags", r->rflags},
	};
	size_t i;

	sb_printf(sb, "{\"exact\": %s", exact ? "true" : "false");
	for (i = 0; i < ARRAY_SIZE(regs); i++)
		sb_printf(sb, ", \"%s\": %" PRIu64, regs[i].name, regs[i].val);
	sb_printf(sb, "}\n");
}

static void regs_seg_json(const char *name, const struct kvm_segment *g, struct strbuf *sb)
{
	sb_printf(sb,
	          ",\n \"%s\": {\"selector\": %u, \"base\": %llu, \"limit\": %u, \"flags\": %u, "
	          "\"type\": %u, \"s\": %u, \"dpl\": %u, \"present\": %u, \"avl\": %u, \"l\": %u, "
	          "\"db\": %u, \"g\": %u}",
	          name, g->selector, g->base, g->limit, regs_seg_flags(g), g->type, g->s, g->dpl,
	          g->present, g->avl, g->l, g->db, g->g);
}

void regs_render_sregs_json(const struct kvm_sregs *s, bool exact, struct strbuf *sb)
{
	const struct {
		const char *name;
		const struct kvm_segment *seg;
	} segs[] = {
	        {"es", &s->es}, {"cs", &s->cs}, {"ss", &s->ss},   {"ds", &s->ds},
	        {"fs", &s->fs}, {"gs", &s->gs}, {"ldt", &s->ldt}, {"tr", &s->tr},
	};
	size_t i;

	sb_printf(sb, "{\"exact\": %s", exact ? "true" : "false");
	for (i = 0; i < ARRAY_SIZE(segs); i++)
		regs_seg_json(segs[i].name, segs[i].seg, sb);
	sb_printf(sb, ",\n \"gdt\": {\"base\": %llu, \"limit\": %u}", s->gdt.base, s->gdt.limit);
	sb_printf(sb, ",\n \"idt\": {\"base\": %llu, \"limit\": %u}", s->idt.base, s->idt.limit);
	sb_printf(sb,
	          ",\n \"cr0\": %llu, \"cr2\": %llu, \"cr3\": %llu, \"cr4\": %llu, \"cr8\": %llu, "
	          "\"efer\": %llu, \"apic_base\": %llu}\n",
	          s->cr0, s->cr2, s->cr3, s->cr4, s->cr8, s->efer, s->apic_base);
}
