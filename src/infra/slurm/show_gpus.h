// `sky show-gpus --infra slurm[/<cluster>]`: the GPUs of the Slurm clusters,
// asked of their login nodes now (not the cached inventory), per cluster and
// partition, then per node.
#pragma once

#include <string>

#include "skycore/sdk.h"

namespace skycore {

// Prints the tables; `cluster` empty: every cluster `sky check slurm` would
// ask; `partition` empty: every partition. Returns 1 when some cluster could
// not be asked (its error is printed), 0 otherwise. Throws
// InvalidSkyPilotConfigError when no cluster is configured, `cluster` is not
// one of them, or `partition` is not one of its partitions.
int ShowSlurmGpus(const SkyOptions& options, const std::string& cluster,
                  const std::string& partition = "");

}  // namespace skycore
