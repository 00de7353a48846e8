/*
 * test_regs.c - vcpus/<n>/regs, sregs, regs.json and sregs.json as
 * src/inspect/regs.c renders them, from a state in which every field holds
 * a value no other field holds: each value must come back under its own
 * name (a swap of RBX and RCX, of two segments' bases or of CR2 and CR3
 * fails here), in QEMU's `info registers` layout (the formats of QEMU's
 * target/i386/cpu-dump.c, written out by hand below) and in the JSON.
 *
 * The expected values are this file's own table; the descriptor attributes
 * are packed here as the descriptor's bytes 5 and 6 hold them (SDM vol. 3,
 * 3.4.5), not with regs.c's helper.
 */
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "inspect/regs.h"
#include "util/compiler.h"
#include "util/strbuf.h"

#define EFER_LMA (1ULL << 10)

/* ---- the state: every field its own value ---- */

struct seg_want {
	const char *name; /* as `info registers` names it; JSON: lower case */
	struct kvm_segment seg;
};

static struct kvm_regs want_regs(void)
{
	return (struct kvm_regs){
	        .rax = 0xa1a1a1a1a1a1a1a1ULL,
	        .rbx = 0xb2b2b2b2b2b2b2b2ULL,
	        .rcx = 0xc3c3c3c3c3c3c3c3ULL,
	        .rdx = 0xd4d4d4d4d4d4d4d4ULL,
	        .rsi = 0x5151515151515151ULL,
	        .rdi = 0xd1d1d1d1d1d1d1d1ULL,
	        .rbp = 0xbbbbbbbb0000b0b0ULL,
	        .rsp = 0xffff800012345670ULL,
	        .r8 = 0x0808080808080808ULL,
	        .r9 = 0x0909090909090909ULL,
	        .r10 = 0x1010101010101010ULL,
	        .r11 = 0x1111111111111111ULL,
	        .r12 = 0x1212121212121212ULL,
	        .r13 = 0x1313131313131313ULL,
	        .r14 = 0x1414141414141414ULL,
	        .r15 = 0x1515151515151515ULL,
	        .rip = 0xffffffff81234567ULL,
	        /* CF, AF, SF, DF, OF, AC, ID and the fixed bit 1: "[DOS-A-C]" */
	        .rflags = 0x00240c93ULL,
	};
}

/*
 * Long mode.  Each segment differs from every other in selector, base,
 * limit and attribute word; DPLs 0-3 and every descriptor kind QEMU names
 * differently (64-bit conforming code, data with and without D/B, an
 * expand-down data segment, LDT, busy TSS) are among them.
 */
static const struct seg_want want_segs[] = {
        {"ES",
         {.selector = 0x0020,
          .base = 0xe5e5e5e500000e50ULL,
          .limit = 0x0000e5e5,
          .type = 3,
          .s = 1,
          .dpl = 1,
          .present = 1,
          .avl = 1,
          .db = 1}},
        {"CS",
         {.selector = 0x0018,
          .base = 0x1c1c000000001c00ULL,
          .limit = 0x0ccccfff,
          .type = 15,
          .s = 1,
          .present = 1,
          .avl = 1,
          .l = 1,
          .g = 1}},
        {"SS",
         {.selector = 0x0028,
          .base = 0x55a5a5a500000550ULL,
          .limit = 0x5a5a5fff,
          .type = 3,
          .s = 1,
          .present = 1,
          .db = 1,
          .g = 1}},
        {"DS",
         {.selector = 0x0032,
          .base = 0xd5d5d5d500000d50ULL,
          .limit = 0x00000d5d,
          .type = 1,
          .s = 1,
          .dpl = 2,
          .present = 1}},
        {"FS",
         {.selector = 0x0038,
          .base = 0xffff8000f5f5f000ULL,
          .limit = 0x0000f5f5,
          .type = 7,
          .s = 1,
          .present = 1,
          .db = 1}},
        {"GS",
         {.selector = 0x0043,
          .base = 0xffff80006a6a6000ULL,
          .limit = 0x6a6a6fff,
          .type = 3,
          .s = 1,
          .dpl = 3,
          .present = 1,
          .db = 1,
          .g = 1}},
        {"LDT",
         {.selector = 0x0050,
          .base = 0xffff80001dd1d000ULL,
          .limit = 0x000001d7,
          .type = 2,
          .present = 1}},
        {"TR",
         {.selector = 0x0060,
          .base = 0xffff800075575000ULL,
          .limit = 0x00002067,
          .type = 11,
          .present = 1}},
};

