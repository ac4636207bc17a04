#include "supervisor/store/sqlite.h"

#include <sqlite3.h>

#include "base/error.h"

namespace supervisor::store {

namespace {

[[noreturn]] void throw_sqlite(sqlite3* db, const std::string& what) {
    throw base::HostError(what + ": " + (db != nullptr ? sqlite3_errmsg(db) : "out of memory"));
}

}  // namespace

Database::Database(const std::string& path) : path_(path) {
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
        const std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close(db_);
        db_ = nullptr;
        throw base::HostError("cannot open the database " + path + ": " + message);
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, 5000);
    // WAL: readers never block the writer; FULL: a commit is on disk when
    // it returns, which is what "committed before acted on" needs.
    Statement wal(*this, "PRAGMA journal_mode=WAL");
    if (!wal.step() || wal.text(0) != "wal") {
        throw base::HostError("the database " + path + " cannot use write-ahead logging");
    }
    exec("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
}

Database::~Database() {
    sqlite3_close_v2(db_);
}

void Database::exec(const std::string& sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
        const std::string message = error != nullptr ? error : sqlite3_errmsg(db_);
        sqlite3_free(error);
        throw base::HostError("database " + path_ + ": '" + sql.substr(0, 80) + "': " + message);
    }
}

std::int64_t Database::changes() const {
    return sqlite3_changes64(db_);
}

bool Database::in_transaction() const {
    return sqlite3_get_autocommit(db_) == 0;
}

std::int64_t Database::user_version() {
    Statement s(*this, "PRAGMA user_version");
    s.step();
    return s.int64(0);
}

void Database::set_user_version(std::int64_t version) {
    exec("PRAGMA user_version=" + std::to_string(version));
}

Statement::Statement(Database& db, std::string_view sql) : db_(db), sql_(sql) {
    if (sqlite3_prepare_v2(db.handle(), sql_.data(), static_cast<int>(sql_.size()), &stmt_,
                           nullptr) != SQLITE_OK) {
        throw_sqlite(db.handle(), "database " + db.path() + ": cannot prepare '" + sql_ + "'");
    }
}

Statement::~Statement() {
    sqlite3_finalize(stmt_);
}

void Statement::fail(const std::string& what) const {
    throw_sqlite(db_.handle(), "database " + db_.path() + ": " + what + " in '" + sql_ + "'");
}

Statement& Statement::bind(int index, std::int64_t value) {
    if (sqlite3_bind_int64(stmt_, index, value) != SQLITE_OK) {
        fail("bind " + std::to_string(index));
    }
    return *this;
}

Statement& Statement::bind(int index, double value) {
    if (sqlite3_bind_double(stmt_, index, value) != SQLITE_OK) {
        fail("bind " + std::to_string(index));
    }
    return *this;
}

Statement& Statement::bind(int index, const std::string& value) {
    if (sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                          SQLITE_TRANSIENT) != SQLITE_OK) {
        fail("bind " + std::to_string(index));
    }
    return *this;
}

Statement& Statement::bind_null(int index) {
    if (sqlite3_bind_null(stmt_, index) != SQLITE_OK) {
        fail("bind " + std::to_string(index));
    }
    return *this;
}

bool Statement::step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) {
        return true;
    }
    if (rc == SQLITE_DONE) {
        return false;
    }
    fail("step");
}

void Statement::run() {
    while (step()) {
    }
}

void Statement::reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
}

bool Statement::is_null(int column) const {
    return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::int64_t Statement::int64(int column) const {
    return sqlite3_column_int64(stmt_, column);
}

double Statement::real(int column) const {
    return sqlite3_column_double(stmt_, column);
}

std::string Statement::text(int column) const {
    const auto* p = sqlite3_column_text(stmt_, column);
    if (p == nullptr) {
        return "";
    }
    return std::string(reinterpret_cast<const char*>(p),
                       static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
}

std::optional<std::string> Statement::optional_text(int column) const {
    if (is_null(column)) {
        return std::nullopt;
    }
    return text(column);
}

std::optional<std::int64_t> Statement::optional_int64(int column) const {
    if (is_null(column)) {
        return std::nullopt;
    }
    return int64(column);
}

Transaction::Transaction(Database& db) : db_(db) {
    db_.exec("BEGIN IMMEDIATE");
}

Transaction::~Transaction() {
    if (!done_) {
        try {
            db_.exec("ROLLBACK");
        } catch (const base::Error&) {
            // SQLite may have rolled back already (an I/O error); nothing left to undo.
        }
    }
}

void Transaction::commit() {
    db_.exec("COMMIT");
    done_ = true;
}

}  // namespace supervisor::store
