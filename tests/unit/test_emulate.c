/*
 * test_emulate.c - the instructions kvmfs finishes for KVM's emulator:
 * decoding (lengths, operands, what is refused) and the register and flag
 * effects, from saved register and memory images.  Expected values are
 * the architecture's (SDM vol. 2: POPCNT clears OF SF AF CF PF and sets ZF
 * for a zero source; CLAC/STAC touch RFLAGS.AC only), written out by hand.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kvm/emulate.h"
#include "util/compiler.h"

#define AC (1ULL << 18)
/* OF SF ZF AF PF CF: POPCNT's flags */
#define ARITH 0x8d5ULL
#define ZF    0x40ULL

/* A tiny guest: 64 bytes of memory at one linear address. */
struct mem {
	uint64_t base;
	uint8_t bytes[64];
	uint64_t last; /* the linear address last read */
};

static int mem_read(void *opaque, uint64_t linear, void *buf, size_t len)
{
	struct mem *m = opaque;

	m->last = linear;
	if (linear < m->base || linear + len > m->base + sizeof(m->bytes))
		return -EFAULT;
	memcpy(buf, m->bytes + (linear - m->base), len);
	return 0;
}

static struct kvm_sregs long_mode_cpl(unsigned cpl)
{
	struct kvm_sregs s;

	memset(&s, 0, sizeof(s));
	s.cs.l = 1;
	s.cs.selector = cpl ? 0x33 : 0x10;
	s.cs.dpl = (uint8_t)cpl;
	s.gs.base = 0xffff888000100000ULL; /* a per-CPU area */
	return s;
}

/* Decode and complete; returns emu_complete's result (decode must pass). */
static int run_fx(const uint8_t *b, size_t n, struct kvm_regs *r, const struct kvm_sregs *s,
                  struct mem *m, struct emu_effects *fx, struct emu_insn *in)
{
	assert_int_equal(emu_decode(b, n, s->cs.l, in), 0);
	return emu_complete(in, r, s, mem_read, m, fx);
}

/* The same, for instructions whose only outside effect may be #BP. */
static int run(const uint8_t *b, size_t n, struct kvm_regs *r, const struct kvm_sregs *s,
               struct mem *m, bool *bp, struct emu_insn *in)
{
	struct emu_effects fx;
	int ret = run_fx(b, n, r, s, m, &fx, in);

	*bp = fx.inject_bp;
	assert_false(fx.inject_gp || fx.set_mxcsr);
	return ret;
}

static void test_int3(void **state)
{
	static const uint8_t b[] = {0xcc, 0x90};
	struct kvm_sregs s = long_mode_cpl(0);
	struct kvm_regs r = {.rip = 0xffffffff8305e26cULL, .rflags = 0x246};
	struct emu_insn in;
	bool bp;

	(void)state;
	assert_int_equal(run(b, sizeof(b), &r, &s, NULL, &bp, &in), 0);
	assert_int_equal(in.kind, EMU_INT3);
	assert_true(bp);
	/* #BP is a trap: the frame's RIP is the byte after the int3. */
	assert_int_equal(r.rip, 0xffffffff8305e26dULL);
	assert_int_equal(r.rflags, 0x246);
}

static void test_clac_stac(void **state)
{
	static const uint8_t clac[] = {0x0f, 0x01, 0xca};
	static const uint8_t stac[] = {0x0f, 0x01, 0xcb};
	struct kvm_sregs s = long_mode_cpl(0), user = long_mode_cpl(3);
	struct kvm_regs r = {.rip = 0xffffffff81c00e00ULL, .rflags = 0x246 | AC};
	struct emu_insn in;
	bool bp;

	(void)state;
	assert_int_equal(run(clac, sizeof(clac), &r, &s, NULL, &bp, &in), 0);
	assert_int_equal(in.kind, EMU_CLAC);
	assert_false(bp);
	assert_int_equal(r.rflags, 0x246);
	assert_int_equal(r.rip, 0xffffffff81c00e03ULL);
	assert_int_equal(run(stac, sizeof(stac), &r, &s, NULL, &bp, &in), 0);
	assert_int_equal(r.rflags, 0x246 | AC);
	assert_int_equal(r.rip, 0xffffffff81c00e06ULL);
	/* Outside ring 0 they raise #UD: not ours to finish, nothing changes. */
	assert_int_equal(run(clac, sizeof(clac), &r, &user, NULL, &bp, &in), -EPERM);
	assert_int_equal(r.rflags, 0x246 | AC);
	assert_int_equal(r.rip, 0xffffffff81c00e06ULL);
}