static struct kvm_segment *seg_of(struct kvm_sregs *s, size_t i)
{
	struct kvm_segment *segs[] = {&s->es, &s->cs, &s->ss,  &s->ds,
	                              &s->fs, &s->gs, &s->ldt, &s->tr};

	return segs[i];
}

static struct kvm_sregs want_sregs(void)
{
	struct kvm_sregs s;
	size_t i;

	memset(&s, 0, sizeof(s));
	for (i = 0; i < ARRAY_SIZE(want_segs); i++)
		*seg_of(&s, i) = want_segs[i].seg;
	s.gdt = (struct kvm_dtable){.base = 0xffff80009abcd000ULL, .limit = 0x0ab7};
	s.idt = (struct kvm_dtable){.base = 0xffff80001d7d7000ULL, .limit = 0x0d27};
	s.cr0 = 0x8005003bULL;
	s.cr2 = 0xffff8000c2c2c2c2ULL;
	s.cr3 = 0x0000000000010018ULL;
	s.cr4 = 0x000006a8ULL;
	s.cr8 = 0xb;
	s.efer = 0xd01; /* SCE, LME, LMA, NXE */
	s.apic_base = 0xfee00900ULL;
	return s;
}

/* Bytes 5 and 6 of the descriptor, bits 8-23 of QEMU's flags word. */
static uint32_t descriptor_flags(const struct kvm_segment *g)
{
	uint32_t access = g->type | g->s << 4 | g->dpl << 5 | g->present << 7;
	uint32_t high = g->avl | g->l << 1 | g->db << 2 | g->g << 3;

	return access << 8 | high << 20;
}

static char *render(void (*fn)(struct strbuf *sb, const struct kvm_regs *r,
                               const struct kvm_sregs *s),
                    const struct kvm_regs *r, const struct kvm_sregs *s)
{
	struct strbuf sb = STRBUF_INIT;

	fn(&sb, r, s);
	assert_int_equal(sb.err, 0);
	sb_add(&sb, "", 1);
	return sb.buf;
}

static void do_regs(struct strbuf *sb, const struct kvm_regs *r, const struct kvm_sregs *s)
{
	regs_render(r, s, sb);
}

static void do_sregs(struct strbuf *sb, const struct kvm_regs *r, const struct kvm_sregs *s)
{
	(void)r;
	regs_render_sregs(s, sb);
}

static void do_regs_json(struct strbuf *sb, const struct kvm_regs *r, const struct kvm_sregs *s)
{
	(void)s;
	regs_render_json(r, true, sb);
}

static void do_sregs_json(struct strbuf *sb, const struct kvm_regs *r, const struct kvm_sregs *s)
{
	(void)r;
	regs_render_sregs_json(s, false, sb);
}

/* ---- reading the text back: NAME=word and the words after it ---- */

/*
 * The col'th whitespace-separated word from NAME's '=' on (col 0: what
 * follows '='), in buf.  NAME must start a word and be followed by '='
 * (QEMU pads "R8 =" and "ES =" with a space); it must occur exactly once.
 */
static void text_word(const char *text, const char *name, unsigned col, char *buf, size_t len)
{
	const char *p, *at = NULL;
	size_t n = strlen(name), w;

	for (p = strstr(text, name); p; p = strstr(p + 1, name)) {
		const char *q = p + n;

		if (p != text && p[-1] != ' ' && p[-1] != '\n')
			continue;
		while (*q == ' ')
			q++;
		if (*q != '=')
			continue;
		if (at)
			fail_msg("%s= appears twice in:\n%s", name, text);
		at = q + 1;
	}
	if (!at)
		fail_msg("no %s= in:\n%s", name, text);
	at += strspn(at, " "); /* "GDT=     base limit" */
	for (; col; col--) {
		at += strcspn(at, " \n");
		if (*at != ' ')
			fail_msg("%s=: line ends before word %u in:\n%s", name, col, text);
		at += strspn(at, " ");
	}
	w = strcspn(at, " \n");
	assert_true(w < len);
	memcpy(buf, at, w);
	buf[w] = '\0';
}

