/*
 * host.c - telling the host kinds apart (see host.h).
 */
#include <cpuid.h>
#include <unistd.h>

#include "kvmfs/host.h"

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
