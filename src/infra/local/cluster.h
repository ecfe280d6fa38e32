// The local infra's clusters: a directory per cluster under the state dir,
// one subdirectory per node, and a skyletd daemon that runs the jobs.
//
//   <state_dir>/clusters/<name>/
//     nodes.json     the agent's node spec
//     agent/         the agent's job table (jobs.db)
//     skyletd.log    the agent's own output
//     sky_logs/      job logs (the node's ~/sky_logs)
//     node<i>/sky_workdir   node i's working directory (workdir synced here)
//
// The handle (stored in the state store) records the layout and the agent's
// pid and start time, so any later `sky` process can find, check and stop it.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "backend/cluster_backend.h"
#include "infra/local/machine.h"

namespace skycore::backend {

struct LocalCluster {
  std::string name;
  std::filesystem::path dir;
  std::filesystem::path socket;  // the agent's Unix socket
  int num_nodes = 1;
  double cpus_per_node = 0;
  double memory_gib_per_node = 0;
  std::string gpu_name;
  int gpus_per_node = 0;
  int agent_pid = 0;
  uint64_t agent_start_ticks = 0;

  std::filesystem::path NodeDir(int node) const;
  std::filesystem::path NodeWorkdir(int node) const;  // NodeDir/sky_workdir
  std::filesystem::path AgentLog() const { return dir / "skyletd.log"; }

  nlohmann::json ToHandle() const;
  // InternalError when the handle is not a local cluster's.
  static LocalCluster FromHandle(const nlohmann::json& handle);
};

// Plans a new cluster of `num_nodes` nodes sharing this machine: CPUs, memory
// and GPUs split evenly (each node gets at least one CPU's worth).
LocalCluster PlanLocalCluster(const std::filesystem::path& state_dir, const std::string& name,
                              int num_nodes, const LocalMachine& machine);

// Creates the directories and node spec. Idempotent.
void CreateLocalCluster(const LocalCluster& cluster, const LocalMachine& machine);

// True when the cluster's agent process is alive (same pid and start time).
bool LocalAgentAlive(const LocalCluster& cluster);

// Starts the agent unless it is alive, and waits until it answers ping
// (CommandError with the tail of its log when it does not within 10 s).
// `autostop_hook` is a shell command run when autostop fires (may be empty).
void StartLocalAgent(LocalCluster& cluster, const std::filesystem::path& skyletd,
                     const std::string& autostop_hook);

// SIGTERM to the agent (it stops its jobs and exits), SIGKILL after
// `timeout_s`. Nothing to do when it is not alive.
void StopLocalAgent(const LocalCluster& cluster, double timeout_s = 15);

// Removes the cluster's directory (and a socket outside it).
void RemoveLocalCluster(const LocalCluster& cluster);

// The ClusterBackend of this infra (through the registry, src/infra/infra.h).
std::unique_ptr<ClusterBackend> MakeLocalBackend(const BackendContext& context);

}  // namespace skycore::backend
