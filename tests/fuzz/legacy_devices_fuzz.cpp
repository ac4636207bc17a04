// libFuzzer target: the legacy devices on the port bus (serial, i8042, RTC,
// ACPI PM with the GED, pvpanic, boot progress), wired as
// vmm/platform_devices.cpp wires them and driven as the vCPU loop drives
// them: single and string (rep ins/outs) accesses of 1, 2 or 4 bytes at any
// port, machine resets in between, and the host's side (console input,
// Ctrl-Alt-Del, the power button). The input is a list of operations
// (make_seeds.py writes the seeds):
//
//   op byte: low nibble the kind (below), bits 4-5 the width (1, 1, 2, 4)
//   port:    a byte indexing kPorts, or 0xFF and then a 16-bit port
//    0 out  port data        1 in   port          2 rep out port count data
//    3 rep in port count     4 reset              5 console input n bytes
//    6 Ctrl-Alt-Del          7 power button       8 drain the serial FIFO
//    9 drain the i8042       10 check the RTC     11 clock += u32 seconds
//   12-15 out, out, in, in (plain accesses weigh more)
//
// Invariants, beyond "no crash": each access reaches only its own device
// (mapped exactly where the bus says, 0xFF for unmapped reads and bad
// widths); each byte access makes at most one callback of the right kind
// (console byte, reset, poweroff, panic, progress code) and at most two
// interrupt-line changes, only on its own device's line, never setting a
// level the line already has (no storms); the i8042 line is high only with
// a byte waiting and the GED line follows its pending events; the receive
// FIFO and the i8042 output queue stay within their sizes; the RTC always
// reads back a valid time in the encoding status B asks for.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <vector>

#include "devices/acpi_pm.h"
#include "devices/boot_progress_port.h"
#include "devices/bus.h"
#include "devices/i8042.h"
#include "devices/irq.h"
#include "devices/pvpanic.h"
#include "devices/rtc.h"
#include "devices/serial.h"
#include "tests/fuzz/fuzz_input.h"
#include "x86/layout.h"

namespace {

using fuzz::check;

unsigned long long ull(std::uint64_t v) {
    return v;
}

// The device ports and their neighbours on either side.
constexpr std::array<std::uint16_t, 40> kPorts = {
    0x3F8, 0x3F9, 0x3FA, 0x3FB, 0x3FC, 0x3FD, 0x3FE, 0x3FF, 0x3F7, 0x400,  //
    0x60,  0x61,  0x62,  0x63,  0x64,  0x5F,  0x65,                        //
    0x70,  0x71,  0x6F,  0x72,                                             //
    0x505, 0x504, 0x506,                                                   //
    0x402, 0x401, 0x403,                                                   //
    0x600, 0x601, 0x602, 0x603, 0x604, 0x605, 0x606, 0x607, 0x5FF, 0x608,  //
    0xCF9, 0xCF8, 0x80,
};

struct Range {
    std::uint16_t base, len;
    std::uint32_t gsi;  // its interrupt line, or kNoLine
};
constexpr std::uint32_t kNoLine = ~0u;
constexpr std::array<Range, 6> kRanges = {{
    {layout::kCom1, devices::Serial::kRegisterCount, layout::kIrqCom1},
    {layout::kI8042Data, devices::I8042::kRangeLength, layout::kIrqI8042Keyboard},
    {layout::kRtcIndex, devices::Rtc::kRangeLength, kNoLine},
    {layout::kPvPanic, 1, kNoLine},
    {layout::kBootProgress, 1, kNoLine},
    {layout::kAcpiSleepControl, devices::AcpiPm::kRangeLength, layout::kIrqGed},
}};

const Range* range_of(std::uint32_t port, std::size_t len) {
    for (const Range& r : kRanges) {
        if (port >= r.base && port + len <= std::uint32_t{r.base} + r.len) {
            return &r;
        }
    }
    return nullptr;
}

// One GSI as KVM's irqchip sees it: a new VM starts with every line low.
struct Line final : devices::IrqLine {
    void set_level(bool high) override {
        check(high != level, "a device set its interrupt line to the level it already had");
        level = high;
        ++changes;
    }
    bool level = false;
    std::uint64_t changes = 0;
};

struct Recorded {
    std::uint64_t console_bytes = 0, console_calls = 0;
    std::uint8_t last_console = 0;
    std::uint64_t resets = 0, poweroffs = 0, panics = 0, progress = 0;
    std::uint8_t last_code = 0;
};

// A device slot on the bus that forwards to this input's device. The bus is
// built once, as vmm/platform_devices.cpp builds it, so that its rate limit
// on unmapped-access log lines holds across inputs; every input gets fresh
// devices behind it, so that an input replays alone.
struct Slot final : devices::BusDevice {
    void read(std::uint64_t offset, std::span<std::uint8_t> data) override {
        target->read(offset, data);
    }
    void write(std::uint64_t offset, std::span<const std::uint8_t> data) override {
        target->write(offset, data);
    }
    void reset() override { target->reset(); }
    std::shared_ptr<devices::BusDevice> target;
};

struct Bus {
    static Bus& get() {
        static Bus bus;
        return bus;
    }
    Bus() {
        for (std::size_t i = 0; i < kRanges.size(); ++i) {
            slots[i] = std::make_shared<Slot>();
            pio.add(kRanges[i].base, kRanges[i].len, slots[i]);
        }
    }
    devices::Bus pio{"pio"};
    std::array<std::shared_ptr<Slot>, kRanges.size()> slots;
};

class Platform {
  public:
    Platform()
        : serial_(std::make_shared<devices::Serial>(
              com1_,
              [this](std::span<const std::uint8_t> b) {
                  check(b.size() == 1, "the serial output callback got more than one byte");
                  ++rec_.console_calls;
                  rec_.console_bytes += b.size();
                  rec_.last_console = b[0];
              })),
          i8042_(std::make_shared<devices::I8042>(keyboard_, [this] { ++rec_.resets; })),
          rtc_(std::make_shared<devices::Rtc>([this] {
              return std::chrono::system_clock::time_point(
                  std::chrono::seconds(1704067200 + static_cast<std::int64_t>(clock_seconds_)));
          })),
          acpi_(std::make_shared<devices::AcpiPm>(
              ged_, [this] { ++rec_.poweroffs; }, [this] { ++rec_.resets; })) {
        auto pvpanic = std::make_shared<devices::PvPanic>([this] { ++rec_.panics; }, [] {});
        auto progress = std::make_shared<devices::BootProgressPort>(
            [this](std::uint8_t code, std::chrono::steady_clock::time_point) {
                ++rec_.progress;
                rec_.last_code = code;
            });
        Bus& bus = Bus::get();
        bus.slots[0]->target = serial_;
        bus.slots[1]->target = i8042_;
        bus.slots[2]->target = rtc_;
        bus.slots[3]->target = pvpanic;
        bus.slots[4]->target = progress;
        bus.slots[5]->target = acpi_;
    }
    ~Platform() {
        for (auto& slot : Bus::get().slots) {
            slot->target.reset();
        }
    }

