#include "firmware/reset_code.h"

#include <initializer_list>

#include "base/error.h"

namespace firmware {

namespace {

// x86 encodings used below (16-bit code, real mode).
constexpr std::uint8_t kCli = 0xFA;
constexpr std::uint8_t kMovAlImm8 = 0xB0;
constexpr std::uint8_t kMovDxImm16 = 0xBA;
constexpr std::uint8_t kOutDxAl = 0xEE;
constexpr std::uint8_t kCsPrefix = 0x2E;
constexpr std::uint8_t kLidtDisp16[] = {0x0F, 0x01, 0x1E};  // lidt [disp16] (/3, rm=110)
constexpr std::uint8_t kInt3 = 0xCC;
constexpr std::uint8_t kHlt = 0xF4;
constexpr std::uint8_t kJmpShort = 0xEB;
constexpr std::uint8_t kJmpFar = 0xEA;

// The offset of `addr` in the real-mode segment kBiosSegment.
constexpr std::uint16_t offset_in_bios_segment(std::uint64_t addr) {
    return static_cast<std::uint16_t>(addr - (std::uint64_t{kBiosSegment} << 4));
}

class Writer {
  public:
    explicit Writer(std::array<std::uint8_t, kResetCodeSize>& out) : out_(out) {}
    void bytes(std::initializer_list<std::uint8_t> list) {
        for (std::uint8_t b : list) {
            put(b);
        }
    }
    void word(std::uint16_t w) {
        put(static_cast<std::uint8_t>(w));
        put(static_cast<std::uint8_t>(w >> 8));
    }
    std::size_t at() const { return at_; }
    void seek(std::size_t at) { at_ = at; }

  private:
    void put(std::uint8_t b) {
        if (at_ >= out_.size()) {
            throw base::InternalError("reset code overruns its image");
        }
        out_[at_++] = b;
    }
    std::array<std::uint8_t, kResetCodeSize>& out_;
    std::size_t at_ = 0;
};

}  // namespace

std::array<std::uint8_t, kResetCodeSize> reset_code_image() {
    std::array<std::uint8_t, kResetCodeSize> image;
    image.fill(kHlt);
    Writer w(image);

    w.bytes({kCli});
    // The ACPI reset register (the FADT's RESET_REG): the VMM reboots on this write.
    w.bytes({kMovAlImm8, layout::kAcpiResetValue});
    w.bytes({kMovDxImm16});
    w.word(layout::kAcpiReset);
    w.bytes({kOutDxAl});
    // Should that not end the boot: a hard reset through the reset control register.
    w.bytes({kMovAlImm8, layout::kResetControlSystemReset | layout::kResetControlCpuReset});
    w.bytes({kMovDxImm16});
    w.word(layout::kResetControl);
    w.bytes({kOutDxAl});
    // And then a triple fault: no interrupt vector fits an IDT of limit 0.
    w.bytes({kCsPrefix, kLidtDisp16[0], kLidtDisp16[1], kLidtDisp16[2]});
    w.word(offset_in_bios_segment(layout::kResetCode + kResetIdtDescriptorOffset));
    w.bytes({kInt3});
    w.bytes({kHlt, kJmpShort, static_cast<std::uint8_t>(-3)});  // hlt; jmp to that hlt
    if (w.at() > kResetIdtDescriptorOffset) {
        throw base::InternalError("reset code overlaps its IDT descriptor");
    }

    w.seek(kResetIdtDescriptorOffset);
    w.bytes({0, 0, 0, 0, 0, 0});  // limit 0, base 0

    w.seek(layout::kResetVector - layout::kResetCode);
    w.bytes({kJmpFar});
    w.word(offset_in_bios_segment(layout::kResetCode));
    w.word(kBiosSegment);
    return image;
}

void write_reset_code(base::GuestMemory& memory) {
    const auto image = reset_code_image();
    if (!memory.write(layout::kResetCode, image)) {
        throw base::InvalidInput(
            "guest RAM does not cover the reset vector at 0xFFFF0; give the VM more memory");
    }
}

}  // namespace firmware
