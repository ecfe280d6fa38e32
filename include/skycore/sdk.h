// skycore/sdk.h — the one entry point of the `sky` CLI, the Python SDK and
// C++ tools: launch a task, run more jobs on a cluster, watch and manage it.
//
// A `Sky` object is the explicit context of every call: where state lives
// (the SQLite state store, cluster directories, locks), the catalog, which
// infras are enabled and where skycore's executables are. Nothing is global;
// two Sky objects with different state dirs are independent.
//
// Every operation exists twice:
//   - blocking methods (Launch, Exec, Status, ...), for the CLI and C++ users;
//   - requests: Submit("launch", body) returns a request id at once and runs
//     the operation on the context's worker pool; Get(id) waits for the result,
//     StreamAndGet(id) also streams the request's output, ApiCancel(id) cancels
//     it. Requests are recorded in the state store (as SkyPilot's API server
//     does) with their arguments, status, result or error.
//
// Clusters behave as SkyPilot's: `Launch` of a new name provisions (INIT →
// UP), of an UP cluster reuses it (its resources must fit the task), of a
// STOPPED one starts it; a per-cluster lock serialises launches, stops, starts
// and downs of one cluster across processes.
//
// Infras: "local" (this machine; `num_nodes: N` gives N nodes, each with its
// own directory and a share of the machine) is always enabled. "ssh" (SSH node
// pools) is enabled once `Check` found a ready host; its hosts enter the
// catalog, but launching on them is not supported yet. A task pinned
// to an infra that is not enabled fails with ResourcesUnavailableError naming
// the enabled infras.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "skycore/agent.h"
#include "skycore/catalog.h"
#include "skycore/dag.h"
#include "skycore/optimizer.h"
#include "skycore/state.h"

namespace skycore {

// Where a call's output goes: job logs and messages as they come, and the
// steps of long work (for a spinner on a terminal, plain lines elsewhere).
// Called from the thread running the operation.
class OutputSink {
 public:
  virtual ~OutputSink() = default;
  // Text to show as is (job output, messages); may be partial lines.
  virtual void Write(std::string_view text) = 0;
  // A long step begins ("Launching the agent"); the previous one is done.
  virtual void Step(std::string_view name) { Write(std::string(name) + "\n"); }
  // The current step is done.
  virtual void StepDone() {}
};

// Discards everything.
class NullSink : public OutputSink {
 public:
  void Write(std::string_view) override {}
  void Step(std::string_view) override {}
};

// A cancellation flag shared between a caller and an operation. Operations
// check it between steps and while waiting; a cancelled operation throws
// CancelledError. Copies share the flag.
class CancelToken {
 public:
  CancelToken() : flag_(std::make_shared<std::atomic<bool>>(false)) {}
  void Cancel() noexcept { flag_->store(true); }
  bool cancelled() const noexcept { return flag_->load(); }
  // Throws CancelledError naming `what` when cancelled.
  void ThrowIfCancelled(std::string_view what) const;

 private:
  std::shared_ptr<std::atomic<bool>> flag_;
};

struct SkyOptions {
  // Root of skycore's state: state.db, clusters/, locks/, catalogs/.
  std::filesystem::path state_dir;
  CatalogPaths catalog_paths;
  // Directory holding the `skyletd` (and `sky`) executables. Empty: beside the
  // running executable, then beside the loaded library, then $PATH.
  std::filesystem::path bin_dir;
  // Threads running submitted requests.
  size_t request_workers = 4;
  // SSH node pools (`<state_dir>/ssh_node_pools.yaml`): the SSH client config
  // that resolves host aliases, and where shared SSH connections keep their
  // sockets (empty: a private directory under /tmp).
  std::filesystem::path ssh_config;
  std::filesystem::path ssh_control_dir;
  // Kubernetes: the kubeconfig files kubectl would read, merged first-wins.
  std::vector<std::filesystem::path> kubeconfig_paths;
  // Slurm: the SSH-config-style file naming each cluster's login node
  // (SkyPilot's ~/.slurm/config).
  std::filesystem::path slurm_config;

