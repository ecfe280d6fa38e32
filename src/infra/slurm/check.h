// `sky check slurm`: asking the configured Slurm clusters for their nodes.
#pragma once

#include <string>
#include <vector>

#include "backend/ssh_runner.h"
#include "infra/slurm/inventory.h"
#include "skycore/sdk.h"

namespace skycore {

// Runs sinfo on every configured cluster's login node and caches the
// inventory that slurm::CachedCatalogCsv reads.
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

}  // namespace skycore
