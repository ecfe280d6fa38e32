#include "state/sqlite.h"

#include <fmt/format.h>

#include "skycore/error.h"

namespace skycore::state_internal {

std::string CorruptDatabaseMessage(const std::filesystem::path& path, std::string_view detail) {
  return fmt::format(
      "The state database {} is corrupt or is not a SQLite database ({}). It was left "
      "untouched. Move it aside (e.g. `mv {} {}.bad`) to start with an empty state, or restore "
      "it from a backup.",
      path.string(), detail, path.string(), path.string());
}

// ------------------------------------------------------------------- Query

Query::~Query() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

Query& Query::Bind(int index, int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) db_->Fail(rc, "binding a value");
  return *this;
}

Query& Query::Bind(int index, double value) {
  int rc = sqlite3_bind_double(stmt_, index, value);
  if (rc != SQLITE_OK) db_->Fail(rc, "binding a value");
  return *this;
}

Query& Query::Bind(int index, std::string_view value) {
  int rc =
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK) db_->Fail(rc, "binding a value");
  return *this;
}

Query& Query::BindNull(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK) db_->Fail(rc, "binding a value");
  return *this;
}

bool Query::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  db_->Fail(rc, sqlite3_sql(stmt_));
}

bool Query::IsNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
int64_t Query::Int(int column) const { return sqlite3_column_int64(stmt_, column); }
double Query::Double(int column) const { return sqlite3_column_double(stmt_, column); }

std::string Query::Text(int column) const {
  const auto* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

std::optional<int64_t> Query::OptionalInt(int column) const {
  if (IsNull(column)) return std::nullopt;
  return Int(column);
}

std::optional<double> Query::OptionalDouble(int column) const {
  if (IsNull(column)) return std::nullopt;
  return Double(column);
}

// ---------------------------------------------------------------- Database

Database::Database(const std::filesystem::path& path, std::chrono::milliseconds busy_timeout)
    : path_(path), busy_timeout_(busy_timeout) {
  int rc =
      sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string detail = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw IoError(
        fmt::format("Cannot open the state database {}: {}. Check that the directory "
                    "exists and is writable, or set SKYCORE_STATE_DIR.",
                    path.string(), detail));
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, static_cast<int>(busy_timeout.count()));
}

Database::~Database() {
  statements_.clear();
  sqlite3_close_v2(db_);
}

Query Database::Prepare(const std::string& sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) Fail(rc, sql);
    it = statements_.emplace(sql, std::unique_ptr<sqlite3_stmt, Finalizer>(stmt)).first;
  }
  return Query(*this, it->second.get());
}

void Database::Exec(const char* sql) {
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) Fail(rc, sql);
}

int Database::Changes() const { return sqlite3_changes(db_); }

void Database::Begin() { Exec("BEGIN IMMEDIATE"); }
void Database::Commit() { Exec("COMMIT"); }
void Database::Rollback() noexcept {
  if (sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

void Database::Fail(int rc, std::string_view doing) const {
  const std::string detail = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      throw StateError(CorruptDatabaseMessage(path_, detail));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      throw StateError(fmt::format(
          "The state database {} stayed locked by another sky process for more than {:.1f} s "
          "({}). Retry when the other command has finished.",
          path_.string(), static_cast<double>(busy_timeout_.count()) / 1000.0, detail));
    case SQLITE_FULL:
      throw IoError(
          fmt::format("Cannot write the state database {}: the disk is full. Free "
                      "some space and retry.",
                      path_.string()));
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
      throw IoError(
          fmt::format("Cannot read or write the state database {}: {}. Check the "
                      "permissions of the file and its directory.",
                      path_.string(), detail));
    default:
      throw StateError(
          fmt::format("State database {}: {} (while running: {})", path_.string(), detail, doing));
  }
}

}  // namespace skycore::state_internal