  using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
  // state_dir from $SKYCORE_STATE_DIR (else $HOME/.sky), catalog paths from
  // the environment, bin_dir from $SKYCORE_BIN_DIR when set, ssh_config from
  // $SKYCORE_SSH_CONFIG (else $HOME/.ssh/config), ssh_control_dir from
  // $SKYCORE_SSH_CONTROL_DIR, kubeconfig_paths from $KUBECONFIG (else
  // $HOME/.kube/config), slurm_config from $SKYCORE_SLURM_CONFIG (else
  // $HOME/.slurm/config).
  static SkyOptions FromEnvironment(const EnvLookup& lookup);
};

struct LaunchOptions {
  std::string cluster_name;  // empty: a generated "sky-xxxx-<user>" name
  bool dryrun = false;       // optimize and show the plan; launch nothing
  bool detach_run = false;   // submit the job and return without streaming logs
  bool retry_until_up = false;
  std::optional<int> idle_minutes_to_autostop;
  bool down = false;      // autostop tears down instead of stopping
  bool fast = false;      // an UP cluster: skip workdir/file_mounts sync and setup
  bool no_setup = false;  // skip setup even on a new cluster
  OptimizeTarget target = OptimizeTarget::kCost;
  std::string command_line;  // recorded as the cluster's last use
};

struct ExecOptions {
  std::string cluster_name;  // required
  bool detach_run = false;
  std::string command_line;
};

// What Launch and Exec return.
struct JobResult {
  std::optional<int64_t> job_id;  // nullopt: the task had nothing to run
  ClusterRecord cluster;          // as recorded after the call
  // When the logs were followed (not detached) and the job finished: its final
  // status and exit code (SkyPilot's `sky launch` exits with it).
  std::optional<JobStatus> final_status;
  int exit_code = 0;
  std::optional<Plan> plan;  // Launch of a new cluster (and dryrun): the optimizer's plan
};

// One row of `sky cost-report`.
struct CostReportRow {
  ClusterHistoryRecord history;
  double hourly_price = 0;  // per node
  double total_cost = 0;    // duration × hourly price × nodes
};

// One infra in `sky check`.
struct InfraCheck {
  std::string infra;  // "local", "aws", ...
  bool enabled = false;
  std::string reason;  // why not enabled, or what was found ("2 CPUs, 23 GiB, no GPUs")
};

// One host in `sky ssh up` / `sky ssh down`.
struct SshHostReport {
  std::string pool;
  std::string host;  // as the pools file names it
  bool ok = false;
  std::string detail;  // what was done there, or what went wrong
};

// Where one open port of a cluster is reached (`sky status --endpoints`).
struct PortEndpoint {
  std::string address;  // "host:port"; empty while the infra has none yet
  std::string note;     // why there is none yet, or who can reach the address
};

class Sky {
 public:
  explicit Sky(SkyOptions options);
  ~Sky();
  Sky(const Sky&) = delete;
  Sky& operator=(const Sky&) = delete;

  const SkyOptions& options() const noexcept { return options_; }
  StateStore& state();
  // The catalog: built-in and refreshed catalogs plus this machine's "local"
  // offering. Loaded on first use; shared, immutable.
  std::shared_ptr<const Catalog> catalog();
  // Infras that may be used: "local" plus those `sky check` enables ("ssh"
  // from the cached inventory; nothing is probed here).
  std::vector<std::string> enabled_infras();

  // ---------------------------------------------------------------- blocking
  // Optimizes (new cluster), provisions, syncs workdir and file_mounts, runs
  // setup and submits `run` as a job; follows its logs unless detached.
  // ClusterNotUpError, ResourcesMismatchError (the task does not fit an
  // existing cluster), ResourcesUnavailableError, CancelledError.
  JobResult Launch(const Dag& dag, const LaunchOptions& options, OutputSink& out,
                   const CancelToken& cancel = {});
  // Runs the task as a job on an UP cluster (workdir is synced; no setup).
  // ClusterDoesNotExist, ClusterNotUpError, ResourcesMismatchError.
  JobResult Exec(const Dag& dag, const ExecOptions& options, OutputSink& out,
                 const CancelToken& cancel = {});

  // Clusters matching the names/globs (empty: all). With `refresh`, each one's
  // real state is checked first and its row repaired (an agent that died makes
  // the cluster INIT; a cluster whose nodes are gone is removed).
  std::vector<ClusterRecord> Status(const std::vector<std::string>& names = {},
                                    bool refresh = false);
  // Jobs of an UP cluster, newest first; `all` includes finished ones.
  std::vector<JobRecord> Queue(const std::string& cluster, bool all = true);
  // The given jobs (empty: the latest).
  std::vector<JobRecord> JobStatuses(const std::string& cluster,
                                     const std::vector<int64_t>& job_ids = {});
  // Cancels the given jobs, or all unfinished ones with `all`; returns the ids
  // cancelled. Neither ids nor `all`: the latest job.
  std::vector<int64_t> Cancel(const std::string& cluster, const std::vector<int64_t>& job_ids,
                              bool all = false);
  // Streams a job's output (nullopt: the latest job). With `follow`, until the
  // job finishes. Returns the job's status at the end.
  JobStatus TailLogs(const std::string& cluster, std::optional<int64_t> job_id, bool follow,
                     OutputSink& out, const CancelToken& cancel = {});
  // Copies a job's log directory to `<local_dir>/<run_timestamp>/` (local_dir
  // empty: ~/sky_logs/<cluster>); returns that directory.
  std::filesystem::path DownloadLogs(const std::string& cluster, std::optional<int64_t> job_id,
                                     const std::filesystem::path& local_dir = {});
  // Stops (jobs are killed; disks and the job table stay), starts, or tears
  // down a cluster. `purge`: remove the record even when cleanup fails.
  void Stop(const std::string& cluster, OutputSink& out);
  ClusterRecord Start(const std::string& cluster, OutputSink& out,
                      std::optional<int> idle_minutes_to_autostop = std::nullopt,
                      bool down = false);
  void Down(const std::string& cluster, OutputSink& out, bool purge = false);

