// The agent's job table: one SQLite database (WAL) per agent, the durable
// truth about every job. Each change is one statement, so one transaction.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "skycore/agent.h"

struct sqlite3;
struct sqlite3_stmt;

namespace skycore::agent {

class JobTable {
 public:
  // Opens (creating if needed) the database at `path`. StateError when the
  // file is not a database, or was written by a newer agent (schema version).
  explicit JobTable(const std::string& path);
  ~JobTable();
  JobTable(const JobTable&) = delete;
  JobTable& operator=(const JobTable&) = delete;

  // Inserts a PENDING job and returns its id (ids are never reused).
  int64_t Insert(const JobSpec& spec, double submitted_at, const std::string& log_dir);

  // Writes the mutable part of a record: status, times, exit code, ranks.
  void Update(const JobRecord& record);

  // Every job, in id order.
  std::vector<JobRecord> LoadAll();

  // The full spec (with secrets) of a job. JobNotFoundError if absent.
  JobSpec LoadSpec(int64_t job_id);

  std::optional<std::string> GetMeta(const std::string& key);
  void SetMeta(const std::string& key, const std::string& value);

  static constexpr int kSchemaVersion = 1;

 private:
  void Open();
  void Exec(const char* sql);
  sqlite3_stmt* Prepare(const char* sql);
  [[noreturn]] void Fail(const char* what);

  std::string path_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* update_ = nullptr;
};

}  // namespace skycore::agent
