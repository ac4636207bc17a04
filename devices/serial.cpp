#include "devices/serial.h"

#include <algorithm>
#include <utility>

#include "base/error.h"

namespace devices {

namespace {

// Power-on divisor: 115200 / 12 = 9600 baud (the guest sets its own).
constexpr std::uint8_t kDefaultDivisorLow = 12;

}  // namespace

Serial::Serial(std::shared_ptr<IrqLine> irq, Output output)
    : irq_(std::move(irq)), output_(std::move(output)) {
    if (irq_ == nullptr) {
        throw base::InvalidInput("serial: no interrupt line");
    }
    reset_registers();
}

void Serial::reset_registers() {
    ier_ = 0;
    lcr_ = 0;
    mcr_ = 0;
    scr_ = 0;
    dll_ = kDefaultDivisorLow;
    dlm_ = 0;
    lsr_errors_ = 0;
    msr_deltas_ = 0;
    fifo_enabled_ = false;
    thre_pending_ = false;
    rx_clear();
}

void Serial::reset() {
    std::lock_guard lock(mutex_);
    reset_registers();
    // The VM that saw the old level is gone; a new one starts with the line low.
    irq_level_ = false;
}

Serial::Counters Serial::counters() const {
    std::lock_guard lock(mutex_);
    return counters_;
}

std::uint8_t Serial::modem_lines() const {
    if ((mcr_ & kMcrLoop) == 0) {
        return kMsrDcd | kMsrDsr | kMsrCts;
    }
    std::uint8_t lines = 0;
    lines |= (mcr_ & kMcrRts) != 0 ? kMsrCts : 0;
    lines |= (mcr_ & kMcrDtr) != 0 ? kMsrDsr : 0;
    lines |= (mcr_ & kMcrOut1) != 0 ? kMsrRi : 0;
    lines |= (mcr_ & kMcrOut2) != 0 ? kMsrDcd : 0;
    return lines;
}

void Serial::set_mcr(std::uint8_t value) {
    const std::uint8_t before = modem_lines();
    mcr_ = value & 0x1F;
    const std::uint8_t after = modem_lines();
    const std::uint8_t changed = before ^ after;
    msr_deltas_ |= (changed & kMsrCts) != 0 ? kMsrDcts : 0;
    msr_deltas_ |= (changed & kMsrDsr) != 0 ? kMsrDdsr : 0;
    msr_deltas_ |= (changed & kMsrDcd) != 0 ? kMsrDdcd : 0;
    // TERI: RI went from on to off.
    msr_deltas_ |= (before & ~after & kMsrRi) != 0 ? kMsrTeri : 0;
}

std::uint8_t Serial::interrupt_id() const {
    if ((ier_ & kIerRls) != 0 && (lsr_errors_ & kLsrOverrun) != 0) {
        return kIirRls;
    }
    if ((ier_ & kIerRda) != 0 && rx_count_ > 0) {
        return kIirRda;
    }
    if ((ier_ & kIerThre) != 0 && thre_pending_) {
        return kIirThre;
    }
    if ((ier_ & kIerMsr) != 0 && msr_deltas_ != 0) {
        return kIirMsr;
    }
    return kIirNone;
}

void Serial::update_irq() {
    const bool level = interrupt_id() != kIirNone;
    if (level != irq_level_) {
        irq_level_ = level;
        irq_->set_level(level);
    }
}

bool Serial::rx_push(std::uint8_t byte) {
    if (rx_count_ == rx_.size()) {
        return false;
    }
    rx_[(rx_head_ + rx_count_) % rx_.size()] = byte;
    ++rx_count_;
    return true;
}

std::uint8_t Serial::read_register(std::uint64_t offset) {
    const bool dlab = (lcr_ & kLcrDlab) != 0;
    switch (offset) {
        case kData: {
            if (dlab) {
                return dll_;
            }
            if (rx_count_ == 0) {
                return 0;
            }
            const std::uint8_t byte = rx_[rx_head_];
            rx_head_ = (rx_head_ + 1) % rx_.size();
            --rx_count_;
            return byte;
        }
        case kIer:
            return dlab ? dlm_ : ier_;
        case kIir: {
            const std::uint8_t id = interrupt_id();
            if (id == kIirThre) {
                thre_pending_ = false;  // reading IIR acknowledges THRE
            }
            return static_cast<std::uint8_t>(id | (fifo_enabled_ ? kIirFifoEnabled : 0));
        }
        case kLcr:
            return lcr_;
        case kMcr:
            return mcr_;
        case kLsr: {
            std::uint8_t lsr = kLsrThre | kLsrTemt | lsr_errors_;
            lsr |= rx_count_ > 0 ? kLsrDataReady : 0;
            lsr_errors_ = 0;
            return lsr;
        }
        case kMsr: {
            const std::uint8_t msr = modem_lines() | msr_deltas_;
            msr_deltas_ = 0;
            return msr;
        }
        default:
            return scr_;
    }
}

bool Serial::write_register(std::uint64_t offset, std::uint8_t value) {
    const bool dlab = (lcr_ & kLcrDlab) != 0;
    switch (offset) {
        case kData:
            if (dlab) {
                dll_ = value;
                return false;
            }
            // The byte leaves at once: THR is empty again, so THRE is pending.
            thre_pending_ = true;
            if ((mcr_ & kMcrLoop) != 0) {
                if (!rx_push(value)) {
                    lsr_errors_ |= kLsrOverrun;
                    ++counters_.overruns;
                }
                return false;
            }
            ++counters_.bytes_out;
            return true;
        case kIer: {
            if (dlab) {
                dlm_ = value;
                return false;
            }
            const std::uint8_t before = ier_;
            ier_ = value & 0x0F;
            if ((ier_ & kIerThre) != 0 && (before & kIerThre) == 0) {
                thre_pending_ = true;  // THR is always empty
            } else if ((ier_ & kIerThre) == 0) {
                thre_pending_ = false;
            }
            return false;
        }
        case kIir: {  // FCR
            const bool enable = (value & kFcrEnable) != 0;
            if (enable != fifo_enabled_ || (value & kFcrClearRx) != 0) {
                rx_clear();
            }
            fifo_enabled_ = enable;
            return false;
        }
        case kLcr:
            lcr_ = value;
            return false;
        case kMcr:
            set_mcr(value);
            return false;
        case kLsr:
        case kMsr:
            return false;  // read-only (factory test registers on real parts)
        default:
            scr_ = value;
            return false;
    }
}

void Serial::read(std::uint64_t offset, std::span<std::uint8_t> data) {
    if (data.size() != 1 || offset >= kRegisterCount) {
        std::fill(data.begin(), data.end(), std::uint8_t{0xFF});
        std::lock_guard lock(mutex_);
        ++counters_.bad_accesses;
        return;
    }
    std::lock_guard lock(mutex_);
    data[0] = read_register(offset);
    update_irq();
}

void Serial::write(std::uint64_t offset, std::span<const std::uint8_t> data) {
    bool send = false;
    {
        std::lock_guard lock(mutex_);
        if (data.size() != 1 || offset >= kRegisterCount) {
            ++counters_.bad_accesses;
            return;
        }
        send = write_register(offset, data[0]);
        update_irq();
    }
    if (send && output_) {
        output_(data);
    }
}

std::size_t Serial::enqueue_input(std::span<const std::uint8_t> bytes) {
    std::lock_guard lock(mutex_);
    std::size_t taken = 0;
    if ((mcr_ & kMcrLoop) == 0) {
        while (taken < bytes.size() && rx_push(bytes[taken])) {
            ++taken;
        }
    }
    counters_.bytes_in += taken;
    counters_.input_refused += bytes.size() - taken;
    update_irq();
    return taken;
}

}  // namespace devices
