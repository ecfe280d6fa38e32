#include "state/schema.h"

#include <fmt/format.h>

#include <string>
#include <vector>

#include "skycore/error.h"
#include "skycore/version.h"

namespace skycore::state_internal {

namespace {

// kMigrations[i] takes the schema from version i to version i + 1. Released
// entries are never edited: a change to the schema is a new entry.
constexpr const char* kMigrations[] = {
    // 0 → 1: clusters and their usage history.
    R"sql(
CREATE TABLE schema_version (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version INTEGER NOT NULL
);
INSERT INTO schema_version (id, version) VALUES (1, 0);
CREATE TABLE clusters (
  name TEXT PRIMARY KEY,
  status TEXT NOT NULL CHECK (status IN ('INIT', 'UP', 'STOPPED')),
  cluster_hash TEXT NOT NULL UNIQUE,
  handle TEXT,
  launched_resources TEXT,
  num_nodes INTEGER NOT NULL DEFAULT 1,
  autostop_idle_minutes INTEGER NOT NULL DEFAULT -1,
  autostop_down INTEGER NOT NULL DEFAULT 0,
  launched_at INTEGER NOT NULL,
  status_updated_at INTEGER NOT NULL,
  last_use TEXT NOT NULL DEFAULT '',
  owner TEXT NOT NULL DEFAULT '',
  ever_up INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE cluster_history (
  cluster_hash TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  num_nodes INTEGER NOT NULL DEFAULT 1,
  launched_resources TEXT,
  owner TEXT NOT NULL DEFAULT ''
);
CREATE TABLE cluster_usage (
  cluster_hash TEXT NOT NULL REFERENCES cluster_history (cluster_hash),
  start_at INTEGER NOT NULL,
  end_at INTEGER
);
-- Finds a lifetime's open interval without scanning its past ones.
CREATE INDEX cluster_usage_by_hash ON cluster_usage (cluster_hash, end_at);
)sql",
    // 1 → 2: SDK requests.
    R"sql(
CREATE TABLE requests (
  request_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  cluster_name TEXT NOT NULL DEFAULT '',
  user_name TEXT NOT NULL DEFAULT '',
  body TEXT,
  status TEXT NOT NULL
    CHECK (status IN ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
  status_msg TEXT NOT NULL DEFAULT '',
  created_at REAL NOT NULL,
  finished_at REAL,
  pid INTEGER,
  return_value TEXT,
  error TEXT
);
CREATE INDEX requests_by_created_at ON requests (created_at);
CREATE INDEX requests_by_status ON requests (status);
)sql",
    // 2 → 3: managed jobs (`sky jobs`); SkyPilot's spot/job_info fields in one row.
    R"sql(
CREATE TABLE managed_jobs (
  job_id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  user_name TEXT NOT NULL DEFAULT '',
  priority INTEGER NOT NULL DEFAULT 0,
  dag_yaml TEXT NOT NULL DEFAULT '',
  resources TEXT NOT NULL DEFAULT '',
  run_timestamp TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('PENDING', 'STARTING', 'RUNNING', 'RECOVERING',
    'CANCELLING', 'SUCCEEDED', 'CANCELLED', 'FAILED', 'FAILED_SETUP', 'FAILED_PRECHECKS',
    'FAILED_NO_RESOURCE', 'FAILED_CONTROLLER')),
  failure_reason TEXT NOT NULL DEFAULT '',
  cluster_name TEXT NOT NULL DEFAULT '',
  cluster_job_id INTEGER,
  submitted_at REAL NOT NULL,
  start_at REAL,
  end_at REAL,
  last_recovered_at REAL,
  job_duration REAL NOT NULL DEFAULT 0,
  recovery_count INTEGER NOT NULL DEFAULT 0,
  finished INTEGER NOT NULL DEFAULT 0
);
-- The controller's scan: the unfinished jobs only.
CREATE INDEX managed_jobs_by_finished ON managed_jobs (finished, job_id);
)sql",
    // 3 → 4: storage (buckets of task storage objects, `sky storage ls`).
    R"sql(
CREATE TABLE storage (
  name TEXT PRIMARY KEY,
  store TEXT NOT NULL,
  source TEXT NOT NULL DEFAULT '',
  persistent INTEGER NOT NULL DEFAULT 1,
  status TEXT NOT NULL
    CHECK (status IN ('INIT', 'INIT_FAILED', 'UPLOAD_FAILED', 'READY')),
  cluster_name TEXT NOT NULL DEFAULT '',
  last_use TEXT NOT NULL DEFAULT '',
  created_at REAL NOT NULL,
  updated_at REAL NOT NULL
);
)sql",
};
static_assert(std::size(kMigrations) == kCurrentSchemaVersion);

bool HasTable(Database& db, const char* name) {
  auto query = db.Prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
  query.Bind(1, name);
  return query.Step();
}

void EnableWal(Database& db) {
  // In WAL mode NORMAL syncs at checkpoints only: a power cut may lose the
  // last commits but never corrupts the database, and writers stay fast.
  db.Exec("PRAGMA synchronous = NORMAL");
  {
    auto query = db.Prepare("PRAGMA journal_mode");
    if (query.Step() && query.Text(0) == "wal") return;
  }
  auto query = db.Prepare("PRAGMA journal_mode = WAL");
  query.Run();
}

[[noreturn]] void ThrowNewer(const Database& db, int version) {
  throw StateError(fmt::format(
      "The state database {} has schema version {}, but this skycore ({}) understands versions "
      "up to {}: it was written by a newer skycore. Upgrade skycore (`pip install -U skycore`), "
      "or set SKYCORE_STATE_DIR to another directory. The database was left untouched.",
      db.path().string(), version, Version(), kCurrentSchemaVersion));
}

}  // namespace

int ReadSchemaVersion(Database& db) {
  // Reading sqlite_master is the first read of the file: a file that is not a
  // database fails here with SQLITE_NOTADB, before anything is written.
  std::vector<std::string> tables;
  {
    auto query = db.Prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
    while (query.Step()) tables.push_back(query.Text(0));
  }
  if (tables.empty()) return 0;
  if (!HasTable(db, "schema_version")) {
    std::string names;
    for (const auto& table : tables) names += (names.empty() ? "" : ", ") + table;
    throw StateError(
        fmt::format("The state database {} was not created by skycore (it has the tables {} but no "
                    "schema_version; perhaps another tool's state.db). It was left untouched. Set "
                    "SKYCORE_STATE_DIR to another directory, or move the file aside.",
                    db.path().string(), names));
  }
  auto query = db.Prepare("SELECT version FROM schema_version WHERE id = 1");
  if (!query.Step()) {
    throw StateError(CorruptDatabaseMessage(db.path(), "its schema_version table is empty"));
  }
  return static_cast<int>(query.Int(0));
}

void PrepareSchema(Database& db, int target_version) {
  int version = ReadSchemaVersion(db);
  if (version > kCurrentSchemaVersion) ThrowNewer(db, version);
  EnableWal(db);
  if (version >= target_version) return;
  db.Write([&] {
    // Another process may have migrated between the read above and the lock.
    int locked_version = ReadSchemaVersion(db);
    if (locked_version > kCurrentSchemaVersion) ThrowNewer(db, locked_version);
    for (int from = locked_version; from < target_version; ++from) {
      db.Exec(kMigrations[from]);
    }
    if (locked_version < target_version) {
      auto query = db.Prepare("UPDATE schema_version SET version = ? WHERE id = 1");
      query.Bind(1, target_version).Run();
    }
  });
}

}  // namespace skycore::state_internal
