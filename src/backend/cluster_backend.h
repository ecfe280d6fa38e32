// The infra-specific half of a cluster's life cycle.
//
// src/sdk/ (launch.cc, lifecycle.cc) owns what every infra shares: the cluster lock, the
// state store, the optimizer's plan and the job protocol with the agent. A
// ClusterBackend owns the rest: where the nodes are, how the agent gets onto
// the head and is reached from here, and how files reach the nodes. A
// cluster's handle (JSON in the state store) names its backend in "infra".
//
// Each infra's backend lives in its folder, src/infra/<name>/, and is made
// through the registry (src/infra/infra.h).
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "infra/descriptor.h"
#include "infra/local/machine.h"
#include "skycore/optimizer.h"
#include "skycore/sdk.h"
#include "skycore/task.h"

namespace skycore::backend {

// What the backends need from the context (nothing global). Nothing here is
// infra-specific: each infra reads its own settings from `options` (the
// configuration object) and the files under its state directory.
struct BackendContext {
  SkyOptions options;
  std::filesystem::path skyletd;  // the agent binary on this machine
  std::string user;               // who launches (labels of Kubernetes pods)
  std::function<const LocalMachine&()> machine;

  const std::filesystem::path& state_dir() const { return options.state_dir; }
};

// What each node of a cluster offers jobs (the shape `CheckFits` compares a
// task against).
struct NodeShape {
  int num_nodes = 1;
  double cpus = 0;
  double memory_gib = 0;
  std::string gpu_name;
  int gpus = 0;
};

// What one node of a new cluster must have.
struct NodeDemand {
  double cpus = 0;        // 0: not asked
  double memory_gib = 0;  // 0: not asked
  std::string gpu_name;
  int gpus = 0;
};

// What one launch learned while failing over, shared by its candidates: a
// cloud's quota refusal blocks the whole region for that instance family,
// so later candidates there are skipped without asking again.
struct FailoverState {
  std::set<std::string> blocked;  // "aws/us-east-1/p4d": infra/region/instance family

  static std::string Key(const std::string& infra, const std::string& region,
                         const std::string& instance_type) {
    return infra + "/" + region + "/" + infra::DescribeInfra(infra).Family(instance_type);
  }
  bool Blocks(const Candidate& candidate) const {
    return !candidate.instance_type.empty() &&
           blocked.count(Key(candidate.infra, candidate.region, candidate.instance_type)) > 0;
  }
};

struct ClusterRequest {
  std::string name;
  int num_nodes = 1;
  NodeDemand demand;
  const Candidate* chosen = nullptr;
  // The task's `config` overrides (`config.kubernetes`, ...) and the image its
  // resources name for the chosen region (`image_id`; empty: the default).
  nlohmann::json task_config;
  std::string image;
  // The handles of every other cluster (what they hold of shared hosts).
  std::vector<nlohmann::json> other_handles;
  // The ports the task opens (a backend refuses early what it cannot open).
  std::vector<int> ports;
  // The task's alternative the candidate pins (disk, labels, spot, ...).
  const Resources* resources = nullptr;
  std::shared_ptr<FailoverState> failover;
};

// Persists an updated handle (the state store's INIT row) before the backend
// acts on what it names, so a `sky down` after a crash finds everything.
using RecordHandle = std::function<void(const nlohmann::json& handle)>;

class ClusterBackend {
 public:
  virtual ~ClusterBackend() = default;

  // The handle of a new cluster: where its nodes will be. Touches nothing;
  // throws ResourcesUnavailableError when the nodes cannot be had.
  virtual nlohmann::json Plan(const ClusterRequest& request) = 0;

  // Brings the nodes and the agent up; idempotent (restarts a stopped or
  // dead agent). May change the handle (a host that does not answer is
  // replaced by a free one), recording it before acting on a new node.
  virtual void Up(nlohmann::json& handle, const std::string& autostop_hook, OutputSink& out,
                  const RecordHandle& record) = 0;

  // Whether the agent runs (a cheap check; false when unknown). By default:
  // it answers a ping through AgentSocket within 5 s.
  virtual bool AgentAlive(const nlohmann::json& handle);

  // A Unix socket on this machine that reaches the agent (setting up the
  // forwarding it needs). ClusterNotUpError saying why when it cannot.
  virtual std::string AgentSocket(const nlohmann::json& handle) = 0;

  virtual NodeShape Shape(const nlohmann::json& handle) const = 0;

  virtual void SyncWorkdir(const nlohmann::json& handle, const Workdir& workdir) = 0;
  virtual void SyncFileMounts(const nlohmann::json& handle,
                              const std::vector<FileMount>& mounts) = 0;
  // Copies the head's directory `remote_dir` (a job's log dir) to `local_dir`.
  virtual void FetchDirectory(const nlohmann::json& handle, const std::string& remote_dir,
                              const std::filesystem::path& local_dir) = 0;

