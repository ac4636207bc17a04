#include "boot/bzimage.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "base/error.h"
#include "base/hex.h"
#include "boot/zero_page.h"
#include "x86/layout.h"

namespace boot {

namespace {

constexpr std::size_t kBootFlagOffset = 0x1FE;
constexpr std::size_t kJumpOffset = 0x200;
constexpr std::size_t kMagicOffset = 0x202;
constexpr std::size_t kVersionOffset = 0x206;
constexpr std::uint8_t kJmpShort = 0xEB;
constexpr std::size_t kHeaderFileEnd = kSetupHeaderOffset + sizeof(SetupHeader);
// Past cmdline_size (0x238/4): what protocol 2.06+ promises at least.
constexpr std::size_t kMinHeaderEnd = 0x23C;

std::uint16_t le16(std::span<const std::uint8_t> f, std::size_t off) {
    return static_cast<std::uint16_t>(f[off] | f[off + 1] << 8);
}

std::uint32_t le32(std::span<const std::uint8_t> f, std::size_t off) {
    return std::uint32_t{le16(f, off)} | std::uint32_t{le16(f, off + 2)} << 16;
}

[[noreturn]] void not_a_bzimage(std::string_view name, const std::string& problem) {
    throw base::InvalidInput(std::string(name) + " is not a bzImage: " + problem +
                             "; pass a Linux bzImage or an ELF vmlinux");
}

[[noreturn]] void truncated(std::string_view name, const std::string& problem) {
    throw base::InvalidInput(std::string(name) + " is truncated: " + problem +
                             "; pass a complete bzImage");
}

bool is_power_of_two(std::uint64_t v) {
    return v != 0 && (v & (v - 1)) == 0;
}

}  // namespace

bool has_bzimage_magic(std::span<const std::uint8_t> file) {
    return file.size() >= kMagicOffset + 4 && le32(file, kMagicOffset) == kHdrSMagic;
}

std::string protocol_version_string(std::uint16_t version) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%u.%02u", version >> 8, version & 0xFFu);
    return buf;
}

BzImage parse_bzimage(std::span<const std::uint8_t> file, std::string_view name) {
    const std::string n(name);
    if (file.size() < kSectorSize) {
        not_a_bzimage(name, "it has " + std::to_string(file.size()) +
                                " bytes, fewer than the 512-byte boot sector");
    }
    if (le16(file, kBootFlagOffset) != kBootFlag) {
        not_a_bzimage(name, "missing boot flag 0xAA55 at offset 0x1FE");
    }
    if (file.size() < kVersionOffset + 2) {
        truncated(name, "the file ends inside the setup header at " + base::hex(file.size()));
    }
    if (le32(file, kMagicOffset) != kHdrSMagic) {
        not_a_bzimage(name, "missing HdrS magic at offset 0x202");
    }
    const std::uint16_t version = le16(file, kVersionOffset);
    if (version < kProtocolCmdlineSize) {
        throw base::InvalidInput(n + " uses Linux boot protocol " +
                                 protocol_version_string(version) +
                                 ", older than 2.06 (no cmdline_size field); use a 64-bit kernel "
                                 "from Linux 3.8 or newer");
    }
    if (version < kMinBzImageProtocol) {
        throw base::InvalidInput(n + " uses Linux boot protocol " +
                                 protocol_version_string(version) + ", older than " +
                                 protocol_version_string(kMinBzImageProtocol) +
                                 " (no xloadflags to declare a 64-bit entry point); use a 64-bit "
                                 "kernel from Linux 3.8 or newer");
    }

    const std::uint8_t sects =
        file[kSetupHeaderOffset] != 0 ? file[kSetupHeaderOffset] : kDefaultSetupSects;
    const std::uint64_t setup_size = (std::uint64_t{sects} + 1) * kSectorSize;
    if (file.size() < setup_size) {
        truncated(name, "the setup code needs " + std::to_string(setup_size) +
                            " bytes (setup_sects=" + std::to_string(sects) +
                            ") but the file has only " + std::to_string(file.size()));
    }
    if (file[kJumpOffset] != kJmpShort) {
        not_a_bzimage(name, "no short jump (0xEB) at offset 0x200 to give the header's length");
    }
    const std::size_t header_end = kMagicOffset + file[kJumpOffset + 1];
    if (header_end < kMinHeaderEnd) {
        not_a_bzimage(name, "its setup header ends at " + base::hex(header_end) +
                                ", before the cmdline_size field protocol " +
                                protocol_version_string(version) + " promises");
    }

    BzImage image{};
    image.setup_size = setup_size;
    const std::size_t copy = std::min(header_end, kHeaderFileEnd) - kSetupHeaderOffset;
    std::memcpy(&image.header, file.data() + kSetupHeaderOffset, copy);
    const SetupHeader& h = image.header;

    if ((h.xloadflags & kXlfKernel64) == 0) {
        throw base::InvalidInput(n +
                                 " has no 64-bit entry point (XLF_KERNEL_64 is clear in "
                                 "xloadflags); pass a 64-bit x86 kernel");
    }
    if ((h.loadflags & kLoadedHigh) == 0) {
        not_a_bzimage(name,
                      "LOADED_HIGH is clear in loadflags, so it is a zImage that loads "
                      "below 1 MiB");
    }
    image.kernel = file.subspan(setup_size);
    if (image.kernel.empty()) {
        truncated(name, "no protected-mode code follows its " + std::to_string(setup_size) +
                            "-byte setup");
    }
    if (image.kernel.size() <= kBzImage64BitEntryOffset) {
        truncated(name, "its " + std::to_string(image.kernel.size()) +
                            " bytes of protected-mode code end before the 64-bit entry point at "
                            "offset " +
                            base::hex(kBzImage64BitEntryOffset));
    }
    const std::uint64_t sys_bytes = std::uint64_t{h.syssize} * 16;
    if (sys_bytes == 0) {
        not_a_bzimage(name, "syssize is 0 (no protected-mode code)");
    }
    if (sys_bytes > image.kernel.size() + 15) {
        truncated(name, "the header says " + std::to_string(sys_bytes) +
                            " bytes of protected-mode code (syssize) but only " +
                            std::to_string(image.kernel.size()) + " follow the setup");
    }
    if (h.relocatable_kernel != 0 && !is_power_of_two(h.kernel_alignment)) {
        not_a_bzimage(name, "kernel_alignment " + base::hex(h.kernel_alignment) +
                                " of a relocatable kernel is not a power of two");
    }
    return image;
}

