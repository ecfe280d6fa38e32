#include "infra/kubernetes/pods.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "common/sky_config.h"
#include "common/strings.h"
#include "skycore/error.h"
#include "yaml/reader.h"

namespace skycore::kubernetes {
using nlohmann::json;

namespace {

// Lists whose items Kubernetes merges by a key (the API's patch merge keys),
// as SkyPilot's merge_k8s_configs does.
const std::map<std::string, std::string>& PatchMergeKeys() {
  static const std::map<std::string, std::string> keys = {
      {"initContainers", "name"}, {"ephemeralContainers", "name"},
      {"volumes", "name"},        {"volumeMounts", "name"},
      {"resourceClaims", "name"}, {"env", "name"},
      {"hostAliases", "ip"},      {"topologySpreadConstraints", "topologyKey"},
      {"ports", "containerPort"}, {"volumeDevices", "devicePath"},
  };
  return keys;
}

// A quantity in its canonical form (what the API server writes back): whole
// numbers as they are, fractions in thousandths ("0.5" -> "500m" CPUs,
// "1.5G" -> "1500M" bytes).
std::string Quantity(double value, const char* unit = "", const char* milli_unit = "m") {
  const long long thousandths = static_cast<long long>(value * 1000 + 0.5);
  if (thousandths % 1000 == 0) return fmt::format("{}{}", thousandths / 1000, unit);
  return fmt::format("{}{}", thousandths, milli_unit);
}

}  // namespace

void MergePodConfig(json& base, const json& override_config) {
  if (!base.is_object() || !override_config.is_object()) {
    base = override_config;
    return;
  }
  for (const auto& [key, value] : override_config.items()) {
    auto found = base.find(key);
    if (found == base.end() || found->is_null()) {
      base[key] = value;
    } else if (value.is_object() && found->is_object()) {
      MergePodConfig(*found, value);
    } else if (value.is_array() && found->is_array()) {
      if (key == "containers" || key == "imagePullSecrets") {
        // One container per pod: the override's first item merges into ours.
        if (found->empty()) {
          *found = value;
        } else if (!value.empty()) {
          MergePodConfig((*found)[0], value[0]);
        }
      } else if (auto merge_key = PatchMergeKeys().find(key); merge_key != PatchMergeKeys().end()) {
        const std::string& by = merge_key->second;
        for (const auto& item : value) {
          json* same = nullptr;
          if (item.is_object() && item.contains(by)) {
            for (auto& existing : *found) {
              if (existing.is_object() && existing.value(by, json()) == item[by]) same = &existing;
            }
          }
          if (same) {
            MergePodConfig(*same, item);
          } else {
            found->push_back(item);
          }
        }
      } else {
        for (const auto& item : value) found->push_back(item);
      }
    } else {
      *found = value;
    }
  }
}

const std::vector<std::string>& KubernetesConfigKeys() {
  static const std::vector<std::string> keys = {"allowed_contexts",
                                                "allowed_nodes",
                                                "apt_mirrors",
                                                "autoscaler",
                                                "context_configs",
                                                "custom_metadata",
                                                "dws",
                                                "enable_docker",
                                                "high_availability",
                                                "kueue",
                                                "namespace",
                                                "networking",
                                                "networking_mode",
                                                "pod_config",
                                                "ports",
                                                "post_provision_runcmd",
                                                "pricing",
                                                "provision_timeout",
                                                "remote_identity",
                                                "set_pod_resource_limits"};
  return keys;
}

std::string KubernetesConfig::ServiceAccount() const {
  if (remote_identity == "LOCAL_CREDENTIALS" || remote_identity == "NO_UPLOAD") return "";
  if (remote_identity == "SERVICE_ACCOUNT") return "skypilot-service-account";
  return remote_identity;
}

namespace {

// One `kubernetes:` mapping (the file's, the task's, or a context's):
// a mapping whose keys are SkyPilot's.
void CheckSection(const json& section, const std::string& where, const std::string& prefix) {
  if (!section.is_object()) {
    throw InvalidSkyPilotConfigError(fmt::format("{}: {} must be a mapping", where, prefix));
  }
  for (const auto& [key, value] : section.items()) {
    const auto& keys = KubernetesConfigKeys();
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) continue;
    const auto close = strings::CloseMatches(key, keys);
    throw InvalidSkyPilotConfigError(
        fmt::format("{}: unknown field {}.{}{}", where, prefix, key,
                    close.empty() ? fmt::format("; valid fields: {}", fmt::join(keys, ", ")) : "."),
        {}, close);
  }
}

}  // namespace

