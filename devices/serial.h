#pragma once
// A 16550A UART for COM1 (8 registers at layout::kCom1, IRQ layout::kIrqCom1),
// interrupt-driven in both directions.
//
// Transmit: a byte written to THR goes to the output callback at once, so
// LSR always reads THRE|TEMT and a THRE interrupt is pending after each
// write (and whenever IER.ETBEI goes from 0 to 1) until IIR reports it or
// THR is written again.
// Receive: enqueue_input() fills a bounded FIFO (kRxFifoSize bytes, whether
// or not the guest enabled FIFOs) and takes only what fits; RDA is pending
// while the FIFO holds data and IER.ERBFI is set. There is no character
// timeout interrupt: RDA already covers any amount of data.
// IIR reports the highest-priority reason: line status (overrun) > received
// data > THR empty > modem status. The IRQ level ("any reason pending") is
// recomputed after every access; OUT2 does not gate it.
// Loopback (MCR bit 4): THR bytes go to the receive FIFO instead of the
// output (an overrun when full), host input is refused, and MSR reflects
// MCR (CTS=RTS, DSR=DTR, RI=OUT1, DCD=OUT2), which is what Linux's 8250
// probe checks. Outside loopback MSR reads DCD|DSR|CTS: a connected line.
//
// Threading: one mutex; vCPU threads access registers while the console
// thread calls enqueue_input(). The output callback runs on the vCPU
// thread, without the lock held, once per byte.

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

class Serial final : public BusDevice {
  public:
    using Output = std::function<void(std::span<const std::uint8_t>)>;

    static constexpr std::uint64_t kRegisterCount = 8;
    static constexpr std::size_t kRxFifoSize = 64;

    // Register offsets from the base port.
    static constexpr std::uint64_t kData = 0;  // RBR / THR, DLL when LCR.DLAB
    static constexpr std::uint64_t kIer = 1;   // DLM when LCR.DLAB
    static constexpr std::uint64_t kIir = 2;   // read: IIR, write: FCR
    static constexpr std::uint64_t kLcr = 3;
    static constexpr std::uint64_t kMcr = 4;
    static constexpr std::uint64_t kLsr = 5;
    static constexpr std::uint64_t kMsr = 6;
    static constexpr std::uint64_t kScr = 7;

    static constexpr std::uint8_t kIerRda = 0x01;   // ERBFI
    static constexpr std::uint8_t kIerThre = 0x02;  // ETBEI
    static constexpr std::uint8_t kIerRls = 0x04;   // ELSI
    static constexpr std::uint8_t kIerMsr = 0x08;   // EDSSI

    static constexpr std::uint8_t kIirNone = 0x01;
    static constexpr std::uint8_t kIirMsr = 0x00;
    static constexpr std::uint8_t kIirThre = 0x02;
    static constexpr std::uint8_t kIirRda = 0x04;
    static constexpr std::uint8_t kIirRls = 0x06;
    static constexpr std::uint8_t kIirFifoEnabled = 0xC0;

    static constexpr std::uint8_t kFcrEnable = 0x01;
    static constexpr std::uint8_t kFcrClearRx = 0x02;

    static constexpr std::uint8_t kLcrDlab = 0x80;

    static constexpr std::uint8_t kMcrDtr = 0x01;
    static constexpr std::uint8_t kMcrRts = 0x02;
    static constexpr std::uint8_t kMcrOut1 = 0x04;
    static constexpr std::uint8_t kMcrOut2 = 0x08;
    static constexpr std::uint8_t kMcrLoop = 0x10;

    static constexpr std::uint8_t kLsrDataReady = 0x01;
    static constexpr std::uint8_t kLsrOverrun = 0x02;
    static constexpr std::uint8_t kLsrThre = 0x20;
    static constexpr std::uint8_t kLsrTemt = 0x40;

    static constexpr std::uint8_t kMsrDcts = 0x01;
    static constexpr std::uint8_t kMsrDdsr = 0x02;
    static constexpr std::uint8_t kMsrTeri = 0x04;
    static constexpr std::uint8_t kMsrDdcd = 0x08;
    static constexpr std::uint8_t kMsrCts = 0x10;
    static constexpr std::uint8_t kMsrDsr = 0x20;
    static constexpr std::uint8_t kMsrRi = 0x40;
    static constexpr std::uint8_t kMsrDcd = 0x80;

    struct Counters {
        std::uint64_t bytes_out = 0;      // THR bytes handed to the output callback
        std::uint64_t bytes_in = 0;       // bytes enqueue_input() took
        std::uint64_t input_refused = 0;  // bytes enqueue_input() left to the caller
        std::uint64_t overruns = 0;       // loopback bytes dropped on a full FIFO
        std::uint64_t bad_accesses = 0;   // wrong size or offset
    };

    // Throws base::InvalidInput when `irq` is null. `output` may be empty
    // (bytes are then dropped, still counted).
    Serial(std::shared_ptr<IrqLine> irq, Output output);

    void read(std::uint64_t offset, std::span<std::uint8_t> data) override;
    void write(std::uint64_t offset, std::span<const std::uint8_t> data) override;
    void reset() override;

    // Host input for the guest: takes as many leading bytes as the receive
    // FIFO has room for (none in loopback mode) and returns that count; the
    // caller offers the rest again later.
    std::size_t enqueue_input(std::span<const std::uint8_t> bytes);

    Counters counters() const;

  private:
    std::uint8_t read_register(std::uint64_t offset);
    // Returns true when `value` is a byte for the output callback.
    bool write_register(std::uint64_t offset, std::uint8_t value);
    std::uint8_t interrupt_id() const;
    std::uint8_t modem_lines() const;
    bool rx_push(std::uint8_t byte);
    void rx_clear() { rx_head_ = rx_count_ = 0; }
    void set_mcr(std::uint8_t value);
    void update_irq();
    void reset_registers();

    const std::shared_ptr<IrqLine> irq_;
    const Output output_;

    mutable std::mutex mutex_;
    std::uint8_t ier_ = 0;
    std::uint8_t lcr_ = 0;
    std::uint8_t mcr_ = 0;
    std::uint8_t scr_ = 0;
    std::uint8_t dll_ = 0;
    std::uint8_t dlm_ = 0;
    std::uint8_t lsr_errors_ = 0;  // OE, sticky until LSR is read
    std::uint8_t msr_deltas_ = 0;  // DCTS|DDSR|TERI|DDCD, cleared by reading MSR
    bool fifo_enabled_ = false;
    bool thre_pending_ = false;
    bool irq_level_ = false;
    std::array<std::uint8_t, kRxFifoSize> rx_{};
    std::size_t rx_head_ = 0;
    std::size_t rx_count_ = 0;
    Counters counters_;
};

}  // namespace devices