  // Stops the agent and its jobs, keeping the nodes (`sky stop`).
  virtual void Stop(const nlohmann::json& handle) = 0;
  // Removes everything the cluster put on its nodes; idempotent, and safe on
  // the handle of a launch that died half way.
  virtual void Teardown(const nlohmann::json& handle, OutputSink& out) = 0;
  // For `sky status -r`: false when the cluster's nodes are known to be gone.
  virtual bool Exists(const nlohmann::json& handle) = 0;
  // For `sky status -r` of an existing cluster: false when some of its nodes
  // are known to be gone or failed (a worker pod evicted), so an UP cluster
  // reads INIT rather than claim nodes it lacks.
  virtual bool AllNodesPresent(const nlohmann::json& /*handle*/) { return true; }
  // For `sky status -r` of an existing cluster: true when the infra reports
  // every node stopped (a cloud's autostop, or a stop from its console).
  virtual bool AllNodesStopped(const nlohmann::json& /*handle*/) { return false; }
  // What the infra said happened to nodes that went away behind skycore's
  // back ("i-0abc: terminated (Server.SpotInstanceTermination)"); empty
  // when nothing did or the infra does not say.
  virtual std::string LostNodesReason(const nlohmann::json& /*handle*/) { return {}; }
  // Why the infra itself stopped nodes of a cluster whose nodes are all
  // stopped ("vm-1: Spot VM evicted by Azure"); empty when it gives no
  // reason (a stop from its console, or the cluster's own autostop).
  virtual std::string StoppedByInfraReason(const nlohmann::json& /*handle*/) { return {}; }

  // --- health, for callers that follow a cluster (the managed-jobs controller)

  // Blocks until the infra reports that the cluster lost a node, and returns
  // what it reported ("the agent process 123 exited"); nullopt once `stop`
  // fires, and at once where the infra has nothing to watch. A caller learns
  // of a loss sooner this way than from the agent's log stream breaking,
  // which stays the fallback for every infra. By default: nothing to watch.
  virtual std::optional<std::string> WaitForLoss(const nlohmann::json& handle,
                                                 const CancelToken& stop) {
    (void)handle, (void)stop;
    return std::nullopt;
  }

  // Whether the agent can stop or tear down the cluster by itself when idle
  // (`autostop`); where it cannot, asking for it is a NotSupportedError.
  virtual bool SupportsAutostop() const { return false; }
  // Whether the nodes can be stopped and kept (a cloud that can only
  // terminate, like Lambda, cannot): where they cannot, `sky stop` and an
  // autostop without --down are refused.
  virtual bool SupportsStop() const { return true; }

  // A launch of `handle` died before the cluster was ever UP; a new launch of
  // the same name is about to plan. By default what the dead launch made is
  // removed first (the new one may go elsewhere).
  virtual void CleanUpInterruptedLaunch(const nlohmann::json& handle, OutputSink& out) {
    Teardown(handle, out);
  }
  // The new launch's `handle` (planned by this backend) may take over what the
  // interrupted launch's `previous` handle left running.
  virtual void AdoptInterruptedLaunch(nlohmann::json& handle, const nlohmann::json& previous) {
    (void)handle, (void)previous;
  }

  // How `sky status` shows the nodes, in SkyPilot's resources config form.
  virtual nlohmann::json LaunchedResources(const nlohmann::json& handle, const Candidate& chosen,
                                           const Task& task) const = 0;
  // "on this machine", "on SSH node pool 'gpus'": for progress lines.
  virtual std::string Where(const nlohmann::json& handle) const = 0;

  // --- ports (`resources.ports`, `sky status --endpoints`)

  // Makes `ports` of the head reachable from outside the cluster where the
  // infra needs an object for it (a Kubernetes Service); idempotent, and
  // replaces what an earlier call opened. Hosts' ports need nothing.
  virtual void OpenPorts(nlohmann::json& handle, const std::vector<int>& ports, OutputSink& out) {
    (void)handle, (void)ports, (void)out;
  }
  // Where each of `ports` (open on the cluster's head) is reached from here.
  virtual std::map<int, PortEndpoint> Endpoints(const nlohmann::json& handle,
                                                const std::vector<int>& ports) = 0;
};

// The ports a launched-resources config opens ("ports": 8080, "8080-8090" or
// a list of those), each once, in order; ranges are capped at 1000 ports.
std::vector<int> OpenPortsOf(const nlohmann::json& launched_resources);
// `launched_resources` with the ports `task`'s chosen alternative opens
// added to those it had (a relaunch that asks for more ports).
void MergePorts(nlohmann::json& launched_resources, const Task& task);
// `ports` at `host` ("[host]:port" for an IPv6 address); with no host, each
// says `missing` instead.
std::map<int, PortEndpoint> HostEndpoints(const std::string& host, const std::vector<int>& ports,
                                          const std::string& missing);

// Adds the ports the task's chosen alternative opens (for `sky status
// --endpoints`) to a launched-resources config.
void AddPorts(nlohmann::json& config, const Candidate& chosen, const Task& task);

// The node shape a remote cluster's handle records ("num_nodes",
// "cpus_per_node", "memory_gib_per_node", "accelerator", "gpus_per_node").
NodeShape ShapeFromHandle(const nlohmann::json& handle);

// What `sky status` shows of a cluster of `shape` nodes on `infra`
// ("ssh/lab", "k8s/ctx", ...): cpus, memory, accelerators and the task's ports.
nlohmann::json LaunchedResourcesOf(const std::string& infra, const NodeShape& shape,
                                   const Candidate& chosen, const Task& task);

// The backend of a handle (by its "infra"); InternalError for an unknown one.
std::unique_ptr<ClusterBackend> BackendForHandle(const nlohmann::json& handle,
                                                 const BackendContext& context);
// The backend that launches on `infra` (a name or alias); NotSupportedError
// naming what does work for an infra skycore cannot launch on yet.
// (`region` is where the optimizer chose; no infra needs it yet.)
std::unique_ptr<ClusterBackend> BackendForInfra(const std::string& infra, const std::string& region,
                                                const BackendContext& context);

}  // namespace skycore::backend
