#pragma once
// The boot ABIs a loader speaks, as plain structs whose layout is pinned by
// static_asserts:
//  * the Linux/x86 boot protocol (Documentation/arch/x86/boot.rst and
//    zero-page.rst; arch/x86/include/uapi/asm/bootparam.h): the setup header
//    at 0x1F1 of a bzImage and of the zero page (struct boot_params);
//  * the PVH boot ABI (xen/include/public/arch-x86/hvm/start_info.h):
//    hvm_start_info, handed to the kernel in %ebx.
// All fields are little endian, as is the host.

#include <cstddef>
#include <cstdint>

namespace boot {

// ---- Linux/x86 boot protocol -------------------------------------------------

inline constexpr std::uint32_t kHdrSMagic = 0x53726448;  // "HdrS" at 0x202
inline constexpr std::uint16_t kBootFlag = 0xAA55;       // at 0x1FE
inline constexpr std::size_t kSetupHeaderOffset = 0x1F1;
inline constexpr std::size_t kSectorSize = 512;
inline constexpr std::uint8_t kDefaultSetupSects = 4;  // setup_sects == 0 means 4
inline constexpr std::uint8_t kTypeOfLoaderUndefined = 0xFF;

// loadflags
inline constexpr std::uint8_t kLoadedHigh = 1u << 0;
inline constexpr std::uint8_t kKeepSegments = 1u << 6;
inline constexpr std::uint8_t kCanUseHeap = 1u << 7;

// xloadflags (protocol 2.12+)
inline constexpr std::uint16_t kXlfKernel64 = 1u << 0;
inline constexpr std::uint16_t kXlfCanBeLoadedAbove4G = 1u << 1;

// Protocol versions whose fields this loader relies on.
inline constexpr std::uint16_t kProtocolCmdlineSize = 0x0206;  // cmdline_size
inline constexpr std::uint16_t kProtocolXloadflags = 0x020C;   // xloadflags
inline constexpr std::uint16_t kProtocolInitSize = 0x020A;     // pref_address, init_size
inline constexpr std::uint16_t kProtocolSynthesized = 0x020F;  // header made up for a vmlinux

// boot.rst: "For boot protocols 2.02 or earlier, this field is not present,
// and the maximum address is 0x37FFFFFF."
inline constexpr std::uint32_t kDefaultInitrdAddrMax = 0x37FF'FFFF;
// "heap_end = 0xe000" for protocol >= 2.02 with LOADED_HIGH;
// heap_end_ptr = heap_end - 0x200.
inline constexpr std::uint16_t kHeapEndPtr = 0xE000 - 0x200;

// E820 address range types (ACPI "System Address Map Interfaces").
inline constexpr std::uint32_t kE820Ram = 1;
inline constexpr std::uint32_t kE820Reserved = 2;
inline constexpr std::uint32_t kE820Acpi = 3;
inline constexpr std::size_t kE820MaxEntries = 128;  // E820_MAX_ENTRIES_ZEROPAGE

// struct setup_header: offsets in comments are those of the bzImage file and
// the zero page (boot.rst, "THE REAL-MODE KERNEL HEADER").
struct [[gnu::packed]] SetupHeader {
    std::uint8_t setup_sects;             // 0x1F1
    std::uint16_t root_flags;             // 0x1F2
    std::uint32_t syssize;                // 0x1F4, 16-byte paragraphs
    std::uint16_t ram_size;               // 0x1F8
    std::uint16_t vid_mode;               // 0x1FA
    std::uint16_t root_dev;               // 0x1FC
    std::uint16_t boot_flag;              // 0x1FE
    std::uint16_t jump;                   // 0x200
    std::uint32_t header;                 // 0x202
    std::uint16_t version;                // 0x206
    std::uint32_t realmode_swtch;         // 0x208
    std::uint16_t start_sys_seg;          // 0x20C
    std::uint16_t kernel_version;         // 0x20E
    std::uint8_t type_of_loader;          // 0x210
    std::uint8_t loadflags;               // 0x211
    std::uint16_t setup_move_size;        // 0x212
    std::uint32_t code32_start;           // 0x214
    std::uint32_t ramdisk_image;          // 0x218
    std::uint32_t ramdisk_size;           // 0x21C
    std::uint32_t bootsect_kludge;        // 0x220
    std::uint16_t heap_end_ptr;           // 0x224
    std::uint8_t ext_loader_ver;          // 0x226
    std::uint8_t ext_loader_type;         // 0x227
    std::uint32_t cmd_line_ptr;           // 0x228
    std::uint32_t initrd_addr_max;        // 0x22C
    std::uint32_t kernel_alignment;       // 0x230
    std::uint8_t relocatable_kernel;      // 0x234
    std::uint8_t min_alignment;           // 0x235
    std::uint16_t xloadflags;             // 0x236
    std::uint32_t cmdline_size;           // 0x238
    std::uint32_t hardware_subarch;       // 0x23C
    std::uint64_t hardware_subarch_data;  // 0x240
    std::uint32_t payload_offset;         // 0x248
    std::uint32_t payload_length;         // 0x24C
    std::uint64_t setup_data;             // 0x250
    std::uint64_t pref_address;           // 0x258
    std::uint32_t init_size;              // 0x260
    std::uint32_t handover_offset;        // 0x264
    std::uint32_t kernel_info_offset;     // 0x268
};
static_assert(sizeof(SetupHeader) == 0x26C - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, boot_flag) == 0x1FE - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, header) == 0x202 - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, version) == 0x206 - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, loadflags) == 0x211 - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, ramdisk_image) == 0x218 - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, heap_end_ptr) == 0x224 - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, cmd_line_ptr) == 0x228 - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, initrd_addr_max) == 0x22C - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, xloadflags) == 0x236 - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, cmdline_size) == 0x238 - kSetupHeaderOffset);
static_assert(offsetof(SetupHeader, init_size) == 0x260 - kSetupHeaderOffset);

