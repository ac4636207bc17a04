#include "x86/cpuid.h"

#include <cstdint>

namespace x86 {

namespace {

constexpr std::uint32_t kCpuidTscDeadlineBit = 1u << 24;  // leaf 1 ECX
constexpr std::uint32_t kCpuidHypervisorBit = 1u << 31;   // leaf 1 ECX
constexpr std::uint32_t kCpuidHttBit = 1u << 28;          // leaf 1 EDX

unsigned bits_for(unsigned count) {
    unsigned bits = 0;
    while ((1u << bits) < count) {
        ++bits;
    }
    return bits;
}

}  // namespace

CpuidEntries guest_cpuid(const CpuidEntries& supported, unsigned index, unsigned count,
                         const CpuidHostFacts& facts) {
    CpuidEntries out = supported;
    const unsigned core_bits = bits_for(count);
    for (auto& e : out.entries) {
        switch (e.function) {
            case 0x1:
                e.ebx = (e.ebx & 0x0000'FFFF) | (index << 24) | ((count & 0xFF) << 16);
                e.ecx |= kCpuidHypervisorBit;
                if (facts.tsc_deadline_timer) {
                    e.ecx |= kCpuidTscDeadlineBit;
                }
                if (count > 1) {
                    e.edx |= kCpuidHttBit;
                } else {
                    e.edx &= ~kCpuidHttBit;
                }
                break;
            case 0x4:  // Intel deterministic cache parameters: cores per package
                e.eax = (e.eax & 0x03FF'FFFF) | (((count - 1) & 0x3F) << 26);
                break;
            case 0xB:  // x2APIC topology: one thread per core, `count` cores
            case 0x1F:
                e.edx = index;
                if (e.index == 0) {
                    e.eax = 0;
                    e.ebx = 1;
                    e.ecx = (1u << 8) | 0;
                } else if (e.index == 1) {
                    e.eax = core_bits;
                    e.ebx = count;
                    e.ecx = (2u << 8) | 1;
                } else {
                    e.eax = e.ebx = 0;
                    e.ecx = e.index;
                }
                break;
            case 0x8000'0008:  // AMD: number of cores - 1, APIC id size
                e.ecx = (e.ecx & ~0xF0FFu) | ((count - 1) & 0xFF) | (core_bits << 12);
                break;
            case 0x8000'001E:  // AMD topology extensions
                e.eax = index;
                e.ebx = index & 0xFF;
                e.ecx = 0;
                break;
            default:
                break;
        }
    }
    return out;
}

}  // namespace x86
