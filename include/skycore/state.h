// skycore/state.h — the state store: clusters, their cost history, requests.
//
// Everything skycore remembers between `sky` invocations lives behind the
// StateStore interface. The embedded default is one SQLite database at
// `<state_dir>/state.db` (state_dir: $SKYCORE_STATE_DIR, else $HOME/.sky):
//   - WAL journal and a busy timeout, so many `sky` processes can read and
//     write at once; every state change is one IMMEDIATE transaction, so a
//     change is all-or-nothing and no "database is locked" error escapes
//     before the busy timeout runs out.
//   - a `schema_version` table and forward migrations. A database written by a
//     newer skycore, a corrupt file, or a file that skycore did not create is
//     reported as StateError and never modified, moved or deleted.
//
// The semantics follow SkyPilot's global user state:
//   - a cluster is recorded (INIT) before provisioning starts, so a crash
//     mid-launch leaves a row that `sky status -r` can reconcile;
//   - every cluster carries a unique cluster_hash for its lifetime; its usage is
//     a list of intervals [start, end): an interval opens when the cluster
//     enters INIT/UP from nothing or from STOPPED, and closes when it is
//     STOPPED or removed. cluster_history keeps these after the cluster is
//     gone, for `sky cost-report`;
//   - requests (one per SDK call) move PENDING → RUNNING → SUCCEEDED, FAILED
//     or CANCELLED; a finished request never changes status again.
//
// ClusterLock serialises operations on one cluster across processes (an flock
// on `<state_dir>/locks/<cluster>.lock`).
//
// Thread-safety: a StateStore may be used from many threads (calls are
// serialised on its connection). It must not be used across fork(): a child
// opens its own. Times are Unix seconds from the store's clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "skycore/error.h"

namespace skycore {

// ------------------------------------------------------------------ clusters

enum class ClusterStatus { kInit, kUp, kStopped };

// "INIT", "UP", "STOPPED" — the names stored and shown, as in SkyPilot.
const char* ClusterStatusName(ClusterStatus status) noexcept;
// The inverse of ClusterStatusName; nullopt for any other text.
std::optional<ClusterStatus> ParseClusterStatus(std::string_view name) noexcept;

// One row of `sky status`.
struct ClusterRecord {
  std::string name;
  ClusterStatus status = ClusterStatus::kInit;
  // Unique for this cluster's lifetime (a relaunch after `sky down` gets a new
  // one); keys its cluster_history row.
  std::string cluster_hash;
  nlohmann::json handle;              // the backend's opaque handle (JSON object or null)
  nlohmann::json launched_resources;  // the Resources actually launched (JSON)
  int num_nodes = 1;
  // Autostop: idle minutes before stopping (or tearing down when
  // autostop_down); a negative value means autostop is off.
  int autostop_idle_minutes = -1;
  bool autostop_down = false;
  int64_t launched_at_s = 0;  // when the cluster was last launched
  int64_t status_updated_at_s = 0;
  std::string last_use;  // the command that last used it, e.g. "sky exec dev ..."
  std::string owner;     // who launched it (user name or hash)
  bool ever_up = false;  // was it ever UP (failover may delete never-UP clusters)
};

// What AddOrUpdateCluster records.
struct ClusterUpdate {
  std::string name;  // required, non-empty
  // false: the cluster is being provisioned (INIT); true: it is ready (UP).
  bool ready = false;
  nlohmann::json handle;
  nlohmann::json launched_resources;
  int num_nodes = 1;
  // true for `sky launch`/`sky start`: launched_at and last_use are refreshed.
  // false (e.g. a status refresh): the existing values are kept.
  bool is_launch = true;
  std::string last_use;  // the command line, when is_launch
  std::string owner;     // kept from the first insert; later values are ignored
};

// A filter for ListClusters.
struct ClusterFilter {
  // Names or glob patterns (`*`, `?`, `[...]`, case-sensitive, as in
  // `sky down 'dev-*'`); a cluster is listed when it matches any. Empty: all.
  std::vector<std::string> name_patterns;
  // Only these statuses. Empty: any.
  std::vector<ClusterStatus> statuses;
};

// ------------------------------------------------------------- cost history

// One period a cluster was INIT or UP. end_s is nullopt while it still is.
struct UsageInterval {
  int64_t start_s = 0;
  std::optional<int64_t> end_s;
};

// One cluster lifetime, for `sky cost-report`. Cost is the caller's to
// compute: duration_s(now) / 3600 * hourly price of launched_resources * num_nodes.
struct ClusterHistoryRecord {
  std::string cluster_hash;
  std::string name;
  int num_nodes = 1;
  nlohmann::json launched_resources;
  std::string owner;
  std::vector<UsageInterval> usage_intervals;  // oldest first
  // The cluster's current status when it still exists; nullopt once removed.
  std::optional<ClusterStatus> status;

