#pragma once
// GET /v1/usage: the ledger's usage of the caller's own resources (root:
// one owner's or everyone's) over a window, priced by vmd's price sheet
// (docs/metering.md, "What vmd does"); GET /v1/usage/records: the ledger's
// rows themselves, a page at a time.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "supervisor/metering/price_sheet.h"
#include "supervisor/vmd/caller.h"
#include "supervisor/vmd/context.h"

namespace supervisor::vmd {

struct UsageQuery {
    std::optional<std::string> instance;
    std::optional<std::int64_t> since_ms;  // default: the beginning
    std::optional<std::int64_t> until_ms;  // default: now
    std::string by = "instance";
    std::optional<std::string> owner;  // a uid or "all"; root only, but for one's own uid
};

// GET /v1/usage/records answers at most this many rows at once (`limit`,
// default kRecordsPageDefault): a ledger of any size costs vmd one page.
inline constexpr std::int64_t kRecordsPageDefault = 1000;
inline constexpr std::int64_t kRecordsPageMax = 10000;

class UsageService {
  public:
    UsageService(Context& context, const metering::PriceSheet& sheet)
        : ctx_(context), sheet_(sheet) {}

    // metering::bill_json of the report, plus "owner" (a uid or "all").
    // base::InvalidInput for a bad `by` or window; ApiError 403 for another
    // uid's usage asked by one who is not root.
    nlohmann::json report(const Caller& caller, const UsageQuery& query);
    // {"owner", "since", "until", "records": [metering::usage_record_json],
    // "next"}: the rows of the same window and owner rules as report(), in id
    // order, those with an id above `after`, at most `limit` (1 to
    // kRecordsPageMax). "next" is the `after` of the next page, null on the last.
    nlohmann::json records(const Caller& caller, const UsageQuery& query, std::int64_t after,
                           std::int64_t limit);

  private:
    Context& ctx_;
    const metering::PriceSheet& sheet_;
};

}  // namespace supervisor::vmd
