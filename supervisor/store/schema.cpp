#include "supervisor/store/schema.h"

#include <array>
#include <string>

#include "base/error.h"

namespace supervisor::store {

namespace {

// Times are Unix milliseconds (INTEGER); owners are uids; booleans 0/1.
// instances.image, instances.boot_volume and volumes.image name rows that may
// be gone (a deleted image, a terminated instance's deleted boot volume):
// history, not foreign keys. Attachments and processes are foreign keys.
// Room kept for the issues that build on this one:
//  - network (issue 14): instances.address and instances.tap, filled while
//    running; a leases table (address, instance, process) and a per-instance
//    SSH host key table come as a new migration;
//  - seeds (issue 14): a seed disk is a per-start file in the instance's
//    directory, recorded on its processes row by a later migration;
//  - metering (issue 15): migration 2.
constexpr const char* kMigration1 = R"sql(
CREATE TABLE images (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    owner           INTEGER NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('importing', 'available', 'failed', 'deleting')),
    progress        REAL NOT NULL DEFAULT 0,
    reason          TEXT,
    format          TEXT,
    size_bytes      INTEGER NOT NULL DEFAULT 0,
    allocated_bytes INTEGER NOT NULL DEFAULT 0,
    kernel          TEXT,
    initrd          TEXT,
    cmdline         TEXT,
    ready_probe     TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX images_owner_name ON images (owner, name);

CREATE TABLE volumes (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    owner       INTEGER NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('creating', 'available', 'failed', 'deleting')),
    reason      TEXT,
    size_bytes  INTEGER NOT NULL,
    boot        INTEGER NOT NULL DEFAULT 0,
    image       TEXT,
    created_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX volumes_owner_name ON volumes (owner, name);

CREATE TABLE instances (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    owner           INTEGER NOT NULL,
    state           TEXT NOT NULL,
    reason          TEXT,
    last_error      TEXT,
    image           TEXT NOT NULL,
    persistent      INTEGER NOT NULL,
    boot_volume     TEXT,
    keep_root       INTEGER NOT NULL DEFAULT 0,
    vcpus           INTEGER NOT NULL,
    memory_mib      INTEGER NOT NULL,
    boot_timeout_s  INTEGER NOT NULL,
    ready_probe     TEXT NOT NULL,
    mac             TEXT NOT NULL,
    address         TEXT,
    tap             TEXT,
    boots           INTEGER NOT NULL DEFAULT 0,
    starts          INTEGER NOT NULL DEFAULT 0,
    action          TEXT,
    deadline        INTEGER,
    disk_errors     TEXT NOT NULL DEFAULT '[]',
    console_dropped INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    started_at      INTEGER,
    ready_at        INTEGER,
    stopped_at      INTEGER,
    terminated_at   INTEGER
);
CREATE UNIQUE INDEX instances_owner_name ON instances (owner, name) WHERE state != 'terminated';
CREATE INDEX instances_state ON instances (state);

CREATE TABLE attachments (
    volume      TEXT PRIMARY KEY REFERENCES volumes (id),
    instance    TEXT NOT NULL REFERENCES instances (id),
    attached_at INTEGER NOT NULL
);
CREATE INDEX attachments_instance ON attachments (instance);

CREATE TABLE processes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    instance      TEXT NOT NULL REFERENCES instances (id),
    start_no      INTEGER NOT NULL,
    pid           INTEGER,
    start_time    INTEGER,
    cgroup        TEXT NOT NULL,
    events_offset INTEGER NOT NULL DEFAULT 0,
    spawned_at    INTEGER NOT NULL,
    exited_at     INTEGER,
    exit_status   INTEGER,
    exit_signal   INTEGER,
    exit_detail   TEXT
);
CREATE INDEX processes_instance ON processes (instance);
CREATE INDEX processes_live ON processes (exited_at) WHERE exited_at IS NULL;

CREATE TABLE client_tokens (
    owner      INTEGER NOT NULL,
    token      TEXT NOT NULL,
    request    TEXT NOT NULL,
    instances  TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (owner, token)
);
)sql";

