#include "supervisor/store/volumes.h"

namespace supervisor::store::volumes {

namespace {

constexpr const char* kColumns =
    "id, name, owner, state, reason, size_bytes, boot, image, created_at";

VolumeRecord read(const Statement& s) {
    VolumeRecord r;
    r.id = s.text(0);
    r.name = s.text(1);
    r.owner = s.int64(2);
    r.state = s.text(3);
    r.reason = s.optional_text(4);
    r.size_bytes = s.int64(5);
    r.boot = s.int64(6) != 0;
    r.image = s.optional_text(7);
    r.created_at = s.int64(8);
    return r;
}

void bind_fields(Statement& s, const VolumeRecord& r) {
    s.bind(2, r.name)
        .bind(3, r.owner)
        .bind(4, r.state)
        .bind(5, r.reason)
        .bind(6, r.size_bytes)
        .bind(7, r.boot)
        .bind(8, r.image)
        .bind(9, r.created_at);
}

std::vector<VolumeRecord> read_all(Statement& s) {
    std::vector<VolumeRecord> out;
    while (s.step()) {
        out.push_back(read(s));
    }
    return out;
}

std::string select() {
    return std::string("SELECT ") + kColumns + " FROM volumes ";
}

}  // namespace

void insert(Database& db, const VolumeRecord& volume) {
    Statement s(db, std::string("INSERT INTO volumes (") + kColumns +
                        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    s.bind(1, volume.id);
    bind_fields(s, volume);
    s.run();
}

void update(Database& db, const VolumeRecord& volume) {
    Statement s(db,
                "UPDATE volumes SET name = ?2, owner = ?3, state = ?4, reason = ?5, "
                "size_bytes = ?6, boot = ?7, image = ?8, created_at = ?9 WHERE id = ?1");
    s.bind(1, volume.id);
    bind_fields(s, volume);
    s.run();
}

void remove(Database& db, const std::string& id) {
    Statement(db, "DELETE FROM volumes WHERE id = ?1").bind(1, id).run();
}

std::optional<VolumeRecord> get(Database& db, const std::string& id) {
    Statement s(db, select() + "WHERE id = ?1");
    s.bind(1, id);
    if (!s.step()) {
        return std::nullopt;
    }
    return read(s);
}

std::optional<VolumeRecord> find_by_name(Database& db, Owner owner, const std::string& name) {
    Statement s(db, select() + "WHERE owner = ?1 AND name = ?2");
    s.bind(1, owner).bind(2, name);
    if (!s.step()) {
        return std::nullopt;
    }
    return read(s);
}

std::vector<VolumeRecord> list(Database& db, std::optional<Owner> owner) {
    Statement s(db, select() + "WHERE ?1 IS NULL OR owner = ?1 ORDER BY created_at, id");
    s.bind(1, owner);
    return read_all(s);
}

std::vector<VolumeRecord> in_state(Database& db, const std::string& state) {
    Statement s(db, select() + "WHERE state = ?1 ORDER BY created_at, id");
    s.bind(1, state);
    return read_all(s);
}

}  // namespace supervisor::store::volumes
