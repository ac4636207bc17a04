#pragma once
// The ledger for the tools operators already use: Prometheus' text
// exposition format (version 0.0.4) for per-resource counters with owner
// labels, and the usage rows as CSV (RFC 4180) and as JSON lines.

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "supervisor/metering/ledger.h"

namespace supervisor::metering {

// One counter family per meter, in Prometheus' base units where the meter
// converts exactly (CPU in seconds with six decimals, storage in byte-seconds
// with three), one sample per resource labelled owner, kind and id:
//   vmd_usage_cpu_seconds_total{owner="1000",kind="instance",id="i-1"} 1.250000
// `totals` is ledger.h totals(): sums that only grow, as counters must.
std::string prometheus_text(const std::vector<Total>& totals);

// Replaces the file at `path` with `text` so that a reader (node_exporter's
// textfile collector, a scraper of a file) sees the old file or the new one,
// never a part: written to PATH.tmp in the same directory, synced, renamed.
// Throws base::HostError naming the file.
void write_file_atomically(const std::string& path, const std::string& text);

// Header "id,owner,kind,resource,meter,quantity,start_ms,end_ms,process,boot"
// (unless `with_header` is false: a later page of the same export) and one
// line per row; an empty field for a null.
void write_csv(std::ostream& out, const std::vector<UsageRecord>& rows, bool with_header = true);
// One JSON object per line with the same fields; null for a null.
void write_json_lines(std::ostream& out, const std::vector<UsageRecord>& rows);

// One row as the object of a JSON line (and of GET /v1/usage/records), and
// back; from_json throws nlohmann::json::exception for an object that is not
// one (a field missing or of another type).
nlohmann::json usage_record_json(const UsageRecord& row);
UsageRecord usage_record_from_json(const nlohmann::json& j);

}  // namespace supervisor::metering
