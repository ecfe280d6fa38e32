// `sky show-gpus --infra k8s`: the GPUs of a Kubernetes context, asked of its
// API server now (not the cached inventory), in SkyPilot's layout.
#pragma once

#include <filesystem>
#include <string>

namespace skycore::cli {

// Prints per context a GPU summary, then per-node availability. `context`
// empty: `kubernetes.allowed_contexts` of `sky_config` (SkyPilot's
// ~/.sky/config.yaml) when set, else the kubeconfig's current context.
// Throws skycore::Error (bad kubeconfig, unreachable server, RBAC denial).
int ShowKubernetesGpus(const std::string& context, const std::filesystem::path& sky_config);

}  // namespace skycore::cli
