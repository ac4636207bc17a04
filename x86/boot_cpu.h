#pragma once
// The state of an x86 vCPU before the guest's first instruction: the MSRs,
// FPU and LAPIC pins of a freshly reset CPU, and the registers (plus the GDT
// and page tables they point to, written into guest memory) for entering a
// kernel through the 64-bit Linux boot protocol or the PVH 32-bit entry.
// Pure: fills KVM's structures, makes no ioctl.

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

#include "base/guest_memory.h"

namespace x86 {

// Syscall and sysenter state cleared, fast strings on, MTRRs enabled with
// write-back as the default type.
std::vector<kvm_msr_entry> initial_msrs();
kvm_fpu initial_fpu();
// LINT0 delivers the PIC's interrupts (ExtINT), LINT1 NMIs, as on a PC.
void set_lint_pins(kvm_lapic_state& lapic);

// Identity-mapped page tables (4 GiB, 2 MiB pages) and a GDT in guest memory;
// `sregs` (as KVM gives them after reset) and `regs` set for 64-bit mode at
// `entry` with RSI = the zero page. Throws InvalidInput when memory is too small.
void long_mode_entry(base::GuestMemory& mem, std::uint64_t entry, std::uint64_t zero_page,
                     kvm_sregs& sregs, kvm_regs& regs);

// 32-bit protected mode, paging off, at `entry` with EBX = the PVH
// start_info, as the PVH boot ABI asks.
void pvh_entry(base::GuestMemory& mem, std::uint64_t entry, std::uint64_t start_info,
               kvm_sregs& sregs, kvm_regs& regs);

}  // namespace x86
