// Bringing a cluster's pods into being: its headless Service, its pods, and
// the wait until every pod runs.
#pragma once

#include <nlohmann/json.hpp>

#include "infra/kubernetes/api_client.h"
#include "infra/kubernetes/pods.h"
#include "skycore/sdk.h"

namespace skycore::backend::k8s {

// The headless Service of the cluster's pods: DNS names
// `<pod>.<cluster>-nodes` for the pods, and the scheduler spreads them.
void CreateService(const nlohmann::json& handle, const kubernetes::ApiClient& api);

// Creates the pods the handle names; a pod of the same name that is ours
// (an earlier `up`) is kept, a stranger's is a ResourcesUnavailableError.
void CreatePods(const nlohmann::json& handle, const kubernetes::ApiClient& api,
                const kubernetes::KubernetesConfig& config);

// The pod IPs once every pod runs. ResourcesUnavailableError naming the
// context when the scheduler finds no node for one (so the caller may try
// elsewhere; with an autoscaler, once provision_timeout has given it no
// node), an image cannot be pulled, or the provision timeout passes.
nlohmann::json WaitForPods(const nlohmann::json& handle, const kubernetes::ApiClient& api,
                           const kubernetes::KubernetesConfig& config, OutputSink& out);

}  // namespace skycore::backend::k8s
