#include "infra/kubernetes/pod_commands.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/strings.h"
#include "infra/kubernetes/api_client.h"
#include "infra/kubernetes/pods.h"

namespace skycore::backend::k8s {
using nlohmann::json;
using strings::ShellQuote;

kubernetes::ExecTarget PodTarget(const json& handle, int index) {
  const json pods = handle.value("pods", json::array());
  return {handle.value("namespace", "default"),
          static_cast<size_t>(index) < pods.size()
              ? pods[static_cast<size_t>(index)].get<std::string>()
              : kubernetes::PodName(handle.value("cluster_name", ""), index),
          "ray-node",
          kubernetes::ExecProtocolFromName(
              kubernetes::ProcessEnvironment(kubernetes::kExecProtocolVariable).value_or(""))};
}

std::string NodeWorkdir(const json& handle, int index) {
  const json roots = handle.value("pod_roots", json::array());
  const std::string root = static_cast<size_t>(index) < roots.size()
                               ? roots[static_cast<size_t>(index)].get<std::string>()
                               : handle.value("root", "");
  return fmt::format("{}/clusters/{}/node{}/sky_workdir", root, handle.value("cluster_name", ""),
                     index);
}

bool UsesLocalCredentials(const json& handle) {
  return handle.value("remote_identity", "LOCAL_CREDENTIALS") == "LOCAL_CREDENTIALS";
}

json AgentNodeSpec(const json& handle) {
  const std::string name = handle.value("cluster_name", "");
  const std::string dir = handle.value("root", "") + "/clusters/" + name;
  const json ips = handle.value("node_ips", json::array());
  json gpu_ids = json::array();
  for (int i = 0; i < handle.value("gpus_per_node", 0); ++i) gpu_ids.push_back(i);
  json nodes = json::array();
  const size_t count = std::max<size_t>(1, handle.value("pods", json::array()).size());
  for (size_t i = 0; i < count; ++i) {
    json node = {{"ip", i < ips.size() ? ips[i] : json("127.0.0.1")},
                 {"workdir", NodeWorkdir(handle, static_cast<int>(i))},
                 {"cpus", handle.value("cpus_per_node", 0.0)},
                 {"memory_gib", handle.value("memory_gib_per_node", 0.0)},
                 {"gpus", gpu_ids.size()},
                 {"gpu_ids", gpu_ids}};
    if (i > 0) {
      const kubernetes::ExecTarget pod = PodTarget(handle, static_cast<int>(i));
      node["runner"] = {{"kind", "kubernetes"},
                        {"namespace", pod.namespace_name},
                        {"pod", pod.pod},
                        {"container", pod.container},
                        {"kubeconfig", dir + "/kube/config"},
                        {"context", UsesLocalCredentials(handle) ? handle.value("context", "")
                                                                 : std::string("in-cluster")}};
    }
    nodes.push_back(node);
  }
  return {{"cluster_name", name},
          {"cluster_info",
           {{"cluster_name", name},
            {"cloud", "kubernetes"},
            {"region", handle.value("context", "")},
            {"num_nodes", handle.value("num_nodes", 1)},
            {"ips", ips}}},
          {"nodes", nodes}};
}

std::string PodsPath(const json& handle) {
  return fmt::format("/api/v1/namespaces/{}/pods",
                     kubernetes::UrlEncode(handle.value("namespace", "default")));
}

// The label selector of the cluster's pods, URL-encoded.
std::string Selector(const json& handle) {
  return kubernetes::UrlEncode(
      fmt::format("{}={}", kubernetes::kClusterNameLabel, handle.value("cluster_name", "")));
}

std::string ServicePath(const json& handle) {
  return fmt::format("/api/v1/namespaces/{}/services",
                     kubernetes::UrlEncode(handle.value("namespace", "default")));
}

std::string ServiceName(const json& handle) {
  const std::string head = kubernetes::PodName(handle.value("cluster_name", ""), 0);
  return head.substr(0, head.size() - std::string_view("-head").size()) + "-nodes";
}

}  // namespace skycore::backend::k8s
