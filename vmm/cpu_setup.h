#pragma once
// Applies the x86 boot state (x86/cpuid.h, x86/boot_cpu.h) to KVM vCPUs.

#include <cstdint>

#include "base/guest_memory.h"
#include "vmm/kvm.h"

namespace vmm {

// CPUID, MSRs, FPU and LAPIC for every vCPU (BSP and APs) before it first runs.
void setup_vcpu_common(const Kvm& kvm, VcpuFd& vcpu, unsigned count);

// The BSP in 64-bit mode at `entry` with RSI = the zero page (Linux boot protocol).
void setup_long_mode_entry(VcpuFd& vcpu, base::GuestMemory& mem, std::uint64_t entry,
                           std::uint64_t zero_page);

// The BSP in 32-bit protected mode at `entry` with EBX = the PVH start_info.
void setup_pvh_entry(VcpuFd& vcpu, base::GuestMemory& mem, std::uint64_t entry,
                     std::uint64_t start_info);

}  // namespace vmm