KubernetesConfig ReadKubernetesConfig(const std::filesystem::path& path, const std::string& context,
                                      const json& task_overrides) {
  KubernetesConfig config;
  json section = json::object();
  if (const YAML::Node root = config::LoadConfigFile(path); root.IsMap() && root["kubernetes"]) {
    yamlio::Reader reader(path.string());
    section = reader.ToJson(root["kubernetes"]);
    if (section.is_null()) section = json::object();
    CheckSection(section, path.string(), "kubernetes");
  }
  // Where a value came from, for messages: the task's override wins.
  std::string where = path.string();
  if (!task_overrides.is_null()) {
    CheckSection(task_overrides, "the task's config", "kubernetes");
    MergePodConfig(section, task_overrides);
    where = fmt::format("{} (with the task's config)", path.string());
  }
  auto fail = [&](const std::string& field, const std::string& what) {
    throw InvalidSkyPilotConfigError(
        fmt::format("{}: kubernetes.{} must be {}", where, field, what));
  };
  // Per-context settings override the general ones (pod_config merges).
  json merged = section;
  merged.erase("context_configs");
  if (section.contains("context_configs") && !section["context_configs"].is_null()) {
    if (!section["context_configs"].is_object()) fail("context_configs", "a mapping of contexts");
    if (section["context_configs"].contains(context)) {
      const json& specific = section["context_configs"][context];
      if (!specific.is_object()) fail("context_configs." + context, "a mapping");
      CheckSection(specific, where, "kubernetes.context_configs." + context);
      MergePodConfig(merged, specific);
    }
  }
  if (merged.contains("pod_config") && !merged["pod_config"].is_null()) {
    if (!merged["pod_config"].is_object()) fail("pod_config", "a mapping (a Pod manifest)");
    config.pod_config = merged["pod_config"];
  }
  if (merged.contains("provision_timeout") && !merged["provision_timeout"].is_null()) {
    if (!merged["provision_timeout"].is_number() || merged["provision_timeout"].get<double>() < 0) {
      fail("provision_timeout", "a number of seconds");
    }
    config.provision_timeout_s = merged["provision_timeout"].get<double>();
  }
  if (merged.contains("custom_metadata") && !merged["custom_metadata"].is_null()) {
    const json& metadata = merged["custom_metadata"];
    if (!metadata.is_object()) fail("custom_metadata", "a mapping of labels and annotations");
    json extra = json::object();
    for (const char* key : {"labels", "annotations"}) {
      if (metadata.contains(key)) extra[key] = metadata[key];
    }
    // pod_config's own metadata wins over the general custom_metadata.
    MergePodConfig(extra, config.pod_config.value("metadata", json::object()));
    config.pod_config["metadata"] = extra;
  }
  // A choice among names: the value, or an error listing the valid ones.
  auto choice = [&](const char* field, const std::vector<std::string>& valid) -> std::string {
    if (!merged.contains(field) || merged[field].is_null()) return "";
    if (!merged[field].is_string()) fail(field, "one of " + strings::JoinQuoted(valid));
    const std::string value = merged[field].get<std::string>();
    for (const auto& name : valid) {
      if (strings::EqualsIgnoreCase(name, value)) return name;
    }
    const auto close = strings::CloseMatches(value, valid);
    throw InvalidSkyPilotConfigError(fmt::format("{}: kubernetes.{} is '{}'; valid values: {}.",
                                                 where, field, value, strings::JoinQuoted(valid)),
                                     {}, close);
  };
  config.autoscaler = choice("autoscaler", {"gke", "karpenter", "coreweave", "nebius", "generic"});
  // skycore reaches pods through the exec API, never SSH: either mode works.
  choice("networking_mode", {"portforward", "nodeport"});
  choice("networking", {"portforward", "nodeport"});
  if (merged.contains("namespace") && !merged["namespace"].is_null()) {
    if (!merged["namespace"].is_string() || merged["namespace"].get<std::string>().empty()) {
      fail("namespace", "a namespace name");
    }
    config.namespace_name = merged["namespace"].get<std::string>();
  }
  if (merged.contains("set_pod_resource_limits") && !merged["set_pod_resource_limits"].is_null()) {
    const json& limits = merged["set_pod_resource_limits"];
    if (limits.is_boolean()) {
      config.pod_limits_multiplier = limits.get<bool>() ? 1 : 0;
    } else if (limits.is_number() && limits.get<double>() > 0) {
      config.pod_limits_multiplier = limits.get<double>();
    } else {
      fail("set_pod_resource_limits", "true, false or a multiplier of the requests above 0");
    }
  }
  if (merged.contains("remote_identity") && !merged["remote_identity"].is_null()) {
    if (!merged["remote_identity"].is_string() ||
        merged["remote_identity"].get<std::string>().empty()) {
      fail("remote_identity",
           "LOCAL_CREDENTIALS, SERVICE_ACCOUNT, NO_UPLOAD or a service account name");
    }
    config.remote_identity = merged["remote_identity"].get<std::string>();
  }
  return config;
}

std::string PodName(const std::string& cluster_name, int index) {
  std::string name;
  for (char c : cluster_name) {
    name.push_back(c == '_' || c == '.' ? '-' : static_cast<char>(std::tolower(c)));
  }
  return index == 0 ? name + "-head" : fmt::format("{}-worker{}", name, index);
}

