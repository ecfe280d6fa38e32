// What runs in the pods of a skycore cluster on Kubernetes, as pure
// functions of the cluster's handle (cluster.cc): where exec reaches a
// node, its workdir, and the agent's node spec, whose worker nodes start
// their ranks through their pods' exec. Preparing a pod and starting the
// agent are the shell commands every remote host gets (remote_host.h).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "infra/kubernetes/exec.h"

namespace skycore::backend::k8s {

// Where exec reaches node `index` (0: the head) of the cluster.
kubernetes::ExecTarget PodTarget(const nlohmann::json& handle, int index);

// Node `index`'s workdir in its pod: under the skycore directory that pod
// reported (`pod_roots`), `clusters/<name>/node<index>/sky_workdir`.
std::string NodeWorkdir(const nlohmann::json& handle, int index);

// Whether the head pod reaches the workers with the launching user's own
// credentials (`remote_identity: LOCAL_CREDENTIALS`, the handle's default),
// rather than as its service account.
bool UsesLocalCredentials(const nlohmann::json& handle);

// The agent's node spec (agent/node_spec.h): the head runs its rank itself;
// each worker's runner is {"kind": "kubernetes", ...} with the kubeconfig the
// launch stores at `<root>/clusters/<name>/kube/config` in the head pod, or,
// with a service-account identity, the pod's in-cluster context.
nlohmann::json AgentNodeSpec(const nlohmann::json& handle);

// The API paths of the cluster's pods and services in its namespace.
std::string PodsPath(const nlohmann::json& handle);
std::string ServicePath(const nlohmann::json& handle);
// The label selector of the cluster's pods, URL-encoded.
std::string Selector(const nlohmann::json& handle);
// The headless Service that names the cluster's pods (`<cluster>-nodes`).
std::string ServiceName(const nlohmann::json& handle);

}  // namespace skycore::backend::k8s
