#include "infra/gcp/provisioner.h"

#include <fmt/format.h>

#include <algorithm>
#include <random>
#include <set>
#include <thread>

#include "backend/remote_host.h"
#include "common/strings.h"

namespace skycore::gcp {
namespace {

using nlohmann::json;
using vm::FailureKind;
using vm::InstanceState;

constexpr const char* kClusterLabel = "skypilot-cluster-name";
constexpr const char* kRayClusterLabel = "ray-cluster-name";
constexpr const char* kHeadLabel = "skypilot-head-node";
constexpr const char* kNodeTypeLabel = "ray-node-type";

std::string RandomHex(size_t digits) {
  thread_local std::mt19937 random{std::random_device{}()};
  std::string text;
  for (size_t i = 0; i < digits; ++i) text.push_back("0123456789abcdef"[random() % 16]);
  return text;
}

std::string LastSegment(const std::string& link) { return link.substr(link.rfind('/') + 1); }

std::string FirewallName(const std::string& on_cloud) {
  return fmt::format("user-ports-{}", on_cloud);
}

std::string ZoneRegion(const std::string& zone) { return zone.substr(0, zone.rfind('-')); }

// SkyPilot's disk tiers as GCE disk types.
std::string DiskType(const json& provider_config) {
  const json tier = provider_config.value("disk_tier", json());
  const std::string name = tier.is_string() ? tier.get<std::string>() : "";
  if (name == "low") return "pd-standard";
  if (name == "high" || name == "best") return "pd-ssd";
  if (name == "ultra") return "pd-extreme";
  return "pd-balanced";
}

// Zones with TPU VMs (SkyPilot's catalog): the TPU API has no list across
// zones, so a region's TPU nodes are listed zone by zone, only in these.
const std::set<std::string>& TpuZones() {
  static const std::set<std::string> zones = {
      "us-central1-a", "us-central1-b", "us-central1-c", "us-central2-b",  "us-east1-d",
      "us-east5-a",    "us-east5-b",    "us-west4-a",    "europe-west4-a", "europe-west4-b"};
  return zones;
}

// The runtime a TPU VM boots, per generation (SkyPilot's defaults).
std::string TpuRuntime(const std::string& type) {
  if (type.rfind("v5litepod-", 0) == 0) return "v2-alpha-tpuv5-lite";
  if (type.rfind("v5p-", 0) == 0) return "v2-alpha-tpuv5";
  if (type.rfind("v6e-", 0) == 0) return "v2-alpha-tpuv6e";
  return "tpu-ubuntu2204-base";
}

json Ports(const std::vector<int>& ports) {
  json list = json::array();
  for (const int port : ports) list.push_back(std::to_string(port));
  return list;
}

}  // namespace

std::string GceName(const std::string& text) {
  std::string name;
  for (const char c : text) {
    const char lower = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    name.push_back(std::isalnum(static_cast<unsigned char>(lower)) ? lower : '-');
  }
  if (name.empty() || !std::isalpha(static_cast<unsigned char>(name.front()))) {
    name = fmt::format("sky-{}", name);
  }
  return name;
}

std::string GceAcceleratorType(const std::string& accelerator) {
  static const std::map<std::string, std::string> kTypes = {{"T4", "nvidia-tesla-t4"},
                                                            {"V100", "nvidia-tesla-v100"},
                                                            {"P100", "nvidia-tesla-p100"},
                                                            {"P4", "nvidia-tesla-p4"},
                                                            {"K80", "nvidia-tesla-k80"},
                                                            {"A100", "nvidia-tesla-a100"},
                                                            {"A100-80GB", "nvidia-a100-80gb"},
                                                            {"H100", "nvidia-h100-80gb"},
                                                            {"H100-MEGA", "nvidia-h100-mega-80gb"},
                                                            {"H200", "nvidia-h200-141gb"},
                                                            {"L4", "nvidia-l4"}};
  const auto found = kTypes.find(accelerator);
  return found == kTypes.end() ? std::string() : found->second;
}

InstanceState TpuStateOf(const std::string& state) {
  if (state == "READY") return InstanceState::kRunning;
  if (state == "STOPPING") return InstanceState::kStopping;
  // A preempted TPU cannot be started again; it is reported as stopped (its
  // reason says why) until `sky down` deletes it.
  if (state == "STOPPED" || state == "PREEMPTED") return InstanceState::kStopped;
  if (state == "DELETING") return InstanceState::kTerminating;
  if (state == "TERMINATED") return InstanceState::kTerminated;
  return InstanceState::kPending;  // CREATING, STARTING, RESTARTING, REPAIRING
}

std::string TpuAcceleratorType(const std::string& accelerator) {
  if (accelerator.rfind("tpu-", 0) != 0) return "";
  std::string type = accelerator.substr(4);
  // SkyPilot's users write v5e for the API's v5litepod.
  if (type.rfind("v5e-", 0) == 0) type = fmt::format("v5litepod-{}", type.substr(4));
  return type;
}

InstanceState InstanceStateOf(const std::string& status) {
  if (status == "RUNNING") return InstanceState::kRunning;
  if (status == "STOPPING" || status == "SUSPENDING") return InstanceState::kStopping;
  if (status == "TERMINATED" || status == "SUSPENDED" || status == "STOPPED") {
    return InstanceState::kStopped;
  }
  return InstanceState::kPending;  // PROVISIONING, STAGING, REPAIRING
}

std::optional<vm::ProvisionFailure> ClassifyGcpError(const Error& error) {
  if (const auto* refused = dynamic_cast<const GcpCredentialsRefused*>(&error)) {
    return vm::ProvisionFailure{FailureKind::kAuth, refused->detail().reason, error.message()};
  }
  if (error.code() == ErrorCode::kCloudCredentials) {
    return vm::ProvisionFailure{FailureKind::kAuth, "", error.message()};
  }
  if (const auto* api = dynamic_cast<const GcpApiError*>(&error)) {
    const std::string& reason = api->reason();
    static const std::set<std::string> kCapacity = {"ZONE_RESOURCE_POOL_EXHAUSTED",
                                                    "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
                                                    "VM_MIN_COUNT_NOT_REACHED",
                                                    "RESOURCE_NOT_READY",
                                                    "UNSUPPORTED_OPERATION",
                                                    "SCHEDULING_IMPOSSIBLE",
                                                    "resourceNotReady",
                                                    "OPERATION_TIMEOUT"};
    static const std::set<std::string> kQuota = {"QUOTA_EXCEEDED", "quotaExceeded"};
    static const std::set<std::string> kTransient = {"RESOURCE_OPERATION_RATE_EXCEEDED",
                                                     "rateLimitExceeded", "userRateLimitExceeded",
                                                     "backendError", "internalError"};
    const std::string& message = api->detail().message;
    // A failed TPU operation: no capacity, or a quota ("Quota limit ...").
    if (reason == "RESOURCE_EXHAUSTED" && api->detail().from_operation) {
      const bool quota = message.find("uota") != std::string::npos;
      return vm::ProvisionFailure{quota ? FailureKind::kQuota : FailureKind::kCapacity, reason,
                                  error.message()};
    }
    if (kCapacity.count(reason) ||
        // A machine type or GPU this zone lacks: another zone may have it.
        message.find("does not exist in zone") != std::string::npos) {
      return vm::ProvisionFailure{FailureKind::kCapacity, reason, error.message()};
    }
    if (kQuota.count(reason)) {
      return vm::ProvisionFailure{
          FailureKind::kQuota, reason,
          fmt::format("{} (a quota of the project in this region: request more in the Cloud "
                      "console, IAM & Admin > Quotas, or try another region)",
                      error.message())};
    }
    if (kTransient.count(reason) || api->detail().http_status == 429 ||
        api->detail().http_status >= 500 || api->detail().http_status == 0) {
      return vm::ProvisionFailure{FailureKind::kTransient, reason, error.message()};
    }
    return vm::ProvisionFailure{FailureKind::kBadRequest, reason, error.message()};
  }
  if (error.code() == ErrorCode::kResourcesUnavailable) {
    return vm::ProvisionFailure{FailureKind::kCapacity, "", error.message()};
  }
  if (error.code() == ErrorCode::kInvalidTask) {
    return vm::ProvisionFailure{FailureKind::kBadRequest, "", error.message()};
  }
  return std::nullopt;
}

GcpProvisioner::GcpProvisioner(std::shared_ptr<const ComputeClient> compute,
                               std::shared_ptr<const ComputeClient> tpu,
                               GcpProvisionerOptions options)
    : compute_(std::move(compute)), tpu_(std::move(tpu)), options_(std::move(options)) {}

std::optional<vm::ProvisionFailure> GcpProvisioner::Classify(const Error& error) const {
  return ClassifyGcpError(error);
}

std::chrono::steady_clock::time_point GcpProvisioner::Deadline() const {
  return std::chrono::steady_clock::now() + options_.operation_timeout;
}

std::vector<std::string> GcpProvisioner::Zones(const std::string& region) const {
  {
    std::lock_guard lock(mutex_);
    const auto found = zones_.find(region);
    if (found != zones_.end()) return found->second;
  }
  const auto answer = compute_->Get(compute_->ProjectPath("regions/" + region));
  if (!answer) {
    throw InvalidTaskError(
        fmt::format("GCP has no region '{}' in project {}", region, compute_->project()));
  }
  std::vector<std::string> zones;
  for (const auto& link : answer->value("zones", json::array())) {
    if (link.is_string()) zones.push_back(LastSegment(link.get<std::string>()));
  }
  std::sort(zones.begin(), zones.end());
  std::lock_guard lock(mutex_);
  zones_[region] = zones;
  return zones;
}

std::vector<GcpProvisioner::Instance> GcpProvisioner::TpuNodes(const std::string& region,
                                                               const std::string& label) const {
  if (!tpu_) return {};
  std::vector<std::string> zones;
  for (const auto& zone : TpuZones()) {
    if (ZoneRegion(zone) == region) zones.push_back(zone);
  }
  const auto listed = backend::remote::Parallel(zones.size(), [&](size_t i) {
    try {
      return tpu_->List(tpu_->ProjectPath(fmt::format("locations/{}/nodes", zones[i])), "",
                        "nodes");
    } catch (const GcpApiError& error) {
      // A zone the project cannot use for TPUs has none of the cluster's.
      if (error.detail().http_status == 400 || error.detail().http_status == 404) {
        return std::vector<json>{};
      }
      throw;
    }
  });
  std::vector<Instance> nodes;
  for (size_t i = 0; i < zones.size(); ++i) {
    for (const auto& node : listed[i]) {
      const json labels = node.value("labels", json::object());
      if (!labels.is_object() || labels.value(kClusterLabel, "") != label) continue;
      Instance instance;
      instance.tpu_node = node.value("name", "");
      instance.name = LastSegment(instance.tpu_node);
      instance.zone = zones[i];
      instance.labels = labels;
      instance.status = node.value("state", "");
      instance.state = TpuStateOf(instance.status);
      instance.head = labels.value(kHeadLabel, "") == "1";
      const json scheduling = node.value("schedulingConfig", json::object());
      instance.spot = scheduling.value("spot", false) || scheduling.value("preemptible", false);
      const json endpoints = node.value("networkEndpoints", json::array());
      if (endpoints.is_array() && !endpoints.empty()) {
        instance.internal_ip = endpoints[0].value("ipAddress", "");
        instance.external_ip =
            endpoints[0].value("accessConfig", json::object()).value("externalIp", "");
      }
      nodes.push_back(std::move(instance));
    }
  }
  return nodes;
}

std::vector<GcpProvisioner::Instance> GcpProvisioner::ClusterInstances(
    const std::string& region, const std::string& cluster_name_on_cloud) const {
  const std::string label = GceName(cluster_name_on_cloud);
  const auto listed = compute_->List(compute_->ProjectPath("aggregated/instances"),
                                     fmt::format("labels.{} = \"{}\"", kClusterLabel, label));
  std::vector<Instance> instances = TpuNodes(region, label);
  for (const auto& resource : listed) {
    const json labels = resource.value("labels", json::object());
    if (!labels.is_object() || labels.value(kClusterLabel, "") != label) continue;
    Instance instance;
    instance.name = resource.value("name", "");
    instance.zone = LastSegment(resource.value("zone", ""));
    if (ZoneRegion(instance.zone) != region) continue;
    instance.labels = labels;
    instance.status = resource.value("status", "");
    instance.state = InstanceStateOf(instance.status);
    instance.head = labels.value(kHeadLabel, "") == "1";
    instance.spot =
        resource.value("scheduling", json::object()).value("provisioningModel", "") == "SPOT";
    const json interfaces = resource.value("networkInterfaces", json::array());
    if (interfaces.is_array() && !interfaces.empty()) {
      instance.internal_ip = interfaces[0].value("networkIP", "");
      const json access = interfaces[0].value("accessConfigs", json::array());
      if (access.is_array() && !access.empty()) instance.external_ip = access[0].value("natIP", "");
    }
    instances.push_back(std::move(instance));
  }
  std::sort(instances.begin(), instances.end(), [](const Instance& a, const Instance& b) {
    return a.head != b.head ? a.head : a.name < b.name;
  });
  return instances;
}

vm::ProvisionRequest GcpProvisioner::Bootstrap(vm::ProvisionRequest request) {
  const std::string on_cloud = GceName(request.cluster_name_on_cloud);
  if (request.zone.empty()) {
    // Where the cluster already is, else the region's first zone.
    const auto existing = ClusterInstances(request.region, on_cloud);
    if (!existing.empty()) {
      request.zone = existing.front().zone;
    } else {
      const auto zones = Zones(request.region);
      if (zones.empty()) {
        throw ResourcesUnavailableError(fmt::format("GCP region {} has no zones in project {}",
                                                    request.region, compute_->project()));
      }
      request.zone = zones.front();
    }
  }
  if (!compute_->Get(compute_->ProjectPath("global/networks/" + options_.network))) {
    throw InvalidTaskError(fmt::format(
        "GCP network '{}' does not exist in project {}; create it or set gcp.vpc_name in "
        "~/.sky/config.yaml to one that does",
        options_.network, compute_->project()));
  }
  if (!request.ports.empty()) OpenPorts(request.region, on_cloud, request.ports);
  request.provider_config["project_id"] = compute_->project();
  request.provider_config["vpc_name"] = options_.network;
  return request;
}

json GcpProvisioner::InstanceBody(const vm::ProvisionRequest& request, const std::string& name,
                                  bool head) const {
  const std::string on_cloud = GceName(request.cluster_name_on_cloud);
  json labels = json::object();
  for (const auto& [key, value] : request.labels) labels[key] = value;
  labels[kClusterLabel] = on_cloud;
  labels[kRayClusterLabel] = on_cloud;
  labels[kHeadLabel] = head ? "1" : "0";
  labels[kNodeTypeLabel] = head ? "head" : "worker";
  const bool gpu = !request.accelerator.empty();
  const std::string image = !request.image_id.empty()
                                ? request.image_id
                                : (gpu ? options_.gpu_image : options_.cpu_image);
  json scheduling = {{"onHostMaintenance", gpu ? "TERMINATE" : "MIGRATE"},
                     {"automaticRestart", !request.use_spot}};
  if (request.use_spot) {
    scheduling = {{"provisioningModel", "SPOT"},
                  {"automaticRestart", false},
                  {"onHostMaintenance", "TERMINATE"},
                  // Stopped, not deleted, when preempted: the preemption
                  // stays visible and a recovery can start it again.
                  {"instanceTerminationAction", "STOP"}};
  }
  json body = {
      {"name", name},
      {"machineType", fmt::format("zones/{}/machineTypes/{}", request.zone, request.instance_type)},
      {"labels", labels},
      {"tags", {{"items", json::array({on_cloud})}}},
      {"disks", json::array({{{"boot", true},
                              {"autoDelete", true},
                              {"type", "PERSISTENT"},
                              {"initializeParams",
                               {{"sourceImage", image},
                                {"diskSizeGb", std::to_string(request.disk_size_gb)},
                                {"diskType", fmt::format("zones/{}/diskTypes/{}", request.zone,
                                                         DiskType(request.provider_config))}}}}})},
      {"networkInterfaces",
       json::array({{{"network", compute_->ProjectPath("global/networks/" + options_.network)},
                     {"accessConfigs",
                      json::array({{{"name", "External NAT"}, {"type", "ONE_TO_ONE_NAT"}}})}}})},
      {"metadata",
       {{"items", json::array({{{"key", "ssh-keys"},
                                {"value", fmt::format("{}:{}", options_.key_user,
                                                      strings::Trim(request.ssh_public_key))}}})}}},
      {"scheduling", scheduling}};
  // N1 machine types take attached GPUs; A2/A3/G2 have theirs built in.
  if (gpu && request.instance_type.rfind("n1-", 0) == 0) {
    const std::string type = GceAcceleratorType(request.accelerator);
    if (type.empty()) {
      throw InvalidTaskError(
          fmt::format("GCP has no accelerator type for {}", request.accelerator));
    }
    body["guestAccelerators"] = json::array(
        {{{"acceleratorType", fmt::format("zones/{}/acceleratorTypes/{}", request.zone, type)},
          {"acceleratorCount", std::max(1, request.accelerator_count)}}});
  }
  return body;
}

void GcpProvisioner::CreateTpu(const vm::ProvisionRequest& request, const std::string& name,
                               bool head, std::chrono::steady_clock::time_point deadline) const {
  const std::string on_cloud = GceName(request.cluster_name_on_cloud);
  const std::string type = TpuAcceleratorType(request.accelerator);
  json labels = json::object();
  for (const auto& [key, value] : request.labels) labels[key] = value;
  labels[kClusterLabel] = on_cloud;
  labels[kRayClusterLabel] = on_cloud;
  labels[kHeadLabel] = head ? "1" : "0";
  labels[kNodeTypeLabel] = head ? "head" : "worker";
  json body = {{"acceleratorType", type},
               {"runtimeVersion", request.image_id.empty() ? TpuRuntime(type) : request.image_id},
               {"networkConfig",
                {{"network", compute_->ProjectPath("global/networks/" + options_.network)},
                 {"enableExternalIps", true}}},
               {"labels", labels},
               {"tags", json::array({on_cloud})},
               {"metadata",
                {{"ssh-keys", fmt::format("{}:{}", options_.key_user,
                                          strings::Trim(request.ssh_public_key))}}}};
  if (request.use_spot) body["schedulingConfig"] = {{"spot", true}};
  tpu_->WaitLongRunning(
      tpu_->Begin(
          "POST",
          tpu_->ProjectPath(fmt::format("locations/{}/nodes?nodeId={}", request.zone, name)), body),
      deadline);
}

vm::ProvisionRecord GcpProvisioner::RunInstances(const vm::ProvisionRequest& request) {
  const std::string on_cloud = GceName(request.cluster_name_on_cloud);
  const auto instances = ClusterInstances(request.region, on_cloud);
  vm::ProvisionRecord record;
  record.region = request.region;
  record.zone = instances.empty() ? request.zone : instances.front().zone;
  int alive = 0;
  bool have_head = false;
  std::vector<const Instance*> stopped;
  for (const auto& each : instances) {
    const bool up = each.state == InstanceState::kRunning || each.state == InstanceState::kPending;
    const bool down =
        each.state == InstanceState::kStopped || each.state == InstanceState::kStopping;
    if (up) ++alive;
    if (down) stopped.push_back(&each);
    if ((up || down) && each.head) {
      have_head = true;
      record.head_instance_id = each.name;
    }
  }
  const auto deadline = Deadline();
  if (request.resume_stopped_nodes && !stopped.empty() && alive < request.count) {
    std::vector<json> starts;
    for (const Instance* each : stopped) {
      if (alive + static_cast<int>(record.resumed_instance_ids.size()) >= request.count) break;
      if (!each->tpu_node.empty()) {
        if (each->status == "PREEMPTED") continue;  // gone for good: `sky down` removes it
        starts.push_back(tpu_->Begin("POST", each->tpu_node + ":start"));
      } else {
        starts.push_back(
            compute_->Begin("POST", compute_->ProjectPath(fmt::format("zones/{}/instances/{}/start",
                                                                      each->zone, each->name))));
      }
      record.resumed_instance_ids.push_back(each->name);
    }
    for (const auto& operation : starts) {
      // A google.longrunning operation (TPU) has `done`; GCE's has `status`.
      if (operation.contains("done")) {
        tpu_->WaitLongRunning(operation, deadline);
      } else {
        compute_->Wait(operation, deadline);
      }
    }
  }
  const int missing = request.count - alive - static_cast<int>(record.resumed_instance_ids.size());
  const std::string tpu_type = TpuAcceleratorType(request.accelerator);
  if (missing > 0 && !tpu_type.empty()) {
    long long chips = 0;
    const std::string size = tpu_type.substr(tpu_type.rfind('-') + 1);
    if (!tpu_ || !strings::ParseInt(size, chips) || chips > 8) {
      throw InvalidTaskError(fmt::format(
          "{} is a multi-host TPU slice; skycore launches single-host slices so far (up to 8 "
          "chips: tpu-v5litepod-8, tpu-v6e-8, tpu-v5p-8, tpu-v3-8, tpu-v2-8)",
          request.accelerator));
    }
  }
  if (missing > 0) {
    vm::ProvisionRequest placed = request;
    placed.zone = record.zone;
    std::vector<std::string> names;
    for (int i = 0; i < missing; ++i) {
      const bool head = !have_head && i == 0;
      names.push_back(fmt::format("{}-{}-{}", on_cloud, RandomHex(4), head ? "head" : "worker"));
    }
    // Every node at once; the first error (stockout, quota) is the launch's.
    std::vector<std::exception_ptr> failures(names.size());
    backend::remote::Parallel(names.size(), [&](size_t i) {
      try {
        if (!tpu_type.empty()) {
          CreateTpu(placed, names[i], !have_head && i == 0, deadline);
        } else {
          compute_->Run("POST",
                        compute_->ProjectPath(fmt::format("zones/{}/instances", placed.zone)),
                        InstanceBody(placed, names[i], !have_head && i == 0), deadline);
        }
      } catch (...) {
        failures[i] = std::current_exception();
      }
      return 0;
    });
    for (size_t i = 0; i < names.size(); ++i) {
      if (!failures[i]) record.created_instance_ids.push_back(names[i]);
    }
    if (!have_head && !failures[0]) record.head_instance_id = names[0];
    for (const auto& failure : failures) {
      if (failure) std::rethrow_exception(failure);
    }
  }
  return record;
}

std::map<std::string, InstanceState> GcpProvisioner::QueryInstances(
    const std::string& region, const std::string& cluster_name_on_cloud, bool) {
  std::map<std::string, InstanceState> states;
  for (const auto& each : ClusterInstances(region, cluster_name_on_cloud)) {
    states[each.name] = each.state;
  }
  return states;
}

std::map<std::string, std::string> GcpProvisioner::StateReasons(
    const std::string& region, const std::string& cluster_name_on_cloud) {
  std::map<std::string, std::string> reasons;
  std::set<std::string> zones;
  std::map<std::string, std::string> stopped_spot;  // name -> zone
  for (const auto& each : ClusterInstances(region, cluster_name_on_cloud)) {
    if (each.status == "PREEMPTED") {
      reasons[each.name] =
          "Spot TPU preempted by GCP (state PREEMPTED; it cannot be started "
          "again: `sky down` removes it)";
      continue;
    }
    if (each.spot && each.state == InstanceState::kStopped && each.tpu_node.empty()) {
      stopped_spot[each.name] = each.zone;
      zones.insert(each.zone);
    }
  }
  // GCE records a preemption as an operation of the instance.
  for (const auto& zone : zones) {
    for (const auto& operation :
         compute_->List(compute_->ProjectPath(fmt::format("zones/{}/operations", zone)),
                        "operationType=\"compute.instances.preempted\"")) {
      const std::string name = LastSegment(operation.value("targetLink", ""));
      if (!stopped_spot.count(name)) continue;
      reasons[name] = fmt::format("Spot instance preempted by GCE ({}: {}, at {})",
                                  operation.value("operationType", ""),
                                  operation.value("statusMessage", "Instance was preempted."),
                                  operation.value("endTime", operation.value("insertTime", "")));
    }
  }
  // skycore never stops a Spot cluster: a stopped Spot instance was preempted.
  for (const auto& [name, zone] : stopped_spot) {
    if (!reasons.count(name)) {
      reasons[name] = fmt::format("Spot instance stopped by GCE in {} (preempted)", zone);
    }
  }
  return reasons;
}

vm::ClusterInfo GcpProvisioner::GetClusterInfo(const std::string& region,
                                               const std::string& cluster_name_on_cloud) {
  vm::ClusterInfo info;
  info.region = region;
  info.ssh_user = options_.ssh_user;
  for (const auto& each : ClusterInstances(region, cluster_name_on_cloud)) {
    if (each.state == InstanceState::kTerminating || each.state == InstanceState::kTerminated) {
      continue;
    }
    vm::InstanceInfo instance;
    instance.instance_id = each.name;
    instance.state = each.state;
    if (each.labels.is_object()) {
      for (const auto& [key, value] : each.labels.items()) {
        if (value.is_string()) instance.tags[key] = value.get<std::string>();
      }
    }
    instance.internal_ip = each.internal_ip;
    instance.external_ip = each.external_ip;
    if (each.head) info.head_instance_id = each.name;
    if (info.zone.empty()) info.zone = each.zone;
    info.instances.push_back(std::move(instance));
  }
  if (info.head_instance_id.empty() && !info.instances.empty()) {
    info.head_instance_id = info.instances.front().instance_id;
  }
  return info;
}

void GcpProvisioner::StopInstances(const std::string& region,
                                   const std::string& cluster_name_on_cloud, bool worker_only) {
  for (const auto& each : ClusterInstances(region, cluster_name_on_cloud)) {
    if (worker_only && each.head) continue;
    if (each.state == InstanceState::kStopped || each.state == InstanceState::kStopping) continue;
    // The caller waits for the states.
    if (!each.tpu_node.empty()) {
      tpu_->Begin("POST", each.tpu_node + ":stop");
      continue;
    }
    compute_->Begin("POST", compute_->ProjectPath(
                                fmt::format("zones/{}/instances/{}/stop", each.zone, each.name)));
  }
}

void GcpProvisioner::TerminateInstances(const std::string& region,
                                        const std::string& cluster_name_on_cloud,
                                        bool worker_only) {
  for (const auto& each : ClusterInstances(region, cluster_name_on_cloud)) {
    if (worker_only && each.head) continue;
    if (!each.tpu_node.empty()) {
      if (each.state != InstanceState::kTerminating) tpu_->Begin("DELETE", each.tpu_node);
      continue;
    }
    // Its boot disk goes with it (autoDelete).
    compute_->Begin("DELETE", compute_->ProjectPath(
                                  fmt::format("zones/{}/instances/{}", each.zone, each.name)));
  }
}

void GcpProvisioner::OpenPorts(const std::string&, const std::string& cluster_name_on_cloud,
                               const std::vector<int>& ports) {
  if (ports.empty()) return;
  const std::string on_cloud = GceName(cluster_name_on_cloud);
  const std::string path = compute_->ProjectPath("global/firewalls/" + FirewallName(on_cloud));
  const auto existing = compute_->Get(path);
  if (existing) {
    std::set<std::string> have;
    for (const auto& allowed : existing->value("allowed", json::array())) {
      for (const auto& port : allowed.value("ports", json::array())) {
        if (port.is_string()) have.insert(port.get<std::string>());
      }
    }
    std::vector<int> all = ports;
    bool missing = false;
    for (const int port : ports) missing |= !have.count(std::to_string(port));
    if (!missing) return;
    for (const auto& port : have) {
      long long number = 0;
      if (strings::ParseInt(port, number)) all.push_back(static_cast<int>(number));
    }
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    json body = *existing;
    body["allowed"] = json::array({{{"IPProtocol", "tcp"}, {"ports", Ports(all)}}});
    compute_->Run("PUT", path, body, Deadline());
    return;
  }
  compute_->Run("POST", compute_->ProjectPath("global/firewalls"),
                {{"name", FirewallName(on_cloud)},
                 {"description", fmt::format("skycore: the ports of cluster {}", on_cloud)},
                 {"network", compute_->ProjectPath("global/networks/" + options_.network)},
                 {"direction", "INGRESS"},
                 {"priority", 65534},
                 {"allowed", json::array({{{"IPProtocol", "tcp"}, {"ports", Ports(ports)}}})},
                 {"sourceRanges", json::array({"0.0.0.0/0"})},
                 {"targetTags", json::array({on_cloud})}},
                Deadline());
}

void GcpProvisioner::CleanupPorts(const std::string&, const std::string& cluster_name_on_cloud) {
  compute_->Run(
      "DELETE",
      compute_->ProjectPath("global/firewalls/" + FirewallName(GceName(cluster_name_on_cloud))),
      nullptr, Deadline());
}

}  // namespace skycore::gcp