json PodManifest(const PodRequest& request, const json& pod_config) {
  json requests = json::object();
  json limits = json::object();
  // SkyPilot writes memory in G (10^9 bytes) though it sizes it in GiB.
  if (request.cpus > 0) requests["cpu"] = Quantity(request.cpus);
  if (request.memory_gb > 0) requests["memory"] = Quantity(request.memory_gb, "G", "M");
  if (request.limits_multiplier > 0) {
    const double times = request.limits_multiplier;
    // Limits are in thousandths, as SkyPilot rounds them.
    if (request.cpus > 0) limits["cpu"] = Quantity(request.cpus * times);
    if (request.memory_gb > 0) limits["memory"] = Quantity(request.memory_gb * times, "G", "M");
  }
  if (request.gpus > 0) {
    requests["nvidia.com/gpu"] = std::to_string(request.gpus);
    limits["nvidia.com/gpu"] = std::to_string(request.gpus);
  }
  json container = {
      {"name", "ray-node"},
      {"image", request.image},
      {"imagePullPolicy", "IfNotPresent"},
      // Idles until deleted; the agent and the jobs are started through exec.
      {"command", {"/bin/sh", "-c", "trap : TERM INT; sleep infinity & wait"}},
      {"resources", {{"requests", requests}, {"limits", limits}}},
  };
  json labels = {{"parent", "skypilot"},
                 {kClusterLabel, request.cluster_name},
                 {kClusterNameLabel, request.cluster_name},
                 {kUserLabel, request.user}};
  if (request.head) labels[kHeadLabel] = "1";
  json pod = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", request.pod_name}, {"namespace", request.namespace_name}, {"labels", labels}}},
      {"spec",
       {{"restartPolicy", "Never"},
        {"terminationGracePeriodSeconds", 5},
        {"containers", json::array({container})}}}};
  if (!request.service_account.empty()) {
    pod["spec"]["serviceAccountName"] = request.service_account;
  }
  if (request.gpus > 0) {
    pod["spec"]["tolerations"] = json::array(
        {{{"key", "nvidia.com/gpu"}, {"operator", "Exists"}, {"effect", "NoSchedule"}}});
  }
  MergePodConfig(pod, pod_config);
  // What identifies the pod is ours, whatever pod_config says.
  pod["metadata"]["name"] = request.pod_name;
  pod["metadata"]["namespace"] = request.namespace_name;
  for (const auto& [key, value] : labels.items()) pod["metadata"]["labels"][key] = value;
  return pod;
}

PodProgress ProgressOf(const json& pod) {
  PodProgress progress;
  const json status = pod.value("status", json::object());
  const std::string phase = status.value("phase", "Pending");
  if (phase == "Running" && !status.value("podIP", "").empty()) {
    progress.kind = PodProgress::Kind::kRunning;
    progress.ip = status.value("podIP", "");
    return progress;
  }
  if (phase == "Failed" || phase == "Succeeded") {
    progress.kind = PodProgress::Kind::kFailed;
    progress.reason = status.value("message", status.value("reason", "the pod " + phase));
    if (progress.reason.empty()) progress.reason = "the pod's phase is " + phase;
    return progress;
  }
  for (const auto& container : status.value("containerStatuses", json::array())) {
    const json waiting = container.value("state", json::object()).value("waiting", json::object());
    const std::string reason = waiting.value("reason", "");
    if (reason == "ImagePullBackOff" || reason == "ErrImagePull" || reason == "InvalidImageName") {
      progress.kind = PodProgress::Kind::kImagePull;
      progress.image = container.value("image", "");
      progress.reason = fmt::format("{}: {}", reason, waiting.value("message", ""));
      return progress;
    }
  }
  for (const auto& condition : status.value("conditions", json::array())) {
    if (condition.value("type", "") == "PodScheduled" && condition.value("status", "") == "False" &&
        condition.value("reason", "") == "Unschedulable") {
      progress.kind = PodProgress::Kind::kUnschedulable;
      progress.reason = condition.value("message", "the scheduler found no node for the pod");
      return progress;
    }
  }
  // Still on its way: say where it waits.
  const std::string node = pod.value("spec", json::object()).value("nodeName", "");
  progress.reason = node.empty() ? "not scheduled yet" : "on node " + node;
  for (const char* key : {"initContainerStatuses", "containerStatuses"}) {
    for (const auto& container : status.value(key, json::array())) {
      const json state = container.value("state", json::object());
      if (state.contains("running") && std::string(key) == "initContainerStatuses") {
        progress.reason += ", init container " + container.value("name", "") + " running";
        return progress;
      }
      if (state.contains("waiting")) {
        const json waiting = state["waiting"];
        progress.reason += ", container " + container.value("name", "") + " waiting (" +
                           waiting.value("reason", "") + ")";
        return progress;
      }
    }
  }
  return progress;
}

}  // namespace skycore::kubernetes
