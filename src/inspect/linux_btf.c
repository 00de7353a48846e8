/*
 * linux_btf.c - index and query a kernel's BTF (see linux_btf.h).
 *
 * The records are read with memcpy-free little-endian loads (x86 guests
 * only), and every id, name offset and member count is checked against the
 * sections once, at parse time: the queries after it trust the index.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "inspect/linux_btf.h"
#include "util/bytes.h"
#include "util/errmsg.h"

#define BTF_HDR_LEN   24
#define BTF_TYPE_LEN  12 /* name_off, info, size_or_type */
#define BTF_MAX_DEPTH 32 /* typedef chains, nested anonymous members */

static const uint8_t *btf_type(const struct linux_btf *btf, uint32_t id)
{
	return btf->types + btf->off[id];
}

static unsigned btf_info_kind(uint32_t info)
{
	return (info >> 24) & 0x1f;
}

static uint32_t btf_vlen(const uint8_t *t)
{
	return le32(t + 4) & 0xffff;
}

static bool btf_kflag(const uint8_t *t)
{
	return le32(t + 4) >> 31;
}

/* Bytes of kind's records after its struct btf_type; -1: a kind this parser does not know. */
static long btf_extra(unsigned kind, uint32_t vlen)
{
	switch (kind) {
	case LINUX_BTF_INT:
	case LINUX_BTF_VAR:
	case LINUX_BTF_DECL_TAG: return 4;
	case LINUX_BTF_ARRAY: return 12;
	case LINUX_BTF_STRUCT:
	case LINUX_BTF_UNION:
	case LINUX_BTF_DATASEC:
	case LINUX_BTF_ENUM64: return 12L * vlen;
	case LINUX_BTF_ENUM:
	case LINUX_BTF_FUNC_PROTO: return 8L * vlen;
	case LINUX_BTF_PTR:
	case LINUX_BTF_FWD:
	case LINUX_BTF_TYPEDEF:
	case LINUX_BTF_VOLATILE:
	case LINUX_BTF_CONST:
	case LINUX_BTF_RESTRICT:
	case LINUX_BTF_FUNC:
	case LINUX_BTF_FLOAT:
	case LINUX_BTF_TYPE_TAG: return 0;
	default: return -1;
	}
}

static const char *btf_name(const struct linux_btf *btf, uint32_t name_off)
{
	return name_off < btf->strs_len ? btf->strs + name_off : "";
}

int linux_btf_parse(struct linux_btf *btf, const void *data, size_t len, char *err, size_t errlen)
{
	const uint8_t *p = data;
	uint32_t hdr_len, type_off, type_len, str_off, str_len, pos, cap = 0, *off;

	memset(btf, 0, sizeof(*btf));
	if (len < BTF_HDR_LEN || le16(p) != LINUX_BTF_MAGIC)
		return errmsg(err, errlen, -EINVAL, "no BTF header (magic 0xeb9f) in %zu bytes",
		              len);
	hdr_len = le32(p + 4);
	type_off = le32(p + 8);
	type_len = le32(p + 12);
	str_off = le32(p + 16);
	str_len = le32(p + 20);
	if (hdr_len < BTF_HDR_LEN || hdr_len > len ||
	    (uint64_t)hdr_len + type_off + type_len > len ||
	    (uint64_t)hdr_len + str_off + str_len > len || !str_len)
		return errmsg(err, errlen, -EINVAL, "BTF sections lie outside its %zu bytes", len);
	btf->types = p + hdr_len + type_off;
	btf->types_len = type_len;
	btf->strs = (const char *)p + hdr_len + str_off;
	btf->strs_len = str_len;
	if (btf->strs[str_len - 1])
		return errmsg(err, errlen, -EINVAL, "BTF string section does not end in NUL");

	/* Id 0 is void: the first record is id 1. */
	btf->nr = 1;
	for (pos = 0; pos < type_len;) {
		uint32_t info;
		long extra;

		if (type_len - pos < BTF_TYPE_LEN)
			goto bad;
		info = le32(btf->types + pos + 4);
		extra = btf_extra(btf_info_kind(info), info & 0xffff);
		if (extra < 0 || (uint64_t)type_len - pos - BTF_TYPE_LEN < (uint64_t)extra)
			goto bad;
		if (btf->nr >= cap) {
			cap = cap ? 2 * cap : 4096;
			off = realloc(btf->off, cap * sizeof(*off));
			if (!off) {
				linux_btf_free(btf);
				return errmsg(err, errlen, -ENOMEM, "BTF index: out of memory");
			}
			btf->off = off;
		}
		btf->off[btf->nr++] = pos;
		pos += BTF_TYPE_LEN + (uint32_t)extra;
	}
	if (!btf->off) {
		linux_btf_free(btf);
		return errmsg(err, errlen, -EINVAL, "BTF holds no types");
	}
	return 0;
bad : {
	uint32_t id = btf->nr;

	linux_btf_free(btf);
	return errmsg(err, errlen, -EINVAL, "BTF type %u at offset %u is malformed", id, pos);
}
}

