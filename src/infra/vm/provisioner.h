// The VM-cloud half of the infra seam (AWS, Azure, GCP, Lambda, RunPod, ...).
//
// A cloud implements a Provisioner: the calls of its API that make, find,
// stop and remove the instances of one cluster, in the order and with the
// names of SkyPilot's sky/provision/ interface. Everything else is shared by
// every cloud and by SSH node pools: failover across zones, regions and
// clouds (lifecycle's candidate loop, steered by FailureKind), the nodes as
// SSH-reachable hosts (src/backend/remote_host.h: agent bring-up, file sync,
// ranks over ssh, teardown), and the state store's record of every instance
// before it is asked for. A cloud's folder then holds its API client, its
// Provisioner and its error classification, and nothing else.
//
// Instances are found by tag (`skypilot-cluster-name` = the cluster's name on
// the cloud), never only by ids kept here: after a crash, QueryInstances
// finds what a launch left, so `sky down` removes it and a relaunch reuses it.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "skycore/error.h"

namespace skycore::vm {

// What a launch asks a cloud for (SkyPilot's ProvisionConfig).
struct ProvisionRequest {
  std::string cluster_name;           // as the user named it
  std::string cluster_name_on_cloud;  // unique per user: the tag instances carry
  std::string region;
  std::string zone;  // empty: the cloud picks one in the region
  std::string instance_type;
  std::string accelerator;  // the catalog's name ("T4"); empty: none
  int accelerator_count = 0;
  int count = 1;  // nodes, the head included
  bool use_spot = false;
  int disk_size_gb = 256;
  std::string image_id;  // empty: the cloud's default image for skycore
  std::vector<int> ports;
  std::map<std::string, std::string> labels;  // the task's labels, as tags
  std::string ssh_user;
  std::string ssh_public_key;
  bool resume_stopped_nodes = true;
  nlohmann::json provider_config;  // the cloud's own settings (VPC, subnet, ...)
};

enum class InstanceState { kPending, kRunning, kStopping, kStopped, kTerminating, kTerminated };

// "pending", "running", ..., "shutting-down", "terminated": how progress
// lines and messages name a state (EC2's words, which most clouds share).
inline const char* InstanceStateName(InstanceState state) {
  switch (state) {
    case InstanceState::kPending:
      return "pending";
    case InstanceState::kRunning:
      return "running";
    case InstanceState::kStopping:
      return "stopping";
    case InstanceState::kStopped:
      return "stopped";
    case InstanceState::kTerminating:
      return "shutting-down";
    case InstanceState::kTerminated:
      return "terminated";
  }
  return "unknown";
}

struct InstanceInfo {
  std::string instance_id;
  std::string internal_ip;
  std::string external_ip;  // empty where the cloud gives none
  int ssh_port = 22;
  InstanceState state = InstanceState::kPending;
  std::map<std::string, std::string> tags;
};

// Where the nodes of a provisioned cluster are (SkyPilot's ClusterInfo).
struct ClusterInfo {
  std::string region;
  std::string zone;
  std::string ssh_user;
  std::string head_instance_id;
  std::vector<InstanceInfo> instances;  // the head first
};

// What RunInstances did (SkyPilot's ProvisionRecord).
struct ProvisionRecord {
  std::string region;
  std::string zone;
  std::string head_instance_id;
  std::vector<std::string> created_instance_ids;
  std::vector<std::string> resumed_instance_ids;
};

// How a failed call steers failover.
enum class FailureKind {
  kCapacity,    // no capacity here (zone): the next zone, then region, then cloud
  kQuota,       // the account's quota in this region: the next region
  kAuth,        // credentials refused or missing: stop, and say which source was used
  kBadRequest,  // the request itself is wrong (image, instance type): stop
  kTransient,   // throttled or a 5xx: the same call again, bounded
};

// A cloud error, classified. Capacity and quota read as
// ResourcesUnavailableError to the failover loop; the rest stop the launch.
struct ProvisionFailure {
  FailureKind kind = FailureKind::kBadRequest;
  std::string cloud_code;  // the provider's code ("InsufficientInstanceCapacity")
  std::string message;
};

class Provisioner {
 public:
  virtual ~Provisioner() = default;

  // Creates what instances need besides themselves (security group, key
  // pair, network), idempotently; returns `request` completed with it.
  virtual ProvisionRequest Bootstrap(ProvisionRequest request) = 0;
  // Makes `request.count` instances carry the cluster's tag: reuses running
  // ones, resumes stopped ones (when asked), creates the rest. Idempotent.
  virtual ProvisionRecord RunInstances(const ProvisionRequest& request) = 0;
  // Waits until every instance of the cluster is in `state`, or the deadline
  // (ResourcesUnavailableError). The default asks QueryInstances once a
  // second (terminated instances included when waiting for kTerminated).
  virtual void WaitInstances(const std::string& region, const std::string& cluster_name_on_cloud,
                             InstanceState state, std::chrono::steady_clock::time_point deadline);
  virtual ClusterInfo GetClusterInfo(const std::string& region,
                                     const std::string& cluster_name_on_cloud) = 0;
  // The cluster's instances by tag (after a crash too); `non_terminated_only`
  // leaves out the terminated ones.
  virtual std::map<std::string, InstanceState> QueryInstances(
      const std::string& region, const std::string& cluster_name_on_cloud,
      bool non_terminated_only) = 0;
  // Why instances of the cluster (terminated ones included) are in the
  // state they are, in the cloud's words ("Server.SpotInstanceTermination:
  // ..."), by instance id; only those the cloud gives a reason for.
  virtual std::map<std::string, std::string> StateReasons(
      const std::string& /*region*/, const std::string& /*cluster_name_on_cloud*/) {
    return {};
  }
  virtual void StopInstances(const std::string& region, const std::string& cluster_name_on_cloud,
                             bool worker_only) = 0;
  virtual void TerminateInstances(const std::string& region,
                                  const std::string& cluster_name_on_cloud, bool worker_only) = 0;
  virtual void OpenPorts(const std::string& region, const std::string& cluster_name_on_cloud,
                         const std::vector<int>& ports) = 0;
  virtual void CleanupPorts(const std::string& region,
                            const std::string& cluster_name_on_cloud) = 0;

  // What an error of this cloud's API means for failover; nullopt when the
  // error is not the cloud's (a bug here, a local I/O error).
  virtual std::optional<ProvisionFailure> Classify(const Error& error) const = 0;

  // Where a provisioner says what it waits for (a cloud's rate limit): one
  // line of the launch's progress. Unset: nowhere.
  virtual void SetProgress(std::function<void(const std::string&)> progress) {
    progress_ = std::move(progress);
  }

 protected:
  const std::function<void(const std::string&)>& progress() const { return progress_; }

 private:
  std::function<void(const std::string&)> progress_;
};

}  // namespace skycore::vm