  // First start, or 0 when there is no interval.
  int64_t launched_at_s() const noexcept;
  // Sum of the intervals; an open interval counts up to now_s.
  int64_t duration_s(int64_t now_s) const noexcept;
};

struct HistoryFilter {
  // Only lifetimes that were in use at or after this time (e.g. now - 30 days
  // for `sky cost-report --days 30`). nullopt: all.
  std::optional<int64_t> used_since_s;
  // Names or glob patterns, as in ClusterFilter. Empty: all.
  std::vector<std::string> name_patterns;
};

// ----------------------------------------------------------------- requests

enum class RequestStatus { kPending, kRunning, kSucceeded, kFailed, kCancelled };

// "PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED".
const char* RequestStatusName(RequestStatus status) noexcept;
std::optional<RequestStatus> ParseRequestStatus(std::string_view name) noexcept;
// SUCCEEDED, FAILED and CANCELLED are final.
bool IsFinished(RequestStatus status) noexcept;

// An SDK call recorded in the store (`sky api status`).
struct RequestRecord {
  std::string request_id;
  std::string name;          // "launch", "exec", "status", ...
  std::string cluster_name;  // the cluster it acts on; empty when none
  std::string user;
  nlohmann::json body;  // the call's arguments
  RequestStatus status = RequestStatus::kPending;
  std::string status_msg;  // why it is in this status, e.g. "waiting for lock"
  double created_at_s = 0;
  std::optional<double> finished_at_s;  // set when it becomes finished
  std::optional<int> pid;               // the process running it
  nlohmann::json return_value;          // null until SUCCEEDED
  // null, or {"type": "ClusterNotUpError", "code": "ClusterNotUp", "message": ...}
  nlohmann::json error;
};

// Builds RequestRecord::error from a skycore::Error ("type" is the Python
// class name of sky.exceptions, chosen by the caller, e.g. "ClusterNotUpError").
nlohmann::json RequestErrorJson(const Error& error, std::string_view type);

// A partial update: nullopt fields are left unchanged.
struct RequestUpdate {
  std::optional<RequestStatus> status;
  std::optional<std::string> status_msg;
  std::optional<int> pid;
  std::optional<nlohmann::json> return_value;
  std::optional<nlohmann::json> error;
};

struct RequestFilter {
  std::vector<RequestStatus> statuses;  // empty: any
  std::string cluster_name;             // empty: any
  size_t limit = 0;                     // 0: no limit; newest first
};

// ------------------------------------------------------------------- the store

// A bucket skycore made or uploaded to for a task's storage object, as
// `sky storage ls` lists it (SkyPilot's `storage` table).
struct StorageRecord {
  std::string name;    // the bucket
  std::string store;   // "S3"
  std::string source;  // the local directory uploaded, or the bucket's URI
  bool persistent = true;
  std::string status = "READY";  // SkyPilot's: INIT, INIT_FAILED, UPLOAD_FAILED, READY
  // The cluster whose launch used it: `sky down` of that cluster deletes a
  // bucket that is not persistent.
  std::string cluster_name;
  std::string last_use;   // the command that used it last
  double created_at = 0;  // Unix seconds; kept when the record is updated
  double updated_at = 0;
};

class StateStore {
 public:
  virtual ~StateStore() = default;

