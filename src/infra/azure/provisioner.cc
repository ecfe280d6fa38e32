#include "infra/azure/provisioner.h"

#include <fmt/format.h>

#include <algorithm>
#include <random>
#include <set>
#include <thread>

#include "backend/remote_host.h"
#include "common/strings.h"

namespace skycore::azure {
namespace {

using nlohmann::json;
using vm::FailureKind;
using vm::InstanceState;

constexpr const char* kClusterTag = "skypilot-cluster-name";
constexpr const char* kRayClusterTag = "ray-cluster-name";
constexpr const char* kHeadTag = "skypilot-head-node";
constexpr const char* kNodeTypeTag = "ray-node-type";
constexpr const char* kVmIdTag = "skypilot-vm-id";
// The cluster's one subnet (a /16: room for any cluster size).
constexpr const char* kAddressSpace = "10.0.0.0/16";
// NSG rule priorities: SSH, then one per task port.
constexpr int kSshPriority = 1000;

json ClusterTags(const std::string& cluster_name_on_cloud) {
  return {{kClusterTag, cluster_name_on_cloud}, {kRayClusterTag, cluster_name_on_cloud}};
}

std::string NsgName(const std::string& on_cloud) { return fmt::format("sky-{}-nsg", on_cloud); }
std::string VnetName(const std::string& on_cloud) { return fmt::format("sky-{}-vnet", on_cloud); }

std::string RandomHex(size_t digits) {
  thread_local std::mt19937 random{std::random_device{}()};
  std::string text;
  for (size_t i = 0; i < digits; ++i) text.push_back("0123456789abcdef"[random() % 16]);
  return text;
}

// The instanceView status with code "<prefix>/<value>": the value.
std::string ViewStatus(const json& resource, const std::string& prefix) {
  const json view = resource.value("properties", json::object()).value("instanceView", json());
  if (!view.is_object()) return "";
  for (const auto& status : view.value("statuses", json::array())) {
    const std::string code = status.value("code", "");
    if (code.rfind(prefix + "/", 0) == 0) return code.substr(prefix.size() + 1);
  }
  return "";
}

json SecurityRule(const std::string& name, int priority, const std::string& port) {
  return {{"name", name},
          {"properties",
           {{"priority", priority},
            {"protocol", "Tcp"},
            {"access", "Allow"},
            {"direction", "Inbound"},
            {"sourceAddressPrefix", "*"},
            {"sourcePortRange", "*"},
            {"destinationAddressPrefix", "*"},
            {"destinationPortRange", port}}}};
}

std::string PortRuleName(int port) { return fmt::format("sky-port-{}", port); }

// The last path segment of a resource id.
std::string NameOf(const std::string& id) { return id.substr(id.rfind('/') + 1); }

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

bool IsNotFound(const ArmApiError& error) { return error.detail().http_status == 404; }

}  // namespace

std::string ResourceGroupName(const AzureProvisionerOptions& options,
                              const std::string& cluster_name_on_cloud, const std::string& region) {
  if (!options.resource_group.empty()) return options.resource_group;
  return fmt::format("{}-{}", cluster_name_on_cloud, region);
}

json ImageReference(const std::string& image) {
  if (image.rfind("/subscriptions/", 0) == 0 || image.rfind("/Subscriptions/", 0) == 0) {
    return {{"id", image}};
  }
  const auto parts = strings::Split(image, ':');
  if (parts.size() != 4 || std::any_of(parts.begin(), parts.end(),
                                       [](const std::string& part) { return part.empty(); })) {
    throw InvalidTaskError(fmt::format(
        "Azure image_id '{}' is neither publisher:offer:sku:version (e.g. "
        "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest) nor an image resource id",
        image));
  }
  return {{"publisher", parts[0]}, {"offer", parts[1]}, {"sku", parts[2]}, {"version", parts[3]}};
}

InstanceState VmState(const std::string& provisioning_state, const std::string& power_state) {
  if (provisioning_state == "Deleting") return InstanceState::kTerminating;
  if (provisioning_state != "Succeeded" && power_state.empty()) return InstanceState::kPending;
  if (power_state == "running") return InstanceState::kRunning;
  if (power_state == "stopping" || power_state == "deallocating") return InstanceState::kStopping;
  if (power_state == "stopped" || power_state == "deallocated") return InstanceState::kStopped;
  return InstanceState::kPending;  // starting, or not reported yet
}

std::optional<vm::ProvisionFailure> ClassifyAzureError(const Error& error) {
  if (const auto* refused = dynamic_cast<const ArmCredentialsRefused*>(&error)) {
    return vm::ProvisionFailure{FailureKind::kAuth, refused->detail().code, error.message()};
  }
  if (error.code() == ErrorCode::kCloudCredentials) {
    return vm::ProvisionFailure{FailureKind::kAuth, "", error.message()};
  }
  if (const auto* api = dynamic_cast<const ArmApiError*>(&error)) {
    const std::string& code = api->arm_code();
    static const std::set<std::string> kCapacity = {"AllocationFailed",
                                                    "ZonalAllocationFailed",
                                                    "OverconstrainedAllocationRequest",
                                                    "OverconstrainedZonalAllocationRequest",
                                                    "SkuNotAvailable",
                                                    "SpotMaxPriceTooLow",
                                                    "AllocationFailedVMSeriesNotSupported"};
    static const std::set<std::string> kQuota = {"QuotaExceeded", "SpotVMQuotaExceeded",
                                                 "LowPriorityQuotaExceeded"};
    const std::string lowered = Lower(api->detail().message);
    if (kCapacity.count(code)) {
      return vm::ProvisionFailure{FailureKind::kCapacity, code, error.message()};
    }
    if (kQuota.count(code) ||
        (code == "OperationNotAllowed" && lowered.find("quota") != std::string::npos)) {
      return vm::ProvisionFailure{
          FailureKind::kQuota, code,
          fmt::format("{} (a quota of the subscription in this region, per VM family: request "
                      "more in the Azure portal or try another region)",
                      error.message())};
    }
    if (code == "TooManyRequests" || code == "OperationTimedOut" || code.empty() ||
        code == "InternalServerError" || api->detail().http_status >= 500) {
      return vm::ProvisionFailure{FailureKind::kTransient, code, error.message()};
    }
    return vm::ProvisionFailure{FailureKind::kBadRequest, code, error.message()};
  }
  if (error.code() == ErrorCode::kResourcesUnavailable) {
    return vm::ProvisionFailure{FailureKind::kCapacity, "", error.message()};
  }
  if (error.code() == ErrorCode::kInvalidTask) {
    return vm::ProvisionFailure{FailureKind::kBadRequest, "", error.message()};
  }
  return std::nullopt;
}

AzureProvisioner::AzureProvisioner(std::shared_ptr<const ArmClient> arm,
                                   AzureProvisionerOptions options)
    : arm_(std::move(arm)), options_(std::move(options)) {}

std::optional<vm::ProvisionFailure> AzureProvisioner::Classify(const Error& error) const {
  return ClassifyAzureError(error);
}

std::chrono::steady_clock::time_point AzureProvisioner::Deadline() const {
  return std::chrono::steady_clock::now() + options_.operation_timeout;
}

std::string AzureProvisioner::GroupPath(const std::string& region,
                                        const std::string& cluster_name_on_cloud) const {
  return arm_->SubscriptionPath("/resourceGroups/" +
                                ResourceGroupName(options_, cluster_name_on_cloud, region));
}

vm::ProvisionRequest AzureProvisioner::Bootstrap(vm::ProvisionRequest request) {
  const std::string& on_cloud = request.cluster_name_on_cloud;
  const std::string group = GroupPath(request.region, on_cloud);
  const json tags = ClusterTags(on_cloud);
  if (options_.resource_group.empty()) {
    arm_->Run("PUT", group, kResourcesApi, {{"location", request.region}, {"tags", tags}},
              Deadline());
  } else if (!arm_->Get(group, kResourcesApi)) {
    throw InvalidCloudCredentials(fmt::format(
        "azure.resource_group_vm '{}' does not exist in subscription {} (or the identity cannot "
        "see it); create it, or remove the setting to give each cluster its own",
        options_.resource_group, arm_->subscription()));
  }
  const std::string nsg =
      group + "/providers/Microsoft.Network/networkSecurityGroups/" + NsgName(on_cloud);
  const std::string vnet =
      group + "/providers/Microsoft.Network/virtualNetworks/" + VnetName(on_cloud);
  json rules = json::array({SecurityRule("sky-ssh", kSshPriority, "22")});
  for (size_t i = 0; i < request.ports.size(); ++i) {
    rules.push_back(SecurityRule(PortRuleName(request.ports[i]),
                                 kSshPriority + 10 + static_cast<int>(i),
                                 std::to_string(request.ports[i])));
  }
  // Both at once: neither refers to the other (the NSG goes on each NIC).
  const auto nsg_operation = arm_->Begin(
      "PUT", nsg, kNetworkApi,
      {{"location", request.region}, {"tags", tags}, {"properties", {{"securityRules", rules}}}});
  const auto vnet_operation = arm_->Begin(
      "PUT", vnet, kNetworkApi,
      {{"location", request.region},
       {"tags", tags},
       {"properties",
        {{"addressSpace", {{"addressPrefixes", {kAddressSpace}}}},
         {"subnets", json::array({{{"name", "default"},
                                   {"properties", {{"addressPrefix", kAddressSpace}}}}})}}}});
  const auto deadline = Deadline();
  arm_->Wait(nsg_operation, deadline);
  arm_->Wait(vnet_operation, deadline);
  request.provider_config = {{"subscription_id", arm_->subscription()},
                             {"resource_group", NameOf(group)},
                             {"nsg_id", nsg},
                             {"subnet_id", vnet + "/subnets/default"}};
  return request;
}

void AzureProvisioner::CreateVm(const vm::ProvisionRequest& request, const std::string& name,
                                bool head, const std::string& vm_id) {
  const std::string group = GroupPath(request.region, request.cluster_name_on_cloud);
  const json cluster_tags = ClusterTags(request.cluster_name_on_cloud);
  const auto deadline = Deadline();
  const std::string ip = group + "/providers/Microsoft.Network/publicIPAddresses/" + name + "-ip";
  arm_->Run("PUT", ip, kNetworkApi,
            {{"location", request.region},
             {"tags", cluster_tags},
             {"sku", {{"name", "Standard"}}},
             {"properties", {{"publicIPAllocationMethod", "Static"}}}},
            deadline);
  const std::string nic = group + "/providers/Microsoft.Network/networkInterfaces/" + name + "-nic";
  arm_->Run(
      "PUT", nic, kNetworkApi,
      {{"location", request.region},
       {"tags", cluster_tags},
       {"properties",
        {{"networkSecurityGroup", {{"id", request.provider_config.value("nsg_id", "")}}},
         {"ipConfigurations",
          json::array({{{"name", "ipconfig1"},
                        {"properties",
                         {{"subnet", {{"id", request.provider_config.value("subnet_id", "")}}},
                          {"privateIPAllocationMethod", "Dynamic"},
                          {"publicIPAddress", {{"id", ip}}}}}}})}}}},
      deadline);
  json tags = request.labels;
  for (const auto& [key, value] : cluster_tags.items()) tags[key] = value;
  tags[kHeadTag] = head ? "1" : "0";
  tags[kNodeTypeTag] = head ? "head" : "worker";
  tags[kVmIdTag] = vm_id;
  json properties = {
      {"hardwareProfile", {{"vmSize", request.instance_type}}},
      {"storageProfile",
       {{"imageReference",
         ImageReference(request.image_id.empty() ? options_.image : request.image_id)},
        {"osDisk",
         {{"name", name + "-disk"},
          {"createOption", "FromImage"},
          {"deleteOption", "Delete"},
          {"diskSizeGB", request.disk_size_gb},
          {"managedDisk", {{"storageAccountType", "Premium_LRS"}}}}}}},
      {"osProfile",
       {{"computerName", name},
        {"adminUsername", options_.admin_user},
        {"linuxConfiguration",
         {{"disablePasswordAuthentication", true},
          {"ssh",
           {{"publicKeys", json::array({{{"path", fmt::format("/home/{}/.ssh/authorized_keys",
                                                              options_.admin_user)},
                                         {"keyData", request.ssh_public_key}}})}}}}}}},
      {"networkProfile",
       {{"networkInterfaces",
         json::array(
             {{{"id", nic}, {"properties", {{"primary", true}, {"deleteOption", "Delete"}}}}})}}}};
  if (request.use_spot) {
    // Deallocated on eviction, not deleted: the eviction stays visible to
    // `sky status -r` and a recovery can start the same VM again.
    properties["priority"] = "Spot";
    properties["evictionPolicy"] = "Deallocate";
    properties["billingProfile"] = {{"maxPrice", -1}};
  }
  arm_->Run("PUT", group + "/providers/Microsoft.Compute/virtualMachines/" + name, kComputeApi,
            {{"location", request.region}, {"tags", tags}, {"properties", properties}}, deadline);
}

std::vector<AzureProvisioner::Vm> AzureProvisioner::ClusterVms(
    const std::string& region, const std::string& cluster_name_on_cloud) {
  const std::string base =
      GroupPath(region, cluster_name_on_cloud) + "/providers/Microsoft.Compute/virtualMachines";
  std::vector<json> listed;
  try {
    listed = arm_->List(base + "?$expand=instanceView", kComputeApi);
  } catch (const ArmApiError& error) {
    if (IsNotFound(error)) return {};  // no resource group: no VMs
    throw;
  }
  std::vector<json> mine;
  for (auto& resource : listed) {
    const json tags = resource.value("tags", json::object());
    if (tags.is_object() && tags.value(kClusterTag, "") == cluster_name_on_cloud) {
      mine.push_back(std::move(resource));
    }
  }
  // A list without instance views (older API versions): one GET each, at once.
  const auto views = backend::remote::Parallel(mine.size(), [&](size_t i) {
    if (mine[i].value("properties", json::object()).contains("instanceView")) return mine[i];
    return arm_->Get(base + "/" + mine[i].value("name", "") + "?$expand=instanceView", kComputeApi)
        .value_or(mine[i]);
  });
  std::vector<Vm> vms;
  for (const auto& resource : views) {
    Vm vm;
    vm.name = resource.value("name", "");
    vm.resource = resource;
    const json properties = resource.value("properties", json::object());
    vm.power_state = ViewStatus(resource, "PowerState");
    vm.state = VmState(properties.value("provisioningState", ""), vm.power_state);
    const json tags = resource.value("tags", json::object());
    vm.head = tags.value(kHeadTag, "") == "1";
    vm.spot = properties.value("priority", "") == "Spot";
    vms.push_back(std::move(vm));
  }
  std::sort(vms.begin(), vms.end(),
            [](const Vm& a, const Vm& b) { return a.head != b.head ? a.head : a.name < b.name; });
  return vms;
}

vm::ProvisionRecord AzureProvisioner::RunInstances(const vm::ProvisionRequest& request) {
  const std::string& on_cloud = request.cluster_name_on_cloud;
  const std::string group = GroupPath(request.region, on_cloud);
  const auto vms = ClusterVms(request.region, on_cloud);
  vm::ProvisionRecord record;
  record.region = request.region;
  int alive = 0;
  bool have_head = false;
  std::vector<std::string> stopped;
  for (const auto& each : vms) {
    if (each.state == InstanceState::kRunning || each.state == InstanceState::kPending) {
      ++alive;
      if (each.head) {
        have_head = true;
        record.head_instance_id = each.name;
      }
    } else if (each.state == InstanceState::kStopped || each.state == InstanceState::kStopping) {
      stopped.push_back(each.name);
      if (each.head) {
        have_head = true;
        record.head_instance_id = each.name;
      }
    }
  }
  const auto deadline = Deadline();
  if (request.resume_stopped_nodes && !stopped.empty() && alive < request.count) {
    std::vector<ArmOperation> starts;
    for (const auto& name : stopped) {
      if (alive + static_cast<int>(record.resumed_instance_ids.size()) >= request.count) break;
      starts.push_back(arm_->Begin(
          "POST", group + "/providers/Microsoft.Compute/virtualMachines/" + name + "/start",
          kComputeApi));
      record.resumed_instance_ids.push_back(name);
    }
    for (const auto& operation : starts) arm_->Wait(operation, deadline);
  }
  const int missing = request.count - alive - static_cast<int>(record.resumed_instance_ids.size());
  if (missing > 0) {
    std::vector<std::string> names;
    for (int i = 0; i < missing; ++i) names.push_back(fmt::format("{}-{}", on_cloud, RandomHex(4)));
    const std::string vm_id = RandomHex(4);
    // Every node at once; the first error (capacity, quota) is the launch's.
    std::vector<std::exception_ptr> failures(names.size());
    backend::remote::Parallel(names.size(), [&](size_t i) {
      try {
        CreateVm(request, names[i], !have_head && i == 0, vm_id);
      } catch (...) {
        failures[i] = std::current_exception();
      }
      return 0;
    });
    for (size_t i = 0; i < names.size(); ++i) {
      if (!failures[i]) record.created_instance_ids.push_back(names[i]);
    }
    if (!have_head && !record.created_instance_ids.empty() && !failures[0]) {
      record.head_instance_id = names[0];
    }
    for (const auto& failure : failures) {
      if (failure) std::rethrow_exception(failure);
    }
  }
  return record;
}

std::map<std::string, InstanceState> AzureProvisioner::QueryInstances(
    const std::string& region, const std::string& cluster_name_on_cloud, bool) {
  std::map<std::string, InstanceState> states;
  for (const auto& each : ClusterVms(region, cluster_name_on_cloud)) states[each.name] = each.state;
  return states;
}

std::map<std::string, std::string> AzureProvisioner::StateReasons(
    const std::string& region, const std::string& cluster_name_on_cloud) {
  std::map<std::string, std::string> reasons;
  for (const auto& each : ClusterVms(region, cluster_name_on_cloud)) {
    // skycore never stops a Spot cluster: a deallocated Spot VM was evicted.
    if (each.spot && each.state == InstanceState::kStopped) {
      reasons[each.name] = fmt::format(
          "Spot VM evicted by Azure (PowerState/{}; priority Spot, evictionPolicy Deallocate)",
          each.power_state);
    }
  }
  return reasons;
}

vm::ClusterInfo AzureProvisioner::GetClusterInfo(const std::string& region,
                                                 const std::string& cluster_name_on_cloud) {
  const std::string group = GroupPath(region, cluster_name_on_cloud);
  const auto vms = ClusterVms(region, cluster_name_on_cloud);
  // Two lists instead of two GETs per VM.
  std::map<std::string, json> nics, ips;
  for (auto& nic :
       arm_->List(group + "/providers/Microsoft.Network/networkInterfaces", kNetworkApi)) {
    nics[Lower(nic.value("id", ""))] = nic;
  }
  for (auto& ip :
       arm_->List(group + "/providers/Microsoft.Network/publicIPAddresses", kNetworkApi)) {
    ips[Lower(ip.value("id", ""))] = ip;
  }
  vm::ClusterInfo info;
  info.region = region;
  info.ssh_user = options_.ssh_user;
  for (const auto& each : vms) {
    if (each.state == InstanceState::kTerminating || each.state == InstanceState::kTerminated) {
      continue;
    }
    vm::InstanceInfo instance;
    instance.instance_id = each.name;
    instance.state = each.state;
    const json tags = each.resource.value("tags", json::object());
    for (const auto& [key, value] : tags.items()) {
      if (value.is_string()) instance.tags[key] = value.get<std::string>();
    }
    const json interfaces = each.resource.value("properties", json::object())
                                .value("networkProfile", json::object())
                                .value("networkInterfaces", json::array());
    if (!interfaces.empty()) {
      const auto nic = nics.find(Lower(interfaces[0].value("id", "")));
      if (nic != nics.end()) {
        const json configs = nic->second.value("properties", json::object())
                                 .value("ipConfigurations", json::array());
        if (!configs.empty()) {
          const json properties = configs[0].value("properties", json::object());
          instance.internal_ip = properties.value("privateIPAddress", "");
          const auto ip =
              ips.find(Lower(properties.value("publicIPAddress", json::object()).value("id", "")));
          if (ip != ips.end()) {
            instance.external_ip =
                ip->second.value("properties", json::object()).value("ipAddress", "");
          }
        }
      }
    }
    if (each.head) info.head_instance_id = each.name;
    info.instances.push_back(std::move(instance));
  }
  if (info.head_instance_id.empty() && !info.instances.empty()) {
    info.head_instance_id = info.instances.front().instance_id;
  }
  return info;
}

void AzureProvisioner::StopInstances(const std::string& region,
                                     const std::string& cluster_name_on_cloud, bool worker_only) {
  const std::string base =
      GroupPath(region, cluster_name_on_cloud) + "/providers/Microsoft.Compute/virtualMachines/";
  for (const auto& each : ClusterVms(region, cluster_name_on_cloud)) {
    if (worker_only && each.head) continue;
    if (each.state == InstanceState::kStopped) continue;
    // Deallocate, not power off: a powered-off VM is still billed. The
    // caller waits for the states.
    arm_->Begin("POST", base + each.name + "/deallocate", kComputeApi);
  }
}

void AzureProvisioner::TerminateInstances(const std::string& region,
                                          const std::string& cluster_name_on_cloud,
                                          bool worker_only) {
  const std::string base =
      GroupPath(region, cluster_name_on_cloud) + "/providers/Microsoft.Compute/virtualMachines/";
  for (const auto& each : ClusterVms(region, cluster_name_on_cloud)) {
    if (worker_only && each.head) continue;
    if (each.state == InstanceState::kTerminating) continue;
    // Its OS disk and NIC go with it (deleteOption); the rest goes with
    // the network in CleanupPorts.
    arm_->Begin("DELETE", base + each.name, kComputeApi);
  }
}

void AzureProvisioner::OpenPorts(const std::string& region,
                                 const std::string& cluster_name_on_cloud,
                                 const std::vector<int>& ports) {
  const std::string nsg = GroupPath(region, cluster_name_on_cloud) +
                          "/providers/Microsoft.Network/networkSecurityGroups/" +
                          NsgName(cluster_name_on_cloud);
  const auto existing = arm_->Get(nsg, kNetworkApi);
  if (!existing) {
    throw ResourcesUnavailableError(
        fmt::format("the network security group of cluster '{}' is gone", cluster_name_on_cloud));
  }
  std::set<std::string> have;
  int priority = kSshPriority + 10;
  for (const auto& rule :
       existing->value("properties", json::object()).value("securityRules", json::array())) {
    have.insert(rule.value("name", ""));
    priority =
        std::max(priority, rule.value("properties", json::object()).value("priority", 0) + 1);
  }
  std::vector<ArmOperation> operations;
  for (const int port : ports) {
    if (have.count(PortRuleName(port))) continue;
    const json rule = SecurityRule(PortRuleName(port), priority++, std::to_string(port));
    operations.push_back(arm_->Begin("PUT", nsg + "/securityRules/" + PortRuleName(port),
                                     kNetworkApi, {{"properties", rule["properties"]}}));
  }
  const auto deadline = Deadline();
  for (const auto& operation : operations) arm_->Wait(operation, deadline);
}

void AzureProvisioner::CleanupPorts(const std::string& region,
                                    const std::string& cluster_name_on_cloud) {
  const std::string group = GroupPath(region, cluster_name_on_cloud);
  const auto deadline = Deadline();
  if (options_.resource_group.empty()) {
    // The cluster's own group: everything in it goes with it.
    arm_->Run("DELETE", group, kResourcesApi, nullptr, deadline);
    return;
  }
  // A shared group: what carries the cluster's tag, dependants first.
  const auto tagged = arm_->List(
      group + fmt::format("/resources?$filter={}",
                          strings::UrlEncode(fmt::format("tagName eq '{}' and tagValue eq '{}'",
                                                         kClusterTag, cluster_name_on_cloud))),
      kResourcesApi);
  static const std::vector<std::string> kOrder = {
      "microsoft.compute/virtualmachines",       "microsoft.compute/disks",
      "microsoft.network/networkinterfaces",     "microsoft.network/publicipaddresses",
      "microsoft.network/networksecuritygroups", "microsoft.network/virtualnetworks"};
  for (const auto& type : kOrder) {
    std::vector<ArmOperation> operations;
    for (const auto& resource : tagged) {
      if (Lower(resource.value("type", "")) != type) continue;
      const std::string api = type.rfind("microsoft.compute", 0) == 0 ? kComputeApi : kNetworkApi;
      operations.push_back(arm_->Begin("DELETE", resource.value("id", ""), api));
    }
    for (const auto& operation : operations) arm_->Wait(operation, deadline);
  }
}

}  // namespace skycore::azure