/* NAME's col'th word is val in exactly width hex digits. */
static void text_hex(const char *text, const char *name, unsigned col, unsigned width, uint64_t val)
{
	char word[64], *end;

	text_word(text, name, col, word, sizeof(word));
	if (strlen(word) != width || strtoull(word, &end, 16) != val || *end)
		fail_msg("%s= word %u: \"%s\", want %0*llx", name, col, word, (int)width,
		         (unsigned long long)val);
}

static void text_str(const char *text, const char *name, unsigned col, const char *want)
{
	char word[64];

	text_word(text, name, col, word, sizeof(word));
	if (strcmp(word, want))
		fail_msg("%s= word %u: \"%s\", want \"%s\"", name, col, word, want);
}

static unsigned count_char(const char *s, char c)
{
	unsigned n = 0;

	for (; *s; s++)
		n += *s == c;
	return n;
}

/* ---- reading the JSON back: every number (or bool) as "path": value ---- */

struct json_pair {
	char key[32]; /* "rax", "cs.selector" */
	uint64_t val; /* true: 1, false: 0 */
};

struct json_flat {
	struct json_pair pairs[160];
	size_t nr;
	const char *p;
};

static void js_ws(struct json_flat *j)
{
	j->p += strspn(j->p, " \n");
}

static void js_expect(struct json_flat *j, char c)
{
	js_ws(j);
	if (*j->p != c)
		fail_msg("JSON: '%c' expected at \"%.20s\"", c, j->p);
	j->p++;
}

/* An object of numbers, booleans and objects of them, flattened into pairs. */
static void js_object(struct json_flat *j, const char *prefix)
{
	js_expect(j, '{');
	for (;;) {
		char key[32];
		size_t n;

		js_ws(j);
		js_expect(j, '"');
		n = strcspn(j->p, "\"");
		assert_true(strlen(prefix) + n + 1 < sizeof(key));
		snprintf(key, sizeof(key), "%s%.*s", prefix, (int)n, j->p);
		j->p += n + 1;
		js_expect(j, ':');
		js_ws(j);
		if (*j->p == '{') {
			char sub[sizeof(key) + 1];

			assert_true(strlen(key) + 2 <= sizeof(key));
			snprintf(sub, sizeof(sub), "%s.", key);
			js_object(j, sub);
		} else {
			struct json_pair *pr = &j->pairs[j->nr++];

			assert_true(j->nr <= ARRAY_SIZE(j->pairs));
			memcpy(pr->key, key, sizeof(key));
			if (!strncmp(j->p, "true", 4)) {
				pr->val = 1;
				j->p += 4;
			} else if (!strncmp(j->p, "false", 5)) {
				pr->val = 0;
				j->p += 5;
			} else {
				char *end;

				if (*j->p < '0' || *j->p > '9')
					fail_msg("JSON: %s is not a number: \"%.20s\"", key, j->p);
				pr->val = strtoull(j->p, &end, 10);
				j->p = end;
			}
		}
		js_ws(j);
		if (*j->p == ',') {
			j->p++;
			continue;
		}
		js_expect(j, '}');
		return;
	}
}

static void json_flatten(const char *text, struct json_flat *j)
{
	j->nr = 0;
	j->p = text;
	js_object(j, "");
	js_ws(j);
	assert_true(*j->p == '\0');
}

/* key's value is val, and key appears once. */
static void json_has(const struct json_flat *j, const char *key, uint64_t val)
{
	size_t i, seen = 0;

	for (i = 0; i < j->nr; i++) {
		if (strcmp(j->pairs[i].key, key))
			continue;
		seen++;
		if (j->pairs[i].val != val)
			fail_msg("JSON %s: %llu (0x%llx), want %llu (0x%llx)", key,
			         (unsigned long long)j->pairs[i].val,
			         (unsigned long long)j->pairs[i].val, (unsigned long long)val,
			         (unsigned long long)val);
	}
	if (seen != 1)
		fail_msg("JSON %s: %zu times, want once", key, seen);
}