  // Records the cluster as INIT (ready=false) or UP (ready=true), creating it
  // or updating handle, launched_resources and num_nodes. A new cluster gets a
  // fresh cluster_hash and opens a usage interval; an existing one keeps its
  // hash, owner and (unless is_launch) launched_at and last_use. Relaunching a
  // STOPPED cluster opens a new usage interval and clears its autostop (as
  // SkyPilot does). Returns the record as stored. One transaction.
  virtual ClusterRecord AddOrUpdateCluster(const ClusterUpdate& update) = 0;

  // Persists the handle a backend recorded while bringing the cluster up,
  // before it acts on what the handle names (ready and is_launch are
  // ignored). On a cluster that is not STOPPED, a handle, launched_resources
  // and num_nodes equal to the stored ones change nothing: a relaunch that
  // only confirms a cluster's nodes and agent leaves an UP cluster UP, so
  // concurrent `sky exec` and `sky status` never see a healthy cluster as
  // INIT. Anything else is stored as by AddOrUpdateCluster with ready=false
  // and is_launch=false: the cluster is INIT until its launch records it UP
  // (or, if the launch fails, until a later launch or `sky status -r` does).
  // Returns the record as stored. One transaction.
  virtual ClusterRecord RecordClusterHandle(const ClusterUpdate& update) = 0;

  // Sets the status. Entering STOPPED closes the open usage interval; leaving
  // STOPPED opens one. Throws ClusterDoesNotExist when there is no such cluster.
  virtual void SetClusterStatus(const std::string& name, ClusterStatus status) = 0;

  // Sets autostop (idle_minutes < 0 turns it off). Throws ClusterDoesNotExist.
  virtual void SetClusterAutostop(const std::string& name, int idle_minutes, bool down) = 0;

  // Records the command that last used the cluster. Throws ClusterDoesNotExist.
  virtual void SetClusterLastUse(const std::string& name, const std::string& command) = 0;

  // The cluster, or nullopt when there is none of that name.
  virtual std::optional<ClusterRecord> GetCluster(const std::string& name) = 0;

  // Clusters matching the filter, most recently launched first (then by name).
  virtual std::vector<ClusterRecord> ListClusters(const ClusterFilter& filter = {}) = 0;

  // Deletes the cluster (`sky down`), closing its usage interval; its
  // cluster_history row stays for `sky cost-report`. Returns false when there
  // was no such cluster. One transaction.
  virtual bool RemoveCluster(const std::string& name) = 0;

  // Cluster lifetimes (current and removed), most recently launched first.
  virtual std::vector<ClusterHistoryRecord> ListClusterHistory(
      const HistoryFilter& filter = {}) = 0;

  // Records a new request. request_id must be unique (StateError otherwise);
  // status, created_at_s and finished_at_s are set by the store (PENDING, now,
  // none) whatever the record says. Returns the record as stored.
  virtual RequestRecord CreateRequest(const RequestRecord& request) = 0;

  // Applies the update in one transaction and returns the record after it, or
  // nullopt when there is no such request. Entering a finished status sets
  // finished_at_s. A finished request is never changed: the update is ignored
  // and the stored record returned, so a cancel that races with completion
  // cannot overwrite the result (compare the returned status).
  virtual std::optional<RequestRecord> UpdateRequest(const std::string& request_id,
                                                     const RequestUpdate& update) = 0;

  virtual std::optional<RequestRecord> GetRequest(const std::string& request_id) = 0;

  // Requests matching the filter, newest first.
  virtual std::vector<RequestRecord> ListRequests(const RequestFilter& filter = {}) = 0;

  // Deletes finished requests that finished before the given time. Returns how
  // many were deleted.
  virtual size_t DeleteFinishedRequests(double finished_before_s) = 0;

