#include "supervisor/store/attachments.h"

namespace supervisor::store::attachments {

namespace {

AttachmentRecord read(const Statement& s) {
    return {s.text(0), s.text(1), s.int64(2)};
}

}  // namespace

void insert(Database& db, const AttachmentRecord& a) {
    Statement(db, "INSERT INTO attachments (volume, instance, attached_at) VALUES (?1, ?2, ?3)")
        .bind(1, a.volume)
        .bind(2, a.instance)
        .bind(3, a.attached_at)
        .run();
}

void remove(Database& db, const std::string& volume) {
    Statement(db, "DELETE FROM attachments WHERE volume = ?1").bind(1, volume).run();
}

std::optional<AttachmentRecord> of_volume(Database& db, const std::string& volume) {
    Statement s(db, "SELECT volume, instance, attached_at FROM attachments WHERE volume = ?1");
    s.bind(1, volume);
    if (!s.step()) {
        return std::nullopt;
    }
    return read(s);
}

std::vector<AttachmentRecord> of_instance(Database& db, const std::string& instance) {
    Statement s(db,
                "SELECT volume, instance, attached_at FROM attachments WHERE instance = ?1 "
                "ORDER BY attached_at, rowid");
    s.bind(1, instance);
    std::vector<AttachmentRecord> out;
    while (s.step()) {
        out.push_back(read(s));
    }
    return out;
}

}  // namespace supervisor::store::attachments