/* ---- the tests ---- */

/* Every value is different from every other, or a swap could pass unseen. */
static void test_state_is_all_distinct(void **state)
{
	struct kvm_regs r = want_regs();
	struct kvm_sregs s = want_sregs();
	uint64_t v[64];
	size_t n = 0, i, k;

	(void)state;
	memcpy(v, &r, sizeof(r)); /* the 18 u64 of struct kvm_regs */
	n = sizeof(r) / sizeof(v[0]);
	for (i = 0; i < ARRAY_SIZE(want_segs); i++) {
		v[n++] = want_segs[i].seg.selector;
		v[n++] = want_segs[i].seg.base;
		v[n++] = want_segs[i].seg.limit;
		v[n++] = descriptor_flags(&want_segs[i].seg);
	}
	v[n++] = s.gdt.base;
	v[n++] = s.gdt.limit;
	v[n++] = s.idt.base;
	v[n++] = s.idt.limit;
	v[n++] = s.cr0;
	v[n++] = s.cr2;
	v[n++] = s.cr3;
	v[n++] = s.cr4;
	v[n++] = s.cr8;
	v[n++] = s.efer;
	v[n++] = s.apic_base;
	assert_true(n <= ARRAY_SIZE(v));
	for (i = 0; i < n; i++)
		for (k = i + 1; k < n; k++)
			if (v[i] == v[k])
				fail_msg("values %zu and %zu are both 0x%llx", i, k,
				         (unsigned long long)v[i]);
}

static void test_regs_text_every_register_by_name(void **state)
{
	static const char *const names[] = {"RAX", "RBX", "RCX", "RDX", "RSI", "RDI",
	                                    "RBP", "RSP", "R8",  "R9",  "R10", "R11",
	                                    "R12", "R13", "R14", "R15", "RIP"};
	struct kvm_regs r = want_regs();
	struct kvm_sregs s = want_sregs();
	uint64_t vals[] = {r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8,
	                   r.r9,  r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.rip};
	char *text = render(do_regs, &r, &s);
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(names); i++)
		text_hex(text, names[i], 0, 16, vals[i]);
	text_hex(text, "RFL", 0, 8, r.rflags);
	text_str(text, "RFL", 1, "[DOS-A-C]");
	/* CPL is SS's DPL: GS (DPL 3) and DS (DPL 2) must not stand in for it. */
	text_str(text, "CPL", 0, "0");
	assert_int_equal(count_char(text, '='), ARRAY_SIZE(names) + 2);
	free(text);

	s.ss.dpl = 3;
	s.cs.dpl = 3;
	text = render(do_regs, &r, &s);
	text_str(text, "CPL", 0, "3");
	free(text);
}

static void test_sregs_text_every_field_by_name(void **state)
{
	struct kvm_regs r = want_regs();
	struct kvm_sregs s = want_sregs();
	char *text = render(do_sregs, &r, &s);
	char dpl[8];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(want_segs); i++) {
		const struct kvm_segment *g = &want_segs[i].seg;

		text_hex(text, want_segs[i].name, 0, 4, g->selector);
		text_hex(text, want_segs[i].name, 1, 16, g->base);
		text_hex(text, want_segs[i].name, 2, 8, g->limit);
		text_hex(text, want_segs[i].name, 3, 8, descriptor_flags(g));
		snprintf(dpl, sizeof(dpl), "DPL=%u", g->dpl);
		text_str(text, want_segs[i].name, 4, dpl);
	}
	/* What QEMU calls each kind of descriptor (cpu-dump.c), in long mode. */
	text_str(text, "CS", 5, "CS64");
	text_str(text, "CS", 6, "[CRA]");
	text_str(text, "ES", 5, "DS");
	text_str(text, "ES", 6, "[-WA]");
	text_str(text, "DS", 5, "DS"); /* "DS  ", not DS16: in long mode D/B does not matter */
	text_str(text, "DS", 6, "[--A]");
	text_str(text, "FS", 5, "DS");
	text_str(text, "FS", 6, "[EWA]"); /* expand-down */
	text_str(text, "LDT", 5, "LDT");
	text_str(text, "TR", 5, "TSS64-busy");
	text_hex(text, "GDT", 0, 16, s.gdt.base);
	text_hex(text, "GDT", 1, 8, s.gdt.limit);
	text_hex(text, "IDT", 0, 16, s.idt.base);
	text_hex(text, "IDT", 1, 8, s.idt.limit);
	text_hex(text, "CR0", 0, 8, s.cr0);
	text_hex(text, "CR2", 0, 16, s.cr2);
	text_hex(text, "CR3", 0, 16, s.cr3);
	text_hex(text, "CR4", 0, 8, s.cr4);
	text_hex(text, "EFER", 0, 16, s.efer);
	/* Nothing else: 8 segments with their DPL, GDT, IDT, 4 CRs, EFER. */
	assert_int_equal(count_char(text, '='), 8 * 2 + 2 + 4 + 1);
	free(text);
}

