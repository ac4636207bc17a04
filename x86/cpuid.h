#pragma once
// The CPUID an x86 guest sees: KVM's supported set with the topology of the
// VM (APIC ids, logical processor counts, topology leaves) and the
// hypervisor bit filled in. Pure: unit-tested without KVM.

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

namespace x86 {

// kvm_cpuid2's entries.
struct CpuidEntries {
    std::vector<kvm_cpuid_entry2> entries;
};

// What KVM can do beyond its supported CPUID that the guest's CPUID should say.
struct CpuidHostFacts {
    // KVM_CAP_TSC_DEADLINE_TIMER: KVM emulates the LAPIC's TSC-deadline mode,
    // but KVM_GET_SUPPORTED_CPUID leaves its bit (leaf 1 ECX[24]) clear.
    bool tsc_deadline_timer = false;
};

// The CPUID of vCPU `index` of `count`.
CpuidEntries guest_cpuid(const CpuidEntries& supported, unsigned index, unsigned count,
                         const CpuidHostFacts& facts = {});

}  // namespace x86
