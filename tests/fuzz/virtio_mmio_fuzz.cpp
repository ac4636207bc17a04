// libFuzzer target: the virtio-mmio transport's registers, in any order
// with any values: feature negotiation, queue setup, status changes, config
// space accesses of every width, notifications, and resets at any point,
// including while a disk request is in flight (a fake disk the input
// completes). The device is a virtio-blk (with requests) or a virtio-rng.
// Checked after every access: the status the driver reads is coherent (0
// right after a reset that had nothing to wait for; DEVICE_NEEDS_RESET while
// a reset waits), an active device negotiated a subset of the offered
// features with VERSION_1, a ready queue lies inside RAM, interrupt status
// holds only its two bits, and in-flight requests never outnumber the queue.

#include <cstdint>
#include <memory>

#include "devices/virtio/blk.h"
#include "devices/virtio/rng.h"
#include "tests/fuzz/virtio_fuzz_driver.h"
#include "tests/unit/virtio_fakes.h"

namespace {

using namespace fuzzing;
using testing_support::FakeDisk;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Input in(data, size);
    base::GuestMemory& mem = guest_memory();
    clear(mem);
    FakeDisk* disk = nullptr;
    std::shared_ptr<devices::virtio::VirtioDevice> dev;
    if (in.byte() & 1) {
        auto owner = std::make_unique<FakeDisk>(1 << 20);
        disk = owner.get();
        dev = std::make_shared<devices::virtio::BlockDevice>("virtio-blk fuzz", "fuzz",
                                                             std::move(owner), mem, nullptr);
    } else {
        dev = std::make_shared<devices::virtio::RngDevice>("virtio-rng fuzz", mem);
    }
    devices::virtio::MmioTransport transport(dev);
    transport.set_reset_wait(std::chrono::milliseconds(0));
    Driver driver(transport, mem);
    std::lock_guard lock(dev->lock());

    for (int step = 0; step < 300 && !in.empty(); ++step) {
        switch (in.byte() % 10) {
            case 0:
            case 1:
            case 2: {  // a register write: mostly real registers, values near the useful
                const std::uint64_t offset = (in.byte() % 0x40) * 4;
                std::uint32_t value = in.u32();
                if (offset == reg::kQueueDesc || offset == reg::kQueueDriver ||
                    offset == reg::kQueueDevice) {
                    value =
                        static_cast<std::uint32_t>(in.byte() & 0x80 ? value : buffer_address(in));
                } else if (offset == reg::kQueueNum || offset == reg::kStatus) {
                    value &= in.byte() & 0x80 ? ~0u : 0x1FF;
                }
                driver.set(offset, value);
                if (offset == reg::kStatus && value == 0 && !dev->reset_pending()) {
                    FUZZ_CHECK(driver.get(reg::kStatus) == 0);
                    FUZZ_CHECK(dev->interrupt_status() == 0 && !dev->active());
                    for (const auto& q : dev->queues()) {
                        FUZZ_CHECK(!q.ready());
                    }
                }
                break;
            }
            case 3: {  // a register read
                const std::uint64_t offset = (in.byte() % 0x40) * 4;
                const std::uint32_t v = driver.get(offset);
                if (offset == reg::kStatus && dev->reset_pending()) {
                    FUZZ_CHECK(v == devices::virtio::status::kNeedsReset);
                }
                if (offset == reg::kInterruptStatus) {
                    FUZZ_CHECK((v & ~3u) == 0);
                }
                break;
            }
            case 4: {  // config space, any width, any offset
                const std::uint64_t offset = 0x100 + in.byte();
                std::uint8_t buf[8] = {};
                const std::size_t width = std::size_t{1} << (in.byte() % 4);
                if (in.byte() & 1) {
                    transport.read(offset, {buf, width});
                } else {
                    std::memcpy(buf, &step, sizeof step);
                    transport.write(offset, {buf, width});
                }
                break;
            }
            case 5:  // the whole, well-behaved sequence, to get past it quickly
                driver.initialise(in.u64(), static_cast<std::uint16_t>(1u << (in.byte() % 9)));
                break;
            case 6: {  // a request or buffer for queue 0, and a kick
                if (driver.size(0) == 0) {
                    break;
                }
                std::uint8_t h[16] = {};
                h[0] = in.byte() & 1;  // read or write
                h[8] = in.byte();
                mem.write(kHighStart, h);
                driver.add_chain(
                    0, {{kHighStart, 16, dev->type() != devices::virtio::DeviceType::kBlock},
                        {kHighStart + 0x1000, 512, true},
                        {kHighStart + 0x2000, 1, true}});
                dev->notify(0);
                break;
            }
            case 7:
                dev->notify(in.byte() % 2);
                break;
            case 8:  // the disk answers, or the I/O thread serves a cancel
                if (disk != nullptr && !disk->pending.empty()) {
                    if (in.byte() & 1) {
                        disk->complete(in.byte() % disk->pending.size());
                    } else {
                        disk->ends_requests_on_cancel = true;
                        dev->cancel_requests();
                    }
                }
                break;
            default:
                if (in.byte() & 1) {
                    transport.reset();  // the VMM's power-on reset (reboot)
                    driver.forget_rings();
                } else {
                    dev->flush_interrupts();
                }
                break;
        }
        check_device(*dev);
        std::size_t capacity = 0;
        for (const auto& q : dev->queues()) {
            capacity += q.max_size();
        }
        FUZZ_CHECK(dev->requests_in_flight() <= capacity);
        if (disk != nullptr && disk->pending.empty()) {
            FUZZ_CHECK(dev->requests_in_flight() == 0 && !dev->reset_pending());
        }
    }
    if (disk != nullptr) {
        disk->complete_all();
        FUZZ_CHECK(dev->quiet());
    }
    return 0;
}
