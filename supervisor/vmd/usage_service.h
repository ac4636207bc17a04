#pragma once
// GET /v1/usage: the ledger's usage of the caller's own resources (root:
// one owner's or everyone's) over a window, priced by vmd's price sheet
// (docs/metering.md, "What vmd does").

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

class UsageService {
  public:
    UsageService(Context& context, const metering::PriceSheet& sheet)
        : ctx_(context), sheet_(sheet) {}

    // metering::bill_json of the report, plus "owner" (a uid or "all").
    // base::InvalidInput for a bad `by` or window; ApiError 403 for another
    // uid's usage asked by one who is not root.
    nlohmann::json report(const Caller& caller, const UsageQuery& query);

  private:
    Context& ctx_;
    const metering::PriceSheet& sheet_;
};

}  // namespace supervisor::vmd
