// The GCP Provisioner (src/infra/vm/provisioner.h): a cluster's Compute
// Engine instances in one zone of a region, made in parallel.
//
// Names and labels as SkyPilot's: instances `<name on cloud>-<4 hex>-head`
// and `-worker`, labelled skypilot-cluster-name and ray-cluster-name (the
// cluster's name on the cloud), skypilot-head-node (1/0), ray-node-type
// (head/worker) and the task's labels; the network tag <name on cloud> on
// every instance, which the cluster's firewall rule `user-ports-<name on
// cloud>` (the task's ports) targets. SSH comes through the VPC's own rules
// (the default network's default-allow-ssh). GPUs: N1 machine types get
// guestAccelerators; A2/A3/G2 have theirs built in; either way the instance
// is TERMINATEd on host maintenance, as GCE requires. Spot: provisioningModel
// SPOT, stopped (not deleted) when preempted, so `sky status -r` sees it.
//
// TPU VMs (`accelerators: tpu-v5litepod-8`, instance type TPU-VM) are nodes
// of the Cloud TPU v2 API instead, named and labelled the same way, one per
// cluster node; single-host slices only so far.
//
// Instances are found by label after a crash (one aggregated list for the
// region, and the TPU nodes of its TPU zones); down deletes them, then the
// firewall rule.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "infra/gcp/compute_client.h"
#include "infra/vm/provisioner.h"

namespace skycore::gcp {

struct GcpProvisionerOptions {
  // The user whose key goes in the instances' ssh-keys metadata.
  std::string key_user = "gcpuser";
  // The user skycore logs in as: the key's user, unless an image has its own.
  std::string ssh_user = "gcpuser";
  // Images when a request names none (SkyPilot's choice of families).
  std::string cpu_image = "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts";
  std::string gpu_image =
      "projects/deeplearning-platform-release/global/images/family/common-cu122-ubuntu-2204-py310";
  std::string network = "default";  // gcp.vpc_name
  std::chrono::seconds operation_timeout{900};
};

// A name GCE takes for instances, labels and firewall rules (RFC 1035:
// lowercase letters, digits and dashes, a letter first).
std::string GceName(const std::string& text);

// GCE's accelerator type of a catalog GPU name ("T4" -> "nvidia-tesla-t4");
// empty when GCP has no such GPU.
std::string GceAcceleratorType(const std::string& accelerator);

// An instance state from GCE's status, as SkyPilot maps it (TERMINATED is a
// stopped instance on GCE; a deleted one is not listed at all).
vm::InstanceState InstanceStateOf(const std::string& status);
// The same for a TPU node's state (READY, STOPPED, PREEMPTED, ...).
vm::InstanceState TpuStateOf(const std::string& state);

// The TPU API's accelerator type of a catalog name ("tpu-v5litepod-8" ->
// "v5litepod-8"; "tpu-v5e-8" too); empty when `accelerator` is no TPU.
std::string TpuAcceleratorType(const std::string& accelerator);

// What a GCP error means for failover (the Provisioner's Classify).
std::optional<vm::ProvisionFailure> ClassifyGcpError(const Error& error);

class GcpProvisioner : public vm::Provisioner {
 public:
  // `tpu`: a client of the Cloud TPU v2 API (same credentials); null: no TPUs.
  GcpProvisioner(std::shared_ptr<const ComputeClient> compute,
                 std::shared_ptr<const ComputeClient> tpu, GcpProvisionerOptions options);

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
  struct Instance {
    std::string name;
    std::string zone;
    std::string tpu_node;  // a TPU node's resource name; empty: a GCE instance
    nlohmann::json labels;
    std::string internal_ip;
    std::string external_ip;
    vm::InstanceState state = vm::InstanceState::kPending;
    std::string status;  // GCE's (or the TPU API's)
    bool head = false;
    bool spot = false;
  };
  std::vector<Instance> TpuNodes(const std::string& region, const std::string& label) const;
  void CreateTpu(const vm::ProvisionRequest& request, const std::string& name, bool head,
                 std::chrono::steady_clock::time_point deadline) const;
  std::vector<Instance> ClusterInstances(const std::string& region,
                                         const std::string& cluster_name_on_cloud) const;
  std::vector<std::string> Zones(const std::string& region) const;
  std::chrono::steady_clock::time_point Deadline() const;
  nlohmann::json InstanceBody(const vm::ProvisionRequest& request, const std::string& name,
                              bool head) const;

  std::shared_ptr<const ComputeClient> compute_;
  std::shared_ptr<const ComputeClient> tpu_;
  GcpProvisionerOptions options_;
  mutable std::mutex mutex_;
  mutable std::map<std::string, std::vector<std::string>> zones_;  // by region
};

}  // namespace skycore::gcp
