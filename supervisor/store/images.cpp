#include "supervisor/store/images.h"

namespace supervisor::store::images {

namespace {

constexpr const char* kColumns =
    "id, name, owner, state, progress, reason, format, size_bytes, allocated_bytes, kernel, "
    "initrd, cmdline, ready_probe, created_at";

ImageRecord read(const Statement& s) {
    ImageRecord r;
    r.id = s.text(0);
    r.name = s.text(1);
    r.owner = s.int64(2);
    r.state = s.text(3);
    r.progress = s.real(4);
    r.reason = s.optional_text(5);
    r.format = s.optional_text(6);
    r.size_bytes = s.int64(7);
    r.allocated_bytes = s.int64(8);
    r.kernel = s.optional_text(9);
    r.initrd = s.optional_text(10);
    r.cmdline = s.optional_text(11);
    r.ready_probe = s.text(12);
    r.created_at = s.int64(13);
    return r;
}

// Binds every column but id to ?2.. in kColumns' order.
void bind_fields(Statement& s, const ImageRecord& r) {
    s.bind(2, r.name)
        .bind(3, r.owner)
        .bind(4, r.state)
        .bind(5, r.progress)
        .bind(6, r.reason)
        .bind(7, r.format)
        .bind(8, r.size_bytes)
        .bind(9, r.allocated_bytes)
        .bind(10, r.kernel)
        .bind(11, r.initrd)
        .bind(12, r.cmdline)
        .bind(13, r.ready_probe)
        .bind(14, r.created_at);
}

std::vector<ImageRecord> read_all(Statement& s) {
    std::vector<ImageRecord> out;
    while (s.step()) {
        out.push_back(read(s));
    }
    return out;
}

}  // namespace

void insert(Database& db, const ImageRecord& image) {
    Statement s(db, std::string("INSERT INTO images (") + kColumns +
                        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)");
    s.bind(1, image.id);
    bind_fields(s, image);
    s.run();
}

void update(Database& db, const ImageRecord& image) {
    Statement s(db,
                "UPDATE images SET name = ?2, owner = ?3, state = ?4, progress = ?5, reason = ?6, "
                "format = ?7, size_bytes = ?8, allocated_bytes = ?9, kernel = ?10, initrd = ?11, "
                "cmdline = ?12, ready_probe = ?13, created_at = ?14 WHERE id = ?1");
    s.bind(1, image.id);
    bind_fields(s, image);
    s.run();
}

void remove(Database& db, const std::string& id) {
    Statement(db, "DELETE FROM images WHERE id = ?1").bind(1, id).run();
}

std::optional<ImageRecord> get(Database& db, const std::string& id) {
    Statement s(db, std::string("SELECT ") + kColumns + " FROM images WHERE id = ?1");
    s.bind(1, id);
    if (!s.step()) {
        return std::nullopt;
    }
    return read(s);
}

std::optional<ImageRecord> find_by_name(Database& db, Owner owner, const std::string& name) {
    Statement s(db,
                std::string("SELECT ") + kColumns + " FROM images WHERE owner = ?1 AND name = ?2");
    s.bind(1, owner).bind(2, name);
    if (!s.step()) {
        return std::nullopt;
    }
    return read(s);
}

std::vector<ImageRecord> list(Database& db, std::optional<Owner> owner) {
    Statement s(db, std::string("SELECT ") + kColumns +
                        " FROM images WHERE ?1 IS NULL OR owner = ?1 ORDER BY created_at, id");
    s.bind(1, owner);
    return read_all(s);
}

}  // namespace supervisor::store::images