static void test_popcnt_registers(void **state)
{
	/* The one Linux executes in __bitmap_weight: popcnt rax, rdi. */
	static const uint8_t q[] = {0xf3, 0x48, 0x0f, 0xb8, 0xc7};
	static const uint8_t d[] = {0xf3, 0x0f, 0xb8, 0xc7};         /* popcnt eax, edi */
	static const uint8_t w[] = {0x66, 0xf3, 0x0f, 0xb8, 0xc7};   /* popcnt ax, di */
	static const uint8_t r89[] = {0xf3, 0x4d, 0x0f, 0xb8, 0xc1}; /* popcnt r8, r9 */
	struct kvm_sregs s = long_mode_cpl(0);
	struct kvm_regs r;
	struct emu_insn in;
	bool bp;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.rip = 0xffffffff81597201ULL;
	r.rdi = 0x8000000000000f0fULL; /* 9 bits */
	r.rflags = 0x2 | ARITH;        /* every flag POPCNT defines set, to see them cleared */
	assert_int_equal(run(q, sizeof(q), &r, &s, NULL, &bp, &in), 0);
	assert_int_equal(in.kind, EMU_POPCNT);
	assert_int_equal(in.len, 5);
	assert_int_equal(r.rax, 9);
	assert_int_equal(r.rflags, 0x2);
	assert_int_equal(r.rip, 0xffffffff81597206ULL);

	/* A zero source sets ZF and gives 0. */
	r.rdi = 0;
	r.rax = 77;
	assert_int_equal(run(q, sizeof(q), &r, &s, NULL, &bp, &in), 0);
	assert_int_equal(r.rax, 0);
	assert_int_equal(r.rflags, 0x2 | ZF);

	/* 32 bits: the source's upper half is ignored, the result zero-extended. */
	r.rdi = 0xffffffff00000003ULL;
	r.rax = 0xdeadbeefcafef00dULL;
	assert_int_equal(run(d, sizeof(d), &r, &s, NULL, &bp, &in), 0);
	assert_int_equal(r.rax, 2);
	assert_int_equal(r.rflags, 0x2);

	/* 16 bits: the destination's upper 48 bits stay. */
	r.rdi = 0xffffffffffff8001ULL;
	r.rax = 0x1234567812345678ULL;
	assert_int_equal(run(w, sizeof(w), &r, &s, NULL, &bp, &in), 0);
	assert_int_equal(r.rax, 0x1234567812340002ULL);

	/* REX.R and REX.B reach r8..r15. */
	r.r9 = 0xff;
	r.r8 = 0;
	assert_int_equal(run(r89, sizeof(r89), &r, &s, NULL, &bp, &in), 0);
	assert_int_equal(r.r8, 8);
}

static void test_popcnt_memory(void **state)
{
	/* popcnt rax, [rdi] */
	static const uint8_t ind[] = {0xf3, 0x48, 0x0f, 0xb8, 0x07};
	/* popcnt rcx, [rsp + 8] (SIB, disp8) */
	static const uint8_t sib[] = {0xf3, 0x48, 0x0f, 0xb8, 0x4c, 0x24, 0x08};
	/* popcnt edx, [rip + 0x10] */
	static const uint8_t rip[] = {0xf3, 0x0f, 0xb8, 0x15, 0x10, 0x00, 0x00, 0x00};
	/* popcnt rax, gs:[0x20] (SIB without base: disp32) */
	static const uint8_t gs[] = {0x65, 0xf3, 0x48, 0x0f, 0xb8, 0x04,
	                             0x25, 0x20, 0x00, 0x00, 0x00};
	/* popcnt rax, [rbx + rsi*4 - 4] */
	static const uint8_t idx[] = {0xf3, 0x48, 0x0f, 0xb8, 0x44, 0xb3, 0xfc};
	struct kvm_sregs s = long_mode_cpl(0);
	struct mem m = {.base = 0x7000};
	struct kvm_regs r;
	struct emu_insn in;
	uint64_t v;
	bool bp;

	(void)state;
	memset(&r, 0, sizeof(r));
	v = 0x0101010101010101ULL; /* 8 bits */
	memcpy(m.bytes + 8, &v, 8);

	r.rdi = 0x7008;
	r.rip = 0x1000;
	assert_int_equal(run(ind, sizeof(ind), &r, &s, &m, &bp, &in), 0);
	assert_int_equal(r.rax, 8);
	assert_int_equal(m.last, 0x7008);
	assert_int_equal(r.rip, 0x1005);

	r.rsp = 0x7000;
	assert_int_equal(run(sib, sizeof(sib), &r, &s, &m, &bp, &in), 0);
	assert_int_equal(in.len, 7);
	assert_int_equal(r.rcx, 8);
	assert_int_equal(m.last, 0x7008);

	/* RIP-relative: from the end of the instruction. */
	r.rip = 0x7008 - 8 - 0x10;
	assert_int_equal(run(rip, sizeof(rip), &r, &s, &m, &bp, &in), 0);
	assert_int_equal(in.len, 8);
	assert_int_equal(m.last, 0x7008);
	assert_int_equal(r.rdx, 4); /* a 32-bit read of the low half */

	/* GS has a base in 64-bit code; the other segments do not. */
	m.base = s.gs.base;
	memcpy(m.bytes + 0x20, &v, 8);
	assert_int_equal(run(gs, sizeof(gs), &r, &s, &m, &bp, &in), 0);
	assert_int_equal(in.len, 11);
	assert_int_equal(m.last, s.gs.base + 0x20);
	assert_int_equal(r.rax, 8);

	m.base = 0x7000;
	r.rbx = 0x7000;
	r.rsi = 3; /* 0x7000 + 12 - 4 = 0x7008 */
	assert_int_equal(run(idx, sizeof(idx), &r, &s, &m, &bp, &in), 0);
	assert_int_equal(m.last, 0x7008);

	/* An unmapped operand: -EFAULT, and the registers are not touched. */
	r.rdi = 0x9000;
	r.rip = 0x1000;
	r.rax = 5;
	assert_int_equal(run(ind, sizeof(ind), &r, &s, &m, &bp, &in), -EFAULT);
	assert_int_equal(r.rax, 5);
	assert_int_equal(r.rip, 0x1000);
}

