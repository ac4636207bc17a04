// The code at the reset vector: its bytes, where it lies, that the e820 map
// keeps it from the guest's allocator, and that it survives the ACPI tables.
// Its effect on a real guest is proved by the stock-kernel reboot tests in
// tests/integration/vmm_reboot_test.cpp.

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "boot/e820.h"
#include "firmware/acpi.h"
#include "firmware/reset_code.h"
#include "x86/layout.h"

namespace firmware {
namespace {

namespace fs = std::filesystem;

std::vector<std::uint8_t> slice(const std::array<std::uint8_t, kResetCodeSize>& image,
                                std::size_t from, std::size_t n) {
    return {image.begin() + static_cast<std::ptrdiff_t>(from),
            image.begin() + static_cast<std::ptrdiff_t>(from + n)};
}

TEST(ResetCode, TheResetVectorJumpsFarToTheCodeInTheBiosSegment) {
    const auto image = reset_code_image();
    const std::size_t vector = layout::kResetVector - layout::kResetCode;
    // jmp far F000:FF00: the segment real hardware starts in, the code's offset in it.
    EXPECT_EQ(slice(image, vector, 5), (std::vector<std::uint8_t>{0xEA, 0x00, 0xFF, 0x00, 0xF0}));
    EXPECT_EQ(layout::kResetVector, 0xFFFF0u) << "F000:FFF0, where Linux's real-mode restart jumps";
    EXPECT_EQ((std::uint64_t{kBiosSegment} << 4) + 0xFF00, layout::kResetCode);
}

TEST(ResetCode, TheCodeWritesTheAcpiResetRegisterFirstThenFallsBack) {
    const auto image = reset_code_image();
    const std::vector<std::uint8_t> want = {
        0xFA,                                // cli
        0xB0, 0x01,                          // mov al, 1          (kAcpiResetValue)
        0xBA, 0x02, 0x06,                    // mov dx, 0x602      (kAcpiReset)
        0xEE,                                // out dx, al
        0xB0, 0x06,                          // mov al, 6          (SYS_RST | RST_CPU)
        0xBA, 0xF9, 0x0C,                    // mov dx, 0xcf9      (kResetControl)
        0xEE,                                // out dx, al
        0x2E, 0x0F, 0x01, 0x1E, 0x20, 0xFF,  // lidt cs:[0xff20]
        0xCC,                                // int3: beyond an IDT of limit 0, a triple fault
        0xF4, 0xEB, 0xFD,                    // hlt; jmp back to the hlt
    };
    EXPECT_EQ(slice(image, 0, want.size()), want);
    EXPECT_EQ(slice(image, kResetIdtDescriptorOffset, 6), std::vector<std::uint8_t>(6, 0))
        << "the IDT descriptor: limit 0, base 0";
    EXPECT_EQ(layout::kResetCode + kResetIdtDescriptorOffset, 0xFFF20u);
    // Everything else is hlt: a jump anywhere else in the image stops that vCPU.
    for (std::size_t i = want.size(); i < kResetCodeSize; ++i) {
        const bool descriptor = i >= kResetIdtDescriptorOffset && i < kResetIdtDescriptorOffset + 6;
        const bool vector = i >= layout::kResetVector - layout::kResetCode &&
                            i < layout::kResetVector - layout::kResetCode + 5;
        if (!descriptor && !vector) {
            EXPECT_EQ(image[i], 0xF4) << "byte " << i;
        }
    }
}

// A second opinion on the encoding: binutils' disassembler reads the image as
// 16-bit code at its guest address.
TEST(ResetCode, ObjdumpReadsTheIntendedInstructions) {
    if (std::system("command -v objdump >/dev/null 2>&1") != 0) {
        GTEST_SKIP() << "objdump (binutils) not installed";
    }
    const fs::path bin = fs::temp_directory_path() / ("reset-code-" + std::to_string(getpid()));
    {
        const auto image = reset_code_image();
        std::ofstream out(bin, std::ios::binary);
        out.write(reinterpret_cast<const char*>(image.data()), image.size());
    }
    const std::string command =
        "objdump -D -b binary -m i8086 --adjust-vma=0xfff00 " + bin.string() + " 2>&1";
    std::string text;
    if (FILE* p = popen(command.c_str(), "r")) {
        char buf[4096];
        for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) {
            text.append(buf, n);
        }
        pclose(p);
    }
    fs::remove(bin);
    std::string code;  // "address: instruction" lines, spacing squeezed
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        const auto tab = line.rfind('\t');
        const auto colon = line.find(':');
        if (tab == std::string::npos || colon == std::string::npos) {
            continue;
        }
        std::string insn;
        for (char c : line.substr(tab + 1)) {
            if (!(c == ' ' && !insn.empty() && insn.back() == ' ')) {
                insn += c;
            }
        }
        while (!insn.empty() && insn.back() == ' ') {
            insn.pop_back();
        }
        std::string addr = line.substr(0, colon);
        addr.erase(0, addr.find_first_not_of(' '));
        code += addr + ": " + insn + "\n";
    }
    for (const char* want : {"fff00: cli\n", "fff01: mov $0x1,%al\n", "fff03: mov $0x602,%dx\n",
                             "fff06: out %al,(%dx)\n", "fff07: mov $0x6,%al\n",
                             "fff09: mov $0xcf9,%dx\n", "fff0c: out %al,(%dx)\n",
                             // 0xff20 as objdump prints a 16-bit displacement: signed
                             "fff0d: lidtw %cs:-0xe0\n", "fff13: int3\n", "fff14: hlt\n",
                             "fff15: jmp 0xfff14\n", "ffff0: ljmp $0xf000,$0xff00\n"}) {
        EXPECT_NE(code.find(want), std::string::npos) << "missing '" << want << "' in\n" << code;
    }
}

