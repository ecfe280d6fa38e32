// `sky status --endpoints` of a Kubernetes cluster, for each port mode
// (kubernetes.ports: loadbalancer, nodeport, podip).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "infra/kubernetes/api_client.h"
#include "skycore/sdk.h"

namespace skycore::backend::k8s {

std::map<int, PortEndpoint> Endpoints(const nlohmann::json& handle,
                                      const kubernetes::ApiClient& api,
                                      const std::vector<int>& ports);

}  // namespace skycore::backend::k8s
