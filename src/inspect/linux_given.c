/*
 * linux_given.c - -vmlinux's .BTF and -system-map's text, read from their
 * files (see linux_given.h).
 *
 * The ELF is read by its section headers alone (ELF64, little-endian,
 * x86-64: the guests kvmfs reads): the names in .shstrtab, then the .BTF
 * section's bytes - a few MiB of a vmlinux that may be hundreds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inspect/linux_btf.h"
#include "inspect/linux_given.h"
#include "util/bytes.h"
#include "util/errmsg.h"

#define GIVEN_MAP_MAX   (256u << 20) /* a System.map is a few MiB */
#define GIVEN_SHNUM_MAX 65535

/* len bytes at off, all of them, or false. */
static bool given_pread(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n <= 0)
			return false;
		done += (size_t)n;
	}
	return true;
}

static int given_vmlinux(struct linux_given *g, const char *path, char *err, size_t errlen)
{
	uint8_t eh[64], *sh = NULL;
	char *names = NULL;
	uint64_t shoff, names_off, names_len, off, size;
	unsigned shnum, shstrndx, i;
	bool dwarf = false;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errmsg(err, errlen, -errno, "-vmlinux %s: %s", path, strerror(errno));
	if (!given_pread(fd, eh, sizeof(eh), 0) || memcmp(eh, "\177ELF", 4) || eh[4] != 2 ||
	    eh[5] != 1 || le16(eh + 18) != 62) {
		ret = errmsg(err, errlen, -EINVAL,
		             "-vmlinux %s: not an x86-64 ELF file (give the kernel's vmlinux)",
		             path);
		goto out;
	}
	shoff = le64(eh + 40);
	shnum = le16(eh + 60);
	shstrndx = le16(eh + 62);
	if (le16(eh + 58) != 64 || !shnum || shstrndx >= shnum ||
	    !(sh = malloc((size_t)shnum * 64)) || !given_pread(fd, sh, (size_t)shnum * 64, shoff)) {
		ret = errmsg(err, errlen, -EINVAL,
		             "-vmlinux %s: its section headers are unreadable", path);
		goto out;
	}
	names_off = le64(sh + 64 * shstrndx + 24);
	names_len = le64(sh + 64 * shstrndx + 32);
	if (!names_len || names_len > (1u << 20) || !(names = malloc(names_len + 1)) ||
	    !given_pread(fd, names, names_len, names_off)) {
		ret = errmsg(err, errlen, -EINVAL, "-vmlinux %s: its section names are unreadable",
		             path);
		goto out;
	}
	names[names_len] = '\0';
	for (i = 0; i < shnum; i++) {
		const uint8_t *s = sh + 64 * i;
		uint32_t name = le32(s);

		if (name >= names_len)
			continue;
		if (!strcmp(names + name, ".debug_info"))
			dwarf = true;
		if (strcmp(names + name, ".BTF"))
			continue;
		off = le64(s + 24);
		size = le64(s + 32);
		if (!size || size > (64u << 20) || !(g->btf = malloc(size)) ||
		    !given_pread(fd, g->btf, size, off) || le16(g->btf) != LINUX_BTF_MAGIC) {
			ret = errmsg(err, errlen, -EINVAL,
			             "-vmlinux %s: its .BTF section is unreadable or no BTF", path);
			goto out;
		}
		g->btf_len = size;
		ret = 0;
		goto out;
	}
	ret = errmsg(err, errlen, -EINVAL,
	             dwarf ? "-vmlinux %s: no .BTF section, only DWARF, which kvmfs does not read "
	                     "(unsupported: add BTF with pahole -J, or give a vmlinux built with "
	                     "CONFIG_DEBUG_INFO_BTF)"
	                   : "-vmlinux %s: no .BTF section (give a vmlinux built with "
	                     "CONFIG_DEBUG_INFO_BTF)",
	             path);
out:
	if (ret) {
		free(g->btf);
		g->btf = NULL;
	}
	free(names);
	free(sh);
	close(fd);
	return ret;
}

static int given_system_map(struct linux_given *g, const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errmsg(err, errlen, -errno, "-system-map %s: %s", path, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || !st.st_size ||
	    (uint64_t)st.st_size > GIVEN_MAP_MAX) {
		ret = errmsg(err, errlen, -EINVAL,
		             "-system-map %s: not a System.map (a regular file, 1 byte to 256 MiB)",
		             path);
		goto out;
	}
	g->map = malloc((size_t)st.st_size + 1);
	if (!g->map) {
		ret = errmsg(err, errlen, -ENOMEM, "-system-map %s: out of memory", path);
		goto out;
	}
	if (!given_pread(fd, g->map, (size_t)st.st_size, 0)) {
		ret = errmsg(err, errlen, -EIO, "-system-map %s: short read", path);
		goto out;
	}
	g->map[st.st_size] = '\0';
	g->map_len = (size_t)st.st_size;
	/* The line every x86-64 kernel's map has: what it is moved by. */
	if (!strstr(g->map, " T _text\n"))
		ret = errmsg(err, errlen, -EINVAL,
		             "-system-map %s: not a System.map (no 'ADDRESS T _text' line)", path);
out:
	if (ret) {
		free(g->map);
		g->map = NULL;
		g->map_len = 0;
	}
	close(fd);
	return ret;
}

int linux_given_load(struct linux_given *g, const char *vmlinux, const char *system_map, char *err,
                     size_t errlen)
{
	int ret = 0;

	memset(g, 0, sizeof(*g));
	g->vmlinux = vmlinux;
	g->system_map = system_map;
	if (vmlinux)
		ret = given_vmlinux(g, vmlinux, err, errlen);
	if (!ret && system_map)
		ret = given_system_map(g, system_map, err, errlen);
	if (ret)
		linux_given_free(g);
	return ret;
}

void linux_given_free(struct linux_given *g)
{
	free(g->btf);
	free(g->map);
	memset(g, 0, sizeof(*g));
}
