#include "supervisor/store/client_tokens.h"

namespace supervisor::store::client_tokens {

void insert(Database& db, const ClientTokenRecord& t) {
    Statement(db,
              "INSERT INTO client_tokens (owner, token, request, instances, created_at) "
              "VALUES (?1, ?2, ?3, ?4, ?5)")
        .bind(1, t.owner)
        .bind(2, t.token)
        .bind(3, t.request)
        .bind(4, t.instances)
        .bind(5, t.created_at)
        .run();
}

std::optional<ClientTokenRecord> get(Database& db, Owner owner, const std::string& token) {
    Statement s(db,
                "SELECT owner, token, request, instances, created_at FROM client_tokens "
                "WHERE owner = ?1 AND token = ?2");
    s.bind(1, owner).bind(2, token);
    if (!s.step()) {
        return std::nullopt;
    }
    return ClientTokenRecord{s.int64(0), s.text(1), s.text(2), s.text(3), s.int64(4)};
}

}  // namespace supervisor::store::client_tokens
