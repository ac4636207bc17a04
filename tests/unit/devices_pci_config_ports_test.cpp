// Ports 0xCF8-0xCFF on the port bus, driven the way Linux drives them: its
// reboot=pci sequence, its PCI mechanism probes and its early config reads.

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>

#include "devices/bus.h"
#include "devices/pci_config_ports.h"
#include "x86/layout.h"

namespace devices {
namespace {

class DevicesPciConfigPorts : public ::testing::Test {
  protected:
    DevicesPciConfigPorts() : dev(std::make_shared<PciConfigPorts>([this] { ++resets; })) {
        bus.add(layout::kPciConfigAddress, PciConfigPorts::kRangeLength, dev);
    }
    std::uint8_t inb(std::uint16_t port) {
        std::uint8_t v = 0;
        EXPECT_TRUE(bus.read(port, {&v, 1}));
        return v;
    }
    std::uint16_t inw(std::uint16_t port) {
        std::uint16_t v = 0;
        EXPECT_TRUE(bus.read(port, {reinterpret_cast<std::uint8_t*>(&v), 2}));
        return v;
    }
    std::uint32_t inl(std::uint16_t port) {
        std::uint32_t v = 0;
        EXPECT_TRUE(bus.read(port, {reinterpret_cast<std::uint8_t*>(&v), 4}));
        return v;
    }
    void outb(std::uint8_t v, std::uint16_t port) { EXPECT_TRUE(bus.write(port, {&v, 1})); }
    void outw(std::uint16_t v, std::uint16_t port) {
        EXPECT_TRUE(bus.write(port, {reinterpret_cast<std::uint8_t*>(&v), 2}));
    }
    void outl(std::uint32_t v, std::uint16_t port) {
        EXPECT_TRUE(bus.write(port, {reinterpret_cast<std::uint8_t*>(&v), 4}));
    }

    Bus bus{"pio"};
    int resets = 0;
    std::shared_ptr<PciConfigPorts> dev;
};

// arch/x86/kernel/reboot.c, BOOT_CF9_FORCE: read, request a hard reset, then do it.
TEST_F(DevicesPciConfigPorts, LinuxsWarmAndColdCf9SequencesResetOnce) {
    for (const std::uint8_t code : {std::uint8_t{0x06}, std::uint8_t{0x0E}}) {
        resets = 0;
        const std::uint8_t cf9 = inb(0xCF9) & ~code;
        outb(cf9 | 2, 0xCF9);
        EXPECT_EQ(resets, 0) << "SYS_RST alone only selects the kind of reset";
        outb(cf9 | code, 0xCF9);
        EXPECT_EQ(resets, 1) << "RST_CPU resets";
        dev->reset();  // what the reboot does
    }
    EXPECT_EQ(dev->counters().resets, 2u);
}

TEST_F(DevicesPciConfigPorts, ResetControlKeepsItsTypeBitsUntilReboot) {
    EXPECT_EQ(inb(0xCF9), 0);
    outb(0x0A, 0xCF9);  // FULL_RST | SYS_RST
    EXPECT_EQ(inb(0xCF9), 0x0A);
    outb(0xF1, 0xCF9);  // bits the chipset does not keep
    EXPECT_EQ(inb(0xCF9), 0);
    EXPECT_EQ(resets, 0);
    outb(0x02, 0xCF9);
    dev->reset();
    EXPECT_EQ(inb(0xCF9), 0);
}

TEST_F(DevicesPciConfigPorts, OnlyAByteAccessReachesTheResetControlRegister) {
    outw(0x0606, 0xCF9);
    outl(0x0000'0600, 0xCF8);  // a CONFIG_ADDRESS write whose byte 1 is 0x06
    EXPECT_EQ(resets, 0);
}

// arch/x86/pci/direct.c: pci_check_type1 and pci_check_type2 both fail, so
// the kernel uses no configuration mechanism and scans no bus through one.
TEST_F(DevicesPciConfigPorts, LinuxsMechanismProbesFindNone) {
    outb(0x01, 0xCFB);
    const std::uint32_t saved = inl(0xCF8);
    outl(0x8000'0000, 0xCF8);
    EXPECT_NE(inl(0xCF8), 0x8000'0000u) << "type 1 must not look present";
    outl(saved, 0xCF8);

    outb(0x00, 0xCFB);
    outb(0x00, 0xCF8);
    outb(0x00, 0xCFA);
    EXPECT_FALSE(inb(0xCF8) == 0x00 && inb(0xCFA) == 0x00) << "type 2 must not look present";
    EXPECT_EQ(resets, 0);
}

// arch/x86/pci/early.c read_pci_config*: what the early scans see is "no
// device" (vendor and class all ones), so each slot costs them one read.
TEST_F(DevicesPciConfigPorts, EveryConfigReadSeesNoDevice) {
    for (std::uint32_t bus_no : {0u, 1u, 255u}) {
        outl(0x8000'0000 | bus_no << 16 | 3 << 11 | 0x08, 0xCF8);  // class/revision
        EXPECT_EQ(inl(0xCFC), 0xFFFF'FFFFu);
        outl(0x8000'0000 | bus_no << 16 | 3 << 11 | 0x0E, 0xCF8);  // header type
        EXPECT_EQ(inw(0xCFE), 0xFFFF);
        EXPECT_EQ(inb(0xCFF), 0xFF);
    }
    outl(0x1234'5678, 0xCFC);  // config writes go nowhere
    outl(0x8000'0000, 0xCF8);
    EXPECT_EQ(inl(0xCFC), 0xFFFF'FFFFu);
    EXPECT_EQ(bus.unmapped_accesses(), 0u) << "expected accesses, not unmapped ones";
    EXPECT_EQ(dev->counters().config_reads, 10u);
    EXPECT_EQ(dev->counters().config_writes, 8u);
}

}  // namespace
}  // namespace devices
