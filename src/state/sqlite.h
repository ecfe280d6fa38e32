// A thin RAII layer over the SQLite C API for the state store: a connection
// with cached prepared statements, write transactions (BEGIN IMMEDIATE, so a
// writer waits for the lock up front instead of failing mid-transaction), and
// one place that turns SQLite result codes into skycore errors.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace skycore::state_internal {

class Database;

// A prepared statement borrowed from the connection's cache. Reset (and its
// bindings cleared) when the borrow ends, so no read snapshot stays open.
class Query {
 public:
  Query(Database& db, sqlite3_stmt* stmt) : db_(&db), stmt_(stmt) {}
  Query(Query&& other) noexcept : db_(other.db_), stmt_(other.stmt_) { other.stmt_ = nullptr; }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  Query& operator=(Query&&) = delete;
  ~Query();

  // Binds by 1-based index.
  Query& Bind(int index, int64_t value);
  Query& Bind(int index, int value) { return Bind(index, static_cast<int64_t>(value)); }
  Query& Bind(int index, double value);
  Query& Bind(int index, std::string_view value);
  Query& Bind(int index, const std::string& value) { return Bind(index, std::string_view(value)); }
  Query& Bind(int index, const char* value) { return Bind(index, std::string_view(value)); }
  Query& BindNull(int index);
  template <typename T>
  Query& Bind(int index, const std::optional<T>& value) {
    return value ? Bind(index, *value) : BindNull(index);
  }

  // Advances: true when a row is available, false when done. Throws on error.
  bool Step();
  // Runs a statement that returns no rows.
  void Run() {
    while (Step()) {
    }
  }

  bool IsNull(int column) const;
  int64_t Int(int column) const;
  double Double(int column) const;
  std::string Text(int column) const;  // "" for NULL
  std::optional<int64_t> OptionalInt(int column) const;
  std::optional<double> OptionalDouble(int column) const;

 private:
  Database* db_;
  sqlite3_stmt* stmt_;
};

class Database {
 public:
  // Opens (creating if missing) the database file. Does not read it yet.
  Database(const std::filesystem::path& path, std::chrono::milliseconds busy_timeout);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // A cached prepared statement for this SQL text.
  Query Prepare(const std::string& sql);
  // Runs one or more statements that return no rows.
  void Exec(const char* sql);
  // Rows changed by the last INSERT/UPDATE/DELETE.
  int Changes() const;

  // Runs fn() in a write transaction: BEGIN IMMEDIATE, COMMIT on return,
  // ROLLBACK when it throws.
  template <typename Fn>
  auto Write(Fn&& fn) -> decltype(fn()) {
    Begin();
    try {
      if constexpr (std::is_void_v<decltype(fn())>) {
        fn();
        Commit();
      } else {
        auto result = fn();
        Commit();
        return result;
      }
    } catch (...) {
      Rollback();
      throw;
    }
  }

  // Throws the skycore error for a failed SQLite call (rc != OK/ROW/DONE).
  [[noreturn]] void Fail(int rc, std::string_view doing) const;

  const std::filesystem::path& path() const { return path_; }
  sqlite3* handle() const { return db_; }

 private:
  void Begin();
  void Commit();
  void Rollback() noexcept;

  std::filesystem::path path_;
  std::chrono::milliseconds busy_timeout_;
  sqlite3* db_ = nullptr;
  struct Finalizer {
    void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
  };
  std::unordered_map<std::string, std::unique_ptr<sqlite3_stmt, Finalizer>> statements_;
};

// The message for a database that is not a readable SQLite file: what is
// wrong, that it was left untouched, and how to start afresh.
std::string CorruptDatabaseMessage(const std::filesystem::path& path, std::string_view detail);

}  // namespace skycore::state_internal
