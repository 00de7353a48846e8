/*
 * segment.h - a KVM segment from the attribute word a descriptor (and
 * QEMU, in `info registers` and its dump notes) keeps its bits in:
 * type 8..11, S 12, DPL 13..14, P 15, AVL 20, L 21, D/B 22, G 23.
 */
#ifndef KVMFS_KVM_SEGMENT_H
#define KVMFS_KVM_SEGMENT_H

#include <stdint.h>

#include <linux/kvm.h>

static inline struct kvm_segment kvm_segment_from_attrs(uint16_t selector, uint64_t base,
                                                        uint32_t limit, uint32_t attrs)
{
	return (struct kvm_segment){
	        .base = base,
	        .limit = limit,
	        .selector = selector,
	        .type = (attrs >> 8) & 15,
	        .s = (attrs >> 12) & 1,
	        .dpl = (attrs >> 13) & 3,
	        .present = (attrs >> 15) & 1,
	        .avl = (attrs >> 20) & 1,
	        .l = (attrs >> 21) & 1,
	        .db = (attrs >> 22) & 1,
	        .g = (attrs >> 23) & 1,
	};
}

#endif
