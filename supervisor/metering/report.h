#pragma once
// A usage report: the ledger's rows for one owner (or all) over a window,
// rated by a price sheet, as vmd's GET /usage and `vmctl usage` serve it.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "supervisor/metering/ledger.h"
#include "supervisor/metering/price_sheet.h"
#include "supervisor/metering/rating.h"

namespace supervisor::metering {

struct ReportQuery {
    std::optional<Owner> owner;           // empty: every owner (root only)
    std::optional<std::string> instance;  // empty: every resource
    Millis since = 0;                     // rows whose interval starts in [since, until)
    Millis until = 0;
    GroupBy by = GroupBy::kInstance;
};

// usage() and starts() of the window, rated.
Bill usage_report(Database& db, const ReportQuery& query, const PriceSheet& sheet);

// "instance", "meter" or "day"; base::InvalidInput naming the choices else.
GroupBy parse_group_by(std::string_view text);
std::string_view group_by_name(GroupBy by);

// The unit of a meter's quantity, for people: "us", "bytes", "GiB-ms", ...
std::string_view unit_of(std::string_view meter);

// {"currency", "by", "since", "until", "lines": [{"group", "meter", "unit",
// "quantity", "amount"}], "total"}; amounts in minor units.
nlohmann::json bill_json(const Bill& bill, const ReportQuery& query);

}  // namespace supervisor::metering
