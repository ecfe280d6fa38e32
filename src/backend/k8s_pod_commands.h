// What runs in the pods of a skycore cluster on Kubernetes, as pure
// functions of the cluster's handle (k8s_cluster.cc): the shell commands
// that prepare a pod and start the agent, and the agent's node spec, whose
// worker nodes start their ranks through their pods' exec.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "kubernetes/exec.h"

namespace skycore::backend::k8s {

// Where exec reaches node `index` (0: the head) of the cluster.
kubernetes::ExecTarget PodTarget(const nlohmann::json& handle, int index);

// Node `index`'s workdir in its pod: under the skycore directory that pod
// reported (`pod_roots`), `clusters/<name>/node<index>/sky_workdir`.
std::string NodeWorkdir(const nlohmann::json& handle, int index);

// Makes the head's directories and prints `root=<dir>` and `agent=yes|no`
// (whether `bin/<agent_name>` is there already).
std::string PrepareHeadCommand(const std::string& name, const std::string& agent_name);

// Makes worker `index`'s workdir and prints `root=<dir>`.
std::string PrepareWorkerCommand(const std::string& name, int index);

// The agent's node spec (agent/node_spec.h): the head runs its rank itself;
// each worker's runner is {"kind": "kubernetes", ...} with the kubeconfig the
// launch stores at `<root>/clusters/<name>/kube/config` in the head pod.
nlohmann::json AgentNodeSpec(const nlohmann::json& handle);

// Writes the node spec and starts the agent unless it runs already; exits
// non-zero with the end of the agent's log when it does not come up.
std::string StartAgentCommand(const nlohmann::json& handle, const std::string& agent_name);

}  // namespace skycore::backend::k8s