static void test_regs_json_every_register_by_name(void **state)
{
	struct kvm_regs r = want_regs();
	struct kvm_sregs s = want_sregs();
	const struct {
		const char *key;
		uint64_t val;
	} want[] = {
	        {"exact", 1},   {"rax", r.rax}, {"rbx", r.rbx},       {"rcx", r.rcx},
	        {"rdx", r.rdx}, {"rsi", r.rsi}, {"rdi", r.rdi},       {"rbp", r.rbp},
	        {"rsp", r.rsp}, {"r8", r.r8},   {"r9", r.r9},         {"r10", r.r10},
	        {"r11", r.r11}, {"r12", r.r12}, {"r13", r.r13},       {"r14", r.r14},
	        {"r15", r.r15}, {"rip", r.rip}, {"rflags", r.rflags},
	};
	char *text = render(do_regs_json, &r, &s);
	struct json_flat j;
	size_t i;

	(void)state;
	json_flatten(text, &j);
	for (i = 0; i < ARRAY_SIZE(want); i++)
		json_has(&j, want[i].key, want[i].val);
	assert_int_equal(j.nr, ARRAY_SIZE(want));
	free(text);
}

static void test_sregs_json_every_field_by_name(void **state)
{
	struct kvm_regs r = want_regs();
	struct kvm_sregs s = want_sregs();
	char *text = render(do_sregs_json, &r, &s);
	struct json_flat j;
	char key[32], seg[8];
	size_t i, k;

	(void)state;
	json_flatten(text, &j);
	json_has(&j, "exact", 0);
	for (i = 0; i < ARRAY_SIZE(want_segs); i++) {
		const struct kvm_segment *g = &want_segs[i].seg;
		const struct {
			const char *field;
			uint64_t val;
		} fields[] = {
		        {"selector", g->selector},
		        {"base", g->base},
		        {"limit", g->limit},
		        {"flags", descriptor_flags(g)},
		        {"type", g->type},
		        {"s", g->s},
		        {"dpl", g->dpl},
		        {"present", g->present},
		        {"avl", g->avl},
		        {"l", g->l},
		        {"db", g->db},
		        {"g", g->g},
		};

		for (k = 0; want_segs[i].name[k]; k++)
			seg[k] = (char)(want_segs[i].name[k] | 0x20);
		seg[k] = '\0';
		for (k = 0; k < ARRAY_SIZE(fields); k++) {
			snprintf(key, sizeof(key), "%s.%s", seg, fields[k].field);
			json_has(&j, key, fields[k].val);
		}
	}
	json_has(&j, "gdt.base", s.gdt.base);
	json_has(&j, "gdt.limit", s.gdt.limit);
	json_has(&j, "idt.base", s.idt.base);
	json_has(&j, "idt.limit", s.idt.limit);
	json_has(&j, "cr0", s.cr0);
	json_has(&j, "cr2", s.cr2);
	json_has(&j, "cr3", s.cr3);
	json_has(&j, "cr4", s.cr4);
	json_has(&j, "cr8", s.cr8);
	json_has(&j, "efer", s.efer);
	json_has(&j, "apic_base", s.apic_base);
	assert_int_equal(j.nr, 1 + 8 * 12 + 4 + 7);
	free(text);
}

