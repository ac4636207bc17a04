#pragma once
// x86 vCPU initial state: CPUID adjusted for the topology and the
// hypervisor, MSRs, FPU, LAPIC LINT pins, and the registers for entering a
// kernel through the 64-bit Linux boot protocol or the PVH 32-bit entry.

#include <cstdint>

#include "vmm/guest_memory.h"
#include "vmm/kvm.h"

namespace vmm {

// What KVM can do beyond its supported CPUID that the guest's CPUID should say.
struct CpuidHostFacts {
    // KVM_CAP_TSC_DEADLINE_TIMER: KVM emulates the LAPIC's TSC-deadline mode,
    // but KVM_GET_SUPPORTED_CPUID leaves its bit (leaf 1 ECX[24]) clear.
    bool tsc_deadline_timer = false;
};

// The CPUID the guest sees on vCPU `index` of `count`: KVM's supported set
// with APIC ids, logical processor counts, topology leaves, the hypervisor
// bit and `facts` filled in. Pure: unit-tested without KVM.
CpuidEntries guest_cpuid(const CpuidEntries& supported, unsigned index, unsigned count,
                         const CpuidHostFacts& facts = {});

// CPUID, MSRs, FPU and LAPIC for every vCPU (BSP and APs) before it first runs.
void setup_vcpu_common(const Kvm& kvm, VcpuFd& vcpu, unsigned count);

// Identity-mapped page tables (4 GiB, 2 MiB pages) and a GDT in guest memory,
// then the BSP in 64-bit mode at `entry` with RSI = the zero page.
void setup_long_mode_entry(VcpuFd& vcpu, GuestMemory& mem, std::uint64_t entry,
                           std::uint64_t zero_page);

// The BSP in 32-bit protected mode, paging off, at `entry` with EBX = the
// PVH start_info, as the PVH boot ABI asks.
void setup_pvh_entry(VcpuFd& vcpu, GuestMemory& mem, std::uint64_t entry, std::uint64_t start_info);

}  // namespace vmm