// Metering (issue 15, docs/metering.md). metering_processes holds, per vmm
// process (processes.id, history rather than a foreign key), the cumulative
// counters last billed and when each was read; metering_storage, per volume or non-persistent root,
// the size it accrues at and until when it has accrued; usage is the ledger,
// one row per quantity of one meter over [start_ms, end_ms). A boot's rows
// carry (process, boot), unique, so a boot recorded twice counts once.
constexpr const char* kMigration2 = R"sql(
CREATE TABLE metering_processes (
    process      INTEGER PRIMARY KEY,
    owner        INTEGER NOT NULL,
    instance     TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    cpu_us       INTEGER NOT NULL DEFAULT 0,
    cpu_us_at    INTEGER NOT NULL,
    net_rx_bytes INTEGER NOT NULL DEFAULT 0,
    net_rx_at    INTEGER NOT NULL,
    net_tx_bytes INTEGER NOT NULL DEFAULT 0,
    net_tx_at    INTEGER NOT NULL,
    closed_at    INTEGER
);
CREATE INDEX metering_processes_open ON metering_processes (closed_at) WHERE closed_at IS NULL;
CREATE INDEX metering_processes_started ON metering_processes (owner, started_at);

CREATE TABLE metering_storage (
    kind          TEXT NOT NULL CHECK (kind IN ('instance', 'volume')),
    resource      TEXT NOT NULL,
    owner         INTEGER NOT NULL,
    size_bytes    INTEGER NOT NULL CHECK (size_bytes >= 0),
    active        INTEGER NOT NULL,
    accrued_until INTEGER NOT NULL,
    carry_byte_ms INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, resource)
);

CREATE TABLE usage (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    owner     INTEGER NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('instance', 'volume')),
    resource  TEXT NOT NULL,
    meter     TEXT NOT NULL,
    quantity  INTEGER NOT NULL CHECK (quantity >= 0),
    start_ms  INTEGER NOT NULL,
    end_ms    INTEGER NOT NULL,
    process   INTEGER,
    boot      INTEGER
);
CREATE INDEX usage_owner_start ON usage (owner, start_ms);
CREATE INDEX usage_start ON usage (start_ms);
CREATE INDEX usage_process ON usage (process) WHERE process IS NOT NULL;
CREATE UNIQUE INDEX usage_boot ON usage (process, boot, meter) WHERE boot IS NOT NULL;
)sql";

// Addresses and credentials (issue 14, docs/network.md, docs/seed.md). A
// lease is held from a start's commit to the commit of the stop, failure or
// teardown that ends its vmm; UNIQUE(address) is the second line of defence
// behind the pool (which reads the table in the same transaction).
// instances.address mirrors the lease for the views; last_address keeps the
// previous one, which the next start gets back when it is still free. The credentials are
// what the run request carried: the subscriber's public keys (a JSON array)
// and user-data, kept for every later start's seed.
constexpr const char* kMigration3 = R"sql(
CREATE TABLE leases (
    address  TEXT PRIMARY KEY,
    instance TEXT NOT NULL UNIQUE REFERENCES instances (id)
);

ALTER TABLE instances ADD COLUMN last_address TEXT;

CREATE TABLE instance_credentials (
    instance        TEXT PRIMARY KEY REFERENCES instances (id),
    ssh_keys        TEXT NOT NULL DEFAULT '[]',
    user_data       TEXT
);
)sql";

constexpr std::array kMigrations = {kMigration1, kMigration2, kMigration3};

}  // namespace

std::int64_t schema_version() {
    return static_cast<std::int64_t>(kMigrations.size());
}

void migrate(Database& db) {
    Transaction tx(db);
    const std::int64_t current = db.user_version();
    if (current > schema_version()) {
        throw base::HostError("the database " + db.path() + " has schema version " +
                              std::to_string(current) + ", newer than this vmd's " +
                              std::to_string(schema_version()) + ": run a newer vmd");
    }
    for (std::int64_t v = current; v < schema_version(); ++v) {
        db.exec(kMigrations[static_cast<std::size_t>(v)]);
    }
    db.set_user_version(schema_version());
    tx.commit();
}

}  // namespace supervisor::store
