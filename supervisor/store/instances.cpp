#include "supervisor/store/instances.h"

namespace supervisor::store::instances {

namespace {

constexpr const char* kColumns =
    "id, name, owner, state, reason, last_error, image, persistent, boot_volume, keep_root, "
    "vcpus, memory_mib, boot_timeout_s, ready_probe, mac, address, tap, boots, starts, action, "
    "deadline, disk_errors, console_dropped, created_at, started_at, ready_at, stopped_at, "
    "terminated_at, last_address";
constexpr int kColumnCount = 29;

InstanceRecord read(const Statement& s) {
    InstanceRecord r;
    r.id = s.text(0);
    r.name = s.text(1);
    r.owner = s.int64(2);
    r.state = s.text(3);
    r.reason = s.optional_text(4);
    r.last_error = s.optional_text(5);
    r.image = s.text(6);
    r.persistent = s.int64(7) != 0;
    r.boot_volume = s.optional_text(8);
    r.keep_root = s.int64(9) != 0;
    r.vcpus = s.int64(10);
    r.memory_mib = s.int64(11);
    r.boot_timeout_s = s.int64(12);
    r.ready_probe = s.text(13);
    r.mac = s.text(14);
    r.address = s.optional_text(15);
    r.tap = s.optional_text(16);
    r.boots = s.int64(17);
    r.starts = s.int64(18);
    r.action = s.optional_text(19);
    r.deadline = s.optional_int64(20);
    r.disk_errors = s.text(21);
    r.console_dropped = s.int64(22);
    r.created_at = s.int64(23);
    r.started_at = s.optional_int64(24);
    r.ready_at = s.optional_int64(25);
    r.stopped_at = s.optional_int64(26);
    r.terminated_at = s.optional_int64(27);
    r.last_address = s.optional_text(28);
    return r;
}

// Binds every column to ?1..?29 in kColumns' order.
void bind_all(Statement& s, const InstanceRecord& r) {
    s.bind(1, r.id)
        .bind(2, r.name)
        .bind(3, r.owner)
        .bind(4, r.state)
        .bind(5, r.reason)
        .bind(6, r.last_error)
        .bind(7, r.image)
        .bind(8, r.persistent)
        .bind(9, r.boot_volume)
        .bind(10, r.keep_root)
        .bind(11, r.vcpus)
        .bind(12, r.memory_mib)
        .bind(13, r.boot_timeout_s)
        .bind(14, r.ready_probe)
        .bind(15, r.mac)
        .bind(16, r.address)
        .bind(17, r.tap)
        .bind(18, r.boots)
        .bind(19, r.starts)
        .bind(20, r.action)
        .bind(21, r.deadline)
        .bind(22, r.disk_errors)
        .bind(23, r.console_dropped)
        .bind(24, r.created_at)
        .bind(25, r.started_at)
        .bind(26, r.ready_at)
        .bind(27, r.stopped_at)
        .bind(28, r.terminated_at)
        .bind(29, r.last_address);
}

std::vector<InstanceRecord> read_all(Statement& s) {
    std::vector<InstanceRecord> out;
    while (s.step()) {
        out.push_back(read(s));
    }
    return out;
}

std::string select() {
    return std::string("SELECT ") + kColumns + " FROM instances ";
}

}  // namespace

void insert(Database& db, const InstanceRecord& instance) {
    std::string placeholders;
    for (int i = 1; i <= kColumnCount; ++i) {
        placeholders += (i > 1 ? ", ?" : "?") + std::to_string(i);
    }
    Statement s(
        db, std::string("INSERT INTO instances (") + kColumns + ") VALUES (" + placeholders + ")");
    bind_all(s, instance);
    s.run();
}

void update(Database& db, const InstanceRecord& instance) {
    std::string sets;
    std::string columns = kColumns;
    int index = 1;
    std::size_t start = 0;
    while (start < columns.size()) {
        std::size_t comma = columns.find(',', start);
        if (comma == std::string::npos) {
            comma = columns.size();
        }
        std::string name = columns.substr(start, comma - start);
        name.erase(0, name.find_first_not_of(' '));
        if (index > 1) {
            sets += (sets.empty() ? "" : ", ") + name + " = ?" + std::to_string(index);
        }
        ++index;
        start = comma + 1;
    }
    Statement s(db, "UPDATE instances SET " + sets + " WHERE id = ?1");
    bind_all(s, instance);
    s.run();
}

std::optional<InstanceRecord> get(Database& db, const std::string& id) {
    Statement s(db, select() + "WHERE id = ?1");
    s.bind(1, id);
    if (!s.step()) {
        return std::nullopt;
    }
    return read(s);
}

std::optional<InstanceRecord> find_by_name(Database& db, Owner owner, const std::string& name) {
    Statement s(db, select() + "WHERE owner = ?1 AND name = ?2 AND state != 'terminated'");
    s.bind(1, owner).bind(2, name);
    if (!s.step()) {
        return std::nullopt;
    }
    return read(s);
}

std::vector<InstanceRecord> list(Database& db, std::optional<Owner> owner) {
    Statement s(db, select() + "WHERE ?1 IS NULL OR owner = ?1 ORDER BY created_at, name, id");
    s.bind(1, owner);
    return read_all(s);
}

std::vector<InstanceRecord> in_states(Database& db, const std::vector<std::string>& states) {
    std::vector<InstanceRecord> out;
    for (const auto& state : states) {
        Statement s(db, select() + "WHERE state = ?1 ORDER BY created_at, name, id");
        s.bind(1, state);
        for (auto& r : read_all(s)) {
            out.push_back(std::move(r));
        }
    }
    return out;
}

std::vector<InstanceRecord> using_image(Database& db, const std::string& image) {
    Statement s(db, select() + "WHERE image = ?1 AND state != 'terminated'");
    s.bind(1, image);
    return read_all(s);
}

std::vector<std::string> purge_terminated(Database& db, Millis before) {
    Statement find(db,
                   "SELECT id FROM instances WHERE state = 'terminated' AND terminated_at < ?1");
    find.bind(1, before);
    std::vector<std::string> ids;
    while (find.step()) {
        ids.push_back(find.text(0));
    }
    for (const auto& id : ids) {
        Statement(db, "DELETE FROM processes WHERE instance = ?1").bind(1, id).run();
        Statement(db, "DELETE FROM attachments WHERE instance = ?1").bind(1, id).run();
        Statement(db, "DELETE FROM leases WHERE instance = ?1").bind(1, id).run();
        Statement(db, "DELETE FROM instance_credentials WHERE instance = ?1").bind(1, id).run();
        Statement(db, "DELETE FROM instances WHERE id = ?1").bind(1, id).run();
    }
    return ids;
}

}  // namespace supervisor::store::instances
