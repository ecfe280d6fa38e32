// The agent's job table: one SQLite database (WAL) per agent, the durable
// truth about every job. Each change is one statement, so one transaction.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "skycore/agent.h"

struct sqlite3;
struct sqlite3_stmt;

namespace skycore::agent {

// Secrets are never at rest: the table stores a job's spec with every secret
// value replaced by kRedactedSecret and keeps the values in this process's
// memory until the job ends (ForgetSecrets). A table opened again (an agent
// restart) has the names of a pending job's secrets but not their values.
inline constexpr const char* kRedactedSecret = "<redacted>";

class JobTable {
 public:
  // Opens (creating if needed) the database at `path`. StateError when the
  // file is not a database, or was written by a newer agent (schema version).
  explicit JobTable(const std::string& path);
  ~JobTable();
  JobTable(const JobTable&) = delete;
  JobTable& operator=(const JobTable&) = delete;

  // Inserts a PENDING job and returns its id (ids are never reused). The
  // database (mode 0600) gets the spec with its secrets redacted.
  int64_t Insert(const JobSpec& spec, double submitted_at, const std::string& log_dir);

  // Writes the mutable part of a record: status, times, exit code, ranks.
  void Update(const JobRecord& record);

  // Every job, in id order.
  std::vector<JobRecord> LoadAll();

  // The spec of a job, with the secret values this table holds in memory;
  // a secret whose value it does not hold (SecretsLost) reads
  // kRedactedSecret. JobNotFoundError if absent.
  JobSpec LoadSpec(int64_t job_id);
  // True when the job has secrets whose values this table does not hold: it
  // was submitted before the agent restarted.
  bool SecretsLost(const JobSpec& spec, int64_t job_id) const;
  // Drops the job's secret values from memory (the job ended, or its ranks
  // hold them now).
  void ForgetSecrets(int64_t job_id) { secrets_.erase(job_id); }

  std::optional<std::string> GetMeta(const std::string& key);
  void SetMeta(const std::string& key, const std::string& value);

  static constexpr int kSchemaVersion = 1;

 private:
  void Open();
  void RedactStoredSecrets();
  void Exec(const char* sql);
  sqlite3_stmt* Prepare(const char* sql);
  [[noreturn]] void Fail(const char* what);

  std::string path_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* update_ = nullptr;
  std::map<int64_t, std::map<std::string, std::string>> secrets_;
};

}  // namespace skycore::agent