/*
 * The whole text, as QEMU's `info registers` prints the same state (its
 * cpu-dump.c formats, less what KVM_GET_REGS/SREGS do not hold: II, A20,
 * SMM, HLT, the debug registers).  Long mode with a 64-bit CS.
 */
static void test_long_mode_text_is_qemus(void **state)
{
	struct kvm_regs r = want_regs();
	struct kvm_sregs s = want_sregs();
	char *text;

	(void)state;
	text = render(do_regs, &r, &s);
	assert_string_equal(text, "RAX=a1a1a1a1a1a1a1a1 RBX=b2b2b2b2b2b2b2b2 RCX=c3c3c3c3c3c3c3c3 "
	                          "RDX=d4d4d4d4d4d4d4d4\n"
	                          "RSI=5151515151515151 RDI=d1d1d1d1d1d1d1d1 RBP=bbbbbbbb0000b0b0 "
	                          "RSP=ffff800012345670\n"
	                          "R8 =0808080808080808 R9 =0909090909090909 R10=1010101010101010 "
	                          "R11=1111111111111111\n"
	                          "R12=1212121212121212 R13=1313131313131313 R14=1414141414141414 "
	                          "R15=1515151515151515\n"
	                          "RIP=ffffffff81234567 RFL=00240c93 [DOS-A-C] CPL=0\n");
	free(text);
	text = render(do_sregs, &r, &s);
	assert_string_equal(text, "ES =0020 e5e5e5e500000e50 0000e5e5 0050b300 DPL=1 DS   [-WA]\n"
	                          "CS =0018 1c1c000000001c00 0ccccfff 00b09f00 DPL=0 CS64 [CRA]\n"
	                          "SS =0028 55a5a5a500000550 5a5a5fff 00c09300 DPL=0 DS   [-WA]\n"
	                          "DS =0032 d5d5d5d500000d50 00000d5d 0000d100 DPL=2 DS   [--A]\n"
	                          "FS =0038 ffff8000f5f5f000 0000f5f5 00409700 DPL=0 DS   [EWA]\n"
	                          "GS =0043 ffff80006a6a6000 6a6a6fff 00c0f300 DPL=3 DS   [-WA]\n"
	                          "LDT=0050 ffff80001dd1d000 000001d7 00008200 DPL=0 LDT\n"
	                          "TR =0060 ffff800075575000 00002067 00008b00 DPL=0 TSS64-busy\n"
	                          "GDT=     ffff80009abcd000 00000ab7\n"
	                          "IDT=     ffff80001d7d7000 00000d27\n"
	                          "CR0=8005003b CR2=ffff8000c2c2c2c2 CR3=0000000000010018 "
	                          "CR4=000006a8\n"
	                          "EFER=0000000000000d01\n");
	free(text);
}

/*
 * 32-bit protected mode: QEMU's 32-bit layout (8 digits for the GPRs, the
 * segment bases, GDT, IDT, CR2 and CR3; EFER stays 16), DS16 and CS32/CS16
 * by D/B, the legacy system-descriptor names.
 */