void linux_btf_free(struct linux_btf *btf)
{
	free(btf->off);
	memset(btf, 0, sizeof(*btf));
}

unsigned linux_btf_kind(const struct linux_btf *btf, uint32_t id)
{
	if (!id || id >= btf->nr)
		return LINUX_BTF_UNKN;
	return btf_info_kind(le32(btf_type(btf, id) + 4));
}

int linux_btf_find(const struct linux_btf *btf, unsigned kind, const char *name)
{
	uint32_t id;

	for (id = 1; id < btf->nr; id++) {
		const uint8_t *t = btf_type(btf, id);

		if (btf_info_kind(le32(t + 4)) == kind && !strcmp(btf_name(btf, le32(t)), name))
			return (int)id;
	}
	return -ENOENT;
}

static bool btf_is_modifier(unsigned kind)
{
	return kind == LINUX_BTF_TYPEDEF || kind == LINUX_BTF_VOLATILE || kind == LINUX_BTF_CONST ||
	       kind == LINUX_BTF_RESTRICT || kind == LINUX_BTF_TYPE_TAG;
}

uint32_t linux_btf_resolve(const struct linux_btf *btf, uint32_t id)
{
	unsigned depth;

	for (depth = 0; depth < BTF_MAX_DEPTH && btf_is_modifier(linux_btf_kind(btf, id)); depth++)
		id = le32(btf_type(btf, id) + 8);
	return id < btf->nr ? id : 0;
}

uint32_t linux_btf_target(const struct linux_btf *btf, uint32_t id)
{
	uint32_t t;

	id = linux_btf_resolve(btf, id);
	switch (linux_btf_kind(btf, id)) {
	case LINUX_BTF_PTR: t = le32(btf_type(btf, id) + 8); break;
	case LINUX_BTF_ARRAY: t = le32(btf_type(btf, id) + BTF_TYPE_LEN); break;
	default: return 0;
	}
	return t < btf->nr ? t : 0;
}

static int btf_size(const struct linux_btf *btf, uint32_t id, uint64_t *size, unsigned depth)
{
	const uint8_t *t;
	uint64_t elem;
	int ret;

	id = linux_btf_resolve(btf, id);
	if (!id || depth > BTF_MAX_DEPTH)
		return -EINVAL;
	t = btf_type(btf, id);
	switch (linux_btf_kind(btf, id)) {
	case LINUX_BTF_INT:
	case LINUX_BTF_STRUCT:
	case LINUX_BTF_UNION:
	case LINUX_BTF_ENUM:
	case LINUX_BTF_ENUM64:
	case LINUX_BTF_FLOAT:
	case LINUX_BTF_DATASEC: *size = le32(t + 8); return 0;
	case LINUX_BTF_PTR:
		*size = 8; /* x86-64 guests */
		return 0;
	case LINUX_BTF_ARRAY:
		ret = btf_size(btf, le32(t + BTF_TYPE_LEN), &elem, depth + 1);
		if (ret)
			return ret;
		*size = elem * le32(t + BTF_TYPE_LEN + 8);
		return 0;
	default: return -EINVAL;
	}
}

int linux_btf_size(const struct linux_btf *btf, uint32_t id, uint64_t *size)
{
	return btf_size(btf, id, size, 0);
}

