// SSH node pools as a whole (`sky ssh up` / `sky ssh down`); the clusters on
// them are the ssh ClusterBackend (cluster_backend.h, ssh_cluster.cc).
#pragma once

#include <string>
#include <vector>

#include "backend/cluster_backend.h"
#include "infra/ssh/node_pools.h"

namespace skycore::backend {

// What happened on one host.
struct HostOutcome {
  std::string pool;
  std::string host;  // as the pools file names it
  bool ok = false;
  std::string detail;  // the directory skycore uses there, or what went wrong
};

// Installs the agent on every host of `pools` (in parallel), so launches
// there need not copy it. Hosts that fail are reported, not thrown.
std::vector<HostOutcome> InstallOnHosts(const BackendContext& context,
                                        const std::vector<ssh::NodePool>& pools);

// Removes everything skycore put on every host of `pools` (its directory,
// `$SKYCORE_HOME` or `~/.skycore`, with the agents of any cluster there).
std::vector<HostOutcome> CleanHosts(const BackendContext& context,
                                    const std::vector<ssh::NodePool>& pools);

// The ClusterBackend of this infra (through the registry, src/infra/infra.h).
std::unique_ptr<ClusterBackend> MakeSshBackend(const BackendContext& context);

}  // namespace skycore::backend
