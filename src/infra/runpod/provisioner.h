// The RunPod Provisioner (src/infra/vm/provisioner.h): a cluster's pods,
// made and found through RunPod's GraphQL API (api_client.h).
//
// RunPod has no tags: as in SkyPilot, a cluster's pods are found by name in
// `myself { pods }`: `<name on cloud>-head` and `<name on cloud>-worker`
// (every worker has the same name). A pod is one GPU machine of an instance
// type of the catalog, `<count>x_<accelerator>_<cloud type>` (2x_L4_SECURE:
// two "NVIDIA L4" in RunPod's Secure Cloud), in a region (a country code,
// "US") and a zone (a data center id, "US-KS-2").
//
// Launch: podFindAndDeployOnDemand, or podRentInterruptable bidding the
// GPU's current minimum for spot; the image runs its own sshd with the
// PUBLIC_KEY of the pod's env authorized (as RunPod's images do). Stop is
// podStop (the container disk stays), start podResume (podBidResume for a
// spot pod), down podTerminate. A running pod's SSH is the public port
// mapped to its port 22 (runtime.ports).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "infra/runpod/api_client.h"
#include "infra/vm/provisioner.h"

namespace skycore::runpod {

struct RunpodProvisionerOptions {
  // RunPod's images log in as root; a test's machines as their own user.
  std::string ssh_user = "root";
  // SkyPilot's default image for RunPod when a task names none.
  std::string image = "runpod/base:1.0.2-ubuntu2204";
  // A pod starts (image pulled, sshd up) within this.
  std::chrono::seconds operation_timeout{900};
};

// What an instance type of the catalog asks RunPod for.
struct PodShape {
  std::string accelerator;  // the catalog's name: "L4"
  std::string gpu_type_id;  // RunPod's: "NVIDIA L4"
  int gpu_count = 1;
  std::string cloud_type = "SECURE";  // SECURE, COMMUNITY or ALL
};

// RunPod's GPU type id of a catalog accelerator name ("H100-SXM" ->
// "NVIDIA H100 80GB HBM3"); nullopt for a name RunPod has no id for here.
std::optional<std::string> GpuTypeId(const std::string& accelerator);

// "2x_L4_SECURE" as a PodShape. Throws InvalidTaskError for a type that is
// not `<count>x_<accelerator>_<cloud type>` or names an unknown GPU.
PodShape ParseInstanceType(const std::string& instance_type);

// A pod's state from its desiredStatus and whether it has a runtime (RunPod
// reports RUNNING from the moment it is asked for; the runtime and its
// ports appear once the container runs).
vm::InstanceState PodState(const std::string& desired_status, bool has_runtime);

// One pod as `myself { pods }` lists it.
struct Pod {
  std::string id;
  std::string name;
  std::string desired_status;
  std::string pod_type;  // RESERVED (on demand), INTERRUPTABLE (spot)
  std::string ports;     // as created: "22/tcp,8080/tcp"
  std::string last_status_change;
  int gpu_count = 0;
  bool head = false;
  bool has_runtime = false;
  std::string external_ip;  // the public port 22's address; empty until running
  int ssh_port = 0;         // ... and its public port
  std::string internal_ip;  // the private port's address (SkyPilot's internal IP)
  vm::InstanceState state = vm::InstanceState::kPending;
};

Pod ParsePod(const nlohmann::json& pod);

// The input of podFindAndDeployOnDemand (or, with `bid_per_gpu`,
// podRentInterruptable) for one pod named `name`.
nlohmann::json DeployInput(const vm::ProvisionRequest& request, const PodShape& shape,
                           const std::string& name, const std::string& image, int gpu_memory_gb,
                           std::optional<double> bid_per_gpu);

// What a RunPod error means for failover (the Provisioner's Classify).
std::optional<vm::ProvisionFailure> ClassifyRunpodError(const Error& error);

class RunpodProvisioner : public vm::Provisioner {
 public:
  RunpodProvisioner(std::shared_ptr<const RunpodClient> client, RunpodProvisionerOptions options);

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

  // The cluster's pods, the head first.
  std::vector<Pod> ClusterPods(const std::string& cluster_name_on_cloud) const;

 private:
  std::shared_ptr<const RunpodClient> client_;
  RunpodProvisionerOptions options_;
};

}  // namespace skycore::runpod
