#include "supervisor/metering/report.h"

#include "base/error.h"
#include "supervisor/metering/meters.h"

namespace supervisor::metering {

Bill usage_report(Database& db, const ReportQuery& query, const PriceSheet& sheet) {
    // One read transaction, so the rows and the starts are of one moment.
    std::optional<store::Transaction> tx;
    if (!db.in_transaction()) {
        tx.emplace(db);
    }
    const auto rows = usage(db, query.owner, query.since, query.until, query.instance);
    const auto in_window = starts(db, query.owner, query.since, query.until, query.instance);
    if (tx) {
        tx->commit();
    }
    return rate(rows, in_window, sheet, query.by);
}

GroupBy parse_group_by(std::string_view text) {
    if (text == "instance") {
        return GroupBy::kInstance;
    }
    if (text == "meter") {
        return GroupBy::kMeter;
    }
    if (text == "day") {
        return GroupBy::kDay;
    }
    throw base::InvalidInput("usage: 'by' must be instance, meter or day, not '" +
                             std::string(text) + "'");
}

std::string_view group_by_name(GroupBy by) {
    switch (by) {
        case GroupBy::kInstance:
            return "instance";
        case GroupBy::kMeter:
            return "meter";
        case GroupBy::kDay:
            return "day";
    }
    return "instance";
}

std::string_view unit_of(std::string_view meter) {
    if (meter == kCpuUs || meter == kCpuMinimumUs) {
        return "us";
    }
    if (meter == kNetRxBytes || meter == kNetTxBytes) {
        return "bytes";
    }
    if (meter == kStorageGibMs) {
        return "GiB-ms";
    }
    if (meter == kBoots) {
        return "boots";
    }
    if (meter == kBootReadyMs) {
        return "ms";
    }
    return "";
}

nlohmann::json bill_json(const Bill& bill, const ReportQuery& query) {
    nlohmann::json lines = nlohmann::json::array();
    for (const BillLine& l : bill.lines) {
        lines.push_back({{"group", l.group},
                         {"meter", l.meter},
                         {"unit", unit_of(l.meter)},
                         {"quantity", l.quantity},
                         {"amount", l.amount}});
    }
    return {{"currency", bill.currency},
            {"by", group_by_name(query.by)},
            {"since", query.since},
            {"until", query.until},
            {"lines", lines},
            {"total", bill.total}};
}

}  // namespace supervisor::metering
