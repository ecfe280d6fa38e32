#include "infra/kubernetes/services.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <map>

#include "common/sky_config.h"
#include "common/strings.h"
#include "infra/kubernetes/pods.h"
#include "skycore/error.h"

namespace skycore::kubernetes {
using nlohmann::json;

namespace {

const std::vector<std::string>& PortModeNames() {
  static const std::vector<std::string> names = {"loadbalancer", "nodeport", "ingress", "podip"};
  return names;
}

std::string ServicesPath(const std::string& namespace_name) {
  return fmt::format("/api/v1/namespaces/{}/services", UrlEncode(namespace_name));
}

json ClusterLabels(const std::string& cluster_name) {
  return {{"parent", "skypilot"}, {kClusterLabel, cluster_name}, {kClusterNameLabel, cluster_name}};
}

}  // namespace

const char* PortModeName(PortMode mode) {
  switch (mode) {
    case PortMode::kLoadBalancer:
      return "loadbalancer";
    case PortMode::kNodePort:
      return "nodeport";
    case PortMode::kIngress:
      return "ingress";
    case PortMode::kPodIp:
      return "podip";
  }
  return "loadbalancer";
}

PortMode ParsePortMode(const std::string& value, const std::string& file) {
  if (value == "loadbalancer") return PortMode::kLoadBalancer;
  if (value == "nodeport") return PortMode::kNodePort;
  if (value == "ingress") return PortMode::kIngress;
  if (value == "podip") return PortMode::kPodIp;
  throw InvalidSkyPilotConfigError(fmt::format("{}: kubernetes.ports is '{}'; valid values are {}",
                                               file, value, strings::JoinQuoted(PortModeNames())),
                                   {file, 0, 0, "kubernetes.ports"},
                                   strings::CloseMatches(value, PortModeNames()));
}

PortMode ReadPortMode(const std::filesystem::path& path, const std::string& context) {
  std::error_code ec;
  if (path.empty() || !std::filesystem::exists(path, ec)) return PortMode::kLoadBalancer;
  const YAML::Node root = config::LoadConfigFile(path);
  if (!root.IsMap() || !root["kubernetes"] || !root["kubernetes"].IsMap()) {
    return PortMode::kLoadBalancer;
  }
  const YAML::Node section = root["kubernetes"];
  YAML::Node value = section["ports"];
  std::string field = "kubernetes.ports";
  // A context's own setting wins, as SkyPilot's context_configs do.
  if (const YAML::Node contexts = section["context_configs"]; contexts && contexts.IsMap()) {
    if (const YAML::Node specific = contexts[context]; specific && specific.IsMap()) {
      if (const YAML::Node ports = specific["ports"]; ports && !ports.IsNull()) {
        value = ports;
        field = fmt::format("kubernetes.context_configs.{}.ports", context);
      }
    }
  }
  if (!value || value.IsNull()) return PortMode::kLoadBalancer;
  const ErrorLocation where{path.string(), value.Mark().line + 1, value.Mark().column + 1, field};
  if (!value.IsScalar()) {
    throw InvalidSkyPilotConfigError(fmt::format("{}: {} must be one of {}", path.string(), field,
                                                 strings::JoinQuoted(PortModeNames())),
                                     where);
  }
  try {
    return ParsePortMode(value.Scalar(), path.string());
  } catch (const InvalidSkyPilotConfigError& e) {
    throw InvalidSkyPilotConfigError(
        fmt::format("{}: {} is '{}'; valid values are {}", path.string(), field, value.Scalar(),
                    strings::JoinQuoted(PortModeNames())),
        where, e.suggestions());
  }
}

std::string LoadBalancerName(const std::string& cluster_name) {
  const std::string head = PodName(cluster_name, 0);
  return head.substr(0, head.size() - std::string_view("-head").size()) + "--skypilot-lb";
}

json LoadBalancerManifest(const LoadBalancerRequest& request) {
  json labels = request.metadata.value("labels", json::object());
  const json cluster_labels = ClusterLabels(request.cluster_name);
  for (const auto& [key, value] : cluster_labels.items()) labels[key] = value;
  json metadata = {{"name", LoadBalancerName(request.cluster_name)},
                   {"namespace", request.namespace_name},
                   {"labels", labels}};
  if (request.metadata.contains("annotations") && request.metadata["annotations"].is_object()) {
    metadata["annotations"] = request.metadata["annotations"];
  }
  json ports = json::array();
  for (int port : request.ports) {
    ports.push_back({{"name", fmt::format("port-{}", port)},
                     {"protocol", "TCP"},
                     {"port", port},
                     {"targetPort", port}});
  }
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", metadata},
          {"spec",
           {{"type", request.type},
            {"selector", {{kClusterNameLabel, request.cluster_name}, {kHeadLabel, "1"}}},
            {"ports", ports}}}};
}

