/*
 * emulate.c - finishing the instructions KVM's emulator cannot (see
 * emulate.h).  The decoder knows exactly the encodings of the table below,
 * with the legacy prefixes and REX a compiler puts in front of them, and
 * the ModRM/SIB addressing forms of 32- and 64-bit code.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <string.h>

#include "kvm/emulate.h"
#include "util/strbuf.h"

#define RFLAGS_CF (1ULL << 0)
#define RFLAGS_PF (1ULL << 2)
#define RFLAGS_AF (1ULL << 4)
#define RFLAGS_ZF (1ULL << 6)
#define RFLAGS_SF (1ULL << 7)
#define RFLAGS_OF (1ULL << 11)
#define RFLAGS_AC (1ULL << 18)

#define REG_RSP 4
#define REG_RBP 5

const char *const emu_kind_names[EMU_NR_KINDS] = {
        [EMU_INT3] = "int3",     [EMU_CLAC] = "clac",   [EMU_STAC] = "stac",
        [EMU_POPCNT] = "popcnt", [EMU_FWAIT] = "fwait", [EMU_LDMXCSR] = "ldmxcsr",
};

/* The prefixes that may stand before an instruction, as a decoder sees them. */
struct emu_prefixes {
	bool opsize16; /* 66 */
	bool rep;      /* f3: popcnt's mandatory prefix */
	bool addr32;   /* 67 */
	int seg;       /* 26 2e 36 3e 64 65, -1 for none */
	uint8_t rex;   /* 0 for none */
};

/* Segment-override bytes in the order of struct kvm_sregs' segment numbers. */
static const uint8_t emu_seg_prefix[] = {0x26, 0x2e, 0x36,
                                         0x3e, 0x64, 0x65}; /* es cs ss ds fs gs */

#define EMU_MAX_LEN 15 /* the architectural limit of an instruction's length */

static size_t emu_prefixes(const uint8_t *b, size_t n, bool long_mode, struct emu_prefixes *p)
{
	size_t i, s;

	memset(p, 0, sizeof(*p));
	p->seg = -1;
	for (i = 0; i < n && i < EMU_MAX_LEN; i++) {
		if (b[i] == 0x66) {
			p->opsize16 = true;
			continue;
		}
		if (b[i] == 0xf3) {
			p->rep = true;
			continue;
		}
		if (b[i] == 0x67) {
			p->addr32 = true;
			continue;
		}
		for (s = 0; s < sizeof(emu_seg_prefix); s++)
			if (b[i] == emu_seg_prefix[s])
				break;
		if (s < sizeof(emu_seg_prefix)) {
			p->seg = (int)s;
			continue;
		}
		break;
	}
	/* REX counts only right before the opcode, and only in 64-bit code. */
	if (long_mode && i < n && (b[i] & 0xf0) == 0x40)
		p->rex = b[i++];
	return i;
}

static int64_t emu_disp32(const uint8_t *b)
{
	return (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	                 (uint32_t)b[3] << 24);
}

/* The ModRM (and SIB, displacement) operand at b; returns its length or -errno. */
static int emu_modrm(const uint8_t *b, size_t n, bool long_mode, const struct emu_prefixes *p,
                     struct emu_insn *in)
{
	unsigned mod, rm, rex_b = p->rex & 1, rex_x = (p->rex >> 1) & 1;
	bool disp32 = false;
	size_t len = 1;

	if (n < 1)
		return -EINVAL;
	mod = b[0] >> 6;
	rm = b[0] & 7;
	in->dst = ((b[0] >> 3) & 7) | ((p->rex >> 2) & 1) << 3;
	if (mod == 3) {
		in->src_is_reg = true;
		in->src_reg = rm | rex_b << 3;
		return 1;
	}
	/* 0x67 in 32-bit code means 16-bit addressing, which kernels do not use. */
	if (!long_mode && p->addr32)
		return -ENOSYS;
	in->index = -1;
	in->scale = 1;
	if (rm == REG_RSP) {
		unsigned sib, idx, base;

		if (n < 2)
			return -EINVAL;
		sib = b[1];
		len = 2;
		in->scale = 1u << (sib >> 6);
		idx = ((sib >> 3) & 7) | rex_x << 3;
		in->index = idx == REG_RSP ? -1 : (int)idx;
		base = sib & 7;
		if (base == REG_RBP && mod == 0) {
			in->base = -1; /* no base, a disp32 instead */
			disp32 = true;
		} else {
			in->base = (int)(base | rex_b << 3);
		}
	} else if (rm == REG_RBP && mod == 0) {
		/* disp32 alone: RIP-relative in 64-bit code, absolute otherwise. */
		in->base = long_mode ? -2 : -1;
		disp32 = true;
	} else {
		in->base = (int)(rm | rex_b << 3);
	}
	if (mod == 1) {
		if (n < len + 1)
			return -EINVAL;
		in->disp = (int8_t)b[len];
		return (int)len + 1;
	}
	if (mod == 2 || disp32) {
		if (n < len + 4)
			return -EINVAL;
		in->disp = emu_disp32(b + len);
		return (int)len + 4;
	}
	return (int)len;
}

