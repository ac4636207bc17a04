#include "supervisor/vmd/usage_service.h"

#include "base/error.h"
#include "supervisor/metering/exports.h"
#include "supervisor/metering/report.h"
#include "supervisor/vmd/api_error.h"
#include "supervisor/vmd/clock.h"

namespace supervisor::vmd {

namespace {

std::optional<std::int64_t> parse_owner(const std::string& text) {
    if (text == "all") {
        return std::nullopt;
    }
    if (text.empty() || text.size() > 10 || text.find_first_not_of("0123456789") != text.npos) {
        throw base::InvalidInput("owner must be a uid or 'all', not '" + text + "'");
    }
    return std::stoll(text);
}

}  // namespace

namespace {

// The owner and window a query covers, checked: another uid's only for root.
metering::ReportQuery scope_of(const Caller& caller, const UsageQuery& q) {
    metering::ReportQuery query;
    query.owner = caller.uid();
    if (q.owner) {
        const auto wanted = parse_owner(*q.owner);
        if (!caller.is_root() && wanted != caller.uid()) {
            throw ApiError(403, "only root may see the usage of another owner (owner=" + *q.owner +
                                    "); leave owner out for your own");
        }
        query.owner = wanted;
    }
    query.instance = q.instance;
    query.since = q.since_ms.value_or(0);
    query.until = q.until_ms.value_or(now_ms() + 1);
    if (query.until <= query.since) {
        throw base::InvalidInput("until (" + std::to_string(query.until) +
                                 ") must be after since (" + std::to_string(query.since) + ")");
    }
    return query;
}

nlohmann::json owner_json(const metering::ReportQuery& query) {
    return query.owner ? nlohmann::json(*query.owner) : nlohmann::json("all");
}

}  // namespace

nlohmann::json UsageService::report(const Caller& caller, const UsageQuery& q) {
    metering::ReportQuery query = scope_of(caller, q);
    query.by = metering::parse_group_by(q.by);
    nlohmann::json out = metering::bill_json(metering::usage_report(ctx_.db, query, sheet_), query);
    out["owner"] = owner_json(query);
    return out;
}

nlohmann::json UsageService::records(const Caller& caller, const UsageQuery& q, std::int64_t after,
                                     std::int64_t limit) {
    const metering::ReportQuery query = scope_of(caller, q);
    if (limit < 1 || limit > kRecordsPageMax) {
        throw base::InvalidInput("limit must be 1 to " + std::to_string(kRecordsPageMax) +
                                 ", not " + std::to_string(limit));
    }
    const auto rows = metering::usage_page(ctx_.db, query.owner, query.since, query.until,
                                           query.instance, after, limit);
    nlohmann::json records = nlohmann::json::array();
    for (const auto& row : rows) {
        records.push_back(metering::usage_record_json(row));
    }
    const bool full = static_cast<std::int64_t>(rows.size()) == limit;
    return {{"owner", owner_json(query)},
            {"since", query.since},
            {"until", query.until},
            {"records", std::move(records)},
            {"next", full ? nlohmann::json(rows.back().id) : nlohmann::json(nullptr)}};
}

}  // namespace supervisor::vmd
