// libFuzzer target: virtio-net end to end on a fake backend. The input is a
// hostile driver's moves (virtio_fuzz_driver.h) mixed with the network's:
// frames of any size arriving, read errors, a full tap, readiness and retry
// callbacks firing, resets at any point. Receive chains are scattered over
// (mergeable or not), transmit chains gathered.
// Checked: every transmitted frame is what one chain held, at least a
// header and at most the largest frame; what the driver got back on the
// receive queue adds up to exactly the frames the counters say were
// delivered; rings stay inside RAM, heads in flight within the queue size.

#include <cerrno>
#include <cstdint>
#include <memory>

#include "devices/virtio/net.h"
#include "tests/fuzz/virtio_fuzz_driver.h"
#include "tests/unit/virtio_fakes.h"

namespace {

using namespace fuzzing;
using devices::virtio::NetDevice;
using testing_support::FakeNetBackend;

constexpr std::size_t kHeader = 12;
constexpr std::size_t kMaxFrame = kHeader + 65536 + 256;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Input in(data, size);
    base::GuestMemory& mem = guest_memory();
    clear(mem);
    auto backend_owner = std::make_unique<FakeNetBackend>();
    FakeNetBackend* backend = backend_owner.get();
    auto dev = std::make_shared<NetDevice>("virtio-net fuzz", std::move(backend_owner),
                                           std::array<std::uint8_t, 6>{2, 0, 0, 0, 0, 1}, mem);
    devices::virtio::MmioTransport transport(dev);
    transport.set_reset_wait(std::chrono::milliseconds(0));
    Driver driver(transport, mem);
    std::lock_guard lock(dev->lock());

    // What the receive queue gave back, read where the device put it.
    std::uint64_t rx_used_bytes = 0;
    std::uint16_t rx_seen = 0;
    std::uint64_t generation = dev->generation();
    auto collect = [&] {
        if (dev->generation() != generation) {
            generation = dev->generation();  // reset: the ring starts over
            rx_seen = 0;
        }
        const auto& q = dev->queues()[NetDevice::kRxQueue];
        if (!q.ready()) {
            return;
        }
        // The device's own count of what it published (the ring in guest
        // memory may still show a previous driver's).
        for (; rx_seen != q.next_used(); ++rx_seen) {
            const std::uint64_t elem = q.used_addr() + 4 + 8ull * (rx_seen % q.size());
            rx_used_bytes += mem.read_obj<std::uint32_t>(elem + 4).value_or(0);
        }
    };
    driver.initialise(in.u64(), static_cast<std::uint16_t>(1u << (in.byte() % 9)));

    for (int step = 0; step < 200 && !in.empty(); ++step) {
        switch (in.byte() % 12) {
            case 0:
            case 1: {  // buffers for the receive queue, or a frame to send
                const unsigned q = in.byte() & 1;
                std::vector<Driver::Seg> segs;
                for (unsigned n = 1 + in.byte() % 4; n > 0; --n) {
                    const std::uint64_t at = buffer_address(in);
                    const std::uint32_t len = in.byte() & 0x80 ? in.u32() : (in.u16() & 0x1FFF);
                    segs.push_back(
                        {at, len,
                         q == NetDevice::kRxQueue ? (in.byte() & 7) != 0 : (in.byte() & 7) == 0});
                }
                if (driver.size(q) != 0) {
                    driver.add_chain(q, segs);
                }
                break;
            }
            case 2: {  // a raw descriptor
                const unsigned q = in.byte() & 1;
                if (driver.size(q) == 0) {
                    break;
                }
                const std::uint16_t index = in.u16();
                driver.write_desc(driver.desc(q) + 16ull * (index % driver.size(q)),
                                  buffer_address(in), in.u32(), in.byte() & 7, in.u16());
                break;
            }
            case 3: {
                const unsigned q = in.byte() & 1;
                if (driver.size(q) != 0) {
                    driver.publish(q, in.u16());
                }
                break;
            }
            case 4:
                dev->notify(in.byte() & 1);
                break;
            case 5: {  // a frame arrives on the tap
                const std::size_t len =
                    in.byte() & 0x80 ? in.u32() % (kMaxFrame + 64) : in.u16() & 0xFFF;
                std::vector<std::uint8_t> f(len, in.byte());
                backend->rx.push_back(std::move(f));
                break;
            }
            case 6:
                backend->read_errors.push_back(in.byte() & 1 ? EIO : EBADFD);
                break;
            case 7:
                backend->tx_full = in.byte() & 1;
                backend->tx_error = in.byte() % 5 == 0 ? EIO : 0;
                break;
            case 8:
                switch (in.byte() % 3) {
                    case 0:
                        backend->fire_readable();
                        break;
                    case 1:
                        backend->fire_writable();
                        break;
                    default:
                        backend->fire_timers();
                        break;
                }
                break;
            case 9:
                collect();
                if (in.byte() & 1) {
                    driver.set(reg::kStatus, 0);
                    driver.forget_rings();
                } else {
                    driver.initialise(in.u64(), static_cast<std::uint16_t>(1u << (in.byte() % 9)));
                }
                break;
            case 10:
                dev->flush_interrupts();
                break;
            default: {  // a register, any value; the rings stay where they are
                const std::uint64_t offset = (in.byte() & 0x3F) * 4;
                if (offset != reg::kQueueNum && (offset < reg::kQueueDesc || offset > 0xA4)) {
                    driver.set(offset, in.u32());
                }
                break;
            }
        }
        for (const auto& f : backend->tx) {
            FUZZ_CHECK(f.size() >= kHeader && f.size() <= kMaxFrame);
        }
        backend->tx.clear();
        check_device(*dev);
        FUZZ_CHECK(backend->readable_waiters.size() <= 1 && backend->writable_waiters.size() <= 1);
        FUZZ_CHECK(backend->timers.size() <= 1);
        collect();
    }
    collect();
    const auto m = dev->metrics();
    FUZZ_CHECK(rx_used_bytes ==
               m["rx_bytes"].get<std::uint64_t>() + kHeader * m["rx_packets"].get<std::uint64_t>());
    return 0;
}
