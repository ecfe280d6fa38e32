// How the open ports of a skycore cluster on Kubernetes are reached, as
// SkyPilot does it (`kubernetes.ports` in ~/.sky/config.yaml):
//
//   loadbalancer  (default) one Service of type LoadBalancer,
//                 `<cluster>--skypilot-lb`, selecting the head pod, one port
//                 entry per open port; reached at the address the cluster's
//                 load-balancer controller puts in its status
//   nodeport      one Service of type NodePort (the same name): reached at
//                 the head pod's node address and the node port the API
//                 server assigned each open port
//   podip         no Service: the head pod's IP and the port, reachable only
//                 from inside the Kubernetes cluster's network
//   ingress       an Ingress behind an NGINX ingress controller: not
//                 supported by skycore (NotSupportedError)
//
// The Service carries the cluster's labels, so `sky down` finds and deletes it
// with the cluster's other Services.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "infra/kubernetes/api_client.h"

namespace skycore::kubernetes {

enum class PortMode { kLoadBalancer, kNodePort, kIngress, kPodIp };

// "loadbalancer", "nodeport", "ingress", "podip": the config's spelling.
const char* PortModeName(PortMode mode);
// The mode named `value`; InvalidSkyPilotConfigError naming `file` and the
// field, with the valid values and close matches, for any other value.
PortMode ParsePortMode(const std::string& value, const std::string& file);

// `kubernetes.ports` of the SkyPilot config at `path`, with
// `kubernetes.context_configs.<context>.ports` over it; loadbalancer when
// absent. InvalidSkyPilotConfigError for malformed YAML or a bad value.
PortMode ReadPortMode(const std::filesystem::path& path, const std::string& context);

// What one cluster's load balancer must be.
struct LoadBalancerRequest {
  std::string cluster_name;
  std::string namespace_name;
  std::vector<int> ports;
  std::string type = "LoadBalancer";  // or "NodePort"
  // Extra labels and annotations (`kubernetes.custom_metadata`); the
  // cluster's labels win over them.
  nlohmann::json metadata = nlohmann::json::object();
};

// `<cluster>--skypilot-lb`, from the cluster's DNS-safe pod name base.
std::string LoadBalancerName(const std::string& cluster_name);

// The Service manifest: of request.type, selecting the head pod, ports
// named `port-<n>` with port = targetPort = n (TCP).
nlohmann::json LoadBalancerManifest(const LoadBalancerRequest& request);

// Creates the Service, or, when one of that name exists, replaces its spec
// (ports added or removed by a relaunch) keeping what the API server
// assigned. ResourcesUnavailableError naming the context, namespace and
// Service when the API server refuses, or when a Service of that name is not
// the cluster's.
void ApplyLoadBalancer(const ApiClient& api, const LoadBalancerRequest& request);

// The load balancer's address: status.loadBalancer.ingress[0] `ip`, else
// `hostname`; empty while it is pending.
std::string LoadBalancerAddress(const nlohmann::json& service);

// The node port the Service gives `port`; 0 when it has none (yet).
int NodePortOf(const nlohmann::json& service, int port);

// Deletes every Service in `namespace_name` labelled for `cluster_name`;
// returns how many there were.
int DeleteClusterServices(const ApiClient& api, const std::string& namespace_name,
                          const std::string& cluster_name);

}  // namespace skycore::kubernetes
