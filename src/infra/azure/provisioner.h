// The Azure Provisioner (src/infra/vm/provisioner.h): a cluster's VMs and
// their network in one region, made with direct ARM calls in parallel.
//
// SkyPilot deploys an ARM template per cluster and per VM batch (a
// deployment is validated, expanded and run by ARM before the first resource
// exists: minutes). Here each resource is one PUT, all nodes at once, and
// every call is a long-running operation polled as ARM says (Retry-After):
//   resource group <name on cloud>-<region> (its own, tagged; or the
//     configured azure.resource_group_vm, shared),
//   then in parallel: network security group sky-<name>-nsg (SSH and the
//     task's ports) and virtual network sky-<name>-vnet with subnet default,
//   then per node in parallel: public IP <vm>-ip, NIC <vm>-nic, VM
//     <name on cloud>-<4 hex> (the OS disk and NIC deleted with it).
// Tags on every resource: skypilot-cluster-name and ray-cluster-name (the
// cluster's name on the cloud); on VMs also skypilot-head-node (1/0),
// ray-node-type (head/worker), skypilot-vm-id and the task's labels.
//
// Down deletes the VMs, then the cluster's resource group (everything in
// it); in a shared group, everything tagged with the cluster, dependants
// first. Both are found by tag after a crash.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "infra/azure/arm_client.h"
#include "infra/vm/provisioner.h"

namespace skycore::azure {

// API versions skycore speaks (those of azure-mgmt-compute/network/resource).
inline constexpr const char* kComputeApi = "2026-04-01";
inline constexpr const char* kNetworkApi = "2026-03-01";
inline constexpr const char* kResourcesApi = "2025-04-01";

struct AzureProvisionerOptions {
  // The VM's admin user, who gets skycore's key (Azure refuses root, admin
  // and other reserved names).
  std::string admin_user = "azureuser";
  // The user skycore logs in as: the admin user, unless an image has its own.
  std::string ssh_user = "azureuser";
  // "publisher:offer:sku:version" when a request names none.
  std::string image = "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest";
  // A shared resource group for every cluster (azure.resource_group_vm);
  // empty: one per cluster, deleted with it.
  std::string resource_group;
  // Long-running operations get this long (a VM: minutes on Azure).
  std::chrono::seconds operation_timeout{900};
};

// The resource group of a cluster.
std::string ResourceGroupName(const AzureProvisionerOptions& options,
                              const std::string& cluster_name_on_cloud, const std::string& region);

// "publisher:offer:sku:version" as an imageReference; a resource id
// ("/subscriptions/.../images/x" or a gallery image) as {"id": ...}. Throws
// InvalidTaskError for anything else.
nlohmann::json ImageReference(const std::string& image);

// What an Azure error means for failover (the Provisioner's Classify).
std::optional<vm::ProvisionFailure> ClassifyAzureError(const Error& error);

// An instance state from a VM's provisioning state and power state
// (instanceView codes "ProvisioningState/x", "PowerState/y"), as SkyPilot maps them.
vm::InstanceState VmState(const std::string& provisioning_state, const std::string& power_state);

class AzureProvisioner : public vm::Provisioner {
 public:
  AzureProvisioner(std::shared_ptr<const ArmClient> arm, AzureProvisionerOptions options);

  vm::ProvisionRequest Bootstrap(vm::ProvisionRequest request) override;
  vm::ProvisionRecord RunInstances(const vm::ProvisionRequest& request) override;
  vm::ClusterInfo GetClusterInfo(const std::string& region,
                                 const std::string& cluster_name_on_cloud) override;
  std::map<std::string, vm::InstanceState> QueryInstances(const std::string& region,
                                                          const std::string& cluster_name_on_cloud,
                                                          bool non_terminated_only) override;
  std::map<std::string, std::string> StateReasons(
      const std::string& region, const std::string& cluster_name_on_cloud) override;
  void StopInstances(const std::string& region, const std::string& cluster_name_on_cloud,
                     bool worker_only) override;
  void TerminateInstances(const std::string& region, const std::string& cluster_name_on_cloud,
                          bool worker_only) override;
  void OpenPorts(const std::string& region, const std::string& cluster_name_on_cloud,
                 const std::vector<int>& ports) override;
  void CleanupPorts(const std::string& region, const std::string& cluster_name_on_cloud) override;
  std::optional<vm::ProvisionFailure> Classify(const Error& error) const override;

 private:
  struct Vm {
    std::string name;
    nlohmann::json resource;
    vm::InstanceState state = vm::InstanceState::kPending;
    std::string power_state;
    bool head = false;
    bool spot = false;
  };
  std::vector<Vm> ClusterVms(const std::string& region, const std::string& cluster_name_on_cloud);
  std::string GroupPath(const std::string& region, const std::string& cluster_name_on_cloud) const;
  std::chrono::steady_clock::time_point Deadline() const;
  void CreateVm(const vm::ProvisionRequest& request, const std::string& name, bool head,
                const std::string& vm_id);

  std::shared_ptr<const ArmClient> arm_;
  AzureProvisionerOptions options_;
};

}  // namespace skycore::azure