TEST(ResetCode, WriteLeavesItInGuestRamAtTheTopOfTheBiosArea) {
    base::GuestMemory memory(16 << 20);
    write_reset_code(memory);
    std::vector<std::uint8_t> copy(kResetCodeSize);
    ASSERT_TRUE(memory.read(layout::kResetCode, copy));
    const auto image = reset_code_image();
    EXPECT_EQ(copy, std::vector<std::uint8_t>(image.begin(), image.end()));
    EXPECT_EQ(layout::kResetCode + kResetCodeSize, layout::kBiosEnd);
}

TEST(ResetCode, TheLargestAcpiTablesStayBelowItAndBothSurvive) {
    AcpiConfig config;
    config.vcpus = kAcpiMaxVcpus;
    for (std::uint32_t i = 0; i < layout::kMaxVirtioDevices; ++i) {
        config.virtio.push_back({layout::kVirtioMmioBase + i * layout::kVirtioMmioStride,
                                 layout::kVirtioMmioStride, layout::kIrqVirtioFirst + i});
    }
    const AcpiTables tables = build_acpi_tables(config, layout::kBiosStart);
    EXPECT_LE(layout::kBiosStart + tables.bytes.size(), layout::kResetCode);

    base::GuestMemory memory(16 << 20);
    write_acpi_tables(memory, config);
    write_reset_code(memory);  // the order vmm/guest_setup.cpp uses
    std::vector<std::uint8_t> acpi(tables.bytes.size());
    ASSERT_TRUE(memory.read(layout::kBiosStart, acpi));
    EXPECT_EQ(acpi, tables.bytes);
    std::vector<std::uint8_t> code(kResetCodeSize);
    ASSERT_TRUE(memory.read(layout::kResetCode, code));
    const auto image = reset_code_image();
    EXPECT_EQ(code, std::vector<std::uint8_t>(image.begin(), image.end()));
}

TEST(ResetCode, TheE820MapReservesItsBytes) {
    base::GuestMemory memory(256 << 20);
    bool reserved = false;
    for (const boot::E820Entry& e : boot::build_e820_map(memory)) {
        const std::uint64_t end = e.addr + e.size;
        const bool overlaps = e.addr < layout::kBiosEnd && end > layout::kResetCode;
        if (overlaps) {
            EXPECT_EQ(e.type, boot::kE820Reserved)
                << "the guest must not allocate the reset code's page";
            reserved |= e.addr <= layout::kResetCode && end >= layout::kBiosEnd;
        }
    }
    EXPECT_TRUE(reserved);
}

TEST(ResetCode, WriteFailsWhenRamEndsBelowIt) {
    base::GuestMemory memory(512 << 10);
    EXPECT_THROW(write_reset_code(memory), base::InvalidInput);
}

}  // namespace
}  // namespace firmware
