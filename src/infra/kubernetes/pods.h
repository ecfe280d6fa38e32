// The pods of a skycore cluster on Kubernetes: their manifests, the
// `kubernetes:` section of the SkyPilot config that shapes them, and what a
// pod's status says about its progress.
//
// One pod per node: `<cluster>-head` and `<cluster>-worker<i>`, labelled as
// SkyPilot labels its pods, so `kubectl get pods -l skypilot-cluster=<name>`
// finds them and `sky down` deletes exactly them.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace skycore::kubernetes {

// SkyPilot's pod labels.
inline constexpr const char* kClusterLabel = "skypilot-cluster";
inline constexpr const char* kClusterNameLabel = "skypilot-cluster-name";
inline constexpr const char* kUserLabel = "skypilot-user";
inline constexpr const char* kHeadLabel = "skypilot-head-node";

// SkyPilot's default image for Kubernetes pods (`image_id` overrides it).
inline constexpr const char* kDefaultImage =
    "us-central1-docker.pkg.dev/skypilot-375900/skypilotk8s/skypilot:latest";

// The `kubernetes:` section of ~/.sky/config.yaml as a launch uses it: the
// task's own `config.kubernetes` merged over the file's section, then
// `context_configs.<context>` merged over that, as SkyPilot does.
// `custom_metadata` (labels and annotations for every object) is folded into
// pod_config's metadata.
struct KubernetesConfig {
  nlohmann::json pod_config = nlohmann::json::object();  // merged into every pod
  double provision_timeout_s = 60;                       // how long pods may stay Pending
  // The cluster autoscaler kind ("gke", "karpenter", "coreweave", "nebius",
  // "generic"); empty: none. With one, a pod the scheduler cannot place yet
  // waits (up to provision_timeout) for a node instead of failing over at once.
  std::string autoscaler;
  std::string namespace_name;  // empty: the context's namespace
  // `remote_identity`: "LOCAL_CREDENTIALS" (the default here: the context's
  // own credentials go to the head pod of a multi-node cluster), or the
  // service account the pods run as ("SERVICE_ACCOUNT" stands for
  // "skypilot-service-account", as in SkyPilot; "NO_UPLOAD": none named).
  std::string remote_identity = "LOCAL_CREDENTIALS";
  // `set_pod_resource_limits`: 0 (false, the default) sets no CPU or memory
  // limits; true is 1 (limits equal to the requests: Guaranteed QoS); a
  // number > 0 sets limits that many times the requests.
  double pod_limits_multiplier = 0;
  // The service account the pods run as; empty: the namespace's default.
  std::string ServiceAccount() const;
};

// SkyPilot's `kubernetes:` keys. Those skycore reads are applied; the others
// are accepted (a SkyPilot config loads unchanged) and have no effect here.
const std::vector<std::string>& KubernetesConfigKeys();

// Reads `path` (absent: defaults) with `task_overrides` (the task's
// `config.kubernetes`, or null) merged over its section.
// InvalidSkyPilotConfigError names the file (or "the task's config") and the
// field of a malformed value or an unknown key, with close matches.
KubernetesConfig ReadKubernetesConfig(const std::filesystem::path& path, const std::string& context,
                                      const nlohmann::json& task_overrides = nullptr);

// Merges `override_config` into `base` with SkyPilot's `merge_k8s_configs`
// rules: mappings merge recursively; `containers` and `imagePullSecrets`
// merge their first item; lists with a Kubernetes patch merge key (volumes,
// env, initContainers, ... by `name`; ports by `containerPort`) merge the
// item with the same key or append; any other list is appended to; scalars
// replace.
void MergePodConfig(nlohmann::json& base, const nlohmann::json& override_config);

// What one pod must be.
struct PodRequest {
  std::string cluster_name;
  std::string user;
  std::string pod_name;
  std::string namespace_name;
  bool head = false;
  double cpus = 0;               // 0: no request
  double memory_gb = 0;          // as SkyPilot writes it ("<n>G"); 0: no request
  int gpus = 0;                  // nvidia.com/gpu (requested and limited)
  double limits_multiplier = 0;  // KubernetesConfig::pod_limits_multiplier
  std::string image = kDefaultImage;
  std::string service_account;  // empty: the namespace's default
};

// A pod name (DNS-1123 label) for node `index` of `cluster_name`:
// "<cluster>-head" or "<cluster>-worker<index>", lower-cased with '_' and '.'
// turned into '-'.
std::string PodName(const std::string& cluster_name, int index);

// The pod's manifest with `pod_config` merged in. The container idles (the
// agent and the jobs run beside it through exec) and requests what the node
// must have as SkyPilot's pods do: CPUs, memory and GPUs requested, GPUs
// limited (Kubernetes requires it of extended resources), CPU and memory
// limited only as `set_pod_resource_limits` says; with the GPU toleration
// when it asks for GPUs.
nlohmann::json PodManifest(const PodRequest& request, const nlohmann::json& pod_config);

// Where a pod stands on its way to Running.
struct PodProgress {
  enum class Kind { kPending, kRunning, kUnschedulable, kImagePull, kFailed };
  Kind kind = Kind::kPending;
  std::string reason;  // the scheduler's or kubelet's message; kPending: where it waits
  std::string image;   // kImagePull: the image that cannot be pulled
  std::string ip;      // kRunning: the pod's IP
};

// Reads a pod object's status.
PodProgress ProgressOf(const nlohmann::json& pod);

}  // namespace skycore::kubernetes