int emu_decode(const uint8_t *bytes, size_t n, bool long_mode, struct emu_insn *in)
{
	struct emu_prefixes p;
	size_t i = emu_prefixes(bytes, n, long_mode, &p);
	int len;

	memset(in, 0, sizeof(*in));
	if (i >= n)
		return -EINVAL;
	if (bytes[i] == 0xcc || bytes[i] == 0x9b) {
		/* A prefix before either means something else: not ours. */
		if (i)
			return -ENOSYS;
		in->kind = bytes[i] == 0xcc ? EMU_INT3 : EMU_FWAIT;
		in->len = 1;
		return 0;
	}
	if (bytes[i] != 0x0f)
		return -ENOSYS;
	if (i + 1 >= n)
		return -EINVAL;
	if (bytes[i + 1] == 0x01) {
		if (i + 2 >= n)
			return -EINVAL;
		if (i || (bytes[i + 2] != 0xca && bytes[i + 2] != 0xcb))
			return -ENOSYS;
		in->kind = bytes[i + 2] == 0xca ? EMU_CLAC : EMU_STAC;
		in->len = 3;
		return 0;
	}
	if (bytes[i + 1] == 0xae) {
		/* Group 15: /2 with a memory operand is ldmxcsr; f3 or 66 make it others. */
		if (i + 2 >= n)
			return -EINVAL;
		if (((bytes[i + 2] >> 3) & 7) != 2 || bytes[i + 2] >> 6 == 3 || p.rep || p.opsize16)
			return -ENOSYS;
		in->kind = EMU_LDMXCSR;
		in->opsize = 4;
	} else if (bytes[i + 1] == 0xb8 && p.rep) {
		/* 0f b8 without f3 is JMPE, not popcnt. */
		in->kind = EMU_POPCNT;
		in->opsize = p.rex & 8 ? 8 : p.opsize16 ? 2 : 4;
	} else {
		return -ENOSYS;
	}
	in->seg = p.seg;
	in->addr32 = p.addr32;
	len = emu_modrm(bytes + i + 2, n - i - 2, long_mode, &p, in);
	if (len < 0)
		return len;
	in->len = (unsigned)(i + 2 + (size_t)len);
	return in->len > EMU_MAX_LEN ? -ENOSYS : 0;
}

/* The general-purpose registers in the x86 encoding's order. */
static __u64 *emu_gpr(struct kvm_regs *r, unsigned n)
{
	__u64 *const regs[16] = {&r->rax, &r->rcx, &r->rdx, &r->rbx, &r->rsp, &r->rbp,
	                         &r->rsi, &r->rdi, &r->r8,  &r->r9,  &r->r10, &r->r11,
	                         &r->r12, &r->r13, &r->r14, &r->r15};

	return regs[n & 15];
}

static const struct kvm_segment *emu_segment(const struct kvm_sregs *s, int n)
{
	const struct kvm_segment *const segs[] = {&s->es, &s->cs, &s->ss, &s->ds, &s->fs, &s->gs};

	return segs[n];
}

