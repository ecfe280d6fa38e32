// Clusters and their usage history in the SQLite state store.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <random>

#include "state/sqlite_store.h"

namespace skycore::state_internal {

namespace {

constexpr const char* kSelectCluster =
    "SELECT name, status, cluster_hash, handle, launched_resources, num_nodes, "
    "autostop_idle_minutes, autostop_down, launched_at, status_updated_at, last_use, owner, "
    "ever_up FROM clusters";

// A fresh identifier for one cluster lifetime, shaped like a UUID.
std::string NewClusterHash() {
  std::random_device entropy;
  std::mt19937_64 bits((static_cast<uint64_t>(entropy()) << 32) ^ entropy());
  uint64_t high = bits();
  uint64_t low = bits();
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", high >> 32, (high >> 16) & 0xffff,
                     high & 0xffff, low >> 48, low & 0xffffffffffffULL);
}

std::string JsonText(const nlohmann::json& value) {
  return value.is_null() ? std::string() : value.dump();
}

[[noreturn]] void ThrowNoCluster(const std::string& name) {
  throw ClusterDoesNotExist(
      fmt::format("Cluster '{}' does not exist. Run `sky status` to see existing clusters.", name));
}

// "(name GLOB ? OR name GLOB ?)" for n patterns; "" for none.
std::string GlobCondition(const char* column, size_t count) {
  if (count == 0) return {};
  std::string out = "(";
  for (size_t i = 0; i < count; ++i) {
    out += fmt::format("{}{} GLOB ?", i == 0 ? "" : " OR ", column);
  }
  return out + ")";
}

}  // namespace

std::optional<ClusterRecord> SqliteStateStore::GetClusterLocked(const std::string& name) {
  auto rows = ListClustersLocked(std::string(kSelectCluster) + " WHERE name = ?", {name}, {});
  if (rows.empty()) return std::nullopt;
  return std::move(rows.front());
}

std::vector<ClusterRecord> SqliteStateStore::ListClustersLocked(
    const std::string& sql, const std::vector<std::string>& texts,
    const std::vector<ClusterStatus>& statuses) {
  auto query = db_.Prepare(sql);
  int index = 1;
  for (const auto& text : texts) query.Bind(index++, text);
  for (auto status : statuses) query.Bind(index++, ClusterStatusName(status));
  std::vector<ClusterRecord> records;
  while (query.Step()) {
    ClusterRecord record;
    record.name = query.Text(0);
    auto status = ParseClusterStatus(query.Text(1));
    if (!status) {
      throw StateError(CorruptDatabaseMessage(
          db_.path(), fmt::format("cluster '{}' has status '{}'", record.name, query.Text(1))));
    }
    record.status = *status;
    record.cluster_hash = query.Text(2);
    record.handle = ParseJson(query.Text(3), "clusters.handle");
    record.launched_resources = ParseJson(query.Text(4), "clusters.launched_resources");
    record.num_nodes = static_cast<int>(query.Int(5));
    record.autostop_idle_minutes = static_cast<int>(query.Int(6));
    record.autostop_down = query.Int(7) != 0;
    record.launched_at_s = query.Int(8);
    record.status_updated_at_s = query.Int(9);
    record.last_use = query.Text(10);
    record.owner = query.Text(11);
    record.ever_up = query.Int(12) != 0;
    records.push_back(std::move(record));
  }
  return records;
}

void SqliteStateStore::OpenUsageInterval(const std::string& cluster_hash, int64_t now_s) {
  auto open = db_.Prepare("SELECT 1 FROM cluster_usage WHERE cluster_hash = ? AND end_at IS NULL");
  open.Bind(1, cluster_hash);
  if (open.Step()) return;  // already running: one open interval at most
  auto insert = db_.Prepare("INSERT INTO cluster_usage (cluster_hash, start_at) VALUES (?, ?)");
  insert.Bind(1, cluster_hash).Bind(2, now_s).Run();
}

void SqliteStateStore::CloseUsageInterval(const std::string& cluster_hash, int64_t now_s) {
  auto update = db_.Prepare(
      "UPDATE cluster_usage SET end_at = MAX(start_at, ?) WHERE cluster_hash = ? AND end_at IS "
      "NULL");
  update.Bind(1, now_s).Bind(2, cluster_hash).Run();
}

ClusterRecord SqliteStateStore::AddOrUpdateCluster(const ClusterUpdate& update) {
  if (update.name.empty()) throw StateError("AddOrUpdateCluster: the cluster name is empty.");
  std::lock_guard lock(mutex_);
  return db_.Write([&] { return UpsertClusterLocked(update); });
}