std::uint64_t bzimage_kernel_end(const BzImage& image) {
    const SetupHeader& h = image.header;
    const std::uint64_t loaded_end = layout::kHighMem + image.kernel.size();
    if (h.version < kProtocolInitSize || h.init_size == 0) {
        return loaded_end;
    }
    std::uint64_t runtime_start = h.pref_address;
    if (h.relocatable_kernel != 0) {
        const std::uint64_t align = h.kernel_alignment;
        const std::uint64_t aligned = (layout::kHighMem + align - 1) & ~(align - 1);
        runtime_start = std::max(aligned, runtime_start);
    }
    // A non-relocatable kernel with no pref_address runs where it is loaded.
    runtime_start = std::max(runtime_start, std::uint64_t{layout::kHighMem});
    if (runtime_start > UINT64_MAX - h.init_size) {
        return UINT64_MAX;  // a corrupt pref_address: fits no guest
    }
    return std::max(loaded_end, runtime_start + h.init_size);
}

BzImageLoad load_bzimage(base::GuestMemory& mem, std::span<const std::uint8_t> file,
                         std::string_view name, std::string_view cmdline,
                         std::optional<std::span<const std::uint8_t>> initrd,
                         std::uint64_t rsdp_addr) {
    const BzImage image = parse_bzimage(file, name);
    const std::uint64_t low_end = mem.regions().front().guest_end();
    const std::uint64_t kernel_end = bzimage_kernel_end(image);
    if (kernel_end > low_end) {
        throw base::InvalidInput(
            std::string(name) + " needs guest RAM up to " + base::hex(kernel_end) +
            " to load and decompress (" + std::to_string(image.kernel.size() >> 10) +
            " KiB image, init_size " + std::to_string(image.header.init_size >> 10) +
            " KiB) but RAM below the 3 GiB hole ends at " + base::hex(low_end) +
            "; give the VM more memory");
    }
    if (!mem.write(layout::kHighMem, image.kernel)) {
        throw base::InvalidInput(std::string(name) + " does not fit in guest memory at " +
                                 base::hex(layout::kHighMem) + "; give the VM more memory");
    }

    BzImageLoad out{};
    out.entry = layout::kHighMem + kBzImage64BitEntryOffset;
    out.kernel_end = kernel_end;
    out.header = image.header;
    if (initrd) {
        out.initrd = load_initrd(mem, *initrd, kernel_end, image.header.initrd_addr_max);
    }
    out.zero_page = build_zero_page(mem, image.header, {cmdline, out.initrd, rsdp_addr});
    return out;
}

}  // namespace boot
