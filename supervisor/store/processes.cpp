#include "supervisor/store/processes.h"

#include <sqlite3.h>

namespace supervisor::store::processes {

namespace {

constexpr const char* kColumns =
    "id, instance, start_no, pid, start_time, cgroup, events_offset, spawned_at, exited_at, "
    "exit_status, exit_signal, exit_detail";

ProcessRecord read(const Statement& s) {
    ProcessRecord r;
    r.id = s.int64(0);
    r.instance = s.text(1);
    r.start_no = s.int64(2);
    r.pid = s.optional_int64(3);
    r.start_time = s.optional_int64(4);
    r.cgroup = s.text(5);
    r.events_offset = s.int64(6);
    r.spawned_at = s.int64(7);
    r.exited_at = s.optional_int64(8);
    r.exit_status = s.optional_int64(9);
    r.exit_signal = s.optional_int64(10);
    r.exit_detail = s.optional_text(11);
    return r;
}

void bind_fields(Statement& s, const ProcessRecord& r) {
    s.bind(2, r.instance)
        .bind(3, r.start_no)
        .bind(4, r.pid)
        .bind(5, r.start_time)
        .bind(6, r.cgroup)
        .bind(7, r.events_offset)
        .bind(8, r.spawned_at)
        .bind(9, r.exited_at)
        .bind(10, r.exit_status)
        .bind(11, r.exit_signal)
        .bind(12, r.exit_detail);
}

std::string select() {
    return std::string("SELECT ") + kColumns + " FROM processes ";
}

std::optional<ProcessRecord> one(Statement& s) {
    if (!s.step()) {
        return std::nullopt;
    }
    return read(s);
}

}  // namespace

std::int64_t insert(Database& db, const ProcessRecord& process) {
    Statement s(db,
                "INSERT INTO processes (instance, start_no, pid, start_time, cgroup, "
                "events_offset, spawned_at, exited_at, exit_status, exit_signal, exit_detail) "
                "VALUES (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
    bind_fields(s, process);
    s.run();
    return sqlite3_last_insert_rowid(db.handle());
}

void update(Database& db, const ProcessRecord& process) {
    Statement s(db,
                "UPDATE processes SET instance = ?2, start_no = ?3, pid = ?4, start_time = ?5, "
                "cgroup = ?6, events_offset = ?7, spawned_at = ?8, exited_at = ?9, "
                "exit_status = ?10, exit_signal = ?11, exit_detail = ?12 WHERE id = ?1");
    s.bind(1, process.id);
    bind_fields(s, process);
    s.run();
}

std::optional<ProcessRecord> get(Database& db, std::int64_t id) {
    Statement s(db, select() + "WHERE id = ?1");
    s.bind(1, id);
    return one(s);
}

std::optional<ProcessRecord> live_of(Database& db, const std::string& instance) {
    Statement s(db, select() + "WHERE instance = ?1 AND exited_at IS NULL ORDER BY id DESC");
    s.bind(1, instance);
    return one(s);
}

std::vector<ProcessRecord> live(Database& db) {
    Statement s(db, select() + "WHERE exited_at IS NULL ORDER BY id");
    std::vector<ProcessRecord> out;
    while (s.step()) {
        out.push_back(read(s));
    }
    return out;
}

std::optional<ProcessRecord> latest_of(Database& db, const std::string& instance) {
    Statement s(db, select() + "WHERE instance = ?1 ORDER BY id DESC LIMIT 1");
    s.bind(1, instance);
    return one(s);
}

}  // namespace supervisor::store::processes