// struct boot_e820_entry
struct [[gnu::packed]] E820Entry {
    std::uint64_t addr;
    std::uint64_t size;
    std::uint32_t type;
};
static_assert(sizeof(E820Entry) == 20);

// struct boot_params, the "zero page" (zero-page.rst). Only the fields a
// loader fills are named; the rest stays zero.
struct [[gnu::packed]] BootParams {
    std::uint8_t pad0[0x070];              // screen_info, apm_bios_info, tboot, ist
    std::uint64_t acpi_rsdp_addr;          // 0x070
    std::uint8_t pad1[0x0C0 - 0x078];      // obsolete disk info, OLPC
    std::uint32_t ext_ramdisk_image;       // 0x0C0, high 32 bits
    std::uint32_t ext_ramdisk_size;        // 0x0C4
    std::uint32_t ext_cmd_line_ptr;        // 0x0C8
    std::uint8_t pad2[0x1E8 - 0x0CC];      // cc_blob_address, edid, efi, alt_mem_k
    std::uint8_t e820_entries;             // 0x1E8
    std::uint8_t eddbuf_entries;           // 0x1E9
    std::uint8_t edd_mbr_sig_buf_entries;  // 0x1EA
    std::uint8_t kbd_status;               // 0x1EB
    std::uint8_t secure_boot;              // 0x1EC
    std::uint8_t pad3[2];                  // 0x1ED
    std::uint8_t sentinel;                 // 0x1EF, must stay 0
    std::uint8_t pad4[1];                  // 0x1F0
    SetupHeader hdr;                       // 0x1F1
    std::uint8_t pad5[0x2D0 - 0x1F1 - sizeof(SetupHeader)];  // edd_mbr_sig_buffer
    E820Entry e820_table[kE820MaxEntries];                   // 0x2D0
    std::uint8_t pad6[0x1000 - 0xCD0];                       // eddbuf
};
static_assert(sizeof(BootParams) == 4096);
static_assert(offsetof(BootParams, acpi_rsdp_addr) == 0x070);
static_assert(offsetof(BootParams, ext_ramdisk_image) == 0x0C0);
static_assert(offsetof(BootParams, e820_entries) == 0x1E8);
static_assert(offsetof(BootParams, sentinel) == 0x1EF);
static_assert(offsetof(BootParams, hdr) == kSetupHeaderOffset);
static_assert(offsetof(BootParams, e820_table) == 0x2D0);

// ---- PVH (Xen HVM start info) -----------------------------------------------

inline constexpr std::uint32_t kHvmStartMagic = 0x336EC578;  // XEN_HVM_START_MAGIC_VALUE
inline constexpr std::uint32_t kHvmStartInfoVersion = 1;     // has the memmap fields
inline constexpr std::uint32_t kXenElfnotePhys32Entry = 18;  // XEN_ELFNOTE_PHYS32_ENTRY

// struct hvm_start_info; handed to the kernel in %ebx.
struct HvmStartInfo {
    std::uint32_t magic;
    std::uint32_t version;
    std::uint32_t flags;
    std::uint32_t nr_modules;
    std::uint64_t modlist_paddr;
    std::uint64_t cmdline_paddr;
    std::uint64_t rsdp_paddr;
    std::uint64_t memmap_paddr;  // version 1+
    std::uint32_t memmap_entries;
    std::uint32_t reserved;
};
static_assert(sizeof(HvmStartInfo) == 56);
static_assert(offsetof(HvmStartInfo, modlist_paddr) == 16);
static_assert(offsetof(HvmStartInfo, cmdline_paddr) == 24);
static_assert(offsetof(HvmStartInfo, rsdp_paddr) == 32);
static_assert(offsetof(HvmStartInfo, memmap_paddr) == 40);
static_assert(offsetof(HvmStartInfo, memmap_entries) == 48);

// struct hvm_modlist_entry
struct HvmModlistEntry {
    std::uint64_t paddr;
    std::uint64_t size;
    std::uint64_t cmdline_paddr;
    std::uint64_t reserved;
};
static_assert(sizeof(HvmModlistEntry) == 32);

// struct hvm_memmap_table_entry; type uses the E820 values above.
struct HvmMemmapTableEntry {
    std::uint64_t addr;
    std::uint64_t size;
    std::uint32_t type;
    std::uint32_t reserved;
};
static_assert(sizeof(HvmMemmapTableEntry) == 24);
static_assert(offsetof(HvmMemmapTableEntry, type) == 16);

}  // namespace boot
