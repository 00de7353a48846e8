/*
 * host.c - telling the host kinds apart (see host.h).
 */
#include <cpuid.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kvm/cpuid.h"
#include "kvm/host.h"
#include "util/compiler.h"

#define CPUID_1_ECX_VMX        (1u << 5)
#define CPUID_80000001_ECX_SVM (1u << 2)

static bool host_has_hardware_virt(void)
{
	unsigned a, b, c, d;

	if (__get_cpuid(1, &a, &b, &c, &d) && (c & CPUID_1_ECX_VMX))
		return true;
	return __get_cpuid(0x80000001, &a, &b, &c, &d) && (c & CPUID_80000001_ECX_SVM);
}

void host_probe(struct host *h)
{
	h->kvm_pvm = access("/sys/module/kvm_pvm", F_OK) == 0;
	if (access("/dev/kvm", F_OK))
		h->kind = HOST_NO_KVM;
	else if (host_has_hardware_virt())
		h->kind = HOST_HARDWARE;
	else
		h->kind = HOST_RING0_EMULATED;
}

const char *host_describe(const struct host *h)
{
	switch (h->kind) {
	case HOST_NO_KVM: return "no KVM (no /dev/kvm)";
	case HOST_HARDWARE: return "hardware virtualization (VMX/SVM)";
	case HOST_RING0_EMULATED:
		return h->kvm_pvm ? "kvm_pvm, without VMX/SVM: guest ring 0 is emulated"
		                  : "KVM without VMX/SVM: guest ring 0 is emulated";
	}
	return "unknown";
}

/*
 * Boot-time work of Linux's whose whole cost, where ring 0 is emulated, is
 * the emulated instructions, and which a debugging guest can do without.
 */
static const struct {
	const char *word;
	const char *why;
} host_emulated_words[] = {
        {"cryptomgr.notests",
         "the crypto self-tests' modular exponentiations (mpihelp_*) kept Linux's initcalls "
         "busy for more than ten minutes (measured); with the words the initcalls end in about "
         "twelve"},
};

int host_linux_args(const struct host *h, char *buf, size_t len)
{
	size_t n, i;
	int ret;

	if (!len)
		return -ENOSPC;
	buf[0] = '\0';
	if (h->kind != HOST_RING0_EMULATED)
		return 0;
	ret = cpuid_linux_args(buf, len);
	if (ret)
		return ret;
	n = strlen(buf);
	for (i = 0; i < ARRAY_SIZE(host_emulated_words); i++) {
		int w = snprintf(buf + n, len - n, "%s%s", n ? " " : "",
		                 host_emulated_words[i].word);

		if (w < 0 || (size_t)w >= len - n)
			return -ENOSPC;
		n += (size_t)w;
	}
	return 0;
}