static void test_protected_mode_text_is_qemus(void **state)
{
	struct kvm_regs r = want_regs();
	struct kvm_sregs s = want_sregs();
	char *text;

	(void)state;
	s.efer = 0;
	s.cr0 = 0x60000011; /* PE, ET, CD, NW: no paging */
	s.cr4 = 0;
	s.cs.l = 0;
	s.cs.db = 1;
	s.cs.type = 0xb;
	s.es.db = 0;
	s.tr.type = 0xb;
	s.ldt.present = 0;
	s.gs.type = 0;
	s.gs.s = 0; /* a system descriptor type 0: QEMU's "Reserved" outside long mode */
	text = render(do_regs, &r, &s);
	assert_string_equal(text, "EAX=a1a1a1a1 EBX=b2b2b2b2 ECX=c3c3c3c3 EDX=d4d4d4d4\n"
	                          "ESI=51515151 EDI=d1d1d1d1 EBP=0000b0b0 ESP=12345670\n"
	                          "EIP=81234567 EFL=00240c93 [DOS-A-C] CPL=0\n");
	free(text);
	text = render(do_sregs, &r, &s);
	assert_string_equal(text, "ES =0020 00000e50 0000e5e5 0010b300 DPL=1 DS16 [-WA]\n"
	                          "CS =0018 00001c00 0ccccfff 00d09b00 DPL=0 CS32 [-RA]\n"
	                          "SS =0028 00000550 5a5a5fff 00c09300 DPL=0 DS   [-WA]\n"
	                          "DS =0032 00000d50 00000d5d 0000d100 DPL=2 DS16 [--A]\n"
	                          "FS =0038 f5f5f000 0000f5f5 00409700 DPL=0 DS   [EWA]\n"
	                          "GS =0043 6a6a6000 6a6a6fff 00c0e000 DPL=3 Reserved\n"
	                          "LDT=0050 1dd1d000 000001d7 00000200\n"
	                          "TR =0060 75575000 00002067 00008b00 DPL=0 TSS32-busy\n"
	                          "GDT=     9abcd000 00000ab7\n"
	                          "IDT=     1d7d7000 00000d27\n"
	                          "CR0=60000011 CR2=c2c2c2c2 CR3=00010018 CR4=00000000\n"
	                          "EFER=0000000000000000\n");
	free(text);
	/* Real mode (CR0.PE clear): no attributes at all; a 16-bit CS. */
	s.cr0 = 0x60000010;
	s.cs.db = 0;
	text = render(do_sregs, &r, &s);
	assert_non_null(strstr(text, "CS =0018 00001c00 0ccccfff 00909b00\n"));
	assert_null(strstr(text, "DPL="));
	free(text);
}

/*
 * Compatibility mode (long mode, a 32-bit CS): QEMU prints the 32-bit
 * layout for the GPRs and segments but the 64-bit one for GDT, IDT and
 * the CRs, and the 64-bit names of system descriptors - type 0 there is
 * the upper half of a 16-byte descriptor.
 */
static void test_compatibility_mode_text_is_qemus(void **state)
{
	struct kvm_regs r = want_regs();
	struct kvm_sregs s = want_sregs();
	char *text;

	(void)state;
	s.cs.l = 0;
	s.cs.db = 1;
	s.gs.type = 0;
	s.gs.s = 0;
	text = render(do_regs, &r, &s);
	assert_non_null(strstr(text, "EIP=81234567 EFL=00240c93 [DOS-A-C] CPL=0\n"));
	free(text);
	text = render(do_sregs, &r, &s);
	assert_non_null(strstr(text, "CS =0018 00001c00 0ccccfff 00d09f00 DPL=0 CS32 [CRA]\n"));
	assert_non_null(strstr(text, "DS =0032 00000d50 00000d5d 0000d100 DPL=2 DS   [--A]\n"));
	assert_non_null(strstr(text, "GS =0043 6a6a6000 6a6a6fff 00c0e000 DPL=3 <hiword>\n"));
	assert_non_null(strstr(text, "TR =0060 75575000 00002067 00008b00 DPL=0 TSS64-busy\n"));
	assert_non_null(strstr(text, "GDT=     ffff80009abcd000 00000ab7\n"));
	assert_non_null(strstr(text, "CR0=8005003b CR2=ffff8000c2c2c2c2 CR3=0000000000010018 "
	                             "CR4=000006a8\n"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_state_is_all_distinct),
	        cmocka_unit_test(test_regs_text_every_register_by_name),
	        cmocka_unit_test(test_sregs_text_every_field_by_name),
	        cmocka_unit_test(test_regs_json_every_register_by_name),
	        cmocka_unit_test(test_sregs_json_every_field_by_name),
	        cmocka_unit_test(test_long_mode_text_is_qemus),
	        cmocka_unit_test(test_protected_mode_text_is_qemus),
	        cmocka_unit_test(test_compatibility_mode_text_is_qemus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
