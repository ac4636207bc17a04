// libFuzzer target: virtio-rng end to end. The input is a hostile driver's
// moves (virtio_fuzz_driver.h): chains of any shape, raw descriptors, heads
// republished, notifications, resets. Checked, by the device's counters: no
// request gets more than the per-request cap, one notification serves at
// most one ring's worth and about its byte budget; rings stay inside RAM.

#include <cstdint>
#include <memory>

#include "devices/virtio/rng.h"
#include "tests/fuzz/virtio_fuzz_driver.h"

namespace {

using namespace fuzzing;
using devices::virtio::RngDevice;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Input in(data, size);
    base::GuestMemory& mem = guest_memory();
    clear(mem);
    auto dev = std::make_shared<RngDevice>("virtio-rng fuzz", mem);
    devices::virtio::MmioTransport transport(dev);
    Driver driver(transport, mem);
    std::lock_guard lock(dev->lock());
    driver.initialise(in.u64(), static_cast<std::uint16_t>(1u << (in.byte() % 9)));

    for (int step = 0; step < 200 && !in.empty(); ++step) {
        switch (in.byte() % 7) {
            case 0:
            case 1: {
                std::vector<Driver::Seg> segs;
                for (unsigned n = 1 + in.byte() % 4; n > 0; --n) {
                    const std::uint64_t at = buffer_address(in);
                    const std::uint32_t len = in.byte() & 0x80 ? in.u32() : (in.u16() & 0x3FFF);
                    segs.push_back({at, len, (in.byte() & 7) != 0});
                }
                if (driver.size(0) != 0) {
                    driver.add_chain(0, segs);
                }
                break;
            }
            case 2:
                if (driver.size(0) != 0) {
                    const std::uint16_t index = in.u16();
                    driver.write_desc(driver.desc(0) + 16ull * (index % driver.size(0)),
                                      buffer_address(in), in.u32(), in.byte() & 7, in.u16());
                }
                break;
            case 3:
                if (driver.size(0) != 0) {
                    driver.publish(0, in.u16());
                }
                break;
            case 4: {  // what one notification may do, by the device's own counters
                const auto count = [&](const char* name) {
                    return dev->metrics()[name].get<std::uint64_t>();
                };
                const std::uint64_t requests = count("requests"), bad = count("bad_requests");
                const std::uint64_t bytes = count("bytes");
                dev->notify(0);
                const std::uint64_t served =
                    count("requests") - requests + count("bad_requests") - bad;
                FUZZ_CHECK(served <= dev->queues()[0].max_size());
                FUZZ_CHECK(count("bytes") - bytes <=
                           (count("requests") - requests) * RngDevice::kMaxBytesPerRequest);
                FUZZ_CHECK(count("bytes") - bytes <
                           RngDevice::kMaxBytesPerNotification + RngDevice::kMaxBytesPerRequest);
                break;
            }
            case 5:
                if (in.byte() & 1) {
                    driver.set(reg::kStatus, 0);
                    driver.forget_rings();
                } else {
                    driver.initialise(in.u64(), static_cast<std::uint16_t>(1u << (in.byte() % 9)));
                }
                break;
            default:
                dev->flush_interrupts();
                break;
        }
        check_device(*dev);
    }
    return 0;
}
