// `sky check ssh`: probing the hosts of SSH node pools.
#pragma once

#include <string>
#include <vector>

#include "infra/ssh/node_pools.h"
#include "skycore/sdk.h"

namespace skycore {

// Probes every host of the SSH node pools and caches the inventory that
// ssh::CachedPoolsCatalogCsv reads.
InfraCheck CheckSshPools(const SkyOptions& options);

// The pools of the pools file that `ssh.allowed_node_pools` of the config
// allows (all when it is not set); `excluded` (optional) gets the others.
std::vector<ssh::NodePool> LoadAllowedPools(const SkyOptions& options,
                                            std::vector<std::string>* excluded);

}  // namespace skycore
