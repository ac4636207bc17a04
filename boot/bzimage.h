#pragma once
// Linux bzImage: parse and validate the real-mode header, load the
// protected-mode kernel at layout::kHighMem and build its zero page for the
// 64-bit boot protocol (boot.rst, "64-bit Boot Protocol").

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/guest_memory.h"
#include "boot/boot_config.h"
#include "boot/boot_params.h"
#include "boot/initrd.h"

namespace boot {

// The lowest boot protocol accepted: 2.12 brought xloadflags, where a kernel
// declares its 64-bit entry (cmdline_size, from 2.06, comes before it).
inline constexpr std::uint16_t kMinBzImageProtocol = kProtocolXloadflags;
// 64-bit entry point: "the start address of loaded 64-bit kernel plus 0x200".
inline constexpr std::uint64_t kBzImage64BitEntryOffset = 0x200;

// Views into the file it was parsed from, which must outlive it.
struct BzImage {
    SetupHeader header;                    // as in the file; fields past the header's end are 0
    std::uint64_t setup_size;              // (setup_sects + 1) * 512, 0 sects meaning 4
    std::span<const std::uint8_t> kernel;  // the protected-mode code after the setup
};

// True when `file` has "HdrS" at 0x202 (it may still be invalid).
bool has_bzimage_magic(std::span<const std::uint8_t> file);

// "2.06" for 0x0206: the form boot.rst uses.
std::string protocol_version_string(std::uint16_t version);

// Validates every header field this loader relies on. Throws
// base::InvalidInput naming `name`, the problem and what to do.
BzImage parse_bzimage(std::span<const std::uint8_t> file, std::string_view name);

struct BzImageLoad {
    std::uint64_t entry;       // 64-bit entry: layout::kHighMem + 0x200
    std::uint64_t zero_page;   // boot_params, %rsi at entry
    std::uint64_t kernel_end;  // past everything the kernel uses while it starts
    SetupHeader header;        // as parsed from the file
    std::optional<InitrdPlacement> initrd;
};

// Where the kernel runs and how far its init_size reaches, per boot.rst's
// runtime_start rule (and never below pref_address, as Linux moves itself
// there); the end is at least the loaded image's end.
std::uint64_t bzimage_kernel_end(const BzImage& image);

// Parses `file`, copies the protected-mode code to layout::kHighMem, places
// the initrd (if any) and writes the zero page and command line.
BzImageLoad load_bzimage(base::GuestMemory& mem, std::span<const std::uint8_t> file,
                         std::string_view name, std::string_view cmdline,
                         std::optional<std::span<const std::uint8_t>> initrd,
                         std::uint64_t rsdp_addr = 0);

}  // namespace boot
