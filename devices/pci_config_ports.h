#pragma once
// Ports 0xCF8-0xCFF of a PC chipset on a machine without PCI: ONE device
// covering the kRangeLength ports from layout::kPciConfigAddress, by offset:
//
//   1, a byte access: the reset control register RST_CNT (layout::kResetControl,
//      0xCF9) that Intel chipsets put here. A write with RST_CPU (bit 2)
//      resets the machine (Linux's reboot=pci writes 0x06 or 0x0E); SYS_RST
//      (bit 1) and FULL_RST (bit 3) are kept and read back, as the chipset
//      keeps them; a reboot clears them.
//   0..7, every other access: CONFIG_ADDRESS (0xCF8) and CONFIG_DATA (0xCFC)
//      of PCI configuration mechanism #1, answered as a PC without a host
//      bridge answers them, and as QEMU's microvm does (no PCI, the ports
//      unassigned): reads return all ones, writes are dropped. Linux's probe
//      then finds no mechanism (0xCF8 does not read back what it wrote), and
//      the scans it runs before probing (early quirks; on an AMD family 0Fh,
//      10h or early 15h CPU the GART aperture check walks all 256 buses x 32
//      slots, twice) see "no device" after one read per slot: any other
//      answer would make them read on. They are expected, so they are counted
//      here, not logged as unmapped accesses.
//
// Threading: lock-free (atomics); the reset callback runs on the vCPU thread.

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>

#include "devices/bus.h"

namespace devices {

class PciConfigPorts final : public BusDevice {
  public:
    static constexpr std::uint64_t kRangeLength = 8;
    static constexpr std::uint64_t kResetControlOffset = 1;
    static constexpr std::uint64_t kConfigDataOffset = 4;
    static constexpr std::uint8_t kSystemReset = 1u << 1;  // SYS_RST
    static constexpr std::uint8_t kCpuReset = 1u << 2;     // RST_CPU
    static constexpr std::uint8_t kFullReset = 1u << 3;    // FULL_RST
    static constexpr std::uint8_t kKeptBits = kSystemReset | kFullReset;

    struct Counters {
        std::uint64_t config_reads = 0;   // of 0xCF8 or 0xCFC: all ones
        std::uint64_t config_writes = 0;  // that reached the VMM (see vmm/platform_devices.h)
        std::uint64_t resets = 0;
    };

    explicit PciConfigPorts(std::function<void()> on_reset);

    void read(std::uint64_t offset, std::span<std::uint8_t> data) override;
    void write(std::uint64_t offset, std::span<const std::uint8_t> data) override;
    void reset() override;

    Counters counters() const;

  private:
    static bool is_reset_control(std::uint64_t offset, std::size_t size) {
        return offset == kResetControlOffset && size == 1;
    }

    const std::function<void()> on_reset_;
    std::atomic<std::uint8_t> reset_control_{0};
    std::atomic<std::uint64_t> config_reads_{0};
    std::atomic<std::uint64_t> config_writes_{0};
    std::atomic<std::uint64_t> resets_{0};
};

}  // namespace devices
