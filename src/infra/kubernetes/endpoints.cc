// Where a cluster's open ports are reached from here (endpoints.h).
#include "infra/kubernetes/endpoints.h"

#include <fmt/format.h>

#include "infra/kubernetes/pod_commands.h"
#include "infra/kubernetes/services.h"
#include "skycore/error.h"

namespace skycore::backend::k8s {
using nlohmann::json;

namespace {

kubernetes::ExecTarget Head(const json& handle) { return PodTarget(handle, 0); }

// kubernetes.ports: nodeport -- the head pod's node address and each
// port's node port.
std::map<int, PortEndpoint> NodePortEndpoints(const json& handle, const kubernetes::ApiClient& api,
                                              const std::vector<int>& ports) {
  const std::string name = kubernetes::LoadBalancerName(handle.value("cluster_name", ""));
  const auto service = api.Send("GET", ServicePath(handle) + "/" + name);
  const auto pod = api.Send("GET", PodsPath(handle) + "/" + Head(handle).pod);
  const std::string node =
      pod.status == 200 ? pod.body["status"].value("hostIP", "") : std::string();
  std::map<int, PortEndpoint> out;
  for (int port : ports) {
    PortEndpoint endpoint;
    const int node_port = service.status == 200 ? kubernetes::NodePortOf(service.body, port) : 0;
    if (service.status == 404) {
      endpoint.note = fmt::format(
          "the NodePort service {} is gone; `sky launch -c {}` creates "
          "it again",
          name, handle.value("cluster_name", ""));
    } else if (node_port == 0) {
      endpoint.note = fmt::format("the NodePort service {} has no node port for {} (HTTP {})", name,
                                  port, service.status);
    } else if (node.empty()) {
      endpoint.note = fmt::format("head pod {} has no node address", Head(handle).pod);
    } else {
      endpoint.address = fmt::format("{}:{}", node, node_port);
      endpoint.note =
          "the head pod's node and the service's node port (kubernetes.ports: "
          "nodeport): reachable where the nodes' addresses are";
    }
    out[port] = std::move(endpoint);
  }
  return out;
}

}  // namespace

std::map<int, PortEndpoint> Endpoints(const json& handle, const kubernetes::ApiClient& api,
                                      const std::vector<int>& ports) {
  const std::string context_name = handle.value("context", "");
  const std::string namespace_name = handle.value("namespace", "default");
  PortEndpoint endpoint;
  if (handle.value("port_mode", "loadbalancer") == "podip") {
    const auto response = api.Send("GET", PodsPath(handle) + "/" + Head(handle).pod);
    const std::string ip =
        response.status == 200 ? response.body["status"].value("podIP", "") : std::string();
    if (ip.empty()) {
      endpoint.note = fmt::format("head pod {} has no IP (HTTP {}{})", Head(handle).pod,
                                  response.status, response.message.empty() ? "" : ": ") +
                      response.message;
    } else {
      endpoint.address = ip;
      endpoint.note =
          "the head pod's IP (kubernetes.ports: podip): reachable only from inside the "
          "Kubernetes cluster's network";
    }
  } else if (handle.value("port_mode", "loadbalancer") == "nodeport") {
    return NodePortEndpoints(handle, api, ports);
  } else {
    const std::string name = kubernetes::LoadBalancerName(handle.value("cluster_name", ""));
    const auto response = api.Send("GET", ServicePath(handle) + "/" + name);
    if (response.status == 404) {
      endpoint.note = fmt::format(
          "the load balancer service {} is gone from namespace '{}' of Kubernetes context "
          "'{}'; `sky launch -c {}` creates it again",
          name, namespace_name, context_name, handle.value("cluster_name", ""));
    } else if (response.status != 200) {
      throw NetworkError(fmt::format(
          "Kubernetes context '{}': reading service {} in namespace '{}' failed (HTTP {}): {}",
          context_name, name, namespace_name, response.status, response.message));
    } else {
      endpoint.address = kubernetes::LoadBalancerAddress(response.body);
      if (endpoint.address.empty()) {
        endpoint.note = fmt::format(
            "pending: the LoadBalancer service {} in namespace '{}' of Kubernetes context "
            "'{}' has no external address yet; the cluster's load-balancer controller "
            "assigns one (none may run there: `kubectl get service {} -n {}` shows it)",
            name, namespace_name, context_name, name, namespace_name);
      }
    }
  }
  std::map<int, PortEndpoint> out;
  for (int port : ports) {
    PortEndpoint one = endpoint;
    if (!one.address.empty()) one.address = fmt::format("{}:{}", endpoint.address, port);
    out[port] = std::move(one);
  }
  return out;
}

}  // namespace skycore::backend::k8s