  // Storage (buckets of storage objects). Upsert keeps an existing record's
  // created_at; timestamps are set by the store.
  virtual StorageRecord UpsertStorage(const StorageRecord& record) = 0;
  // By name.
  virtual std::vector<StorageRecord> ListStorage() = 0;
  virtual bool RemoveStorage(const std::string& name) = 0;
};

// How to open the SQLite store.
struct StateStoreOptions {
  // The root of skycore's state; created (with parents) if missing.
  std::filesystem::path state_dir;
  // How long one state change waits for other processes' transactions before
  // failing with StateError.
  std::chrono::milliseconds busy_timeout{30'000};
  // Unix time in seconds; defaults to the system clock. Tests inject a fake.
  std::function<double()> clock;

  using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
  // $SKYCORE_STATE_DIR, else $HOME/.sky (the same rule as the catalog);
  // empty when neither is set.
  static std::filesystem::path DefaultStateDir(const EnvLookup& lookup);
};

// The schema version this build writes and understands.
int CurrentStateSchemaVersion() noexcept;

// Opens (creating or migrating forward) `<state_dir>/state.db`.
// Throws StateError when the database is corrupt, from a newer schema, or not
// skycore's; IoError when the directory cannot be created. Never modifies a
// database it rejects.
std::unique_ptr<StateStore> OpenSqliteStateStore(const StateStoreOptions& options);

// --------------------------------------------------------------- cluster lock

// Thrown when a ClusterLock could not be taken in time. A StateError, so the
// bindings map it to sky.exceptions' class for kState.
class ClusterLockTimeoutError : public StateError {
 public:
  ClusterLockTimeoutError(std::string cluster, std::optional<int> holder_pid, std::string message)
      : StateError(std::move(message)), cluster_(std::move(cluster)), holder_pid_(holder_pid) {}
  const std::string& cluster() const noexcept { return cluster_; }
  // The pid that held the lock when we gave up, when it could be read.
  std::optional<int> holder_pid() const noexcept { return holder_pid_; }

 private:
  std::string cluster_;
  std::optional<int> holder_pid_;
};

// An exclusive, cross-process lock on one cluster (RAII): an flock on
// `<state_dir>/locks/<cluster>.lock`, which holds the holder's pid for error
// messages. The kernel releases it when the holder exits or is killed, so a
// crashed `sky` never leaves a cluster locked. Two ClusterLocks on the same
// cluster exclude each other even within one process. The lock file is not
// closed on exec; a child forked while the lock is held shares it until it
// exits or closes it. Movable, not copyable.
class ClusterLock {
 public:
  // Takes the lock, polling until timeout (0: one try). Throws
  // ClusterLockTimeoutError naming the cluster and holder pid when the lock is
  // still held at the deadline; IoError when the lock file cannot be opened.
  static ClusterLock Acquire(const std::filesystem::path& state_dir, const std::string& cluster,
                             std::chrono::milliseconds timeout);
  // One try: nullopt when another holder has it.
  static std::optional<ClusterLock> TryAcquire(const std::filesystem::path& state_dir,
                                               const std::string& cluster);

  ClusterLock(ClusterLock&& other) noexcept;
  ClusterLock& operator=(ClusterLock&& other) noexcept;
  ClusterLock(const ClusterLock&) = delete;
  ClusterLock& operator=(const ClusterLock&) = delete;
  ~ClusterLock();

  // Releases early; the destructor then does nothing.
  void Release() noexcept;
  const std::string& cluster() const noexcept { return cluster_; }

  // The lock file's path for a cluster (names with characters outside
  // [A-Za-z0-9._-] are percent-encoded).
  static std::filesystem::path LockPath(const std::filesystem::path& state_dir,
                                        const std::string& cluster);

 private:
  ClusterLock(int fd, std::string cluster) : fd_(fd), cluster_(std::move(cluster)) {}
  int fd_ = -1;
  std::string cluster_;
};

}  // namespace skycore