static void test_fwait(void **state)
{
	static const uint8_t b[] = {0x9b};
	struct kvm_sregs s = long_mode_cpl(0);
	struct kvm_regs r = {.rip = 0x4000, .rflags = 0x2};
	struct emu_insn in;
	bool bp;

	(void)state;
	assert_int_equal(run(b, sizeof(b), &r, &s, NULL, &bp, &in), 0);
	assert_int_equal(in.kind, EMU_FWAIT);
	assert_int_equal(r.rip, 0x4001);
}

static void test_ldmxcsr(void **state)
{
	/* ldmxcsr 0x4(%rsp), as kernel_fpu_begin_mask() has it. */
	static const uint8_t b[] = {0x0f, 0xae, 0x54, 0x24, 0x04};
	struct kvm_sregs s = long_mode_cpl(0);
	struct mem m = {.base = 0x7000};
	struct emu_effects fx;
	struct kvm_regs r;
	struct emu_insn in;
	uint32_t v;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.rip = 0xffffffff8103dedeULL;
	r.rsp = 0x7010;
	v = 0x1f80; /* MXCSR_DEFAULT */
	memcpy(m.bytes + 0x14, &v, 4);
	assert_int_equal(run_fx(b, sizeof(b), &r, &s, &m, &fx, &in), 0);
	assert_int_equal(in.kind, EMU_LDMXCSR);
	assert_int_equal(m.last, 0x7014);
	assert_true(fx.set_mxcsr && !fx.inject_gp && !fx.inject_bp);
	assert_int_equal(fx.mxcsr, 0x1f80);
	assert_int_equal(r.rip, 0xffffffff8103dee3ULL);

	/* A reserved bit (above 15): #GP(0), MXCSR untouched, RIP at the instruction. */
	v = 0x10000 | 0x1f80;
	memcpy(m.bytes + 0x14, &v, 4);
	r.rip = 0x1000;
	assert_int_equal(run_fx(b, sizeof(b), &r, &s, &m, &fx, &in), 0);
	assert_true(fx.inject_gp && !fx.set_mxcsr);
	assert_int_equal(r.rip, 0x1000);
}

static void test_refused(void **state)
{
	static const struct {
		uint8_t b[8];
		size_t n;
		bool long_mode;
		int ret;
	} cases[] = {
	        {{0x48, 0x0f, 0xae, 0x2f}, 4, true, -ENOSYS},        /* xrstor: not ours */
	        {{0x0f, 0x0b}, 2, true, -ENOSYS},                    /* ud2 */
	        {{0x0f, 0xb8, 0xc7}, 3, true, -ENOSYS},              /* 0f b8 without f3: jmpe */
	        {{0x0f, 0x01, 0xcc}, 3, true, -ENOSYS},              /* another 0f 01 */
	        {{0x66, 0xcc}, 2, true, -ENOSYS},                    /* a prefixed int3 */
	        {{0xf3, 0x48, 0x0f}, 3, true, -EINVAL},              /* cut short */
	        {{0xf3, 0x0f, 0xb8, 0x44}, 4, true, -EINVAL},        /* SIB missing */
	        {{0x67, 0xf3, 0x0f, 0xb8, 0x07}, 5, false, -ENOSYS}, /* 16-bit addressing */
	        {{0}, 0, true, -EINVAL},
	};
	struct emu_insn in;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++)
		assert_int_equal(emu_decode(cases[i].b, cases[i].n, cases[i].long_mode, &in),
		                 cases[i].ret);
}

static void test_names(void **state)
{
	unsigned k;

	(void)state;
	for (k = 0; k < EMU_NR_KINDS; k++)
		assert_non_null(emu_kind_names[k]);
	assert_string_equal(emu_kind_names[EMU_POPCNT], "popcnt");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_int3),
	        cmocka_unit_test(test_clac_stac),
	        cmocka_unit_test(test_popcnt_registers),
	        cmocka_unit_test(test_popcnt_memory),
	        cmocka_unit_test(test_fwait),
	        cmocka_unit_test(test_ldmxcsr),
	        cmocka_unit_test(test_refused),
	        cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