  // The buckets of task storage objects (`sky storage ls`), by name.
  std::vector<StorageRecord> StorageLs();
  // Deletes a storage object's bucket with its objects, then its record
  // (`sky storage delete`); a bucket already gone only loses its record.
  // InvalidTaskError naming the known names when there is no such record.
  void StorageDelete(const std::string& name, OutputSink& out);
  // idle_minutes < 0 cancels autostop.
  void Autostop(const std::string& cluster, int idle_minutes, bool down,
                const std::string& wait_for = "jobs");
  std::vector<CostReportRow> CostReport(std::optional<int> days = std::nullopt);
  // Which infras are enabled, and why not (all of them when `infras` is empty).
  // Checking "ssh" probes every host of the node pools over SSH, in parallel,
  // and caches what they have (`<state_dir>/ssh/inventory.json`), which the
  // catalog and enabled_infras() read. Throws InvalidSkyPilotConfigError for a
  // malformed pools file, InvalidTaskError for an unknown infra name.
  std::vector<InfraCheck> Check(const std::vector<std::string>& infras = {});
  // `sky ssh up`: probes the hosts of every SSH node pool (or of `pool`),
  // caches their inventory as `sky check ssh` does, and installs the agent
  // on each ready host. InvalidTaskError (with close matches) for an unknown
  // pool.
  std::vector<SshHostReport> SshUp(const std::string& pool = "");
  // `sky ssh down`: removes everything skycore put on the hosts of every
  // pool (or of `pool`). Refuses (NotSupportedError naming them) while
  // clusters run there: `sky down` them first.
  std::vector<SshHostReport> SshDown(const std::string& pool = "");
  // Open ports of an UP cluster → "host:port" where each is reached from
  // here: 127.0.0.1 on the local infra, the head host's address on SSH node
  // pools and Slurm, a Kubernetes LoadBalancer's address (or the head pod's
  // IP with `kubernetes.ports: podip`). Ports whose address is not known yet
  // (a load balancer still pending) are left out; asking for such a `port`
  // throws ClusterNotUpError saying why. InvalidTaskError for a port the
  // cluster does not open.
  std::map<int, std::string> Endpoints(const std::string& cluster,
                                       std::optional<int> port = std::nullopt);
  // Every open port (or `port`) with its address or why it has none yet.
  std::map<int, PortEndpoint> EndpointDetails(const std::string& cluster,
                                              std::optional<int> port = std::nullopt);

  // ---------------------------------------------------------------- requests
  // Queues an operation by name with JSON arguments, as SkyPilot's SDK sends
  // them: "launch" {"task": <task or dag config>, "cluster_name", "dryrun",
  // "detach_run", "idle_minutes_to_autostop", "down", "fast", "retry_until_up",
  // "no_setup", "optimize_target" ("COST"/"TIME")}; "exec" {"task",
  // "cluster_name", "detach_run", "dryrun" (check the cluster, run nothing),
  // "down" (autodown once its jobs end)}; "optimize" {"task", "minimize"}
  // (the plan: chosen and failover placements, costs, table); "status"
  // {"cluster_names", "refresh"}; "queue" {"cluster_name", "all_users"/"skip_finished"};
  // "job_status" {"cluster_name", "job_ids"}; "cancel" {"cluster_name",
  // "job_ids", "all"}; "tail_logs" {"cluster_name", "job_id", "follow"};
  // "download_logs" {"cluster_name", "job_ids"}; "stop"/"start"/"down"
  // {"cluster_name", "purge", "idle_minutes_to_autostop", "down"}; "autostop"
  // {"cluster_name", "idle_minutes", "down", "wait_for"}; "cost_report" {"days"};
  // "check" {"infras"}; "endpoints" {"cluster", "port"}. InvalidTaskError for
  // an unknown name or a malformed body (before anything is queued).
  std::string Submit(const std::string& name, const nlohmann::json& body);
  // Waits for the request and returns its result (JSON), or throws its error
  // as the typed exception it was. `timeout_s` < 0 waits forever.
  nlohmann::json Get(const std::string& request_id, double timeout_s = -1);
  // Like Get, writing the request's output to `out` as it comes.
  nlohmann::json StreamAndGet(const std::string& request_id, OutputSink& out);
  // Cancels a pending or running request (a running launch stops at its next
  // step; a followed log stops at once). Returns false when it had finished.
  bool ApiCancel(const std::string& request_id);
  // True when the request has finished (Get would not wait).
  bool RequestDone(const std::string& request_id);

 private:
  class Impl;
  friend class ClusterOps;
  SkyOptions options_;
  std::unique_ptr<Impl> impl_;
};

// JSON forms used in request results (and by the bindings).
nlohmann::json ClusterRecordToJson(const ClusterRecord& record);
nlohmann::json JobRecordToJson(const JobRecord& record);
// "2x(cpus=4, mem=16, accelerators=H100:1)" from a cluster's launched resources.
std::string ResourcesDisplay(int num_nodes, const nlohmann::json& launched_resources);

}  // namespace skycore
