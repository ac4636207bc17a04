// vmctl's sizes, tables and progress bar: what users type and read.

#include <gtest/gtest.h>

#include <sstream>

#include "base/error.h"
#include "supervisor/vmctl/progress.h"
#include "supervisor/vmctl/table.h"
#include "supervisor/vmctl/units.h"

namespace vmctl {
namespace {

std::string size_error(const std::string& text) {
    try {
        parse_size("--size", text);
    } catch (const base::InvalidInput& e) {
        return e.what();
    }
    return "";
}

TEST(VmctlUnits, SizesTakeBinarySuffixesInAnySpelling) {
    EXPECT_EQ(parse_size("--size", "10G"), 10ull << 30);
    EXPECT_EQ(parse_size("--size", "10g"), 10ull << 30);
    EXPECT_EQ(parse_size("--size", "10GiB"), 10ull << 30);
    EXPECT_EQ(parse_size("--size", "10GB"), 10ull << 30);
    EXPECT_EQ(parse_size("--size", "512M"), 512ull << 20);
    EXPECT_EQ(parse_size("--size", "64K"), 64ull << 10);
    EXPECT_EQ(parse_size("--size", "2T"), 2ull << 40);
    EXPECT_EQ(parse_size("--size", "1.5G"), 3ull << 29);
    EXPECT_EQ(parse_size("--size", "4096"), 4096u);
    EXPECT_EQ(parse_size("--size", "4096B"), 4096u);
}

TEST(VmctlUnits, SizesThatAreNotWholeSectorsAreRefusedNamingTheOption) {
    EXPECT_NE(size_error("10X").find("--size wants a size like"), std::string::npos);
    EXPECT_NE(size_error("").find("--size wants"), std::string::npos);
    EXPECT_NE(size_error("G").find("--size wants"), std::string::npos);
    EXPECT_NE(size_error("-1G").find("--size wants"), std::string::npos);
    EXPECT_NE(size_error("1.2.3G").find("--size wants"), std::string::npos);
    EXPECT_NE(size_error("1000").find("512-byte sectors"), std::string::npos);
    EXPECT_NE(size_error("0").find("512-byte sectors"), std::string::npos);
    EXPECT_NE(size_error("0.1K").find("512-byte sectors"), std::string::npos);
    EXPECT_NE(size_error("99999999P").find("--size wants"), std::string::npos);
    EXPECT_NE(size_error("9999999999T").find("too large"), std::string::npos);
}

TEST(VmctlUnits, MemoryIsMibUnlessItHasAUnit) {
    EXPECT_EQ(parse_memory_mib("--memory", "256"), 256u);
    EXPECT_EQ(parse_memory_mib("--memory", "1G"), 1024u);
    EXPECT_EQ(parse_memory_mib("--memory", "512M"), 512u);
    EXPECT_THROW(parse_memory_mib("--memory", "1000K"), base::InvalidInput);
    EXPECT_THROW(parse_memory_mib("--memory", "0"), base::InvalidInput);
    EXPECT_THROW(parse_memory_mib("--memory", "lots"), base::InvalidInput);
}

TEST(VmctlUnits, SizesPrintInTheLargestWholeUnit) {
    EXPECT_EQ(format_size(0), "0 B");
    EXPECT_EQ(format_size(512), "512 B");
    EXPECT_EQ(format_size(256ull << 20), "256 MiB");
    EXPECT_EQ(format_size(3ull << 29), "1.5 GiB");
    EXPECT_EQ(format_size(10ull << 30), "10 GiB");
    EXPECT_EQ(format_size((128ull << 20) + 1), "128 MiB");
}

TEST(VmctlTable, ColumnsAlignToTheWidestCellWithoutTrailingBlanks) {
    Table t({"ID", "NAME", "STATE"});
    t.add({"i-1", "web-1", "running"});
    t.add({"i-22", "w", ""});
    std::ostringstream out;
    t.print(out);
    EXPECT_EQ(out.str(),
              "ID    NAME   STATE\n"
              "i-1   web-1  running\n"
              "i-22  w\n");
    EXPECT_THROW(t.add({"too", "few"}), base::InternalError);
}

TEST(VmctlTable, FieldsLineUpTheirValues) {
    std::ostringstream out;
    print_fields(out, {{"id", "i-1"}, {"last_error", "-"}, {"empty", ""}});
    EXPECT_EQ(out.str(),
              "id:         i-1\n"
              "last_error: -\n"
              "empty:\n");
}

TEST(VmctlProgress, BarFillsWithTheFractionAndShowsTheSizes) {
    EXPECT_EQ(progress_bar(0, 0, 10), "[..........]   0%");
    EXPECT_EQ(progress_bar(0.45, 128ull << 20, 10), "[####......]  45%  57.6 MiB of 128 MiB");
    EXPECT_EQ(progress_bar(1, 0, 4), "[####] 100%");
    EXPECT_EQ(progress_bar(7.5, 0, 4), "[####] 100%") << "clamped";
    EXPECT_EQ(progress_bar(-1, 0, 4), "[....]   0%");
}

}  // namespace
}  // namespace vmctl