ClusterRecord SqliteStateStore::RecordClusterHandle(const ClusterUpdate& update) {
  if (update.name.empty()) throw StateError("RecordClusterHandle: the cluster name is empty.");
  std::lock_guard lock(mutex_);
  return db_.Write([&] {
    auto existing = GetClusterLocked(update.name);
    // Compared as JSON values: a handle read back from the database equals
    // the one that was written, whatever its key order or number types. A
    // STOPPED cluster being started is INIT from now on, changed or not.
    if (existing && existing->status != ClusterStatus::kStopped &&
        existing->handle == update.handle &&
        existing->launched_resources == update.launched_resources &&
        existing->num_nodes == update.num_nodes) {
      return *existing;
    }
    ClusterUpdate changed = update;
    changed.ready = false;
    changed.is_launch = false;
    return UpsertClusterLocked(changed);
  });
}

ClusterRecord SqliteStateStore::UpsertClusterLocked(const ClusterUpdate& update) {
  const int64_t now = NowSeconds();
  const ClusterStatus status = update.ready ? ClusterStatus::kUp : ClusterStatus::kInit;
  auto existing = GetClusterLocked(update.name);
  if (!existing) {
    const std::string hash = NewClusterHash();
    auto insert = db_.Prepare(
        "INSERT INTO clusters (name, status, cluster_hash, handle, launched_resources, "
        "num_nodes, launched_at, status_updated_at, last_use, owner, ever_up) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    insert.Bind(1, update.name)
        .Bind(2, ClusterStatusName(status))
        .Bind(3, hash)
        .Bind(4, JsonText(update.handle))
        .Bind(5, JsonText(update.launched_resources))
        .Bind(6, update.num_nodes)
        .Bind(7, now)
        .Bind(8, now)
        .Bind(9, update.last_use)
        .Bind(10, update.owner)
        .Bind(11, update.ready ? 1 : 0)
        .Run();
    auto history = db_.Prepare(
        "INSERT INTO cluster_history (cluster_hash, name, num_nodes, launched_resources, owner) "
        "VALUES (?, ?, ?, ?, ?)");
    history.Bind(1, hash)
        .Bind(2, update.name)
        .Bind(3, update.num_nodes)
        .Bind(4, JsonText(update.launched_resources))
        .Bind(5, update.owner)
        .Run();
    OpenUsageInterval(hash, now);
  } else {
    // Relaunching a stopped cluster resets its autostop, as SkyPilot does:
    // the new launch sets its own.
    const bool was_stopped = existing->status == ClusterStatus::kStopped;
    auto set = db_.Prepare(
        "UPDATE clusters SET status = ?, handle = ?, launched_resources = ?, num_nodes = ?, "
        "launched_at = ?, status_updated_at = ?, last_use = ?, autostop_idle_minutes = ?, "
        "autostop_down = ?, ever_up = ? WHERE name = ?");
    set.Bind(1, ClusterStatusName(status))
        .Bind(2, JsonText(update.handle))
        .Bind(3, JsonText(update.launched_resources))
        .Bind(4, update.num_nodes)
        .Bind(5, update.is_launch ? now : existing->launched_at_s)
        .Bind(6, now)
        .Bind(7, update.is_launch ? update.last_use : existing->last_use)
        .Bind(8, was_stopped ? -1 : existing->autostop_idle_minutes)
        .Bind(9, was_stopped ? 0 : (existing->autostop_down ? 1 : 0))
        .Bind(10, (existing->ever_up || update.ready) ? 1 : 0)
        .Bind(11, update.name)
        .Run();
    auto history = db_.Prepare(
        "INSERT INTO cluster_history (cluster_hash, name, num_nodes, launched_resources, owner) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (cluster_hash) DO UPDATE SET "
        "num_nodes = excluded.num_nodes, launched_resources = excluded.launched_resources");
    history.Bind(1, existing->cluster_hash)
        .Bind(2, update.name)
        .Bind(3, update.num_nodes)
        .Bind(4, JsonText(update.launched_resources))
        .Bind(5, existing->owner)
        .Run();
    OpenUsageInterval(existing->cluster_hash, now);
  }
  return *GetClusterLocked(update.name);
}

void SqliteStateStore::SetClusterStatus(const std::string& name, ClusterStatus status) {
  std::lock_guard lock(mutex_);
  db_.Write([&] {
    auto existing = GetClusterLocked(name);
    if (!existing) ThrowNoCluster(name);
    const int64_t now = NowSeconds();
    auto set = db_.Prepare(
        "UPDATE clusters SET status = ?, status_updated_at = ?, ever_up = ? WHERE name = ?");
    set.Bind(1, ClusterStatusName(status))
        .Bind(2, now)
        .Bind(3, (existing->ever_up || status == ClusterStatus::kUp) ? 1 : 0)
        .Bind(4, name)
        .Run();
    if (status == ClusterStatus::kStopped) {
      CloseUsageInterval(existing->cluster_hash, now);
    } else {
      OpenUsageInterval(existing->cluster_hash, now);
    }
  });
}

void SqliteStateStore::SetClusterAutostop(const std::string& name, int idle_minutes, bool down) {
  std::lock_guard lock(mutex_);
  db_.Write([&] {
    auto set = db_.Prepare(
        "UPDATE clusters SET autostop_idle_minutes = ?, autostop_down = ? WHERE name = ?");
    set.Bind(1, idle_minutes < 0 ? -1 : idle_minutes).Bind(2, down ? 1 : 0).Bind(3, name).Run();
    if (db_.Changes() == 0) ThrowNoCluster(name);
  });
}

void SqliteStateStore::SetClusterLastUse(const std::string& name, const std::string& command) {
  std::lock_guard lock(mutex_);
  db_.Write([&] {
    auto set = db_.Prepare("UPDATE clusters SET last_use = ? WHERE name = ?");
    set.Bind(1, command).Bind(2, name).Run();
    if (db_.Changes() == 0) ThrowNoCluster(name);
  });
}

std::optional<ClusterRecord> SqliteStateStore::GetCluster(const std::string& name) {
  std::lock_guard lock(mutex_);
  return GetClusterLocked(name);
}

std::vector<ClusterRecord> SqliteStateStore::ListClusters(const ClusterFilter& filter) {
  std::string sql = kSelectCluster;
  std::vector<std::string> conditions;
  if (!filter.name_patterns.empty()) {
    conditions.push_back(GlobCondition("name", filter.name_patterns.size()));
  }
  if (!filter.statuses.empty()) {
    std::string marks;
    for (size_t i = 0; i < filter.statuses.size(); ++i) marks += i == 0 ? "?" : ", ?";
    conditions.push_back("status IN (" + marks + ")");
  }
  for (size_t i = 0; i < conditions.size(); ++i) {
    sql += (i == 0 ? " WHERE " : " AND ") + conditions[i];
  }
  sql += " ORDER BY launched_at DESC, name";
  std::lock_guard lock(mutex_);
  return ListClustersLocked(sql, filter.name_patterns, filter.statuses);
}

bool SqliteStateStore::RemoveCluster(const std::string& name) {
  std::lock_guard lock(mutex_);
  return db_.Write([&] {
    auto existing = GetClusterLocked(name);
    if (!existing) return false;
    CloseUsageInterval(existing->cluster_hash, NowSeconds());
    auto remove = db_.Prepare("DELETE FROM clusters WHERE name = ?");
    remove.Bind(1, name).Run();
    return true;
  });
}

std::vector<ClusterHistoryRecord> SqliteStateStore::ListClusterHistory(
    const HistoryFilter& filter) {
  std::string sql =
      "SELECT h.cluster_hash, h.name, h.num_nodes, h.launched_resources, h.owner, c.status "
      "FROM cluster_history h LEFT JOIN clusters c ON c.cluster_hash = h.cluster_hash";
  if (!filter.name_patterns.empty()) {
    sql += " WHERE " + GlobCondition("h.name", filter.name_patterns.size());
  }
  std::lock_guard lock(mutex_);
  std::vector<ClusterHistoryRecord> records;
  std::map<std::string, size_t> index_by_hash;
  {
    auto query = db_.Prepare(sql);
    int index = 1;
    for (const auto& pattern : filter.name_patterns) query.Bind(index++, pattern);
    while (query.Step()) {
      ClusterHistoryRecord record;
      record.cluster_hash = query.Text(0);
      record.name = query.Text(1);
      record.num_nodes = static_cast<int>(query.Int(2));
      record.launched_resources = ParseJson(query.Text(3), "cluster_history.launched_resources");
      record.owner = query.Text(4);
      if (!query.IsNull(5)) record.status = ParseClusterStatus(query.Text(5));
      index_by_hash[record.cluster_hash] = records.size();
      records.push_back(std::move(record));
    }
  }
  {
    auto query = db_.Prepare(
        "SELECT cluster_hash, start_at, end_at FROM cluster_usage ORDER BY cluster_hash, "
        "start_at, rowid");
    while (query.Step()) {
      auto it = index_by_hash.find(query.Text(0));
      if (it == index_by_hash.end()) continue;
      records[it->second].usage_intervals.push_back({query.Int(1), query.OptionalInt(2)});
    }
  }
  if (filter.used_since_s) {
    const int64_t since = *filter.used_since_s;
    std::erase_if(records, [since](const ClusterHistoryRecord& record) {
      return std::none_of(record.usage_intervals.begin(), record.usage_intervals.end(),
                          [since](const UsageInterval& interval) {
                            return !interval.end_s || *interval.end_s >= since;
                          });
    });
  }
  std::stable_sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
    if (a.launched_at_s() != b.launched_at_s()) return a.launched_at_s() > b.launched_at_s();
    return a.name < b.name;
  });
  return records;
}

}  // namespace skycore::state_internal