/* The linear address of insn's memory operand; regs->rip is still at insn. */
static uint64_t emu_linear(const struct emu_insn *in, struct kvm_regs *r, const struct kvm_sregs *s)
{
	bool long_mode = s->cs.l;
	uint64_t ea = (uint64_t)in->disp;
	int seg = in->seg;

	if (in->base == -2)
		ea += r->rip + in->len;
	else if (in->base >= 0)
		ea += *emu_gpr(r, (unsigned)in->base);
	if (in->index >= 0)
		ea += *emu_gpr(r, (unsigned)in->index) * in->scale;
	if (in->addr32 || !long_mode)
		ea = (uint32_t)ea;
	/* Stack-based addressing defaults to SS, everything else to DS. */
	if (seg < 0)
		seg = (in->base == REG_RSP || in->base == REG_RBP) ? 2 : 3;
	/* 64-bit code: only FS and GS have a base. */
	if (long_mode && seg != 4 && seg != 5)
		return ea;
	return emu_segment(s, seg)->base + ea;
}

/* The instruction's source operand, in->opsize bytes, zero-extended. */
static int emu_source(const struct emu_insn *in, struct kvm_regs *r, const struct kvm_sregs *s,
                      emu_read_fn read, void *opaque, uint64_t *src)
{
	*src = 0;
	if (in->src_is_reg) {
		*src = *emu_gpr(r, in->src_reg);
		return 0;
	}
	return read(opaque, emu_linear(in, r, s), src, in->opsize);
}

static int emu_popcnt(const struct emu_insn *in, struct kvm_regs *r, const struct kvm_sregs *s,
                      emu_read_fn read, void *opaque)
{
	uint64_t src;
	__u64 *dst = emu_gpr(r, in->dst);
	int ret;

	ret = emu_source(in, r, s, read, opaque, &src);
	if (ret)
		return ret;
	if (in->opsize < 8)
		src &= (1ULL << (in->opsize * 8)) - 1;
	/* A 32-bit result clears the upper half; a 16-bit one leaves it. */
	if (in->opsize == 2)
		*dst = (*dst & ~0xffffULL) | (uint64_t)__builtin_popcountll(src);
	else
		*dst = (uint64_t)__builtin_popcountll(src);
	r->rflags &= ~(RFLAGS_OF | RFLAGS_SF | RFLAGS_ZF | RFLAGS_AF | RFLAGS_PF | RFLAGS_CF);
	if (!src)
		r->rflags |= RFLAGS_ZF;
	return 0;
}

/* ldmxcsr: the new MXCSR, or #GP(0) for a reserved bit (SDM vol. 2, LDMXCSR). */
static int emu_ldmxcsr(const struct emu_insn *in, struct kvm_regs *r, const struct kvm_sregs *s,
                       emu_read_fn read, void *opaque, struct emu_effects *fx)
{
	uint64_t v;
	int ret = emu_source(in, r, s, read, opaque, &v);

	if (ret)
		return ret;
	if (v & ~(uint64_t)EMU_MXCSR_MASK) {
		fx->inject_gp = true;
		return 0;
	}
	fx->set_mxcsr = true;
	fx->mxcsr = (uint32_t)v;
	return 0;
}

int emu_complete(const struct emu_insn *in, struct kvm_regs *r, const struct kvm_sregs *s,
                 emu_read_fn read, void *opaque, struct emu_effects *fx)
{
	unsigned cpl = s->cs.selector & 3;
	int ret = 0;

	memset(fx, 0, sizeof(*fx));
	switch (in->kind) {
	case EMU_INT3: fx->inject_bp = true; break;
	case EMU_CLAC:
	case EMU_STAC:
		/* Outside ring 0 they raise #UD: that is the guest's to see, not ours to finish. */
		if (cpl)
			return -EPERM;
		if (in->kind == EMU_CLAC)
			r->rflags &= ~RFLAGS_AC;
		else
			r->rflags |= RFLAGS_AC;
		break;
	case EMU_POPCNT: ret = emu_popcnt(in, r, s, read, opaque); break;
	case EMU_FWAIT: break;
	case EMU_LDMXCSR: ret = emu_ldmxcsr(in, r, s, read, opaque, fx); break;
	default: return -ENOSYS;
	}
	if (ret)
		return ret;
	/* A fault leaves RIP at the instruction; everything else moves past it. */
	if (!fx->inject_gp)
		r->rip += in->len;
	return 0;
}

void emu_render_counts(const uint64_t counts[EMU_NR_KINDS], struct strbuf *sb)
{
	unsigned k;

	for (k = 0; k < EMU_NR_KINDS; k++)
		sb_printf(sb, "%s %llu\n", emu_kind_names[k], (unsigned long long)counts[k]);
}