    void run(fuzz::Input& in) {
        for (int ops = 0; ops < 4096 && !in.empty(); ++ops) {
            step(in);
        }
        drain_serial();
        drain_i8042();
        check_rtc();
        if (fuzz::verbose()) {
            const auto s = serial_->counters();
            const auto k = i8042_->counters();
            const auto r = rtc_->counters();
            std::fprintf(stderr,
                         "console %llu bytes in, %llu out; resets %llu, poweroffs %llu, panics "
                         "%llu, progress %llu; line changes com1 %llu kbd %llu ged %llu; i8042 "
                         "unknown commands %llu; rtc time writes %llu, refused %llu\n",
                         ull(s.bytes_in), ull(rec_.console_bytes), ull(rec_.resets),
                         ull(rec_.poweroffs), ull(rec_.panics), ull(rec_.progress),
                         ull(com1_->changes), ull(keyboard_->changes), ull(ged_->changes),
                         ull(k.unknown_commands), ull(r.time_writes), ull(r.invalid_writes));
        }
    }

  private:
    static std::size_t width(std::uint8_t op) {
        static constexpr std::size_t kWidths[] = {1, 1, 2, 4};
        return kWidths[(op >> 4) & 3];
    }

    static std::uint16_t port(fuzz::Input& in) {
        const std::uint8_t sel = in.u8();
        return sel == 0xFF ? in.u16() : kPorts[sel % kPorts.size()];
    }

    void step(fuzz::Input& in) {
        const std::uint8_t op = in.u8();
        const std::size_t w = width(op);
        switch (op & 0x0F) {
            case 0:
            case 12:
            case 13: {
                const std::uint16_t p = port(in);
                std::array<std::uint8_t, 4> data{};
                const auto bytes = in.bytes(w);
                std::copy(bytes.begin(), bytes.end(), data.begin());
                out(p, {data.data(), w});
                break;
            }
            case 1:
            case 14:
            case 15: {
                std::array<std::uint8_t, 4> data{};
                inp(port(in), {data.data(), w});
                break;
            }
            case 2:
            case 3: {
                // rep outs / rep ins: the vCPU loop makes one access per element.
                const std::uint16_t p = port(in);
                const unsigned count = 1 + in.u8() % 64;
                for (unsigned i = 0; i < count; ++i) {
                    std::array<std::uint8_t, 4> data{};
                    if ((op & 0x0F) == 2) {
                        const auto bytes = in.bytes(w);
                        std::copy(bytes.begin(), bytes.end(), data.begin());
                        out(p, {data.data(), w});
                    } else {
                        inp(p, {data.data(), w});
                    }
                }
                break;
            }
            case 4:
                reset();
                break;
            case 5: {
                const auto bytes = in.bytes(in.u8() % 96);
                const std::size_t taken = serial_->enqueue_input(bytes);
                check(taken <= bytes.size(), "serial took more input than offered");
                break;
            }
            case 6: {
                const auto before = keyboard_->changes;
                i8042_->inject_ctrl_alt_del();
                check(keyboard_->changes - before <= 1, "Ctrl-Alt-Del made more than one edge");
                check_i8042_line();
                break;
            }
            case 7:
                acpi_->press_power_button();
                check(ged_->level, "the power button left the GED line low");
                break;
            case 8:
                drain_serial();
                break;
            case 9:
                drain_i8042();
                break;
            case 10:
                check_rtc();
                break;
            case 11:
                // Any host time from 2024 on, for two centuries.
                clock_seconds_ = (clock_seconds_ + in.u32()) % kClockSpan;
                break;
        }
    }

