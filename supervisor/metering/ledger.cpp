#include "supervisor/metering/ledger.h"

#include <algorithm>
#include <limits>

#include "base/error.h"
#include "supervisor/metering/meters.h"

namespace supervisor::metering {

namespace {

using store::Statement;
using store::Transaction;

// The caller's transaction when it holds one, else one of our own.
class WriteScope {
  public:
    explicit WriteScope(Database& db) {
        if (!db.in_transaction()) {
            tx_.emplace(db);
        }
    }
    void commit() {
        if (tx_) {
            tx_->commit();
        }
    }

  private:
    std::optional<Transaction> tx_;
};

void insert_usage(Database& db, const UsageRecord& r) {
    Statement(db,
              "INSERT INTO usage (owner, kind, resource, meter, quantity, start_ms, end_ms, "
              "process, boot) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")
        .bind(1, r.owner)
        .bind(2, r.kind)
        .bind(3, r.resource)
        .bind(4, r.meter)
        .bind(5, r.quantity)
        .bind(6, r.start_ms)
        .bind(7, r.end_ms)
        .bind(8, r.process)
        .bind(9, r.boot)
        .run();
}

constexpr const char* kProcessColumns =
    "process, owner, instance, started_at, cpu_us, cpu_us_at, net_rx_bytes, net_rx_at, "
    "net_tx_bytes, net_tx_at, closed_at";

ProcessMeter read_process(const Statement& s) {
    ProcessMeter p;
    p.process = s.int64(0);
    p.owner = s.int64(1);
    p.instance = s.text(2);
    p.started_at = s.int64(3);
    p.cpu_us = s.int64(4);
    p.cpu_us_at = s.int64(5);
    p.net_rx_bytes = s.int64(6);
    p.net_rx_at = s.int64(7);
    p.net_tx_bytes = s.int64(8);
    p.net_tx_at = s.int64(9);
    p.closed_at = s.optional_int64(10);
    return p;
}

ProcessMeter begun(Database& db, std::int64_t process) {
    auto p = process_meter(db, process);
    if (!p) {
        throw base::InternalError("metering: process " + std::to_string(process) +
                                  " was never begun (call begin_process at its spawn)");
    }
    return *p;
}

// What a counter grew by: from zero when it went down (a new counter base).
std::int64_t growth(std::int64_t last, std::int64_t now) {
    return now >= last ? now - last : now;
}

// Applies `counters` to `p` and inserts the usage rows; the caller stores p.
int apply_sample(Database& db, ProcessMeter& p, const Counters& counters, Millis at) {
    int rows = 0;
    auto bill = [&](std::string_view meter, const std::optional<std::int64_t>& now,
                    std::int64_t& last, Millis& last_at) {
        if (!now || *now < 0) {
            return;
        }
        const std::int64_t delta = growth(last, *now);
        const Millis start = std::min(last_at, at);
        last = *now;
        last_at = std::max(last_at, at);
        if (delta == 0) {
            return;
        }
        insert_usage(
            db, UsageRecord{0, p.owner, std::string(kKindInstance), p.instance, std::string(meter),
                            delta, start, at, p.process, std::nullopt});
        ++rows;
    };
    bill(kCpuUs, counters.cpu_us, p.cpu_us, p.cpu_us_at);
    bill(kNetRxBytes, counters.net_rx_bytes, p.net_rx_bytes, p.net_rx_at);
    bill(kNetTxBytes, counters.net_tx_bytes, p.net_tx_bytes, p.net_tx_at);
    return rows;
}

void store_process(Database& db, const ProcessMeter& p) {
    Statement(db,
              "UPDATE metering_processes SET cpu_us = ?2, cpu_us_at = ?3, net_rx_bytes = ?4, "
              "net_rx_at = ?5, net_tx_bytes = ?6, net_tx_at = ?7, closed_at = ?8 "
              "WHERE process = ?1")
        .bind(1, p.process)
        .bind(2, p.cpu_us)
        .bind(3, p.cpu_us_at)
        .bind(4, p.net_rx_bytes)
        .bind(5, p.net_rx_at)
        .bind(6, p.net_tx_bytes)
        .bind(7, p.net_tx_at)
        .bind(8, p.closed_at)
        .run();
}

struct StorageRow {
    std::string kind;
    std::string resource;
    Owner owner = 0;
    std::int64_t size_bytes = 0;
    bool active = false;
    Millis accrued_until = 0;
    std::int64_t carry_byte_ms = 0;
};

constexpr const char* kStorageColumns =
    "kind, resource, owner, size_bytes, active, accrued_until, carry_byte_ms";

StorageRow read_storage(const Statement& s) {
    return StorageRow{s.text(0),       s.text(1),  s.int64(2), s.int64(3),
                      s.int64(4) != 0, s.int64(5), s.int64(6)};
}

std::optional<StorageRow> storage_row(Database& db, std::string_view kind,
                                      const std::string& resource) {
    Statement s(db, std::string("SELECT ") + kStorageColumns +
                        " FROM metering_storage WHERE kind = ?1 AND resource = ?2");
    s.bind(1, std::string(kind)).bind(2, resource);
    if (!s.step()) {
        return std::nullopt;
    }
    return read_storage(s);
}

void store_storage(Database& db, const StorageRow& r) {
    Statement(db,
              "INSERT INTO metering_storage (kind, resource, owner, size_bytes, active, "
              "accrued_until, carry_byte_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
              "ON CONFLICT (kind, resource) DO UPDATE SET owner = ?3, size_bytes = ?4, "
              "active = ?5, accrued_until = ?6, carry_byte_ms = ?7")
        .bind(1, r.kind)
        .bind(2, r.resource)
        .bind(3, r.owner)
        .bind(4, r.size_bytes)
        .bind(5, r.active)
        .bind(6, r.accrued_until)
        .bind(7, r.carry_byte_ms)
        .run();
}

// Accrues an active row up to `at` (one usage row when a whole GiB-ms is
// due); byte-ms below a GiB-ms stay in the carry. True when a row was added.
bool accrue(Database& db, StorageRow& r, Millis at) {
    if (!r.active || at <= r.accrued_until) {
        return false;
    }
    const __int128 byte_ms =
        static_cast<__int128>(r.size_bytes) * (at - r.accrued_until) + r.carry_byte_ms;
    const __int128 gib_ms = byte_ms / kBytesPerGib;
    if (gib_ms > std::numeric_limits<std::int64_t>::max()) {
        throw base::InternalError("metering: storage of " + r.resource +
                                  " overflows 64 bits in one accrual");
    }
    const Millis from = r.accrued_until;
    r.carry_byte_ms = static_cast<std::int64_t>(byte_ms % kBytesPerGib);
    r.accrued_until = at;
    if (gib_ms == 0) {
        return false;
    }
    insert_usage(
        db, UsageRecord{0, r.owner, r.kind, r.resource, std::string(kStorageGibMs),
                        static_cast<std::int64_t>(gib_ms), from, at, std::nullopt, std::nullopt});
    return true;
}

void check_kind(std::string_view kind) {
    if (kind != kKindInstance && kind != kKindVolume) {
        throw base::InternalError("metering: unknown resource kind '" + std::string(kind) + "'");
    }
}

}  // namespace

void begin_process(Database& db, std::int64_t process, Owner owner, const std::string& instance,
                   Millis started_at, const Counters& base) {
    Statement(db,
              "INSERT INTO metering_processes (process, owner, instance, started_at, cpu_us, "
              "cpu_us_at, net_rx_bytes, net_rx_at, net_tx_bytes, net_tx_at) "
              "VALUES (?1, ?2, ?3, ?4, ?5, ?4, ?6, ?4, ?7, ?4) "
              "ON CONFLICT (process) DO NOTHING")
        .bind(1, process)
        .bind(2, owner)
        .bind(3, instance)
        .bind(4, started_at)
        .bind(5, std::max<std::int64_t>(0, base.cpu_us.value_or(0)))
        .bind(6, std::max<std::int64_t>(0, base.net_rx_bytes.value_or(0)))
        .bind(7, std::max<std::int64_t>(0, base.net_tx_bytes.value_or(0)))
        .run();
}

int record_sample(Database& db, std::int64_t process, const Counters& counters, Millis at) {
    WriteScope scope(db);
    ProcessMeter p = begun(db, process);
    if (p.closed_at) {
        return 0;
    }
    const int rows = apply_sample(db, p, counters, at);
    store_process(db, p);
    scope.commit();
    return rows;
}

bool close_process(Database& db, std::int64_t process, const Counters& final_counters, Millis at) {
    WriteScope scope(db);
    ProcessMeter p = begun(db, process);
    if (p.closed_at) {
        return false;
    }
    apply_sample(db, p, final_counters, at);
    p.closed_at = at;
    store_process(db, p);
    scope.commit();
    return true;
}

int record_boot(Database& db, std::int64_t process, std::int64_t boot, Millis started_at,
                std::optional<Millis> ready_at) {
    WriteScope scope(db);
    const ProcessMeter p = begun(db, process);
    auto add = [&](std::string_view meter, std::int64_t quantity, Millis end) {
        Statement s(db,
                    "INSERT INTO usage (owner, kind, resource, meter, quantity, start_ms, end_ms, "
                    "process, boot) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                    "ON CONFLICT DO NOTHING");
        s.bind(1, p.owner)
            .bind(2, std::string(kKindInstance))
            .bind(3, p.instance)
            .bind(4, std::string(meter))
            .bind(5, quantity)
            .bind(6, started_at)
            .bind(7, end)
            .bind(8, process)
            .bind(9, boot)
            .run();
        return static_cast<int>(db.changes());
    };
    int rows = add(kBoots, 1, ready_at.value_or(started_at));
    if (ready_at) {
        rows += add(kBootReadyMs, std::max<Millis>(0, *ready_at - started_at), *ready_at);
    }
    scope.commit();
    return rows;
}

std::optional<ProcessMeter> process_meter(Database& db, std::int64_t process) {
    Statement s(db, std::string("SELECT ") + kProcessColumns +
                        " FROM metering_processes WHERE process = ?1");
    s.bind(1, process);
    if (!s.step()) {
        return std::nullopt;
    }
    return read_process(s);
}

std::vector<ProcessMeter> open_processes(Database& db) {
    Statement s(db, std::string("SELECT ") + kProcessColumns +
                        " FROM metering_processes WHERE closed_at IS NULL ORDER BY process");
    std::vector<ProcessMeter> out;
    while (s.step()) {
        out.push_back(read_process(s));
    }
    return out;
}

void storage_begin(Database& db, std::string_view kind, const std::string& resource, Owner owner,
                   std::int64_t size_bytes, Millis at) {
    check_kind(kind);
    if (size_bytes < 0) {
        throw base::InternalError("metering: negative size for " + resource);
    }
    WriteScope scope(db);
    auto row = storage_row(db, kind, resource);
    if (row && row->active) {
        accrue(db, *row, at);
    } else if (row) {
        row->active = true;
        row->accrued_until = at;
    } else {
        row = StorageRow{std::string(kind), resource, owner, size_bytes, true, at, 0};
    }
    row->owner = owner;
    row->size_bytes = size_bytes;
    store_storage(db, *row);
    scope.commit();
}

void storage_end(Database& db, std::string_view kind, const std::string& resource, Millis at) {
    check_kind(kind);
    WriteScope scope(db);
    auto row = storage_row(db, kind, resource);
    if (!row || !row->active) {
        return;
    }
    accrue(db, *row, at);
    row->active = false;
    store_storage(db, *row);
    scope.commit();
}

int accrue_storage(Database& db, Millis at) {
    WriteScope scope(db);
    std::vector<StorageRow> rows;
    {
        Statement s(db, std::string("SELECT ") + kStorageColumns +
                            " FROM metering_storage WHERE active = 1 ORDER BY kind, resource");
        while (s.step()) {
            rows.push_back(read_storage(s));
        }
    }
    int added = 0;
    for (StorageRow& r : rows) {
        added += accrue(db, r, at) ? 1 : 0;
        store_storage(db, r);
    }
    scope.commit();
    return added;
}

namespace {

UsageRecord read_usage(const Statement& s) {
    return UsageRecord{s.int64(0),          s.int64(1),         s.text(2),  s.text(3),
                       s.text(4),           s.int64(5),         s.int64(6), s.int64(7),
                       s.optional_int64(8), s.optional_int64(9)};
}

constexpr const char* kUsageQuery =
    "SELECT id, owner, kind, resource, meter, quantity, start_ms, end_ms, process, "
    "boot FROM usage WHERE start_ms >= ?1 AND start_ms < ?2 "
    "AND (?3 IS NULL OR owner = ?3) AND (?4 IS NULL OR resource = ?4) ";

}  // namespace

std::vector<UsageRecord> usage(Database& db, std::optional<Owner> owner, Millis since, Millis until,
                               std::optional<std::string> resource) {
    Statement s(db, std::string(kUsageQuery) + "ORDER BY id");
    s.bind(1, since).bind(2, until).bind(3, owner).bind(4, resource);
    std::vector<UsageRecord> out;
    while (s.step()) {
        out.push_back(read_usage(s));
    }
    return out;
}

std::vector<UsageRecord> usage_page(Database& db, std::optional<Owner> owner, Millis since,
                                    Millis until, std::optional<std::string> resource,
                                    std::int64_t after_id, std::int64_t limit) {
    Statement s(db, std::string(kUsageQuery) + "AND id > ?5 ORDER BY id LIMIT ?6");
    s.bind(1, since)
        .bind(2, until)
        .bind(3, owner)
        .bind(4, resource)
        .bind(5, after_id)
        .bind(6, limit);
    std::vector<UsageRecord> out;
    while (s.step()) {
        out.push_back(read_usage(s));
    }
    return out;
}

std::vector<Start> starts(Database& db, std::optional<Owner> owner, Millis since, Millis until,
                          std::optional<std::string> instance) {
    Statement s(db,
                "SELECT p.process, p.owner, p.instance, p.started_at, "
                "(SELECT COALESCE(SUM(u.quantity), 0) FROM usage u "
                " WHERE u.process = p.process AND u.meter = 'cpu_us') "
                "FROM metering_processes p WHERE p.started_at >= ?1 AND p.started_at < ?2 "
                "AND (?3 IS NULL OR p.owner = ?3) AND (?4 IS NULL OR p.instance = ?4) "
                "ORDER BY p.process");
    s.bind(1, since).bind(2, until).bind(3, owner).bind(4, instance);
    std::vector<Start> out;
    while (s.step()) {
        out.push_back(Start{s.int64(0), s.int64(1), s.text(2), s.int64(3), s.int64(4)});
    }
    return out;
}

std::vector<Total> totals(Database& db) {
    Statement s(db,
                "SELECT owner, kind, resource, meter, SUM(quantity) FROM usage "
                "GROUP BY owner, kind, resource, meter ORDER BY owner, kind, resource, meter");
    std::vector<Total> out;
    while (s.step()) {
        out.push_back(Total{s.int64(0), s.text(1), s.text(2), s.text(3), s.int64(4)});
    }
    return out;
}

}  // namespace supervisor::metering
