// `sky show-gpus --infra k8s`: the GPUs of a Kubernetes context, asked of its
// API server now (not the cached inventory), in SkyPilot's layout.
#pragma once

#include <string>

namespace skycore::cli {

// Prints the context's GPU summary and per-node availability; `context`
// empty: the kubeconfig's current context. Throws skycore::Error (bad
// kubeconfig, unreachable server, RBAC denial).
int ShowKubernetesGpus(const std::string& context);

}  // namespace skycore::cli
