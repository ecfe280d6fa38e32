#include "infra/runpod/provisioner.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <thread>

#include "backend/remote_host.h"
#include "common/strings.h"

namespace skycore::runpod {
namespace {

using nlohmann::json;
using vm::FailureKind;
using vm::InstanceState;

// Every pod field skycore reads, in one listing of the account's pods.
constexpr const char* kPodsQuery =
    "query Pods { myself { pods { id name desiredStatus podType gpuCount ports "
    "lastStatusChange runtime { ports { ip isIpPublic privatePort publicPort type } } } } }";
constexpr const char* kGpuQuery =
    "query GpuType($id: String!, $count: Int!) { gpuTypes(input: {id: $id}) { id memoryInGb "
    "lowestPrice(input: {gpuCount: $count}) { minimumBidPrice uninterruptablePrice } } }";
constexpr const char* kDeployMutation =
    "mutation Deploy($input: PodFindAndDeployOnDemandInput!) { "
    "podFindAndDeployOnDemand(input: $input) { id desiredStatus } }";
constexpr const char* kRentMutation =
    "mutation Rent($input: PodRentInterruptableInput!) { "
    "podRentInterruptable(input: $input) { id desiredStatus } }";
constexpr const char* kStopMutation =
    "mutation Stop($input: PodStopInput!) { podStop(input: $input) { id desiredStatus } }";
constexpr const char* kResumeMutation =
    "mutation Resume($input: PodResumeInput!) { podResume(input: $input) { id desiredStatus } }";
constexpr const char* kBidResumeMutation =
    "mutation BidResume($input: PodBidResumeInput!) { "
    "podBidResume(input: $input) { id desiredStatus } }";
constexpr const char* kTerminateMutation =
    "mutation Terminate($input: PodTerminateInput!) { podTerminate(input: $input) }";

std::string HeadName(const std::string& on_cloud) { return fmt::format("{}-head", on_cloud); }
std::string WorkerName(const std::string& on_cloud) { return fmt::format("{}-worker", on_cloud); }

// "22/tcp" for SSH, then each of the task's ports as tcp: RunPod publishes
// only what a pod is created with.
std::string PortList(const std::vector<int>& ports) {
  std::string list = "22/tcp";
  std::set<int> seen = {22};
  for (const int port : ports) {
    if (seen.insert(port).second) list += fmt::format(",{}/tcp", port);
  }
  return list;
}

bool HasPort(const std::string& list, int port) {
  for (const auto& spec : strings::Split(list, ',')) {
    const std::string number = spec.substr(0, spec.find('/'));
    if (number == std::to_string(port)) return true;
  }
  return false;
}

// What a deploy needs of the GPU type: its memory (RunPod sizes the
// machine's RAM by it, as SkyPilot asks) and the lowest spot bid now.
struct GpuInfo {
  int memory_gb = 0;
  double minimum_bid = 0;
};

GpuInfo QueryGpu(const RunpodClient& client, const PodShape& shape) {
  const json data = client.Execute("gpuTypes", kGpuQuery,
                                   {{"id", shape.gpu_type_id}, {"count", shape.gpu_count}});
  const json types = data.value("gpuTypes", json::array());
  if (!types.is_array() || types.empty() || !types[0].is_object()) {
    throw InvalidTaskError(fmt::format(
        "RunPod has no GPU type '{}' (the catalog's {}); `sky show-gpus --infra runpod` lists "
        "the GPUs the catalog offers there",
        shape.gpu_type_id, shape.accelerator));
  }
  GpuInfo info;
  const json& type = types[0];
  if (type.contains("memoryInGb") && type["memoryInGb"].is_number()) {
    info.memory_gb = type["memoryInGb"].get<int>();
  }
  const json lowest = type.value("lowestPrice", json::object());
  if (lowest.is_object() && lowest.contains("minimumBidPrice") &&
      lowest["minimumBidPrice"].is_number()) {
    info.minimum_bid = lowest["minimumBidPrice"].get<double>();
  }
  return info;
}

}  // namespace

std::optional<std::string> GpuTypeId(const std::string& accelerator) {
  // The catalog's accelerator names and RunPod's ids for them.
  static const std::map<std::string, std::string> kIds = {
      {"A100-80GB", "NVIDIA A100 80GB PCIe"},
      {"A100-80GB-SXM", "NVIDIA A100-SXM4-80GB"},
      {"A30", "NVIDIA A30"},
      {"A40", "NVIDIA A40"},
      {"B200", "NVIDIA B200"},
      {"H100", "NVIDIA H100 PCIe"},
      {"H100-NVL", "NVIDIA H100 NVL"},
      {"H100-SXM", "NVIDIA H100 80GB HBM3"},
      {"H200-SXM", "NVIDIA H200"},
      {"L4", "NVIDIA L4"},
      {"L40", "NVIDIA L40"},
      {"L40S", "NVIDIA L40S"},
      {"MI300X", "AMD Instinct MI300X OAM"},
      {"RTX3090", "NVIDIA GeForce RTX 3090"},
      {"RTX4090", "NVIDIA GeForce RTX 4090"},
      {"RTX5090", "NVIDIA GeForce RTX 5090"},
      {"RTX6000-Ada", "NVIDIA RTX 6000 Ada Generation"},
      {"RTXA4000", "NVIDIA RTX A4000"},
      {"RTXA5000", "NVIDIA RTX A5000"},
      {"RTXA6000", "NVIDIA RTX A6000"},
  };
  const auto found = kIds.find(accelerator);
  if (found == kIds.end()) return std::nullopt;
  return found->second;
}

PodShape ParseInstanceType(const std::string& instance_type) {
  const auto parts = strings::Split(instance_type, '_');
  long long count = 0;
  if (parts.size() != 3 || parts[0].size() < 2 || parts[0].back() != 'x' ||
      !strings::ParseInt(std::string_view(parts[0]).substr(0, parts[0].size() - 1), count) ||
      count < 1 || parts[1].empty() || parts[2].empty()) {
    throw InvalidTaskError(
        fmt::format("RunPod instance type '{}' is not <count>x_<GPU>_<cloud type> (e.g. "
                    "1x_L4_SECURE); RunPod's CPU pods are not supported by skycore yet",
                    instance_type));
  }
  PodShape shape;
  shape.accelerator = parts[1];
  shape.gpu_count = static_cast<int>(count);
  shape.cloud_type = parts[2];
  const auto id = GpuTypeId(parts[1]);
  if (!id) {
    throw InvalidTaskError(fmt::format(
        "RunPod instance type '{}': skycore knows no RunPod GPU type id for accelerator '{}'",
        instance_type, parts[1]));
  }
  shape.gpu_type_id = *id;
  return shape;
}

InstanceState PodState(const std::string& desired_status, bool has_runtime) {
  // SkyPilot: CREATED, RESTARTING and PAUSED are INIT, RUNNING is UP. A
  // RUNNING pod without a runtime is still pulling its image or starting;
  // EXITED is a stopped (or preempted) pod, its disk kept.
  if (desired_status == "RUNNING") {
    return has_runtime ? InstanceState::kRunning : InstanceState::kPending;
  }
  if (desired_status == "EXITED" || desired_status == "PAUSED") return InstanceState::kStopped;
  if (desired_status == "TERMINATED") return InstanceState::kTerminated;
  return InstanceState::kPending;  // CREATED, RESTARTING
}

Pod ParsePod(const json& value) {
  Pod pod;
  if (!value.is_object()) return pod;
  auto text = [&](const char* key) {
    return value.contains(key) && value[key].is_string() ? value[key].get<std::string>()
                                                         : std::string();
  };
  pod.id = text("id");
  pod.name = text("name");
  pod.desired_status = text("desiredStatus");
  pod.pod_type = text("podType");
  pod.ports = text("ports");
  pod.last_status_change = text("lastStatusChange");
  if (value.contains("gpuCount") && value["gpuCount"].is_number()) {
    pod.gpu_count = value["gpuCount"].get<int>();
  }
  pod.head = pod.name.size() > 5 && pod.name.compare(pod.name.size() - 5, 5, "-head") == 0;
  const json runtime = value.contains("runtime") ? value["runtime"] : json();
  pod.has_runtime = runtime.is_object();
  if (pod.has_runtime && runtime.contains("ports") && runtime["ports"].is_array()) {
    for (const auto& port : runtime["ports"]) {
      if (!port.is_object() || !port.contains("ip") || !port["ip"].is_string()) continue;
      const bool is_public = port.value("isIpPublic", false);
      const int private_port = port.value("privatePort", 0);
      if (is_public && private_port == 22) {
        pod.external_ip = port["ip"].get<std::string>();
        pod.ssh_port = port.value("publicPort", 0);
      } else if (!is_public && pod.internal_ip.empty()) {
        pod.internal_ip = port["ip"].get<std::string>();
      }
    }
  }
  // Running means reachable: SkyPilot waits for the SSH port too.
  pod.state = PodState(pod.desired_status, pod.has_runtime && pod.ssh_port > 0);
  return pod;
}

json DeployInput(const vm::ProvisionRequest& request, const PodShape& shape,
                 const std::string& name, const std::string& image, int gpu_memory_gb,
                 std::optional<double> bid_per_gpu) {
  json input = {{"name", name},
                {"imageName", image},
                {"gpuTypeId", shape.gpu_type_id},
                {"gpuCount", shape.gpu_count},
                {"cloudType", shape.cloud_type},
                {"containerDiskInGb", request.disk_size_gb},
                {"volumeInGb", 0},
                {"minVcpuCount", 4 * shape.gpu_count},
                {"ports", PortList(request.ports)},
                {"supportPublicIp", true},
                {"startSsh", true},
                {"env", json::array({{{"key", "PUBLIC_KEY"}, {"value", request.ssh_public_key}}})}};
  if (gpu_memory_gb > 0) input["minMemoryInGb"] = gpu_memory_gb * shape.gpu_count;
  if (!request.region.empty()) input["countryCode"] = request.region;
  if (!request.zone.empty()) input["dataCenterId"] = request.zone;
  if (bid_per_gpu) input["bidPerGpu"] = *bid_per_gpu;
  return input;
}

std::optional<vm::ProvisionFailure> ClassifyRunpodError(const Error& error) {
  if (const auto* refused = dynamic_cast<const RunpodCredentialsRefused*>(&error)) {
    return vm::ProvisionFailure{FailureKind::kAuth, refused->detail().code, error.message()};
  }
  if (error.code() == ErrorCode::kCloudCredentials) {
    return vm::ProvisionFailure{FailureKind::kAuth, "", error.message()};
  }
  if (const auto* api = dynamic_cast<const RunpodApiError*>(&error)) {
    const auto& detail = api->detail();
    if (detail.http_status == 0 || detail.http_status == 429 || detail.http_status >= 500) {
      return vm::ProvisionFailure{FailureKind::kTransient, detail.code, error.message()};
    }
    // RunPod names no capacity with a code ("RUNPOD" is every field's):
    // its words say it.
    const std::string lowered = strings::Lower(detail.message);
    static const std::vector<std::string> kCapacityWords = {
        "no longer any instances available", "no instances currently available",
        "not enough free gpus", "no available machines",
        // A spot bid under today's minimum: no spot capacity at that price.
        "below the minimum bid price"};
    for (const auto& words : kCapacityWords) {
      if (lowered.find(words) != std::string::npos) {
        return vm::ProvisionFailure{FailureKind::kCapacity, detail.code, error.message()};
      }
    }
    return vm::ProvisionFailure{FailureKind::kBadRequest, detail.code, error.message()};
  }
  if (error.code() == ErrorCode::kResourcesUnavailable) {
    return vm::ProvisionFailure{FailureKind::kCapacity, "", error.message()};
  }
  if (error.code() == ErrorCode::kInvalidTask || error.code() == ErrorCode::kNotSupported) {
    return vm::ProvisionFailure{FailureKind::kBadRequest, "", error.message()};
  }
  return std::nullopt;
}

RunpodProvisioner::RunpodProvisioner(std::shared_ptr<const RunpodClient> client,
                                     RunpodProvisionerOptions options)
    : client_(std::move(client)), options_(std::move(options)) {}

std::optional<vm::ProvisionFailure> RunpodProvisioner::Classify(const Error& error) const {
  return ClassifyRunpodError(error);
}

std::vector<Pod> RunpodProvisioner::ClusterPods(const std::string& cluster_name_on_cloud) const {
  const json data = client_->Execute("myself", kPodsQuery);
  const json myself = data.value("myself", json::object());
  const json listed = myself.is_object() ? myself.value("pods", json::array()) : json::array();
  const std::string head = HeadName(cluster_name_on_cloud);
  const std::string worker = WorkerName(cluster_name_on_cloud);
  std::vector<Pod> pods;
  if (!listed.is_array()) return pods;
  for (const auto& value : listed) {
    Pod pod = ParsePod(value);
    if (pod.name == head || pod.name == worker) pods.push_back(std::move(pod));
  }
  std::sort(pods.begin(), pods.end(),
            [](const Pod& a, const Pod& b) { return a.head != b.head ? a.head : a.id < b.id; });
  return pods;
}

vm::ProvisionRequest RunpodProvisioner::Bootstrap(vm::ProvisionRequest request) {
  // Nothing exists besides pods (no network or key pair to make): the
  // instance type is checked here so that a bad one fails before any call.
  ParseInstanceType(request.instance_type);
  return request;
}

vm::ProvisionRecord RunpodProvisioner::RunInstances(const vm::ProvisionRequest& request) {
  const std::string& on_cloud = request.cluster_name_on_cloud;
  const PodShape shape = ParseInstanceType(request.instance_type);
  const auto pods = ClusterPods(on_cloud);
  vm::ProvisionRecord record;
  record.region = request.region;
  record.zone = request.zone;
  int alive = 0;
  bool have_head = false;
  std::vector<Pod> stopped;
  for (const auto& pod : pods) {
    if (pod.state == InstanceState::kTerminated || pod.state == InstanceState::kTerminating) {
      continue;
    }
    if (pod.head) {
      have_head = true;
      record.head_instance_id = pod.id;
    }
    if (pod.state == InstanceState::kStopped) {
      stopped.push_back(pod);
    } else {
      ++alive;
    }
  }
  std::optional<GpuInfo> gpu;
  auto gpu_info = [&]() -> const GpuInfo& {
    if (!gpu) gpu = QueryGpu(*client_, shape);
    return *gpu;
  };
  if (request.resume_stopped_nodes && alive < request.count) {
    for (const auto& pod : stopped) {
      if (alive + static_cast<int>(record.resumed_instance_ids.size()) >= request.count) break;
      const int count = pod.gpu_count > 0 ? pod.gpu_count : shape.gpu_count;
      if (pod.pod_type == "INTERRUPTABLE") {
        client_->Execute(
            "podBidResume", kBidResumeMutation,
            {{"input",
              {{"podId", pod.id}, {"bidPerGpu", gpu_info().minimum_bid}, {"gpuCount", count}}}});
      } else {
        client_->Execute("podResume", kResumeMutation,
                         {{"input", {{"podId", pod.id}, {"gpuCount", count}}}});
      }
      record.resumed_instance_ids.push_back(pod.id);
    }
  }
  const int missing = request.count - alive - static_cast<int>(record.resumed_instance_ids.size());
  if (missing <= 0) return record;
  const std::string image = request.image_id.empty() ? options_.image : request.image_id;
  std::optional<double> bid;
  if (request.use_spot) {
    // Today's minimum per GPU, as RunPod quotes it for this count.
    bid = gpu_info().minimum_bid;
  }
  const int memory_gb = gpu_info().memory_gb;
  std::vector<std::string> names;
  for (int i = 0; i < missing; ++i) {
    names.push_back(!have_head && i == 0 ? HeadName(on_cloud) : WorkerName(on_cloud));
  }
  // Every pod at once; the first error (capacity) is the launch's. Pods
  // that were made are found by name by `sky down` or the next try.
  std::vector<std::exception_ptr> failures(names.size());
  const auto ids = backend::remote::Parallel(names.size(), [&](size_t i) -> std::string {
    try {
      const json input = DeployInput(request, shape, names[i], image, memory_gb, bid);
      const json data =
          request.use_spot
              ? client_->Execute("podRentInterruptable", kRentMutation, {{"input", input}})
              : client_->Execute("podFindAndDeployOnDemand", kDeployMutation, {{"input", input}});
      const json pod = data.value(
          request.use_spot ? "podRentInterruptable" : "podFindAndDeployOnDemand", json());
      if (!pod.is_object() || !pod.contains("id") || !pod["id"].is_string()) {
        throw RunpodApiError(
            fmt::format("RunPod made no pod for {}: {}", names[i], data.dump()),
            RunpodErrorDetail{"podFindAndDeployOnDemand", "no pod in the answer", "", 200, 1});
      }
      return pod["id"].get<std::string>();
    } catch (...) {
      failures[i] = std::current_exception();
      return std::string();
    }
  });
  for (size_t i = 0; i < names.size(); ++i) {
    if (failures[i]) continue;
    record.created_instance_ids.push_back(ids[i]);
    if (!have_head && i == 0) record.head_instance_id = ids[i];
  }
  for (const auto& failure : failures) {
    if (failure) std::rethrow_exception(failure);
  }
  return record;
}

std::map<std::string, InstanceState> RunpodProvisioner::QueryInstances(
    const std::string&, const std::string& cluster_name_on_cloud, bool non_terminated_only) {
  std::map<std::string, InstanceState> states;
  for (const auto& pod : ClusterPods(cluster_name_on_cloud)) {
    if (non_terminated_only && pod.state == InstanceState::kTerminated) continue;
    states[pod.id] = pod.state;
  }
  return states;
}

std::map<std::string, std::string> RunpodProvisioner::StateReasons(
    const std::string&, const std::string& cluster_name_on_cloud) {
  std::map<std::string, std::string> reasons;
  for (const auto& pod : ClusterPods(cluster_name_on_cloud)) {
    // skycore never stops a spot pod: an exited one was outbid or preempted.
    if (pod.pod_type == "INTERRUPTABLE" && pod.state == InstanceState::kStopped) {
      reasons[pod.id] =
          pod.last_status_change.empty()
              ? std::string("spot pod preempted by RunPod")
              : fmt::format("spot pod preempted by RunPod: {}", pod.last_status_change);
    }
  }
  return reasons;
}

vm::ClusterInfo RunpodProvisioner::GetClusterInfo(const std::string& region,
                                                  const std::string& cluster_name_on_cloud) {
  vm::ClusterInfo info;
  info.region = region;
  info.ssh_user = options_.ssh_user;
  for (const auto& pod : ClusterPods(cluster_name_on_cloud)) {
    if (pod.state != InstanceState::kRunning) continue;
    vm::InstanceInfo instance;
    instance.instance_id = pod.id;
    instance.external_ip = pod.external_ip;
    instance.internal_ip = pod.internal_ip.empty() ? pod.external_ip : pod.internal_ip;
    instance.ssh_port = pod.ssh_port;
    instance.state = pod.state;
    instance.tags["name"] = pod.name;
    if (pod.head && info.head_instance_id.empty()) info.head_instance_id = pod.id;
    info.instances.push_back(std::move(instance));
  }
  if (info.head_instance_id.empty() && !info.instances.empty()) {
    info.head_instance_id = info.instances.front().instance_id;
  }
  return info;
}

void RunpodProvisioner::StopInstances(const std::string&, const std::string& cluster_name_on_cloud,
                                      bool worker_only) {
  std::vector<std::string> ids;
  for (const auto& pod : ClusterPods(cluster_name_on_cloud)) {
    if (worker_only && pod.head) continue;
    if (pod.state == InstanceState::kStopped || pod.state == InstanceState::kTerminated) continue;
    ids.push_back(pod.id);
  }
  // The caller waits for the states.
  backend::remote::Parallel(ids.size(), [&](size_t i) {
    return client_->Execute("podStop", kStopMutation, {{"input", {{"podId", ids[i]}}}});
  });
}

void RunpodProvisioner::TerminateInstances(const std::string&,
                                           const std::string& cluster_name_on_cloud,
                                           bool worker_only) {
  std::vector<std::string> ids;
  for (const auto& pod : ClusterPods(cluster_name_on_cloud)) {
    if (worker_only && pod.head) continue;
    if (pod.state == InstanceState::kTerminated) continue;
    ids.push_back(pod.id);
  }
  backend::remote::Parallel(ids.size(), [&](size_t i) {
    return client_->Execute("podTerminate", kTerminateMutation, {{"input", {{"podId", ids[i]}}}});
  });
}

void RunpodProvisioner::OpenPorts(const std::string&, const std::string& cluster_name_on_cloud,
                                  const std::vector<int>& ports) {
  // RunPod fixes a pod's ports when it is created and has no call to add
  // one later (SkyPilot opens them at launch only): ports the pods were made
  // with are fine, others are an error rather than a silent no-op.
  for (const auto& pod : ClusterPods(cluster_name_on_cloud)) {
    std::vector<std::string> missing;
    for (const int port : ports) {
      if (!HasPort(pod.ports, port)) missing.push_back(std::to_string(port));
    }
    if (!missing.empty()) {
      throw NotSupportedError(fmt::format(
          "RunPod cannot open port{} {} on pod {} of cluster '{}': a pod's ports are fixed when "
          "it is created (it has {}); `sky down` the cluster and launch it again with the ports",
          missing.size() == 1 ? "" : "s", strings::JoinQuoted(missing, " and "), pod.id,
          cluster_name_on_cloud, pod.ports.empty() ? "none" : pod.ports));
    }
  }
}

void RunpodProvisioner::CleanupPorts(const std::string&, const std::string&) {
  // Nothing outlives the pods.
}

}  // namespace skycore::runpod
