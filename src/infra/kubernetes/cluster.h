// Kubernetes: every node of a cluster is a pod of one kubeconfig context.
#pragma once

#include <memory>

#include "backend/cluster_backend.h"

namespace skycore::backend {

// The ClusterBackend of this infra (through the registry, src/infra/infra.h).
std::unique_ptr<ClusterBackend> MakeKubernetesBackend(const BackendContext& context);

}  // namespace skycore::backend
