#include "devices/i8042.h"

#include <algorithm>
#include <utility>

#include "base/error.h"

namespace devices {

namespace {

// Output port: bit 0 is the (active-low) system reset line, bit 1 A20.
constexpr std::uint8_t kOutputPortReset = 0x01;
constexpr std::uint8_t kOutputPortA20 = 0x02;
constexpr std::uint8_t kOutputPortKeyboardFull = 0x10;

// Ctrl, Alt, Delete pressed, then released in reverse order.
constexpr std::array<std::uint8_t, 8> kCtrlAltDelSet1 = {0x1D, 0x38, 0xE0, 0x53,
                                                         0xE0, 0xD3, 0xB8, 0x9D};
constexpr std::array<std::uint8_t, 11> kCtrlAltDelSet2 = {0x14, 0x11, 0xE0, 0x71, 0xE0, 0xF0,
                                                          0x71, 0xF0, 0x11, 0xF0, 0x14};

}  // namespace

I8042::I8042(std::shared_ptr<IrqLine> keyboard_irq, std::function<void()> on_reset)
    : irq_(std::move(keyboard_irq)), on_reset_(std::move(on_reset)) {
    if (irq_ == nullptr) {
        throw base::InvalidInput("i8042: no keyboard interrupt line");
    }
    reset_state();
}

void I8042::reset_state() {
    ram_.fill(0);
    ram_[0] = kDefaultCommandByte;
    output_port_ = kOutputPortReset | kOutputPortA20;
    ram_index_ = 0;
    pending_ = Pending::kKeyboard;
    last_write_command_ = false;
    queue_head_ = queue_count_ = 0;
    last_read_ = 0;
    keyboard_reset_state();
}

void I8042::keyboard_reset_state() {
    scanning_ = true;
    scancode_set_ = 2;
}

void I8042::reset() {
    std::lock_guard lock(mutex_);
    reset_state();
    irq_level_ = false;  // a new VM starts with the line low
}

I8042::Counters I8042::counters() const {
    std::lock_guard lock(mutex_);
    return counters_;
}

bool I8042::translating() const {
    return (ram_[0] & kCtrTranslate) != 0;
}

// The keyboard replies whose set 1 translation differs from set 2: the
// second identify byte and the scancode-set numbers.
std::uint8_t I8042::translated(std::uint8_t set2_reply) const {
    if (!translating()) {
        return set2_reply;
    }
    switch (set2_reply) {
        case 0x01:
            return 0x43;
        case 0x02:
            return 0x41;
        case 0x83:
            return 0x41;
        default:
            return set2_reply;
    }
}

bool I8042::push(std::uint8_t byte) {
    if (queue_count_ == queue_.size()) {
        ++counters_.bytes_dropped;
        return false;
    }
    queue_[(queue_head_ + queue_count_) % queue_.size()] = byte;
    ++queue_count_;
    return true;
}

void I8042::update_irq() {
    const bool level = queue_count_ > 0 && (ram_[0] & kCtrKeyboardInterrupt) != 0;
    if (level != irq_level_) {
        irq_level_ = level;
        irq_->set_level(level);
    }
}

bool I8042::controller_command(std::uint8_t command) {
    pending_ = Pending::kKeyboard;
    if (command >= 0x20 && command <= 0x3F) {
        push(ram_[command & 0x1F]);
        return false;
    }
    if (command >= 0x60 && command <= 0x7F) {
        ram_index_ = command & 0x1F;
        pending_ = Pending::kRam;
        return false;
    }
    if (command >= 0xF0) {
        // Pulse the output lines whose bits are clear; bit 0 is reset.
        return (command & kOutputPortReset) == 0;
    }
    switch (command) {
        case 0xA7:
            ram_[0] |= kCtrAuxDisabled;
            return false;
        case 0xA8:
            ram_[0] &= static_cast<std::uint8_t>(~kCtrAuxDisabled);
            return false;
        case 0xA9:
            push(0x01);
            return false;  // AUX clock line stuck low: no device
        case 0xAA:
            ram_[0] |= kCtrSystemFlag;
            push(0x55);
            return false;
        case 0xAB:
            push(0x00);
            return false;
        case 0xAD:
            ram_[0] |= kCtrKeyboardDisabled;
            return false;
        case 0xAE:
            ram_[0] &= static_cast<std::uint8_t>(~kCtrKeyboardDisabled);
            return false;
        case 0xD0:
            push(static_cast<std::uint8_t>(output_port_ |
                                           (queue_count_ > 0 ? kOutputPortKeyboardFull : 0)));
            return false;
        case 0xD1:
            pending_ = Pending::kOutputPort;
            return false;
        case 0xD2:
            pending_ = Pending::kKeyboardBuffer;
            return false;
        case 0xD3:
        case 0xD4:
            pending_ = Pending::kAux;
            return false;
        default:
            ++counters_.unknown_commands;
            return false;
    }
}

void I8042::keyboard_command(std::uint8_t command) {
    switch (command) {
        case 0xED:
            pending_ = Pending::kLeds;
            push(kKeyboardAck);
            return;
        case 0xEE:
            push(0xEE);
            return;
        case 0xF0:
            pending_ = Pending::kScancodeSet;
            push(kKeyboardAck);
            return;
        case 0xF2:
            push(kKeyboardAck);
            push(0xAB);
            push(translated(0x83));
            return;
        case 0xF3:
            pending_ = Pending::kTypematic;
            push(kKeyboardAck);
            return;
        case 0xF4:
            scanning_ = true;
            push(kKeyboardAck);
            return;
        case 0xF5:
            scanning_ = false;
            push(kKeyboardAck);
            return;  // and defaults
        case 0xF6:
            scancode_set_ = 2;
            push(kKeyboardAck);
            return;
        case 0xF7:
        case 0xF8:
        case 0xF9:
        case 0xFA:
        case 0xFB:
        case 0xFC:
        case 0xFD:
            push(kKeyboardAck);
            return;  // set 3 key types: accepted, no effect
        case 0xFF:
            keyboard_reset_state();
            push(kKeyboardAck);
            push(kKeyboardSelfTestPassed);
            return;
        default:
            ++counters_.unknown_commands;
            push(kKeyboardResend);
            return;
    }
}

bool I8042::data_write(std::uint8_t value) {
    const Pending pending = pending_;
    pending_ = Pending::kKeyboard;
    switch (pending) {
        case Pending::kRam:
            ram_[ram_index_] = value;
            return false;
        case Pending::kOutputPort:
            output_port_ = value;
            return (value & kOutputPortReset) == 0;
        case Pending::kKeyboardBuffer:
            push(value);
            return false;
        case Pending::kAux:
            return false;
        case Pending::kLeds:
        case Pending::kTypematic:
            push(kKeyboardAck);
            return false;
        case Pending::kScancodeSet:
            if (value == 0) {
                push(kKeyboardAck);
                push(translated(scancode_set_));
            } else if (value == 1 || value == 2) {
                scancode_set_ = value;
                push(kKeyboardAck);
            } else {
                push(kKeyboardResend);
            }
            return false;
        case Pending::kKeyboard:
            // Sending to the keyboard enables its interface again.
            ram_[0] &= static_cast<std::uint8_t>(~kCtrKeyboardDisabled);
            keyboard_command(value);
            return false;
    }
    return false;
}

void I8042::read(std::uint64_t offset, std::span<std::uint8_t> data) {
    std::lock_guard lock(mutex_);
    if (data.size() != 1 || (offset != kDataOffset && offset != kCommandOffset)) {
        std::fill(data.begin(), data.end(), std::uint8_t{0xFF});
        ++counters_.bad_accesses;
        return;
    }
    if (offset == kCommandOffset) {
        std::uint8_t status = kStatusUnlocked;
        status |= queue_count_ > 0 ? kStatusOutputFull : 0;
        status |= (ram_[0] & kCtrSystemFlag) != 0 ? kStatusSystemFlag : 0;
        status |= last_write_command_ ? kStatusCommand : 0;
        data[0] = status;
        return;
    }
    if (queue_count_ > 0) {
        last_read_ = queue_[queue_head_];
        queue_head_ = (queue_head_ + 1) % queue_.size();
        --queue_count_;
    }
    data[0] = last_read_;
    // One edge per byte: lower the line; update_irq() raises it again if
    // another byte waits.
    if (irq_level_) {
        irq_level_ = false;
        irq_->set_level(false);
    }
    update_irq();
}

void I8042::write(std::uint64_t offset, std::span<const std::uint8_t> data) {
    bool reset_requested = false;
    {
        std::lock_guard lock(mutex_);
        if (data.size() != 1 || (offset != kDataOffset && offset != kCommandOffset)) {
            ++counters_.bad_accesses;
            return;
        }
        last_write_command_ = offset == kCommandOffset;
        reset_requested = last_write_command_ ? controller_command(data[0]) : data_write(data[0]);
        if (reset_requested) {
            ++counters_.resets;
        }
        update_irq();
    }
    if (reset_requested && on_reset_) {
        on_reset_();
    }
}

bool I8042::inject_ctrl_alt_del() {
    std::lock_guard lock(mutex_);
    const bool set1 = translating() || scancode_set_ == 1;
    const std::span<const std::uint8_t> bytes =
        set1 ? std::span<const std::uint8_t>(kCtrlAltDelSet1)
             : std::span<const std::uint8_t>(kCtrlAltDelSet2);
    if (!scanning_ || (ram_[0] & kCtrKeyboardDisabled) != 0 ||
        queue_.size() - queue_count_ < bytes.size()) {
        ++counters_.keys_refused;
        return false;
    }
    for (std::uint8_t b : bytes) {
        push(b);
    }
    update_irq();
    return true;
}

}  // namespace devices
