// vmctl usage: what the caller's instances and volumes used, and what it
// costs, from vmd's GET /v1/usage; or the ledger's rows themselves as CSV
// or JSON lines, from GET /v1/usage/records (docs/metering.md).

#include <ctime>
#include <memory>

#include "base/error.h"
#include "supervisor/metering/exports.h"
#include "supervisor/vmctl/commands.h"
#include "supervisor/vmctl/table.h"

namespace vmctl {

namespace {

struct UsageOptions {
    std::string instance;
    std::string since;
    std::string until;
    std::string by = "instance";
    std::string owner;
    std::string format = "table";
};

// Unix milliseconds of "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SSZ" (UTC), or a
// plain number of Unix milliseconds.
std::int64_t parse_time(const std::string& option, const std::string& text) {
    if (!text.empty() && text.size() <= 15 &&
        text.find_first_not_of("0123456789") == std::string::npos) {
        return std::stoll(text);
    }
    std::tm tm{};
    const char* end = strptime(text.c_str(), "%Y-%m-%d", &tm);
    if (end != nullptr && *end == 'T') {
        end = strptime(end + 1, "%H:%M:%S", &tm);
        end = end != nullptr && *end == 'Z' ? end + 1 : nullptr;
    }
    if (end == nullptr || *end != '\0') {
        throw base::InvalidInput(option + " wants a UTC time like 2026-11-30 or " +
                                 "2026-11-30T14:05:00Z, or Unix milliseconds, not '" + text + "'");
    }
    return static_cast<std::int64_t>(timegm(&tm)) * 1000;
}

CLI::Validator time_validator(const std::string& option) {
    return CLI::Validator(
        [option](std::string& text) {
            try {
                parse_time(option, text);
                return std::string();
            } catch (const base::InvalidInput& e) {
                return std::string(e.what());
            }
        },
        "TIME");
}

// The window and owner of a query, shared by the bill and the records.
std::string window_of(const UsageOptions& o) {
    std::string q;
    if (!o.instance.empty()) {
        q += "&instance=" + escape_segment(o.instance);
    }
    if (!o.since.empty()) {
        q += "&since=" + std::to_string(parse_time("--since", o.since));
    }
    if (!o.until.empty()) {
        q += "&until=" + std::to_string(parse_time("--until", o.until));
    }
    if (!o.owner.empty()) {
        q += "&owner=" + escape_segment(o.owner);
    }
    return q;
}

std::string query_of(const UsageOptions& o) {
    return "?by=" + escape_segment(o.by) + window_of(o);
}

// The ledger's rows, page by page (vmd answers at most a page at once),
// each page written out as it comes. The window's end is pinned to the
// first page's `until`, so that every page covers the same window.
void print_records(Session& s, const UsageOptions& o) {
    UsageOptions pinned = o;
    bool first = true;
    std::int64_t after = 0;
    for (;;) {
        std::string query = window_of(pinned);
        query += "&after=" + std::to_string(after);
        query[0] = '?';
        const auto page = s.api.get("/v1/usage/records" + query);
        std::vector<supervisor::metering::UsageRecord> rows;
        for (const auto& j : page.at("records")) {
            rows.push_back(supervisor::metering::usage_record_from_json(j));
        }
        if (o.format == "csv") {
            supervisor::metering::write_csv(s.output.out, rows, first);
        } else {
            supervisor::metering::write_json_lines(s.output.out, rows);
        }
        first = false;
        const auto& next = page.at("next");
        if (next.is_null()) {
            return;
        }
        const auto next_after = next.get<std::int64_t>();
        if (next_after <= after) {
            throw base::HostError("vmd's records cursor went back (" + std::to_string(after) +
                                  " then " + std::to_string(next_after) +
                                  "); are vmd and vmctl the same version?");
        }
        after = next_after;
        pinned.until = std::to_string(page.at("until").get<std::int64_t>());
    }
}

// The bill as a table: one row per line, then the total, which is the sum of
// the amounts above it (integers, in the currency's minor unit).
void print_bill(std::ostream& out, const nlohmann::json& bill) {
    const std::string currency = bill.at("currency").get<std::string>();
    const std::string by = bill.at("by").get<std::string>();
    const std::string amount = "AMOUNT (" + currency + " minor units)";
    // By meter, the group is the meter: one column says it.
    const bool by_meter = by == "meter";
    Table table(by_meter ? std::vector<std::string>{"METER", "QUANTITY", "UNIT", amount}
                         : std::vector<std::string>{by == "day" ? "DAY" : "RESOURCE", "METER",
                                                    "QUANTITY", "UNIT", amount});
    for (const auto& line : bill.at("lines")) {
        std::vector<std::string> row{line.at("meter").get<std::string>(),
                                     std::to_string(line.at("quantity").get<std::int64_t>()),
                                     line.at("unit").get<std::string>(),
                                     std::to_string(line.at("amount").get<std::int64_t>())};
        if (!by_meter) {
            row.insert(row.begin(), line.at("group").get<std::string>());
        }
        table.add(row);
    }
    std::vector<std::string> total(by_meter ? 4 : 5, "");
    total.front() = "TOTAL";
    total.back() = std::to_string(bill.at("total").get<std::int64_t>());
    table.add(total);
    table.print(out);
}

}  // namespace

void add_usage_commands(CLI::App& app, Action& action) {
    auto* usage = app.add_subcommand(
        "usage", "what your instances and volumes used and what it costs (docs/metering.md)");
    auto o = std::make_shared<UsageOptions>();
    usage->add_option("--instance", o->instance, "only this instance or volume (its id)");
    usage->add_option("--since", o->since, "from this time (UTC: 2026-11-30, 2026-11-30T14:05:00Z)")
        ->check(time_validator("--since"));
    usage->add_option("--until", o->until, "until this time, excluded (default: now)")
        ->check(time_validator("--until"));
    usage->add_option("--by", o->by, "one line per instance (or volume), meter or UTC day")
        ->check(CLI::IsMember({"instance", "meter", "day"}))
        ->capture_default_str();
    usage->add_option("--owner", o->owner, "root only: this uid's usage, or 'all'");
    usage
        ->add_option("--format", o->format,
                     "table: the bill; csv or jsonl: the ledger's usage records, one a line")
        ->check(CLI::IsMember({"table", "csv", "jsonl"}))
        ->capture_default_str();
    usage->callback([o, &action] {
        action = [o](Session& s) {
            if (o->format != "table") {
                if (s.output.format != Format::kTable) {
                    throw base::InvalidInput("--format " + o->format +
                                             " prints records: leave out --json and -q");
                }
                print_records(s, *o);
                return 0;
            }
            const auto bill = s.api.get("/v1/usage" + query_of(*o));
            if (s.output.format == Format::kJson) {
                s.output.out << bill.dump(2) << '\n';
            } else {
                print_bill(s.output.out, bill);
            }
            return 0;
        };
    });
}

}  // namespace vmctl
