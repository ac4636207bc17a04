#pragma once
// An interrupt line as a device sees it: a level it drives high or low. The
// VMM implements it with KVM_IRQ_LINE on one GSI; tests record the levels.
//
// Devices call set_level() while holding their own lock, so that levels
// reach the line in the order the device computed them. Lock order: device
// lock, then whatever the IrqLine takes; an IrqLine must never call back
// into a device.
//
// Edge-triggered lines (the ISA devices: serial, i8042) see an interrupt on
// each low-to-high change, so a device that wants a fresh edge while its
// level is already high lowers the line and raises it again.

#include <functional>
#include <utility>

namespace devices {

class IrqLine {
  public:
    virtual ~IrqLine() = default;
    virtual void set_level(bool high) = 0;
};

// An IrqLine that forwards to a function, e.g. a lambda around
// KVM_IRQ_LINE for one GSI.
class FunctionIrqLine final : public IrqLine {
  public:
    explicit FunctionIrqLine(std::function<void(bool)> set) : set_(std::move(set)) {}
    void set_level(bool high) override {
        if (set_) {
            set_(high);
        }
    }

  private:
    std::function<void(bool)> set_;
};

}  // namespace devices
