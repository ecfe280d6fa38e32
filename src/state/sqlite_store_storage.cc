// Storage records (buckets of task storage objects) in the SQLite state store.
#include "state/sqlite_store.h"

namespace skycore::state_internal {

namespace {

constexpr const char* kSelectStorage =
    "SELECT name, store, source, persistent, status, cluster_name, last_use, created_at, "
    "updated_at FROM storage";

StorageRecord ReadStorage(const Query& query) {
  StorageRecord record;
  record.name = query.Text(0);
  record.store = query.Text(1);
  record.source = query.Text(2);
  record.persistent = query.Int(3) != 0;
  record.status = query.Text(4);
  record.cluster_name = query.Text(5);
  record.last_use = query.Text(6);
  record.created_at = query.Double(7);
  record.updated_at = query.Double(8);
  return record;
}

}  // namespace

StorageRecord SqliteStateStore::UpsertStorage(const StorageRecord& record) {
  std::lock_guard lock(mutex_);
  return db_.Write([&] {
    const double now = Now();
    auto upsert = db_.Prepare(
        "INSERT INTO storage (name, store, source, persistent, status, cluster_name, last_use, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET store = excluded.store, source = excluded.source, "
        "persistent = excluded.persistent, status = excluded.status, "
        "cluster_name = excluded.cluster_name, last_use = excluded.last_use, "
        "updated_at = excluded.updated_at");
    upsert.Bind(1, record.name)
        .Bind(2, record.store)
        .Bind(3, record.source)
        .Bind(4, record.persistent ? 1 : 0)
        .Bind(5, record.status)
        .Bind(6, record.cluster_name)
        .Bind(7, record.last_use)
        .Bind(8, now)
        .Bind(9, now)
        .Run();
    auto query = db_.Prepare(std::string(kSelectStorage) + " WHERE name = ?");
    query.Bind(1, record.name);
    query.Step();
    return ReadStorage(query);
  });
}

std::vector<StorageRecord> SqliteStateStore::ListStorage() {
  std::lock_guard lock(mutex_);
  std::vector<StorageRecord> records;
  auto query = db_.Prepare(std::string(kSelectStorage) + " ORDER BY name");
  while (query.Step()) records.push_back(ReadStorage(query));
  return records;
}

bool SqliteStateStore::RemoveStorage(const std::string& name) {
  std::lock_guard lock(mutex_);
  return db_.Write([&] {
    auto remove = db_.Prepare("DELETE FROM storage WHERE name = ?");
    remove.Bind(1, name).Run();
    return db_.Changes() > 0;
  });
}

}  // namespace skycore::state_internal
