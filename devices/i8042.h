#pragma once
// An i8042 keyboard controller with a PS/2 keyboard behind it and no AUX
// (mouse) port: enough for Linux's i8042 and atkbd drivers to probe, for
// the guest to reset the machine through the controller, and for the VMM to
// send Ctrl-Alt-Del.
//
// Bus mapping: ONE range of kRangeLength ports starting at
// layout::kI8042Data (0x60..0x64): offset 0 is the data port, offset 4 the
// status/command port; offsets 1..3 read 0xFF and are counted (KVM's
// in-kernel PIT handles port 0x61 before it could reach us).
//
// Output buffer: a bounded queue (kOutputQueueSize bytes) of controller
// replies and keyboard bytes; status bit 0 (OBF) says it is not empty. While
// the command byte's keyboard-interrupt bit is set and a byte waits, IRQ 1
// is high; each data-port read lowers it and raises it again when more
// bytes wait, so the edge-triggered line shows one edge per byte.
//
// Controller commands (port 0x64): 0x20-0x3F read RAM (0x20: command byte),
// 0x60-0x7F write RAM (0x60: command byte), 0xA7/0xA8 disable/enable AUX
// (command-byte bit 5 only), 0xA9 AUX test (replies 0x01: no AUX device),
// 0xAA self-test (0x55), 0xAB keyboard interface test (0x00), 0xAD/0xAE
// disable/enable keyboard, 0xD0/0xD1 read/write output port (a write with
// bit 0 clear resets), 0xD2 write keyboard output buffer, 0xD3/0xD4 (AUX:
// data byte dropped), 0xF0-0xFF pulse output lines (bit 0 clear = reset
// line: 0xFE). A reset calls the reset callback (the VMM reboots).
//
// Keyboard commands (port 0x60 with no controller data pending): 0xED LEDs,
// 0xEE echo, 0xF0 scancode set (1 and 2; 3 is refused with 0xFE), 0xF2
// identify (0xAB 0x83, or 0xAB 0x41 while translating), 0xF3 typematic,
// 0xF4/0xF5 enable/disable scanning, 0xF6 defaults, 0xFF reset (0xFA 0xAA);
// others get 0xFE (resend).
//
// Scancodes: the keyboard runs scancode set 2; while the command byte's
// XLATE bit (6) is set the controller translates to set 1, which is what
// Linux sees by default. So inject_ctrl_alt_del() queues set 1 bytes when
// XLATE is set (or the keyboard was switched to set 1), set 2 otherwise.
//
// Threading: one mutex; vCPU threads access the ports while the API thread
// injects keys. The reset callback runs on the vCPU thread without the lock.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>

#include "devices/bus.h"
#include "devices/irq.h"

namespace devices {

class I8042 final : public BusDevice {
  public:
    static constexpr std::uint64_t kRangeLength = 5;
    static constexpr std::uint64_t kDataOffset = 0;
    static constexpr std::uint64_t kCommandOffset = 4;
    static constexpr std::size_t kOutputQueueSize = 16;

    // Status register.
    static constexpr std::uint8_t kStatusOutputFull = 0x01;
    static constexpr std::uint8_t kStatusSystemFlag = 0x04;
    static constexpr std::uint8_t kStatusCommand = 0x08;  // last write was to port 0x64
    static constexpr std::uint8_t kStatusUnlocked = 0x10;

    // Command byte.
    static constexpr std::uint8_t kCtrKeyboardInterrupt = 0x01;
    static constexpr std::uint8_t kCtrSystemFlag = 0x04;
    static constexpr std::uint8_t kCtrKeyboardDisabled = 0x10;
    static constexpr std::uint8_t kCtrAuxDisabled = 0x20;
    static constexpr std::uint8_t kCtrTranslate = 0x40;
    // Power-on command byte: keyboard interrupt, system flag, translation.
    static constexpr std::uint8_t kDefaultCommandByte =
        kCtrKeyboardInterrupt | kCtrSystemFlag | kCtrTranslate;

    static constexpr std::uint8_t kKeyboardAck = 0xFA;
    static constexpr std::uint8_t kKeyboardResend = 0xFE;
    static constexpr std::uint8_t kKeyboardSelfTestPassed = 0xAA;

    struct Counters {
        std::uint64_t resets = 0;            // reset pulses seen
        std::uint64_t bytes_dropped = 0;     // output queue full
        std::uint64_t keys_refused = 0;      // injections refused
        std::uint64_t unknown_commands = 0;  // controller or keyboard
        std::uint64_t bad_accesses = 0;      // wrong size or offset
    };

    // Throws base::InvalidInput when `keyboard_irq` is null.
    I8042(std::shared_ptr<IrqLine> keyboard_irq, std::function<void()> on_reset);

    void read(std::uint64_t offset, std::span<std::uint8_t> data) override;
    void write(std::uint64_t offset, std::span<const std::uint8_t> data) override;
    void reset() override;

    // Queues Ctrl and Alt and Delete pressed, then released (see above for
    // the scancode set). False, and nothing queued, when the keyboard is
    // disabled (scanning off or command-byte bit 4) or the queue lacks room.
    bool inject_ctrl_alt_del();

    Counters counters() const;

  private:
    // What the next byte written to the data port is for.
    enum class Pending : std::uint8_t {
        kKeyboard,        // a keyboard command
        kRam,             // controller RAM byte ram_index_
        kOutputPort,      // 0xD1
        kKeyboardBuffer,  // 0xD2
        kAux,             // 0xD3 / 0xD4: no AUX device, dropped
        kLeds,            // keyboard 0xED's argument
        kScancodeSet,     // keyboard 0xF0's argument
        kTypematic,       // keyboard 0xF3's argument
    };

    // Return true when the machine must be reset.
    bool controller_command(std::uint8_t command);
    bool data_write(std::uint8_t value);
    void keyboard_command(std::uint8_t command);
    void keyboard_reset_state();
    bool push(std::uint8_t byte);
    std::uint8_t translated(std::uint8_t set2_reply) const;
    bool translating() const;
    void update_irq();
    void reset_state();

    const std::shared_ptr<IrqLine> irq_;
    const std::function<void()> on_reset_;

    mutable std::mutex mutex_;
    std::array<std::uint8_t, 32> ram_{};  // ram_[0] is the command byte
    std::uint8_t output_port_ = 0;
    std::uint8_t ram_index_ = 0;
    Pending pending_ = Pending::kKeyboard;
    bool last_write_command_ = false;
    std::array<std::uint8_t, kOutputQueueSize> queue_{};
    std::size_t queue_head_ = 0;
    std::size_t queue_count_ = 0;
    std::uint8_t last_read_ = 0;
    bool scanning_ = true;
    std::uint8_t scancode_set_ = 2;
    bool irq_level_ = false;
    Counters counters_;
};

}  // namespace devices
