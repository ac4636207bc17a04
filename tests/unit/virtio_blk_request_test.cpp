// virtio-blk request parsing: what the guest may put in a chain, and what it
// gets back when the chain is wrong.

#include <gtest/gtest.h>

#include <cstring>

#include "base/guest_memory.h"
#include "devices/virtio/blk_request.h"

namespace devices::virtio::blk {
namespace {

class BlkRequest : public ::testing::Test {
  protected:
    // A buffer at `addr` of `len` bytes.
    Buffer buf(std::uint64_t addr, std::uint64_t len) { return {addr, *mem_.span(addr, len)}; }
    Buffer header(std::uint32_t type, std::uint64_t sector, std::uint64_t addr = 0x1000) {
        std::uint8_t h[16] = {};
        std::memcpy(h, &type, 4);
        std::memcpy(h + 8, &sector, 8);
        EXPECT_TRUE(mem_.write(addr, h));
        return buf(addr, 16);
    }
    Buffer status() { return buf(0x9000, 1); }
    Limits limits(std::uint64_t capacity = 1 << 20) {
        Limits l;
        l.capacity_bytes = capacity;
        l.discard = l.write_zeroes = true;
        return l;
    }

    base::GuestMemory mem_{1 << 20};
};

TEST_F(BlkRequest, ReadGoesToTheWritableBuffersBeforeTheStatus) {
    Chain c;
    c.readable = {header(type::kIn, 8)};
    c.writable = {buf(0x2000, 4096), buf(0x4000, 512), status()};
    const Parsed p = parse_request(c, limits());
    ASSERT_TRUE(p.request) << p.error;
    EXPECT_EQ(p.request->kind, Request::Kind::kRead);
    EXPECT_EQ(p.request->offset, 8u * 512);
    EXPECT_EQ(p.request->length, 4608u);
    ASSERT_EQ(p.request->data.size(), 2u);
    EXPECT_EQ(p.status, mem_.span(0x9000, 1)->data());
    EXPECT_EQ(p.used_length_on_success, 4609u);
}

TEST_F(BlkRequest, StatusByteMayShareTheLastDataBuffer) {
    Chain c;
    c.readable = {header(type::kIn, 0)};
    c.writable = {buf(0x2000, 513)};
    const Parsed p = parse_request(c, limits());
    ASSERT_TRUE(p.request) << p.error;
    EXPECT_EQ(p.request->length, 512u);
    EXPECT_EQ(p.status, mem_.span(0x2000 + 512, 1)->data());
}

TEST_F(BlkRequest, WriteTakesTheReadableBytesAfterTheHeader) {
    Chain c;
    header(type::kOut, 2, 0x1000);
    // Header and data in one buffer, as some drivers lay it out.
    c.readable = {buf(0x1000, 16 + 1024)};
    c.writable = {status()};
    const Parsed p = parse_request(c, limits());
    ASSERT_TRUE(p.request) << p.error;
    EXPECT_EQ(p.request->kind, Request::Kind::kWrite);
    EXPECT_EQ(p.request->length, 1024u);
    EXPECT_EQ(p.request->data[0].iov_base, mem_.span(0x1010, 1)->data());
    EXPECT_EQ(p.used_length_on_success, 1u);
}

TEST_F(BlkRequest, AHeaderSplitAcrossBuffersIsReassembled) {
    header(type::kIn, 5, 0x1000);
    Chain c;
    c.readable = {buf(0x1000, 3), buf(0x1003, 13)};
    c.writable = {buf(0x2000, 512), status()};
    const Parsed p = parse_request(c, limits());
    ASSERT_TRUE(p.request) << p.error;
    EXPECT_EQ(p.request->offset, 5u * 512);
}

TEST_F(BlkRequest, ShortHeaderIsAnIoError) {
    Chain c;
    c.readable = {buf(0x1000, 15)};
    c.writable = {status()};
    const Parsed p = parse_request(c, limits());
    EXPECT_FALSE(p.request);
    EXPECT_EQ(p.error_status, Status::kIoError);
    EXPECT_NE(p.status, nullptr);
}

TEST_F(BlkRequest, NoStatusByteMeansNoAnswerAtAll) {
    Chain c;
    c.readable = {header(type::kFlush, 0)};
    const Parsed p = parse_request(c, limits());
    EXPECT_FALSE(p.request);
    EXPECT_EQ(p.status, nullptr);
}

TEST_F(BlkRequest, RequestsPastTheEndOfTheDiskFail) {
    Chain c;
    c.readable = {header(type::kIn, (1 << 20) / 512 - 1)};
    c.writable = {buf(0x2000, 1024), status()};
    EXPECT_FALSE(parse_request(c, limits()).request);
    c.readable = {header(type::kIn, ~0ull / 512)};  // sector * 512 would overflow
    EXPECT_FALSE(parse_request(c, limits()).request);
    c.readable = {header(type::kIn, ~0ull)};
    EXPECT_FALSE(parse_request(c, limits()).request);
    c.readable = {header(type::kIn, (1 << 20) / 512 - 2)};
    EXPECT_TRUE(parse_request(c, limits()).request) << "the last two sectors are fine";
}

TEST_F(BlkRequest, LengthsThatAreNotWholeSectorsFail) {
    Chain c;
    c.readable = {header(type::kIn, 0)};
    c.writable = {buf(0x2000, 100), status()};
    EXPECT_FALSE(parse_request(c, limits()).request);
}

TEST_F(BlkRequest, ReadOnlyDisksRefuseWritesDiscardsAndZeroes) {
    Limits ro = limits();
    ro.read_only = true;
    Chain c;
    c.readable = {header(type::kOut, 0), buf(0x2000, 512)};
    c.writable = {status()};
    const Parsed p = parse_request(c, ro);
    EXPECT_FALSE(p.request);
    EXPECT_EQ(p.error_status, Status::kIoError);
    Chain r;
    r.readable = {header(type::kIn, 0)};
    r.writable = {buf(0x2000, 512), status()};
    EXPECT_TRUE(parse_request(r, ro).request);
}

TEST_F(BlkRequest, GetIdAnswersAtMost20Bytes) {
    Chain c;
    c.readable = {header(type::kGetId, 0)};
    c.writable = {buf(0x2000, 64), status()};
    const Parsed p = parse_request(c, limits());
    ASSERT_TRUE(p.request);
    EXPECT_EQ(p.request->length, kIdBytes);
    EXPECT_EQ(p.used_length_on_success, kIdBytes + 1);
}

TEST_F(BlkRequest, UnknownTypesAreUnsupported) {
    Chain c;
    c.readable = {header(99, 0)};
    c.writable = {status()};
    const Parsed p = parse_request(c, limits());
    EXPECT_FALSE(p.request);
    EXPECT_EQ(p.error_status, Status::kUnsupported);
}

TEST_F(BlkRequest, DiscardSegmentsAreParsedAndChecked) {
    std::uint8_t seg[32] = {};
    const std::uint64_t s0 = 8, s1 = 64;
    const std::uint32_t n0 = 8, n1 = 16;
    std::memcpy(seg, &s0, 8);
    std::memcpy(seg + 8, &n0, 4);
    std::memcpy(seg + 16, &s1, 8);
    std::memcpy(seg + 24, &n1, 4);
    ASSERT_TRUE(mem_.write(0x2000, seg));
    Chain c;
    c.readable = {header(type::kDiscard, 0), buf(0x2000, 32)};
    c.writable = {status()};
    Parsed p = parse_request(c, limits());
    ASSERT_TRUE(p.request) << p.error;
    ASSERT_EQ(p.request->ranges.size(), 2u);
    EXPECT_EQ(p.request->ranges[1].offset, 64u * 512);
    EXPECT_EQ(p.request->ranges[1].length, 16u * 512);

    Limits no_discard = limits();
    no_discard.discard = false;
    EXPECT_EQ(parse_request(c, no_discard).error_status, Status::kUnsupported);

    const std::uint32_t unmap = 1;
    std::memcpy(seg + 12, &unmap, 4);
    ASSERT_TRUE(mem_.write(0x2000, seg));
    EXPECT_EQ(parse_request(c, limits()).error_status, Status::kUnsupported)
        << "discard must not carry the unmap flag";

    c.readable = {header(type::kWriteZeroes, 0), buf(0x2000, 32)};
    p = parse_request(c, limits());
    ASSERT_TRUE(p.request) << p.error;
    EXPECT_TRUE(p.request->ranges[0].unmap);

    c.readable = {header(type::kDiscard, 0), buf(0x2000, 24)};
    EXPECT_FALSE(parse_request(c, limits()).request) << "partial segment";
    c.readable = {header(type::kDiscard, 0), buf(0x2000, 16 * (kMaxRangeSegments + 1))};
    EXPECT_FALSE(parse_request(c, limits()).request) << "too many segments";
}

// One segment at 0x2000 and a request of `type` carrying it.
class BlkRangeLimits : public BlkRequest {
  protected:
    Parsed one_segment(std::uint32_t type, std::uint64_t sector, std::uint32_t sectors,
                       std::uint64_t capacity) {
        std::uint8_t seg[16] = {};
        std::memcpy(seg, &sector, 8);
        std::memcpy(seg + 8, &sectors, 4);
        EXPECT_TRUE(mem_.write(0x2000, seg));
        Chain c;
        c.readable = {header(type, 0), buf(0x2000, 16)};
        c.writable = {status()};
        return parse_request(c, limits(capacity));
    }
};

TEST_F(BlkRangeLimits, ASegmentLongerThanAnnouncedIsAnIoError) {
    constexpr std::uint64_t k4TiB = 4ull << 40;
    for (std::uint32_t type : {type::kDiscard, type::kWriteZeroes}) {
        const Parsed most = one_segment(type, 0, kMaxRangeSectors, k4TiB);
        ASSERT_TRUE(most.request) << most.error;
        EXPECT_EQ(most.request->ranges[0].length, std::uint64_t{kMaxRangeSectors} * 512);

        const Parsed over = one_segment(type, 0, kMaxRangeSectors + 8, k4TiB);
        EXPECT_FALSE(over.request);
        EXPECT_EQ(over.error_status, Status::kIoError);
        // 2 TiB in one segment, on a disk that has them.
        const Parsed huge = one_segment(type, 0, 0xFFFFFFFF, k4TiB);
        EXPECT_FALSE(huge.request);
        EXPECT_EQ(huge.error_status, Status::kIoError);
    }
}

TEST_F(BlkRangeLimits, MoreSegmentsThanAnnouncedAreUnsupported) {
    for (std::uint32_t type : {type::kDiscard, type::kWriteZeroes}) {
        Chain c;
        c.writable = {status()};
        ASSERT_TRUE(mem_.zero(0x2000, 16 * (kMaxRangeSegments + 1)));
        c.readable = {header(type, 0), buf(0x2000, 16 * kMaxRangeSegments)};
        EXPECT_TRUE(parse_request(c, limits()).request);
        c.readable = {header(type, 0), buf(0x2000, 16 * (kMaxRangeSegments + 1))};
        const Parsed p = parse_request(c, limits());
        EXPECT_FALSE(p.request);
        EXPECT_EQ(p.error_status, Status::kUnsupported);
    }
}

TEST_F(BlkRangeLimits, ADiscardActsOnlyOnTheWholeAlignedUnitsItCovers) {
    ASSERT_EQ(kDiscardAlignmentSectors, 8u);
    Parsed p = one_segment(type::kDiscard, 3, 30, 1 << 20);  // sectors [3, 33)
    ASSERT_TRUE(p.request) << p.error;
    EXPECT_EQ(p.request->ranges[0].offset, 8u * 512);
    EXPECT_EQ(p.request->ranges[0].length, 24u * 512) << "[8, 32): the units inside";

    p = one_segment(type::kDiscard, 9, 6, 1 << 20);  // within one unit
    ASSERT_TRUE(p.request) << p.error;
    EXPECT_EQ(p.request->ranges[0].length, 0u) << "nothing to deallocate: done, OK";

    p = one_segment(type::kWriteZeroes, 3, 30, 1 << 20);
    ASSERT_TRUE(p.request) << p.error;
    EXPECT_EQ(p.request->ranges[0].offset, 3u * 512) << "write-zeroes zeroes every sector";
    EXPECT_EQ(p.request->ranges[0].length, 30u * 512);
}

TEST_F(BlkRequest, SliceAndGatherStayWithinTheBuffers) {
    const std::vector<Buffer> bufs = {buf(0x1000, 10), buf(0x2000, 0), buf(0x3000, 10)};
    auto s = slice(bufs, 5, 10);
    ASSERT_TRUE(s);
    ASSERT_EQ(s->size(), 2u);
    EXPECT_EQ((*s)[0].iov_len, 5u);
    EXPECT_EQ((*s)[1].iov_len, 5u);
    EXPECT_FALSE(slice(bufs, 5, 16));
    std::uint8_t out[21];
    EXPECT_FALSE(gather(bufs, 0, out));
}

}  // namespace
}  // namespace devices::virtio::blk