    void reset() {
        pio_.reset_all();
        // The next boot runs in a new VM, whose irqchip starts with every line low.
        for (Line* l : {com1_.get(), keyboard_.get(), ged_.get()}) {
            l->level = false;
        }
        check((status8042() & devices::I8042::kStatusOutputFull) == 0,
              "the i8042 holds bytes after a reset");
        check((in8(layout::kCom1 + devices::Serial::kLsr) & devices::Serial::kLsrDataReady) == 0,
              "the serial FIFO holds bytes after a reset");
    }

    struct LineCounts {
        std::uint64_t com1, keyboard, ged;
    };
    LineCounts line_counts() const { return {com1_->changes, keyboard_->changes, ged_->changes}; }

    // Checks what one access may change besides its device's registers.
    void after_access(std::uint16_t p, std::span<const std::uint8_t> data, bool write,
                      const Recorded& before, const LineCounts& lines_before) {
        const Range* r = range_of(p, data.size());
        const bool byte = data.size() == 1;
        const std::uint64_t console = rec_.console_calls - before.console_calls;
        const std::uint64_t resets = rec_.resets - before.resets;
        const std::uint64_t poweroffs = rec_.poweroffs - before.poweroffs;
        const std::uint64_t panics = rec_.panics - before.panics;
        const std::uint64_t progress = rec_.progress - before.progress;
        check(console <= 1 && resets <= 1 && poweroffs <= 1 && panics <= 1 && progress <= 1,
              "one access made more than one callback of a kind");
        check(console == 0 || (write && byte && p == layout::kCom1 && rec_.last_console == data[0]),
              "console output from something but a byte written to THR");
        check(resets == 0 || (write && byte &&
                              (p == layout::kI8042Data || p == layout::kI8042Command ||
                               p == layout::kAcpiReset)),
              "a reset from something but the i8042 or the ACPI reset register");
        check(poweroffs == 0 || (write && byte && p == layout::kAcpiSleepControl &&
                                 (data[0] & 0x3C) == (0x20 | layout::kSleepTypeS5 << 2)),
              "a poweroff from something but SLP_EN with SLP_TYP S5");
        check(panics == 0 || (write && byte && p == layout::kPvPanic && (data[0] & 1) != 0),
              "a panic from something but pvpanic's bit 0");
        check(progress == 0 ||
                  (write && byte && p == layout::kBootProgress && rec_.last_code == data[0]),
              "a progress code from something but a byte written to port 0x402");

        const LineCounts now = line_counts();
        const std::uint64_t changes[] = {now.com1 - lines_before.com1,
                                         now.keyboard - lines_before.keyboard,
                                         now.ged - lines_before.ged};
        const std::uint32_t gsis[] = {layout::kIrqCom1, layout::kIrqI8042Keyboard, layout::kIrqGed};
        for (int i = 0; i < 3; ++i) {
            check(changes[i] <= 2, "one access changed an interrupt line more than twice");
            check(changes[i] == 0 || (r != nullptr && r->gsi == gsis[i]),
                  "an access changed another device's interrupt line");
        }
    }

    void out(std::uint16_t p, std::span<const std::uint8_t> data) {
        const Recorded before = rec_;
        const LineCounts lines = line_counts();
        const bool mapped = pio_.write(p, data);
        check(mapped == (range_of(p, data.size()) != nullptr), "the bus mapped a write wrongly");
        after_access(p, data, true, before, lines);
        check_i8042_line();
    }