void ApplyLoadBalancer(const ApiClient& api, const LoadBalancerRequest& request) {
  const std::string name = LoadBalancerName(request.cluster_name);
  const std::string path = ServicesPath(request.namespace_name);
  json manifest = LoadBalancerManifest(request);
  auto failed = [&](const ApiResponse& response, const char* what) {
    return ResourcesUnavailableError(fmt::format(
        "Kubernetes context '{}': {} the load balancer service {} in namespace '{}' failed "
        "(HTTP {}): {}",
        api.credentials().context, what, name, request.namespace_name, response.status,
        response.message));
  };
  const ApiResponse created = api.Send("POST", path, &manifest);
  if (created.status >= 200 && created.status < 300) return;
  if (created.status != 409) throw failed(created, "creating");
  // One from an earlier launch of the cluster: its ports become these.
  const json existing = api.Get(path + "/" + name);
  const json labels = existing["metadata"].value("labels", json::object());
  if (labels.value(kClusterNameLabel, "") != request.cluster_name) {
    throw ResourcesUnavailableError(fmt::format(
        "Kubernetes context '{}': a service named {} that is not cluster '{}''s already exists "
        "in namespace '{}'; choose another cluster name",
        api.credentials().context, name, request.cluster_name, request.namespace_name));
  }
  // Keep the node ports the API server gave the ports that stay.
  std::map<long long, json> node_ports;
  for (const auto& port : existing["spec"].value("ports", json::array())) {
    if (port.contains("nodePort")) node_ports[port.value("port", 0LL)] = port["nodePort"];
  }
  for (auto& port : manifest["spec"]["ports"]) {
    auto found = node_ports.find(port.value("port", 0LL));
    if (found != node_ports.end()) port["nodePort"] = found->second;
  }
  // A merge patch replaces the lists (ports) whole.
  const json patch = {{"metadata", {{"labels", manifest["metadata"]["labels"]}}},
                      {"spec", manifest["spec"]}};
  const ApiResponse patched = api.Send("PATCH", path + "/" + name, &patch);
  if (patched.status < 200 || patched.status >= 300) throw failed(patched, "updating");
}

std::string LoadBalancerAddress(const json& service) {
  if (!service.is_object() || !service.contains("status")) return "";
  const json ingress =
      service["status"].value("loadBalancer", json::object()).value("ingress", json::array());
  if (!ingress.is_array() || ingress.empty() || !ingress[0].is_object()) return "";
  const std::string ip = ingress[0].value("ip", "");
  return ip.empty() ? ingress[0].value("hostname", "") : ip;
}

int NodePortOf(const json& service, int port) {
  if (!service.is_object() || !service.contains("spec")) return 0;
  for (const auto& entry : service["spec"].value("ports", json::array())) {
    if (entry.value("port", 0) == port) return entry.value("nodePort", 0);
  }
  return 0;
}

int DeleteClusterServices(const ApiClient& api, const std::string& namespace_name,
                          const std::string& cluster_name) {
  const std::string path = ServicesPath(namespace_name);
  const json list = api.Get(
      path + "?labelSelector=" + UrlEncode(fmt::format("{}={}", kClusterNameLabel, cluster_name)));
  int count = 0;
  // Services have no delete-collection: one by one.
  for (const auto& service : list.value("items", json::array())) {
    api.Delete(path + "/" + service["metadata"].value("name", ""));
    ++count;
  }
  return count;
}

}  // namespace skycore::kubernetes
