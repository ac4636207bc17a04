// libFuzzer target: virtio-blk end to end, from the driver's registers and
// rings to a fake disk that completes requests when the input says. The
// input is a hostile driver's moves (virtio_fuzz_driver.h) mixed with the
// disk's: requests (well-formed or not), raw descriptors, notifications,
// completions in any order and with errors, cancels, resets at any point.
// Checked: every disk request stays on the disk and in guest RAM and within
// the announced limits; never more requests in flight than the queue holds;
// a disk with nothing pending means a device with nothing in flight and no
// reset pending; the rings stay inside RAM.

#include <cerrno>
#include <cstdint>
#include <memory>

#include "devices/virtio/blk.h"
#include "tests/fuzz/virtio_fuzz_driver.h"
#include "tests/unit/virtio_fakes.h"

namespace {

using namespace fuzzing;
namespace blk = devices::virtio::blk;
using testing_support::FakeDisk;

constexpr std::uint64_t kDiskBytes = 1 << 20;

bool in_ram(const base::GuestMemory& mem, const iovec& v) {
    for (const auto& r : mem.regions()) {
        const auto* p = static_cast<const std::uint8_t*>(v.iov_base);
        if (p >= r.host && v.iov_len <= r.size &&
            p - r.host <= static_cast<std::ptrdiff_t>(r.size - v.iov_len)) {
            return true;
        }
    }
    return false;
}

void check_request(const base::GuestMemory& mem, const FakeDisk::Request& r) {
    FUZZ_CHECK(r.offset <= kDiskBytes && r.len <= kDiskBytes - r.offset);
    switch (r.op) {
        case FakeDisk::Op::kRead:
        case FakeDisk::Op::kWrite: {
            FUZZ_CHECK(r.len % 512 == 0 && r.offset % 512 == 0 && r.len > 0);
            std::uint64_t n = 0;
            for (const iovec& v : r.iov) {
                FUZZ_CHECK(in_ram(mem, v));
                n += v.iov_len;
            }
            FUZZ_CHECK(n == r.len);
            break;
        }
        case FakeDisk::Op::kDiscard:
            FUZZ_CHECK(r.offset % (512 * blk::kDiscardAlignmentSectors) == 0);
            FUZZ_CHECK(r.len % (512 * blk::kDiscardAlignmentSectors) == 0);
            FUZZ_CHECK(r.len <= std::uint64_t{blk::kMaxRangeSectors} * 512);
            break;
        case FakeDisk::Op::kWriteZeroes:
            FUZZ_CHECK(r.len <= std::uint64_t{blk::kMaxRangeSectors} * 512);
            break;
        case FakeDisk::Op::kFlush:
            break;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Input in(data, size);
    base::GuestMemory& mem = guest_memory();
    clear(mem);
    auto disk_owner = std::make_unique<FakeDisk>(kDiskBytes, (in.byte() & 7) == 0);
    FakeDisk* disk = disk_owner.get();
    auto dev = std::make_shared<devices::virtio::BlockDevice>("virtio-blk fuzz", "fuzz",
                                                              std::move(disk_owner), mem, nullptr);
    devices::virtio::MmioTransport transport(dev);
    transport.set_reset_wait(std::chrono::milliseconds(0));
    Driver driver(transport, mem);
    std::lock_guard lock(dev->lock());  // one thread: vCPU, I/O thread and disk in turn

    const std::uint16_t qsize = static_cast<std::uint16_t>(1u << (in.byte() % 9));
    driver.initialise(in.u64(), qsize);
    disk->on_request = [&mem](const FakeDisk::Request& r) { check_request(mem, r); };

    for (int step = 0; step < 200 && !in.empty(); ++step) {
        switch (in.byte() % 10) {
            case 0:
            case 1: {  // a request: header, data, status
                const std::uint32_t types[] = {0, 1, 4, 8, 11, 13, in.byte()};
                const std::uint32_t type = types[in.byte() % 7];
                const std::uint64_t header = buffer_address(in);
                std::uint8_t h[16] = {};
                std::memcpy(h, &type, 4);
                const std::uint64_t sector = in.byte() & 0x80 ? in.u64() : in.u16() & 0x7FF;
                std::memcpy(h + 8, &sector, 8);
                mem.write(header, h);
                std::vector<Driver::Seg> segs{{header, 16, false}};
                const bool data_in = type == 0 || type == 8;
                for (unsigned n = in.byte() % 4; n > 0; --n) {
                    const std::uint64_t at = buffer_address(in);
                    const std::uint32_t len = in.byte() & 0x80 ? in.u32() : (in.u16() & 0x3FFF);
                    if (type == 11 || type == 13) {  // segments: sector, count, flags
                        const std::uint64_t s = in.u16();
                        const std::uint32_t c = in.byte() & 0x80 ? in.u32() : in.u16();
                        const std::uint32_t f = in.byte() & 3;
                        std::uint8_t seg[16];
                        std::memcpy(seg, &s, 8);
                        std::memcpy(seg + 8, &c, 4);
                        std::memcpy(seg + 12, &f, 4);
                        mem.write(at, seg);
                    }
                    segs.push_back({at, len, data_in});
                }
                segs.push_back({buffer_address(in), 1u + (in.byte() & 1u), true});
                if (driver.size(0) != 0) {
                    driver.add_chain(0, segs);
                }
                break;
            }
            case 2: {  // a raw descriptor, wherever
                if (driver.size(0) == 0) {
                    break;
                }
                const std::uint16_t index = in.u16();
                driver.write_desc(driver.desc(0) + 16ull * (index % driver.size(0)),
                                  buffer_address(in), in.u32(), in.byte() & 7, in.u16());
                break;
            }
            case 3:  // publish any head, in flight or not
                if (driver.size(0) != 0) {
                    driver.publish(0, in.u16());
                }
                break;
            case 4:
                dev->notify(0);
                break;
            case 5: {  // the disk completes one request, maybe with an error
                if (!disk->pending.empty()) {
                    const std::size_t i = in.byte() % disk->pending.size();
                    const int errors[] = {0, 0, 0, -EIO, -ECANCELED, -ENOSPC};
                    disk->complete(i, errors[in.byte() % 6]);
                }
                break;
            }
            case 6:  // the cancel a reset asks the I/O thread for
                disk->ends_requests_on_cancel = in.byte() & 1;
                dev->cancel_requests();
                break;
            case 7:  // the driver resets, or starts over
                if (in.byte() & 1) {
                    driver.set(reg::kStatus, 0);
                    driver.forget_rings();
                } else {
                    driver.initialise(in.u64(), static_cast<std::uint16_t>(1u << (in.byte() % 9)));
                }
                break;
            case 8:
                dev->flush_interrupts();
                break;
            default: {  // a register, any value
                const std::uint64_t offset = (in.byte() & 0x3F) * 4;
                driver.set(offset, in.u32());
                break;
            }
        }
        check_device(*dev);
        const auto& q = dev->queues()[0];
        FUZZ_CHECK(dev->requests_in_flight() <= q.max_size());
        if (disk->pending.empty()) {
            FUZZ_CHECK(dev->requests_in_flight() == 0 && !dev->reset_pending());
        }
    }
    // Whatever happened, once the disk has answered everything the device is quiet.
    disk->complete_all();
    FUZZ_CHECK(dev->quiet());
    return 0;
}
