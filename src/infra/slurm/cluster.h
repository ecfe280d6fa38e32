// Slurm: every node of a cluster is a node of one Slurm allocation.
#pragma once

#include <memory>

#include "backend/cluster_backend.h"

namespace skycore::backend {

// The ClusterBackend of this infra (through the registry, src/infra/infra.h).
std::unique_ptr<ClusterBackend> MakeSlurmBackend(const BackendContext& context);

}  // namespace skycore::backend
