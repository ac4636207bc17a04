#include <gtest/gtest.h>

#include "base/error.h"
#include "boot/cmdline.h"
#include "tests/unit/boot_test_images.h"
#include "x86/layout.h"

namespace boot {
namespace {

using test_images::error_of;
using test_images::throws_with;

std::string read_string(const base::GuestMemory& mem, std::uint64_t addr, std::size_t n) {
    auto s = mem.span(addr, n);
    return s ? std::string(s->begin(), s->end()) : std::string("(outside RAM)");
}

TEST(BootCmdline, JoinsItemsWithSpaces) {
    Cmdline c;
    c.append("console", "ttyS0").append("quiet").append("").append("root", "/dev/vda");
    EXPECT_EQ(c.str(), "console=ttyS0 quiet root=/dev/vda");
}

TEST(BootCmdline, QuotesValuesWithSpaces) {
    Cmdline c;
    c.append("init.arg", "a b");
    EXPECT_EQ(c.str(), "init.arg=\"a b\"");
}

TEST(BootCmdline, RejectsNulBytes) {
    Cmdline c;
    EXPECT_NE(error_of([&] { c.append(std::string("a\0b", 3)); }).find("NUL byte at offset 1"),
              std::string::npos);
    EXPECT_NE(error_of([&] { c.append("k", std::string("\0", 1)); }).find("NUL"),
              std::string::npos);
    EXPECT_EQ(c.str(), "");
}

TEST(BootCmdline, RejectsBadKeysAndQuotes) {
    Cmdline c;
    EXPECT_NE(error_of([&] { c.append("", "v"); }).find("key"), std::string::npos);
    EXPECT_NE(error_of([&] { c.append("a b", "v"); }).find("key 'a b'"), std::string::npos);
    EXPECT_NE(error_of([&] { c.append("a=b", "v"); }).find("key"), std::string::npos);
    EXPECT_NE(error_of([&] { c.append("k", "say \"hi\""); }).find("'\"'"), std::string::npos);
}

TEST(BootCmdline, EnforcesItsLimit) {
    Cmdline c(10);
    c.append("0123456789");
    EXPECT_EQ(c.size(), 10u);
    const std::string msg = error_of([&] { c.append("x"); });
    EXPECT_NE(msg.find("12 bytes is longer than the limit of 10"), std::string::npos) << msg;
    EXPECT_EQ(c.str(), "0123456789");
}

TEST(BootCmdline, LimitNeverExceedsTheRoomInGuestMemory) {
    Cmdline c(1 << 30);
    EXPECT_EQ(c.max_chars(), layout::kCmdlineMax - 1);
}

TEST(BootCmdline, WritesNulTerminatedLineAtFixedAddress) {
    base::GuestMemory mem(4 << 20);
    write_cmdline(mem, "console=ttyS0", 100);
    EXPECT_EQ(read_string(mem, layout::kCmdline, 14), std::string("console=ttyS0\0", 14));
}

TEST(BootCmdline, WriteRejectsTooLongAndNul) {
    base::GuestMemory mem(4 << 20);
    EXPECT_NE(error_of([&] { write_cmdline(mem, "abcdef", 5); }).find("6 bytes"),
              std::string::npos);
    EXPECT_NE(error_of([&] { write_cmdline(mem, std::string("a\0", 2), 5); }).find("NUL"),
              std::string::npos);
    const std::string huge(layout::kCmdlineMax, 'x');
    EXPECT_NE(error_of([&] { write_cmdline(mem, huge, 1 << 30); }).find("longer than the limit"),
              std::string::npos);
}

TEST(BootCmdline, WriteIntoTooSmallGuestFails) {
    base::GuestMemory mem(64 << 10);  // ends below layout::kCmdline
    EXPECT_THROW(write_cmdline(mem, "x", 10), base::InvalidInput);
}

}  // namespace
}  // namespace boot
