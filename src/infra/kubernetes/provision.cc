// Creating a cluster's pods and waiting for them (provision.h).
#include "infra/kubernetes/provision.h"

#include <fmt/format.h>

#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "infra/kubernetes/pod_commands.h"
#include "infra/kubernetes/pods.h"
#include "skycore/error.h"

namespace skycore::backend::k8s {
using nlohmann::json;

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

// The headless Service of the cluster's pods: DNS names
// `<pod>.<cluster>-nodes` for the pods (they name it as their subdomain),
// and it makes the scheduler spread them over nodes.
void CreateService(const json& handle, const kubernetes::ApiClient& api) {
  const std::string name = handle.value("cluster_name", "");
  const json service = {{"apiVersion", "v1"},
                        {"kind", "Service"},
                        {"metadata",
                         {{"name", ServiceName(handle)},
                          {"labels",
                           {{"parent", "skypilot"},
                            {kubernetes::kClusterLabel, name},
                            {kubernetes::kClusterNameLabel, name}}}}},
                        {"spec",
                         {{"clusterIP", "None"},
                          {"publishNotReadyAddresses", true},
                          {"selector", {{kubernetes::kClusterNameLabel, name}}}}}};
  auto response = api.Send("POST", ServicePath(handle), &service);
  if (response.status == 409) return;  // ours from an earlier `up`
  if (response.status < 200 || response.status >= 300) {
    throw ResourcesUnavailableError(fmt::format(
        "Kubernetes context '{}': creating the service {} in namespace '{}' failed (HTTP {}): {}",
        api.credentials().context, ServiceName(handle), handle.value("namespace", "default"),
        response.status, response.message));
  }
}

void CreatePods(const json& handle, const kubernetes::ApiClient& api,
                const kubernetes::KubernetesConfig& config) {
  const json pods = handle.value("pods", json::array());
  for (size_t i = 0; i < pods.size(); ++i) {
    kubernetes::PodRequest request;
    request.cluster_name = handle.value("cluster_name", "");
    request.user = handle.value("user", "");
    request.pod_name = pods[i].get<std::string>();
    request.namespace_name = handle.value("namespace", "default");
    request.head = i == 0;
    request.cpus = handle["requests"].value("cpus", 0.0);
    // Clusters launched before pods requested SkyPilot's types kept memory_gib.
    request.memory_gb =
        handle["requests"].value("memory_gb", handle["requests"].value("memory_gib", 0.0));
    request.gpus = handle.value("gpus_per_node", 0);
    request.limits_multiplier = config.pod_limits_multiplier;
    request.image = handle.value("image", std::string(kubernetes::kDefaultImage));
    request.service_account = config.ServiceAccount();
    json manifest = kubernetes::PodManifest(request, config.pod_config);
    manifest["spec"]["subdomain"] = ServiceName(handle);
    auto response = api.Send("POST", PodsPath(handle), &manifest);
    if (response.status == 409) {
      // Already there: ours from an earlier `up` of this cluster, or a
      // stranger's pod of the same name.
      const json existing = api.Get(PodsPath(handle) + "/" + request.pod_name);
      const json labels = existing["metadata"].value("labels", json::object());
      if (labels.value(kubernetes::kClusterNameLabel, "") != request.cluster_name) {
        throw ResourcesUnavailableError(fmt::format(
            "Kubernetes context '{}': a pod named {} that is not cluster '{}''s already "
            "exists in namespace '{}'; choose another cluster name",
            api.credentials().context, request.pod_name, request.cluster_name,
            request.namespace_name));
      }
      continue;
    }
    if (response.status < 200 || response.status >= 300) {
      throw ResourcesUnavailableError(fmt::format(
          "Kubernetes context '{}': creating pod {} in namespace '{}' failed (HTTP {}): {}",
          api.credentials().context, request.pod_name, request.namespace_name, response.status,
          response.message));
    }
  }
}

// The pod IPs once every pod runs. ResourcesUnavailableError naming the
// context when the scheduler finds no node for one (so the caller may try
// elsewhere; with an autoscaler, once provision_timeout has given it no
// node), an image cannot be pulled, or the provision timeout passes.
json WaitForPods(const json& handle, const kubernetes::ApiClient& api,
                 const kubernetes::KubernetesConfig& config, OutputSink& out) {
  const std::string context_name = handle.value("context", "");
  const json pods = handle.value("pods", json::array());
  const double deadline = Now() + config.provision_timeout_s;
  bool told_autoscaler = false;
  for (;;) {
    // One list per round, whatever the number of pods.
    std::map<std::string, json> listed;
    const json list = api.Get(PodsPath(handle) + "?labelSelector=" + Selector(handle));
    for (const auto& pod : list.value("items", json::array())) {
      const std::string pod_name = pod["metadata"].value("name", "");
      listed[pod_name] = pod;
    }
    json ips = json::array();
    std::vector<std::string> waiting;
    for (const auto& pod_name : pods) {
      auto found = listed.find(pod_name.get<std::string>());
      if (found == listed.end()) {
        throw ResourcesUnavailableError(
            fmt::format("Kubernetes context '{}': pod {} was deleted while it started",
                        context_name, pod_name.get<std::string>()));
      }
      const auto progress = kubernetes::ProgressOf(found->second);
      using Kind = kubernetes::PodProgress::Kind;
      switch (progress.kind) {
        case Kind::kRunning:
          ips.push_back(progress.ip);
          break;
        case Kind::kUnschedulable:
          if (!config.autoscaler.empty()) {
            // A node may be on its way: wait for it as long as allowed.
            if (!told_autoscaler) {
              out.Write(fmt::format(
                  "No node fits pod {} yet ({}); waiting up to {} s for the {} autoscaler "
                  "(kubernetes.provision_timeout)\n",
                  pod_name.get<std::string>(), progress.reason, config.provision_timeout_s,
                  config.autoscaler));
              told_autoscaler = true;
            }
            waiting.push_back(fmt::format("{} (FailedScheduling: {})", pod_name.get<std::string>(),
                                          progress.reason));
            break;
          }
          throw ResourcesUnavailableError(
              fmt::format("Kubernetes context '{}' has no node for pod {} of cluster '{}' "
                          "(FailedScheduling: {})",
                          context_name, pod_name.get<std::string>(),
                          handle.value("cluster_name", ""), progress.reason));
        case Kind::kImagePull:
          throw ResourcesUnavailableError(fmt::format(
              "Kubernetes context '{}': pod {} cannot pull its image '{}' ({}); check the "
              "image name and the cluster's access to its registry (imagePullSecrets in "
              "kubernetes.pod_config)",
              context_name, pod_name.get<std::string>(), progress.image, progress.reason));
        case Kind::kFailed:
          throw ResourcesUnavailableError(
              fmt::format("Kubernetes context '{}': pod {} failed to start: {}", context_name,
                          pod_name.get<std::string>(), progress.reason));
        case Kind::kPending:
          waiting.push_back(fmt::format("{} ({})", pod_name.get<std::string>(), progress.reason));
          break;
      }
    }
    if (waiting.empty()) return ips;
    if (Now() > deadline) {
      throw ResourcesUnavailableError(fmt::format(
          "Kubernetes context '{}': pod{} of cluster '{}' did not start running within {} s "
          "(kubernetes.provision_timeout): {}",
          context_name, waiting.size() == 1 ? "" : "s", handle.value("cluster_name", ""),
          config.provision_timeout_s, fmt::join(waiting, "; ")));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace skycore::backend::k8s
