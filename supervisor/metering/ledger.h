#pragma once
// The usage ledger in vmd's SQLite store (schema migration 2).
//
// Every function that writes runs in ONE transaction (the caller's, when it
// already holds one): the usage rows it inserts and the state it advances (a
// process's last counters, a resource's "accrued until") commit together or
// not at all. So a crash anywhere loses at most the sample in flight, which
// the next sample's cumulative counters bring back, and never counts a
// quantity twice. docs/metering.md has the rules and the calls vmd makes.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "supervisor/metering/counters.h"
#include "supervisor/store/records.h"
#include "supervisor/store/sqlite.h"

namespace supervisor::metering {

using store::Database;
using store::Millis;
using store::Owner;

struct UsageRecord {
    std::int64_t id = 0;
    Owner owner = 0;
    std::string kind;  // meters.h: instance or volume
    std::string resource;
    std::string meter;
    std::int64_t quantity = 0;
    Millis start_ms = 0;  // the interval [start_ms, end_ms) the quantity was used in
    Millis end_ms = 0;
    std::optional<std::int64_t> process;  // the vmm process, for CPU, network and boots
    std::optional<std::int64_t> boot;     // the boot within the process, for boots
};

// ---- vmm processes: CPU and network from cumulative counters ----

// Starts metering a vmm process (processes.id) of `instance` at
// `started_at`, from `base` (zero where empty): the cgroup's usage_usec read
// just before the spawn, when the cgroup is one the instance had before, so
// that earlier processes' CPU time is not billed again. Again for a begun
// process: nothing.
void begin_process(Database& db, std::int64_t process, Owner owner, const std::string& instance,
                   Millis started_at, const Counters& base = {});

// Bills the growth of each counter given since it was last read, as usage
// rows over [last read, at), and stores the new counters. A counter below
// the stored one belongs to a new counter base (a restarted vmm, a recreated
// cgroup): it is billed from zero, never negative. A repeated sample adds
// nothing; a sample of a closed process is ignored. Returns the rows added.
// Throws base::InternalError for a process never begun (a bug of the caller).
int record_sample(Database& db, std::int64_t process, const Counters& counters, Millis at);

// Records the final figures (a last sample) and closes the process. Once:
// closing a closed process does nothing and returns false.
bool close_process(Database& db, std::int64_t process, const Counters& final_counters, Millis at);

// One boot of a process (its first at start, one more per reboot): a `boots`
// row and, once ready, a `boot_ready_ms` row. Recording the same (process,
// boot) again adds nothing that is there already, so a boot can be recorded
// at its start and again at its ready. Returns the rows added.
int record_boot(Database& db, std::int64_t process, std::int64_t boot, Millis started_at,
                std::optional<Millis> ready_at);

struct ProcessMeter {
    std::int64_t process = 0;
    Owner owner = 0;
    std::string instance;
    Millis started_at = 0;
    // The last counters billed, and when each was read (started_at at first).
    std::int64_t cpu_us = 0;
    Millis cpu_us_at = 0;
    std::int64_t net_rx_bytes = 0;
    Millis net_rx_at = 0;
    std::int64_t net_tx_bytes = 0;
    Millis net_tx_at = 0;
    std::optional<Millis> closed_at;
};
std::optional<ProcessMeter> process_meter(Database& db, std::int64_t process);
// Processes begun and not closed, oldest first: at its start vmd closes each
// whose vmm is gone, with its cgroup's final CPU time.
std::vector<ProcessMeter> open_processes(Database& db);

// ---- storage: provisioned size × time ----

// Starts (or goes on) accruing storage for a volume or a non-persistent root
// (kind instance, resource the instance id) of `size_bytes` from `at`. For a
// resource accruing already, what is due up to `at` is accrued at the old
// size first (a resize).
void storage_begin(Database& db, std::string_view kind, const std::string& resource, Owner owner,
                   std::int64_t size_bytes, Millis at);
// Accrues up to `at` and stops. Again, or for an unknown resource: nothing.
void storage_end(Database& db, std::string_view kind, const std::string& resource, Millis at);
// Accrues every active resource up to `at`: one storage_gib_ms row each.
// Byte-milliseconds below one GiB-ms are carried to the next accrual, so the
// total never depends on how often this runs. Returns the rows added.
int accrue_storage(Database& db, Millis at);

// ---- queries ----

// Rows of `owner` (every owner when empty), optionally of one resource,
// whose interval starts in [since, until), in id order.
std::vector<UsageRecord> usage(Database& db, std::optional<Owner> owner, Millis since, Millis until,
                               std::optional<std::string> resource = std::nullopt);
// One page of usage(): at most `limit` of its rows whose id is above
// `after_id`, in id order. The next page starts after the last id returned;
// a page shorter than `limit` is the last.
std::vector<UsageRecord> usage_page(Database& db, std::optional<Owner> owner, Millis since,
                                    Millis until, std::optional<std::string> resource,
                                    std::int64_t after_id, std::int64_t limit);

// A start (a vmm process begun) in [since, until) with the CPU time its whole
// life billed so far: what the per-start minimum of rating.h needs.
struct Start {
    std::int64_t process = 0;
    Owner owner = 0;
    std::string instance;
    Millis started_at = 0;
    std::int64_t cpu_us = 0;
};
std::vector<Start> starts(Database& db, std::optional<Owner> owner, Millis since, Millis until,
                          std::optional<std::string> instance = std::nullopt);

// All-time sums per (owner, kind, resource, meter): monotonic counters for
// exports.h.
struct Total {
    Owner owner = 0;
    std::string kind;
    std::string resource;
    std::string meter;
    std::int64_t quantity = 0;
};
std::vector<Total> totals(Database& db);

}  // namespace supervisor::metering
