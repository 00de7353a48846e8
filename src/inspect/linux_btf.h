/*
 * linux_btf.h - the kernel's own BTF (the .BTF section, CONFIG_DEBUG_INFO_BTF):
 * struct sizes and member offsets by name, so that kvmfs reads a guest
 * kernel's structures without its debug package.
 *
 * The format is include/uapi/linux/btf.h's: a header (magic 0xeB9F), then
 * the type section - one struct btf_type per type, ids from 1 in order,
 * each followed by its kind's extra records - and the string section.  The
 * parser checks every record against the section's end; a blob that does
 * not parse whole is refused, so a lookup never reads past it.  Pure: the
 * caller hands in the bytes.
 */
#ifndef KVMFS_INSPECT_LINUX_BTF_H
#define KVMFS_INSPECT_LINUX_BTF_H

#include <stddef.h>
#include <stdint.h>

#define LINUX_BTF_MAGIC 0xeB9F

/* The kinds, as btf.h numbers them. */
enum linux_btf_kind {
	LINUX_BTF_UNKN,
	LINUX_BTF_INT,
	LINUX_BTF_PTR,
	LINUX_BTF_ARRAY,
	LINUX_BTF_STRUCT,
	LINUX_BTF_UNION,
	LINUX_BTF_ENUM,
	LINUX_BTF_FWD,
	LINUX_BTF_TYPEDEF,
	LINUX_BTF_VOLATILE,
	LINUX_BTF_CONST,
	LINUX_BTF_RESTRICT,
	LINUX_BTF_FUNC,
	LINUX_BTF_FUNC_PROTO,
	LINUX_BTF_VAR,
	LINUX_BTF_DATASEC,
	LINUX_BTF_FLOAT,
	LINUX_BTF_DECL_TAG,
	LINUX_BTF_TYPE_TAG,
	LINUX_BTF_ENUM64,
	LINUX_BTF_NR_KINDS,
};

struct linux_btf {
	const uint8_t *types; /* the type section */
	uint32_t types_len;
	const char *strs; /* the string section */
	uint32_t strs_len;
	uint32_t *off; /* off[id]: where type id starts in types (off[0]: void, unused) */
	uint32_t nr;   /* ids 0 .. nr-1 */
};

/* A member found by path: where it lies in the outer struct, and its type. */
struct linux_btf_member {
	uint64_t offset;   /* bytes from the start of the outer struct */
	uint32_t type;     /* the member's type id, as declared */
	uint32_t bitsize;  /* 0: not a bitfield */
	uint32_t bitshift; /* a bitfield's bit offset within the byte at offset */
};

/*
 * Index the blob (len bytes at data, which must outlive btf).  0, or
 * -EINVAL with the reason in err (errlen bytes).
 */
int linux_btf_parse(struct linux_btf *btf, const void *data, size_t len, char *err, size_t errlen);
void linux_btf_free(struct linux_btf *btf);

/* The kind of type id (LINUX_BTF_UNKN when out of range). */
unsigned linux_btf_kind(const struct linux_btf *btf, uint32_t id);
/* The id of the first type of kind named name; -ENOENT. */
int linux_btf_find(const struct linux_btf *btf, unsigned kind, const char *name);
/* id with typedefs and qualifiers (const, volatile, restrict, type tags) peeled off. */
uint32_t linux_btf_resolve(const struct linux_btf *btf, uint32_t id);
/* The size in bytes of an object of type id: -EINVAL for void, functions, loops. */
int linux_btf_size(const struct linux_btf *btf, uint32_t id, uint64_t *size);
/* For a pointer or an array: the type pointed to / of the elements; 0 otherwise. */
uint32_t linux_btf_target(const struct linux_btf *btf, uint32_t id);

/*
 * The member at path ("a.b.c": each step a member of the previous one's
 * struct or union type) of struct or union type id.  Members of anonymous
 * structs and unions are found as members of the outer one, as C has it.
 * 0, or -ENOENT.
 */
int linux_btf_member(const struct linux_btf *btf, uint32_t id, const char *path,
                     struct linux_btf_member *m);
/* The same from the struct's name: -ENOENT when either is missing. */
int linux_btf_offsetof(const struct linux_btf *btf, const char *type, const char *path,
                       uint64_t *offset);
/* sizeof(struct name): -ENOENT. */
int linux_btf_sizeof(const struct linux_btf *btf, const char *type, uint64_t *size);
/*
 * The value of enumerator name in the first enum that also has enumerator
 * with: anonymous enums are found by their members (vsyscall_mode's
 * { EMULATE, XONLY, NONE }, whose NONE alone is in many).  0, or -ENOENT.
 */
int linux_btf_enum_value(const struct linux_btf *btf, const char *with, const char *name,
                         int64_t *val);

#endif
