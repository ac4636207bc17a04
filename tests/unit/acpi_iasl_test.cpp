// Cross-checks the tables with ACPICA's own disassembler and compiler (the
// Debian package acpica-tools). Skipped when iasl is not installed.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "firmware/acpi.h"
#include "firmware/acpi_table.h"
#include "x86/layout.h"

namespace firmware {
namespace {

namespace fs = std::filesystem;

bool have_iasl() {
    return std::system("command -v iasl >/dev/null 2>&1") == 0;
}

struct CommandResult {
    int status;
    std::string output;
};

CommandResult run(const std::string& command) {
    CommandResult result{-1, {}};
    FILE* pipe = popen((command + " 2>&1").c_str(), "r");
    if (pipe == nullptr) {
        return result;
    }
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) {
        result.output.append(buf, n);
    }
    result.status = pclose(pipe);
    return result;
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

class AcpiIasl : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!have_iasl()) {
            GTEST_SKIP() << "iasl (acpica-tools) not installed";
        }
        std::string pattern = (fs::temp_directory_path() / "acpi-iasl-XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
        AcpiConfig config{
            2,
            {{layout::kVirtioMmioBase, layout::kVirtioMmioStride, layout::kIrqVirtioFirst},
             {layout::kVirtioMmioBase + layout::kVirtioMmioStride, layout::kVirtioMmioStride,
              layout::kIrqVirtioFirst + 1}}};
        tables_ = build_acpi_tables(config, layout::kBiosStart);
    }

    void TearDown() override {
        if (!dir_.empty()) {
            std::error_code ignored;
            fs::remove_all(dir_, ignored);
        }
    }

    // Writes the table at `addr` to dir/name.dat, disassembles it and returns
    // the .dsl text.
    std::string disassemble(base::GuestAddress addr, const std::string& name) {
        AcpiTableHeader header;
        std::memcpy(&header, tables_.bytes.data() + (addr - tables_.base), sizeof header);
        fs::path dat = dir_ / (name + ".dat");
        std::ofstream(dat, std::ios::binary)
            .write(reinterpret_cast<const char*>(tables_.bytes.data() + (addr - tables_.base)),
                   header.length);
        CommandResult r = run("cd '" + dir_.string() + "' && iasl -d " + name + ".dat");
        EXPECT_EQ(r.status, 0) << r.output;
        EXPECT_EQ(r.output.find("Error"), std::string::npos) << r.output;
        EXPECT_EQ(r.output.find("Warning"), std::string::npos) << r.output;
        std::string dsl = read_file(dir_ / (name + ".dsl"));
        EXPECT_EQ(dsl.find("Incorrect checksum"), std::string::npos) << dsl;
        EXPECT_EQ(dsl.find("Invalid"), std::string::npos) << dsl;
        return dsl;
    }

    fs::path dir_;
    AcpiTables tables_;
};

TEST_F(AcpiIasl, DsdtDisassemblesAndRecompiles) {
    std::string dsl = disassemble(tables_.dsdt, "dsdt");
    for (const char* text : {"DefinitionBlock (\"\", \"DSDT\", 2",
                             "Name (_S5, Package (0x04)",
                             "Scope (\\_SB)",
                             "Device (COM1)",
                             "EisaId (\"PNP0501\")",
                             "0x03F8",
                             "Device (PS2K)",
                             "EisaId (\"PNP0303\")",
                             "Device (RTC)",
                             "EisaId (\"PNP0B00\")",
                             "Device (PEVT)",
                             "\"QEMU0001\"",
                             "0x0505",
                             "Device (PWRB)",
                             "EisaId (\"PNP0C0C\")",
                             "Device (GED)",
                             "\"ACPI0013\"",
                             "Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive",
                             "OperationRegion (GDST, SystemIO, 0x0604, 0x04)",
                             "Field (GDST, DWordAcc, NoLock, WriteAsZeros)",
                             "Method (_EVT, 1, Serialized)",
                             "Notify (\\_SB.PWRB, 0x80)",
                             "Device (VR00)",
                             "Device (VR01)",
                             "\"LNRO0005\"",
                             "Memory32Fixed (ReadWrite,",
                             "0xD0001000",
                             "0x00000011"}) {
        EXPECT_NE(dsl.find(text), std::string::npos) << "missing: " << text << "\n" << dsl;
    }
    // ACPICA's compiler accepts what its disassembler made of our AML.
    CommandResult r = run("cd '" + dir_.string() + "' && iasl -p recompiled dsdt.dsl");
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("Compilation successful. 0 Errors, 0 Warnings"), std::string::npos)
        << r.output;
}

TEST_F(AcpiIasl, FadtDisassembles) {
    std::string dsl = disassemble(tables_.fadt, "facp");
    for (const char* text : {"Signature : \"FACP\"", "Revision : 06", "SCI Interrupt : 0009",
                             "8042 Present on ports 60/64 (V2) : 1", "VGA Not Present (V4) : 1",
                             "Reset Register Supported (V2) : 1", "Hardware Reduced (V5) : 1",
                             "Address : 0000000000000602", "Value to cause reset : 01",
                             "Address : 0000000000000600", "Address : 0000000000000601"}) {
        EXPECT_NE(dsl.find(text), std::string::npos) << "missing: " << text << "\n" << dsl;
    }
    char dsdt[64];
    std::snprintf(dsdt, sizeof dsdt, "DSDT Address : %016llX",
                  static_cast<unsigned long long>(tables_.dsdt));
    EXPECT_NE(dsl.find(dsdt), std::string::npos) << dsl;
}

TEST_F(AcpiIasl, MadtAndXsdtDisassemble) {
    std::string madt = disassemble(tables_.madt, "apic");
    EXPECT_NE(madt.find("Local Apic Address : FEE00000"), std::string::npos) << madt;
    EXPECT_NE(madt.find("PC-AT Compatibility : 0"), std::string::npos) << madt;
    EXPECT_NE(madt.find("Local Apic ID : 01"), std::string::npos) << madt;
    EXPECT_EQ(madt.find("Local Apic ID : 02"), std::string::npos) << madt;
    EXPECT_NE(madt.find("Address : FEC00000"), std::string::npos) << madt;
    EXPECT_NE(madt.find("[Interrupt Source Override]"), std::string::npos) << madt;

    std::string xsdt = disassemble(tables_.xsdt, "xsdt");
    char entry[64];
    std::snprintf(entry, sizeof entry, "ACPI Table Address   0 : %016llX",
                  static_cast<unsigned long long>(tables_.fadt));
    EXPECT_NE(xsdt.find(entry), std::string::npos) << xsdt;
    std::snprintf(entry, sizeof entry, "ACPI Table Address   1 : %016llX",
                  static_cast<unsigned long long>(tables_.madt));
    EXPECT_NE(xsdt.find(entry), std::string::npos) << xsdt;
}

}  // namespace
}  // namespace firmware
