// Internals of skycore::Sky shared by its source files.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "backend/cluster_backend.h"
#include "backend/local_machine.h"
#include "skycore/sdk.h"
#include "slurm/inventory.h"
#include "ssh/node_pools.h"

namespace skycore {

// One submitted request: its output so far and, once done, its result.
struct RequestState {
  std::string id;
  std::string name;
  std::mutex mutex;
  std::condition_variable changed;
  std::string output;
  bool done = false;
  nlohmann::json result;
  std::exception_ptr error;
  CancelToken cancel;
};

class Sky::Impl {
 public:
  explicit Impl(const SkyOptions& options) : options_(options) {}
  ~Impl();

  StateStore& state();
  std::shared_ptr<const Catalog> catalog();
  const backend::LocalMachine& machine();
  std::filesystem::path FindProgram(const std::string& name);
  // What the cluster backends need from the context (src/sdk/lifecycle.cc).
  backend::BackendContext MakeBackendContext();
  // The next catalog() is built anew (after `sky check` re-probed SSH pools).
  void InvalidateCatalog();

  // Requests.
  std::shared_ptr<RequestState> NewRequest(const std::string& name);
  std::shared_ptr<RequestState> FindRequest(const std::string& id);
  void Enqueue(std::function<void()> work);

 private:
  void WorkerLoop();

  const SkyOptions& options_;
  std::mutex mutex_;
  std::unique_ptr<StateStore> state_;
  std::shared_ptr<const Catalog> catalog_;
  std::optional<backend::LocalMachine> machine_;

  std::mutex requests_mutex_;
  std::map<std::string, std::shared_ptr<RequestState>> requests_;
  std::deque<std::function<void()>> queue_;
  std::condition_variable queue_changed_;
  std::vector<std::thread> workers_;
  bool stopping_ = false;
};

// `sky check ssh` (src/sdk/ssh_pools.cc): probes every host of the SSH node
// pools and caches the inventory that ssh::CachedPoolsCatalogCsv reads.
InfraCheck CheckSshPools(const SkyOptions& options);

// The pools of the pools file that `ssh.allowed_node_pools` of the config
// allows (all when it is not set); `excluded` (optional) gets the others.
std::vector<ssh::NodePool> LoadAllowedPools(const SkyOptions& options,
                                            std::vector<std::string>* excluded);

// `sky check slurm` (src/sdk/slurm_check.cc): runs sinfo on every configured
// cluster's login node and caches the inventory that slurm::CachedCatalogCsv reads.
InfraCheck CheckSlurm(const SkyOptions& options);

// The Slurm clusters to use (~/.slurm/config, narrowed by
// slurm.allowed_clusters, and to `only_cluster` unless empty), asked now.
// `problems`: allowed clusters that no Host block defines. Throws
// InvalidSkyPilotConfigError when no cluster is left to ask; a cluster that
// fails is reported in its inventory's `error`, not thrown.
struct SlurmProbe {
  slurm::Inventory inventory;
  std::vector<std::string> problems;
};
SlurmProbe ProbeSlurm(const SkyOptions& options, const std::string& only_cluster);

// How skycore reaches a Slurm login node: known_hosts under the state
// directory, shared connections (`connect_timeout_s` and `max_attempts` are
// the probe's; a longer operation may raise them).
ssh::RunnerOptions SlurmRunnerOptions(const SkyOptions& options);

// `sky check kubernetes` (src/sdk/kubernetes_check.cc): reads the kubeconfig,
// takes the current context's inventory and caches it for the catalog.
InfraCheck CheckKubernetes(const SkyOptions& options);

// The work of a request named `name` with arguments `body`, validated now
// (InvalidTaskError for an unknown name or a malformed body).
using RequestWork = std::function<nlohmann::json(OutputSink&, const CancelToken&)>;
RequestWork BindRequest(Sky& sky, const std::string& name, const nlohmann::json& body);

// The body as recorded in the state store: a task's secrets are redacted.
nlohmann::json RedactedRequestBody(const nlohmann::json& body);

}  // namespace skycore
