// `sky show-gpus --infra k8s`: the GPUs of a Kubernetes context, in SkyPilot's
// layout. Free GPUs come from the pods listed now; the nodes from the
// inventory `sky check kubernetes` cached while it is younger than
// kKubernetesNodesMaxAgeS, else (or with --refresh) from a new node list.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace skycore {

// How long a cached node list stands in for listing the nodes again. Nodes
// come and go far more rarely than pods, and on a cluster of thousands of
// nodes their list is tens of megabytes.
inline constexpr int64_t kKubernetesNodesMaxAgeS = 60;

// Prints per context a GPU summary, then per-node availability. `context`
// empty: `kubernetes.allowed_contexts` of `<state_dir>/config.yaml` (SkyPilot's
// ~/.sky/config.yaml) when set, else the kubeconfig's current context.
// `state_dir` empty: no cache. `refresh`: list the nodes even when the cached
// ones are fresh. `now`: Unix seconds. A context whose nodes were listed anew
// replaces its entry in the cache when the cache has one.
// Throws skycore::Error (bad kubeconfig, unreachable server, RBAC denial).
int ShowKubernetesGpus(const std::string& context, const std::filesystem::path& state_dir,
                       bool refresh, int64_t now);

}  // namespace skycore
