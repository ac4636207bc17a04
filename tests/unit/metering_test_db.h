#pragma once
// A migrated vmd database in a temporary directory, for the metering tests.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "supervisor/metering/ledger.h"
#include "supervisor/store/schema.h"
#include "supervisor/store/sqlite.h"

namespace supervisor::metering::testing {

class LedgerTestBase : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/vmd-metering-test-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        path_ = dir_ + "/vmd.db";
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::unique_ptr<store::Database> open(const std::string& name = "vmd.db") const {
        auto db = std::make_unique<store::Database>(dir_ + "/" + name);
        store::migrate(*db);
        return db;
    }
    std::string dir_;
    std::string path_;
};

// (owner, kind, resource, meter) -> all-time quantity.
using TotalsMap = std::map<std::tuple<Owner, std::string, std::string, std::string>, std::int64_t>;

inline TotalsMap totals_map(store::Database& db) {
    TotalsMap out;
    for (const Total& t : totals(db)) {
        out[{t.owner, t.kind, t.resource, t.meter}] = t.quantity;
    }
    return out;
}

// The sum of one meter over every row of `resource`.
inline std::int64_t sum_of(store::Database& db, const std::string& resource,
                           std::string_view meter) {
    std::int64_t sum = 0;
    for (const UsageRecord& r : usage(db, std::nullopt, INT64_MIN, INT64_MAX, resource)) {
        sum += r.meter == meter ? r.quantity : 0;
    }
    return sum;
}

}  // namespace supervisor::metering::testing
