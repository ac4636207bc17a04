#include "vmm/cpu_setup.h"

#include "x86/boot_cpu.h"
#include "x86/cpuid.h"

namespace vmm {

void setup_vcpu_common(const Kvm& kvm, VcpuFd& vcpu, unsigned count) {
    x86::CpuidHostFacts facts;
    facts.tsc_deadline_timer = kvm.check_extension(KVM_CAP_TSC_DEADLINE_TIMER) > 0;
    vcpu.set_cpuid(x86::guest_cpuid(kvm.supported_cpuid(), vcpu.index(), count, facts));
    vcpu.set_msrs(x86::initial_msrs());
    vcpu.set_fpu(x86::initial_fpu());
    kvm_lapic_state lapic = vcpu.get_lapic();
    x86::set_lint_pins(lapic);
    vcpu.set_lapic(lapic);
}

void setup_long_mode_entry(VcpuFd& vcpu, base::GuestMemory& mem, std::uint64_t entry,
                           std::uint64_t zero_page) {
    kvm_sregs sregs = vcpu.get_sregs();
    kvm_regs regs{};
    x86::long_mode_entry(mem, entry, zero_page, sregs, regs);
    vcpu.set_sregs(sregs);
    vcpu.set_regs(regs);
}

void setup_pvh_entry(VcpuFd& vcpu, base::GuestMemory& mem, std::uint64_t entry,
                     std::uint64_t start_info) {
    kvm_sregs sregs = vcpu.get_sregs();
    kvm_regs regs{};
    x86::pvh_entry(mem, entry, start_info, sregs, regs);
    vcpu.set_sregs(sregs);
    vcpu.set_regs(regs);
}

}  // namespace vmm
