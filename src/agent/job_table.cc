#include "agent/job_table.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include "agent/protocol.h"
#include "common/files.h"
#include "skycore/error.h"

namespace skycore::agent {
namespace {

// Binds and steps a statement, resetting it afterwards whatever happens.
class StatementScope {
 public:
  explicit StatementScope(sqlite3_stmt* statement) : statement_(statement) {}
  ~StatementScope() {
    sqlite3_reset(statement_);
    sqlite3_clear_bindings(statement_);
  }
  StatementScope(const StatementScope&) = delete;
  StatementScope& operator=(const StatementScope&) = delete;

 private:
  sqlite3_stmt* statement_;
};

void BindText(sqlite3_stmt* statement, int index, const std::string& text) {
  sqlite3_bind_text(statement, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

std::string ColumnText(sqlite3_stmt* statement, int index) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement, index));
  return text ? std::string(text, static_cast<size_t>(sqlite3_column_bytes(statement, index)))
              : std::string();
}

}  // namespace

JobTable::JobTable(const std::string& path) : path_(path) {
  try {
    Open();
  } catch (...) {
    // The destructor does not run for a constructor that throws.
    sqlite3_finalize(insert_);
    sqlite3_finalize(update_);
    sqlite3_close(db_);
    throw;
  }
}

void JobTable::Open() {
  files::PrepareDatabaseFile(path_);  // 0600, and so are its -wal and -shm
  if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    Fail("cannot open the job table");
  }
  sqlite3_busy_timeout(db_, 5000);
  Exec("PRAGMA journal_mode=WAL");
  Exec("PRAGMA synchronous=NORMAL");
  // Deleted and rewritten content is zeroed, not left in free space.
  Exec("PRAGMA secure_delete=ON");
  Exec(
      "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS jobs ("
      " job_id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, username TEXT,"
      " status TEXT NOT NULL, priority INTEGER, num_nodes INTEGER, resources TEXT,"
      " submitted_at REAL, start_at REAL, end_at REAL, exit_code INTEGER,"
      " log_dir TEXT, spec TEXT NOT NULL, ranks TEXT)");
  auto version = GetMeta("schema_version");
  if (!version) {
    SetMeta("schema_version", std::to_string(kSchemaVersion));
  } else if (std::stoi(*version) > kSchemaVersion) {
    throw StateError(fmt::format(
        "the job table {} has schema version {}, newer than this skyletd understands ({}); "
        "run the skyletd that wrote it, or move the file away to start an empty table",
        path_, *version, kSchemaVersion));
  }
  insert_ = Prepare(
      "INSERT INTO jobs (name, username, status, priority, num_nodes, resources, submitted_at,"
      " start_at, end_at, exit_code, log_dir, spec, ranks)"
      " VALUES (?, ?, 'PENDING', ?, ?, ?, ?, 0, 0, -1, ?, ?, '[]')");
  update_ = Prepare(
      "UPDATE jobs SET status = ?, start_at = ?, end_at = ?, exit_code = ?, ranks = ?,"
      " log_dir = ? WHERE job_id = ?");
  if (GetMeta("secrets") != "redacted") RedactStoredSecrets();
}

void JobTable::RedactStoredSecrets() {
  // Agents before this one stored secret values in clear: redact them, then
  // move the log into the database and truncate it so that no old frame
  // keeps a value.
  std::vector<std::pair<int64_t, std::string>> rewrites;
  sqlite3_stmt* select = Prepare("SELECT job_id, spec FROM jobs");
  while (sqlite3_step(select) == SQLITE_ROW) {
    auto spec = json::parse(ColumnText(select, 1), nullptr, false);
    if (!spec.is_object() || !spec.contains("secrets") || !spec["secrets"].is_object()) continue;
    bool changed = false;
    for (auto& [name, value] : spec["secrets"].items()) {
      if (value == kRedactedSecret) continue;
      value = kRedactedSecret;
      changed = true;
    }
    if (changed) rewrites.emplace_back(sqlite3_column_int64(select, 0), spec.dump());
  }
  sqlite3_finalize(select);
  sqlite3_stmt* rewrite = Prepare("UPDATE jobs SET spec = ? WHERE job_id = ?");
  for (const auto& [job_id, text] : rewrites) {
    BindText(rewrite, 1, text);
    sqlite3_bind_int64(rewrite, 2, job_id);
    int rc = sqlite3_step(rewrite);
    sqlite3_reset(rewrite);
    if (rc != SQLITE_DONE) {
      sqlite3_finalize(rewrite);
      Fail("cannot redact the secrets stored in");
    }
  }
  sqlite3_finalize(rewrite);
  if (!rewrites.empty()) Exec("VACUUM");
  Exec("PRAGMA wal_checkpoint(TRUNCATE)");
  SetMeta("secrets", "redacted");
}

JobTable::~JobTable() {
  sqlite3_finalize(insert_);
  sqlite3_finalize(update_);
  sqlite3_close(db_);
}

void JobTable::Fail(const char* what) {
  throw StateError(
      fmt::format("{} {}: {}", what, path_, db_ ? sqlite3_errmsg(db_) : "out of memory"));
}

