// SqliteStateStore: the embedded StateStore over `<state_dir>/state.db`.
// Cluster operations live in sqlite_store_clusters.cc, requests in
// sqlite_store_requests.cc, storage in sqlite_store_storage.cc.
#pragma once

#include <mutex>

#include "skycore/state.h"
#include "state/sqlite.h"

namespace skycore::state_internal {

class SqliteStateStore final : public StateStore {
 public:
  // Opens the database and readies its schema at target_version.
  SqliteStateStore(const StateStoreOptions& options, int target_version);

  ClusterRecord AddOrUpdateCluster(const ClusterUpdate& update) override;
  ClusterRecord RecordClusterHandle(const ClusterUpdate& update) override;
  void SetClusterStatus(const std::string& name, ClusterStatus status) override;
  void SetClusterAutostop(const std::string& name, int idle_minutes, bool down) override;
  void SetClusterLastUse(const std::string& name, const std::string& command) override;
  std::optional<ClusterRecord> GetCluster(const std::string& name) override;
  std::vector<ClusterRecord> ListClusters(const ClusterFilter& filter) override;
  bool RemoveCluster(const std::string& name) override;
  std::vector<ClusterHistoryRecord> ListClusterHistory(const HistoryFilter& filter) override;

  RequestRecord CreateRequest(const RequestRecord& request) override;
  std::optional<RequestRecord> UpdateRequest(const std::string& request_id,
                                             const RequestUpdate& update) override;
  std::optional<RequestRecord> GetRequest(const std::string& request_id) override;
  std::vector<RequestRecord> ListRequests(const RequestFilter& filter) override;
  size_t DeleteFinishedRequests(double finished_before_s) override;

  StorageRecord UpsertStorage(const StorageRecord& record) override;
  std::vector<StorageRecord> ListStorage() override;
  bool RemoveStorage(const std::string& name) override;

 private:
  double Now() const;
  int64_t NowSeconds() const;
  std::optional<ClusterRecord> GetClusterLocked(const std::string& name);
  // AddOrUpdateCluster's body, inside a write transaction already begun.
  ClusterRecord UpsertClusterLocked(const ClusterUpdate& update);
  // Runs a cluster SELECT (kSelectCluster + conditions), binding texts then statuses.
  std::vector<ClusterRecord> ListClustersLocked(const std::string& sql,
                                                const std::vector<std::string>& texts,
                                                const std::vector<ClusterStatus>& statuses);
  std::optional<RequestRecord> GetRequestLocked(const std::string& request_id);
  RequestRecord ReadRequest(const Query& query) const;
  void OpenUsageInterval(const std::string& cluster_hash, int64_t now_s);
  void CloseUsageInterval(const std::string& cluster_hash, int64_t now_s);
  // Parses a JSON column; a malformed value is reported as a corrupt database.
  nlohmann::json ParseJson(const std::string& text, std::string_view column) const;

  std::function<double()> clock_;
  std::mutex mutex_;  // one connection: calls are serialised
  Database db_;
};

}  // namespace skycore::state_internal
