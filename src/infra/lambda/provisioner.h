// The Lambda Cloud Provisioner (src/infra/vm/provisioner.h), in SkyPilot's
// order and names.
//
// Lambda instances have no tags: a cluster's instances are found by name in
// GET /instances, `<name on cloud>-head` and `<name on cloud>-worker` (every
// worker has the same name). A launch asks for the head (quantity 1), then
// for the workers (quantity n-1) in one more request; before either, GET
// /instance-types says whether the region has capacity at all, as SkyPilot
// does (launches are rate limited to about one per 10 s, the rest of the API
// is not).
//
// skycore's public key is registered once per account under
// `sky-key-<8 hex of the key>` (or `-N` after it when that name holds
// another key), found again by its public key.
//
// Lambda cannot stop an instance: it runs, and is billed, until it is
// terminated. StopInstances says so (NotSupportedError) and stops nothing.
// Ports are opened with account-wide firewall rules (tcp from anywhere);
// they are left when a cluster goes, since another cluster may use them.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "infra/lambda/api_client.h"
#include "infra/vm/provisioner.h"

namespace skycore::lambda {

struct LambdaProvisionerOptions {
  std::string ssh_user = "ubuntu";  // the user of Lambda's image
  std::chrono::seconds operation_timeout{900};
};

// An instance state from Lambda's status: booting -> pending, active ->
// running, unhealthy -> pending (SkyPilot's INIT: it is there but not
// usable), terminating, terminated; anything else pending.
vm::InstanceState LambdaState(const std::string& status);

// `sky-key-<8 hex>` for a public key (its type and key, not its comment).
std::string SshKeyPrefix(const std::string& public_key);

// The name under which `public_key` is (or is to be) registered, given the
// account's keys: the name of a key with this public key and the prefix;
// else the prefix when no key has it, else `<prefix>-<N>` with N one more
// than any taken. `exists`: whether the key is registered already.
std::string UniqueSshKeyName(const std::vector<nlohmann::json>& keys, const std::string& prefix,
                             const std::string& public_key, bool& exists);

// The rules with a tcp rule from anywhere for each port no rule covers yet;
// nullopt when every port is covered already.
std::optional<std::vector<nlohmann::json>> RulesWithPorts(std::vector<nlohmann::json> rules,
                                                          const std::vector<int>& ports);

// Why `sky stop` is refused on Lambda (SkyPilot's words first).
inline constexpr const char* kNoStop =
    "Lambda Cloud does not support stopping VMs: an instance runs, and is billed, until it is "
    "terminated";

// What a Lambda error means for failover (the Provisioner's Classify).
std::optional<vm::ProvisionFailure> ClassifyLambdaError(const Error& error);

class LambdaProvisioner : public vm::Provisioner {
 public:
  LambdaProvisioner(std::shared_ptr<const LambdaClient> client, LambdaProvisionerOptions options);

  // Also where the client says it waits out Lambda's rate limit.
  void SetProgress(std::function<void(const std::string&)> progress) override;
  vm::ProvisionRequest Bootstrap(vm::ProvisionRequest request) override;
  vm::ProvisionRecord RunInstances(const vm::ProvisionRequest& request) override;
  vm::ClusterInfo GetClusterInfo(const std::string& region,
                                 const std::string& cluster_name_on_cloud) override;
  std::map<std::string, vm::InstanceState> QueryInstances(const std::string& region,
                                                          const std::string& cluster_name_on_cloud,
                                                          bool non_terminated_only) override;
  void StopInstances(const std::string& region, const std::string& cluster_name_on_cloud,
                     bool worker_only) override;
  void TerminateInstances(const std::string& region, const std::string& cluster_name_on_cloud,
                          bool worker_only) override;
  void OpenPorts(const std::string& region, const std::string& cluster_name_on_cloud,
                 const std::vector<int>& ports) override;
  void CleanupPorts(const std::string& region, const std::string& cluster_name_on_cloud) override;
  std::optional<vm::ProvisionFailure> Classify(const Error& error) const override;

  // The registered name of `public_key`, registering it when needed.
  std::string EnsureSshKey(const std::string& public_key);

 private:
  struct Instance {
    std::string id;
    std::string status;
    bool head = false;
    nlohmann::json resource;
  };
  // The cluster's instances (by name), the head first.
  std::vector<Instance> ClusterInstances(const std::string& region,
                                         const std::string& cluster_name_on_cloud) const;

  std::shared_ptr<const LambdaClient> client_;
  LambdaProvisionerOptions options_;
};

}  // namespace skycore::lambda