void JobTable::Exec(const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message ? message : "unknown error";
    sqlite3_free(message);
    throw StateError(fmt::format("the job table {} is unusable: {}", path_, text));
  }
}

sqlite3_stmt* JobTable::Prepare(const char* sql) {
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &statement, nullptr) !=
      SQLITE_OK) {
    Fail("cannot prepare a statement on the job table");
  }
  return statement;
}

int64_t JobTable::Insert(const JobSpec& spec, double submitted_at, const std::string& log_dir) {
  StatementScope scope(insert_);
  BindText(insert_, 1, spec.name);
  BindText(insert_, 2, spec.username);
  sqlite3_bind_int(insert_, 3, spec.priority);
  sqlite3_bind_int(insert_, 4, spec.num_nodes);
  BindText(insert_, 5, spec.resources);
  sqlite3_bind_double(insert_, 6, submitted_at);
  BindText(insert_, 7, log_dir);
  JobSpec stored = spec;
  for (auto& [name, value] : stored.secrets) value = kRedactedSecret;
  BindText(insert_, 8, SpecToJson(stored).dump());
  if (sqlite3_step(insert_) != SQLITE_DONE) Fail("cannot insert a job into");
  const int64_t job_id = sqlite3_last_insert_rowid(db_);
  if (!spec.secrets.empty()) secrets_[job_id] = spec.secrets;
  return job_id;
}

void JobTable::Update(const JobRecord& record) {
  StatementScope scope(update_);
  BindText(update_, 1, JobStatusName(record.status));
  sqlite3_bind_double(update_, 2, record.start_at);
  sqlite3_bind_double(update_, 3, record.end_at);
  sqlite3_bind_int(update_, 4, record.exit_code);
  BindText(update_, 5, RanksToJson(record.ranks).dump());
  BindText(update_, 6, record.log_dir);
  sqlite3_bind_int64(update_, 7, record.job_id);
  if (sqlite3_step(update_) != SQLITE_DONE) Fail("cannot update a job in");
}

std::vector<JobRecord> JobTable::LoadAll() {
  sqlite3_stmt* statement = Prepare(
      "SELECT job_id, name, username, status, priority, num_nodes, resources, submitted_at,"
      " start_at, end_at, exit_code, log_dir, ranks FROM jobs ORDER BY job_id");
  std::vector<JobRecord> records;
  int rc;
  while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
    JobRecord record;
    record.job_id = sqlite3_column_int64(statement, 0);
    record.name = ColumnText(statement, 1);
    record.username = ColumnText(statement, 2);
    record.status = ParseJobStatus(ColumnText(statement, 3)).value_or(JobStatus::kFailedDriver);
    record.priority = sqlite3_column_int(statement, 4);
    record.num_nodes = sqlite3_column_int(statement, 5);
    record.resources = ColumnText(statement, 6);
    record.submitted_at = sqlite3_column_double(statement, 7);
    record.start_at = sqlite3_column_double(statement, 8);
    record.end_at = sqlite3_column_double(statement, 9);
    record.exit_code = sqlite3_column_int(statement, 10);
    record.log_dir = ColumnText(statement, 11);
    record.ranks = RanksFromJson(json::parse(ColumnText(statement, 12), nullptr, false));
    records.push_back(std::move(record));
  }
  sqlite3_finalize(statement);
  if (rc != SQLITE_DONE) Fail("cannot read the jobs of");
  return records;
}

JobSpec JobTable::LoadSpec(int64_t job_id) {
  sqlite3_stmt* statement = Prepare("SELECT spec FROM jobs WHERE job_id = ?");
  sqlite3_bind_int64(statement, 1, job_id);
  int rc = sqlite3_step(statement);
  std::string text = rc == SQLITE_ROW ? ColumnText(statement, 0) : std::string();
  sqlite3_finalize(statement);
  if (rc != SQLITE_ROW)
    throw JobNotFoundError(fmt::format("job {} is not in the job table", job_id));
  JobSpec spec = SpecFromJson(json::parse(text));
  if (auto held = secrets_.find(job_id); held != secrets_.end()) spec.secrets = held->second;
  return spec;
}

bool JobTable::SecretsLost(const JobSpec& spec, int64_t job_id) const {
  return !spec.secrets.empty() && secrets_.count(job_id) == 0;
}

std::optional<std::string> JobTable::GetMeta(const std::string& key) {
  sqlite3_stmt* statement = Prepare("SELECT value FROM meta WHERE key = ?");
  BindText(statement, 1, key);
  std::optional<std::string> value;
  if (sqlite3_step(statement) == SQLITE_ROW) value = ColumnText(statement, 0);
  sqlite3_finalize(statement);
  return value;
}

void JobTable::SetMeta(const std::string& key, const std::string& value) {
  sqlite3_stmt* statement = Prepare(
      "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
      "excluded.value");
  BindText(statement, 1, key);
  BindText(statement, 2, value);
  int rc = sqlite3_step(statement);
  sqlite3_finalize(statement);
  if (rc != SQLITE_DONE) Fail("cannot write settings to");
}

}  // namespace skycore::agent