/* One step of a path: name among id's members, through anonymous ones. */
static int btf_member_step(const struct linux_btf *btf, uint32_t id, const char *name, size_t len,
                           uint64_t base_bits, struct linux_btf_member *m, unsigned depth)
{
	const uint8_t *t, *rec;
	unsigned kind;
	uint32_t i, vlen;

	id = linux_btf_resolve(btf, id);
	kind = linux_btf_kind(btf, id);
	if ((kind != LINUX_BTF_STRUCT && kind != LINUX_BTF_UNION) || depth > BTF_MAX_DEPTH)
		return -ENOENT;
	t = btf_type(btf, id);
	vlen = btf_vlen(t);
	for (i = 0, rec = t + BTF_TYPE_LEN; i < vlen; i++, rec += 12) {
		const char *mname = btf_name(btf, le32(rec));
		uint32_t off = le32(rec + 8), type = le32(rec + 4);
		uint64_t bits = base_bits + (btf_kflag(t) ? (off & 0xffffff) : off);

		if (type >= btf->nr)
			continue;
		if (!*mname) {
			if (!btf_member_step(btf, type, name, len, bits, m, depth + 1))
				return 0;
			continue;
		}
		if (strlen(mname) != len || memcmp(mname, name, len))
			continue;
		m->offset = bits / 8;
		m->bitshift = bits % 8;
		m->bitsize = btf_kflag(t) ? off >> 24 : 0;
		m->type = type;
		return 0;
	}
	return -ENOENT;
}

int linux_btf_member(const struct linux_btf *btf, uint32_t id, const char *path,
                     struct linux_btf_member *m)
{
	uint64_t base = 0;

	for (;;) {
		const char *dot = strchr(path, '.');
		size_t len = dot ? (size_t)(dot - path) : strlen(path);

		if (!len || btf_member_step(btf, id, path, len, 0, m, 0))
			return -ENOENT;
		m->offset += base;
		if (!dot)
			return 0;
		base = m->offset;
		id = m->type;
		path = dot + 1;
	}
}

static int btf_struct(const struct linux_btf *btf, const char *type)
{
	int id = linux_btf_find(btf, LINUX_BTF_STRUCT, type);

	return id >= 0 ? id : linux_btf_find(btf, LINUX_BTF_UNION, type);
}

int linux_btf_offsetof(const struct linux_btf *btf, const char *type, const char *path,
                       uint64_t *offset)
{
	struct linux_btf_member m;
	int id = btf_struct(btf, type);

	if (id < 0 || linux_btf_member(btf, (uint32_t)id, path, &m))
		return -ENOENT;
	*offset = m.offset;
	return 0;
}

int linux_btf_sizeof(const struct linux_btf *btf, const char *type, uint64_t *size)
{
	int id = btf_struct(btf, type);

	if (id < 0)
		return -ENOENT;
	return linux_btf_size(btf, (uint32_t)id, size) ? -ENOENT : 0;
}

/* Enumerator name of enum type t (ENUM: 8-byte records, ENUM64: 12): its value, or false. */
static bool btf_enumerator(const struct linux_btf *btf, const uint8_t *t, const char *name,
                           int64_t *val)
{
	bool e64 = btf_info_kind(le32(t + 4)) == LINUX_BTF_ENUM64;
	uint32_t i, vlen = btf_vlen(t), rec = e64 ? 12 : 8;

	for (i = 0; i < vlen; i++) {
		const uint8_t *r = t + BTF_TYPE_LEN + i * rec;

		if (strcmp(btf_name(btf, le32(r)), name))
			continue;
		*val = e64 ? (int64_t)((uint64_t)le32(r + 8) << 32 | le32(r + 4))
		           : (int64_t)(int32_t)le32(r + 4);
		return true;
	}
	return false;
}

int linux_btf_enum_value(const struct linux_btf *btf, const char *with, const char *name,
                         int64_t *val)
{
	uint32_t id;
	int64_t unused;

	for (id = 1; id < btf->nr; id++) {
		const uint8_t *t = btf_type(btf, id);
		unsigned kind = btf_info_kind(le32(t + 4));

		if ((kind == LINUX_BTF_ENUM || kind == LINUX_BTF_ENUM64) &&
		    btf_enumerator(btf, t, with, &unused) && btf_enumerator(btf, t, name, val))
			return 0;
	}
	return -ENOENT;
}