    void inp(std::uint16_t p, std::span<std::uint8_t> data) {
        const Recorded before = rec_;
        const LineCounts lines = line_counts();
        std::fill(data.begin(), data.end(), std::uint8_t{0x5A});
        const bool mapped = pio_.read(p, data);
        const Range* r = range_of(p, data.size());
        check(mapped == (r != nullptr), "the bus mapped a read wrongly");
        const bool ged = p >= layout::kGedEvent && p + data.size() <= layout::kGedEvent + 4u;
        if (r == nullptr || (data.size() != 1 && !ged)) {
            for (std::uint8_t b : data) {
                check(b == 0xFF, "an unmapped or wrong-width read did not read 0xFF");
            }
        }
        after_access(p, data, false, before, lines);
        if (ged && p == layout::kGedEvent) {
            // Only the power button (bit 0) is ever pending: reading byte 0 clears all.
            check(!ged_->level, "the GED line stayed high after its events were read");
        }
        check_i8042_line();
    }

    std::uint8_t in8(std::uint16_t p) {
        std::uint8_t b = 0;
        inp(p, {&b, 1});
        return b;
    }
    void out8(std::uint16_t p, std::uint8_t v) { out(p, {&v, 1}); }
    std::uint8_t status8042() {
        std::uint8_t b = 0;
        i8042_->read(devices::I8042::kCommandOffset, {&b, 1});
        return b;
    }

    void check_i8042_line() {
        check(!keyboard_->level || (status8042() & devices::I8042::kStatusOutputFull) != 0,
              "the i8042 line is high with no byte waiting");
    }

    // Reads the receive FIFO empty the way Linux's 8250 driver does.
    void drain_serial() {
        out8(layout::kCom1 + devices::Serial::kLcr, 0x03);  // 8N1, DLAB off
        std::size_t n = 0;
        while ((in8(layout::kCom1 + devices::Serial::kLsr) & devices::Serial::kLsrDataReady) != 0) {
            check(++n <= devices::Serial::kRxFifoSize, "the serial FIFO outgrew its size");
            in8(layout::kCom1 + devices::Serial::kData);
        }
    }

    void drain_i8042() {
        std::size_t n = 0;
        while ((in8(layout::kI8042Command) & devices::I8042::kStatusOutputFull) != 0) {
            check(++n <= devices::I8042::kOutputQueueSize, "the i8042 queue outgrew its size");
            in8(layout::kI8042Data);
        }
        check(!keyboard_->level, "the i8042 line stayed high with its queue empty");
    }

    std::uint8_t cmos(std::uint8_t index) {
        out8(layout::kRtcIndex, index);
        return in8(layout::kRtcIndex + 1);
    }

    // Whatever the guest wrote, the clock reads a valid time.
    void check_rtc() {
        const std::uint8_t b = cmos(devices::Rtc::kStatusB);
        const bool binary = (b & devices::Rtc::kStatusBBinary) != 0;
        auto value = [&](std::uint8_t raw, int lo, int hi) {
            int v = raw;
            if (!binary) {
                check((raw & 0x0F) <= 9 && (raw >> 4) <= 9, "the RTC read back bad BCD");
                v = (raw >> 4) * 10 + (raw & 0x0F);
            }
            check(v >= lo && v <= hi, "the RTC read back a time field out of range");
        };
        value(cmos(devices::Rtc::kSeconds), 0, 59);
        value(cmos(devices::Rtc::kMinutes), 0, 59);
        const std::uint8_t hour = cmos(devices::Rtc::kHours);
        if ((b & devices::Rtc::kStatusB24Hour) != 0) {
            value(hour, 0, 23);
        } else {
            value(hour & static_cast<std::uint8_t>(~devices::Rtc::kHourPm), 1, 12);
        }
        value(cmos(devices::Rtc::kDayOfWeek), 1, 7);
        value(cmos(devices::Rtc::kDayOfMonth), 1, 31);
        value(cmos(devices::Rtc::kMonth), 1, 12);
        value(cmos(devices::Rtc::kYear), 0, 99);
        value(cmos(devices::Rtc::kCentury), 0, 99);
        check((cmos(devices::Rtc::kStatusA) & devices::Rtc::kStatusAUpdateInProgress) == 0,
              "the RTC reports an update in progress");
    }

    std::shared_ptr<Line> com1_ = std::make_shared<Line>();
    std::shared_ptr<Line> keyboard_ = std::make_shared<Line>();
    std::shared_ptr<Line> ged_ = std::make_shared<Line>();
    // The host clock: 2024-01-01T00:00:00Z plus what the input adds.
    static constexpr std::uint64_t kClockSpan = 200ull * 366 * 86400;
    std::uint64_t clock_seconds_ = 0;
    Recorded rec_;
    devices::Bus& pio_ = Bus::get().pio;
    std::shared_ptr<devices::Serial> serial_;
    std::shared_ptr<devices::I8042> i8042_;
    std::shared_ptr<devices::Rtc> rtc_;
    std::shared_ptr<devices::AcpiPm> acpi_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Input in(data, size);
    Platform platform;
    platform.run(in);
    return 0;
}
