#pragma once
// Fixed ACPI Description Table, revision 6 (ACPI 6.5 §5.2.9), for a
// hardware-reduced machine (§4.1): no PM1/GPE blocks, no SMI, no FACS. What
// is left are the reset register (§4.8.3.6), the sleep control and status
// registers (§4.8.3.7, §4.8.3.8) that carry SLP_TYP/SLP_EN and WAK_STS, the
// SCI line (here the Generic Event Device's) and the DSDT's address.

#include <cstddef>
#include <cstdint>

#include "firmware/acpi_table.h"

namespace firmware {

// §5.2.9 "FADT Format".
struct [[gnu::packed]] Fadt {
    AcpiTableHeader header;  // "FACP", revision 6
    std::uint32_t firmware_ctrl;
    std::uint32_t dsdt;  // 0: X_DSDT is used
    std::uint8_t reserved0;
    std::uint8_t preferred_pm_profile;
    std::uint16_t sci_int;
    std::uint32_t smi_cmd;
    std::uint8_t acpi_enable;
    std::uint8_t acpi_disable;
    std::uint8_t s4bios_req;
    std::uint8_t pstate_cnt;
    std::uint32_t pm1a_evt_blk;
    std::uint32_t pm1b_evt_blk;
    std::uint32_t pm1a_cnt_blk;
    std::uint32_t pm1b_cnt_blk;
    std::uint32_t pm2_cnt_blk;
    std::uint32_t pm_tmr_blk;
    std::uint32_t gpe0_blk;
    std::uint32_t gpe1_blk;
    std::uint8_t pm1_evt_len;
    std::uint8_t pm1_cnt_len;
    std::uint8_t pm2_cnt_len;
    std::uint8_t pm_tmr_len;
    std::uint8_t gpe0_blk_len;
    std::uint8_t gpe1_blk_len;
    std::uint8_t gpe1_base;
    std::uint8_t cst_cnt;
    std::uint16_t p_lvl2_lat;
    std::uint16_t p_lvl3_lat;
    std::uint16_t flush_size;
    std::uint16_t flush_stride;
    std::uint8_t duty_offset;
    std::uint8_t duty_width;
    std::uint8_t day_alrm;
    std::uint8_t mon_alrm;
    std::uint8_t century;
    std::uint16_t iapc_boot_arch;
    std::uint8_t reserved1;
    std::uint32_t flags;
    GenericAddress reset_reg;
    std::uint8_t reset_value;
    std::uint16_t arm_boot_arch;
    std::uint8_t minor_version;
    std::uint64_t x_firmware_ctrl;
    std::uint64_t x_dsdt;
    GenericAddress x_pm1a_evt_blk;
    GenericAddress x_pm1b_evt_blk;
    GenericAddress x_pm1a_cnt_blk;
    GenericAddress x_pm1b_cnt_blk;
    GenericAddress x_pm2_cnt_blk;
    GenericAddress x_pm_tmr_blk;
    GenericAddress x_gpe0_blk;
    GenericAddress x_gpe1_blk;
    GenericAddress sleep_control_reg;
    GenericAddress sleep_status_reg;
    std::uint64_t hypervisor_vendor_identity;
};
static_assert(offsetof(Fadt, firmware_ctrl) == 36);
static_assert(offsetof(Fadt, dsdt) == 40);
static_assert(offsetof(Fadt, preferred_pm_profile) == 45);
static_assert(offsetof(Fadt, sci_int) == 46);
static_assert(offsetof(Fadt, smi_cmd) == 48);
static_assert(offsetof(Fadt, pstate_cnt) == 55);
static_assert(offsetof(Fadt, pm1a_evt_blk) == 56);
static_assert(offsetof(Fadt, gpe1_blk) == 84);
static_assert(offsetof(Fadt, pm1_evt_len) == 88);
static_assert(offsetof(Fadt, cst_cnt) == 95);
static_assert(offsetof(Fadt, p_lvl2_lat) == 96);
static_assert(offsetof(Fadt, flush_stride) == 102);
static_assert(offsetof(Fadt, duty_offset) == 104);
static_assert(offsetof(Fadt, century) == 108);
static_assert(offsetof(Fadt, iapc_boot_arch) == 109);
static_assert(offsetof(Fadt, reserved1) == 111);
static_assert(offsetof(Fadt, flags) == 112);
static_assert(offsetof(Fadt, reset_reg) == 116);
static_assert(offsetof(Fadt, reset_value) == 128);
static_assert(offsetof(Fadt, arm_boot_arch) == 129);
static_assert(offsetof(Fadt, minor_version) == 131);
static_assert(offsetof(Fadt, x_firmware_ctrl) == 132);
static_assert(offsetof(Fadt, x_dsdt) == 140);
static_assert(offsetof(Fadt, x_pm1a_evt_blk) == 148);
static_assert(offsetof(Fadt, x_pm_tmr_blk) == 208);
static_assert(offsetof(Fadt, x_gpe0_blk) == 220);
static_assert(offsetof(Fadt, x_gpe1_blk) == 232);
static_assert(offsetof(Fadt, sleep_control_reg) == 244);
static_assert(offsetof(Fadt, sleep_status_reg) == 256);
static_assert(offsetof(Fadt, hypervisor_vendor_identity) == 268);
static_assert(sizeof(Fadt) == 276);

inline constexpr std::uint8_t kFadtRevision = 6;
inline constexpr std::uint8_t kFadtMinorVersion = 5;  // ACPI 6.5

// §5.2.9.1 "Fixed ACPI Description Table Fixed Feature Flags".
inline constexpr std::uint32_t kFadtWbinvd = 1u << 0;
inline constexpr std::uint32_t kFadtPowerButton = 1u << 4;  // a control-method button
inline constexpr std::uint32_t kFadtSleepButton = 1u << 5;  // none, or control method
inline constexpr std::uint32_t kFadtResetRegSupported = 1u << 10;
inline constexpr std::uint32_t kFadtHwReducedAcpi = 1u << 20;

// §5.2.9.3 "IA-PC Boot Architecture Flags".
inline constexpr std::uint16_t kBootArch8042 = 1u << 1;  // i8042 present: probe it
inline constexpr std::uint16_t kBootArchVgaNotPresent = 1u << 2;

Bytes build_fadt(std::uint64_t dsdt_address);

}  // namespace firmware
