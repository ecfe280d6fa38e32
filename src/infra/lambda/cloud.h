// Lambda Cloud as a VM cloud (src/infra/vm/cluster.h): the provisioner with
// this machine's API key, the ssh user, what a head needs to call Lambda's
// API itself; and `sky check lambda`.
#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "infra/lambda/api_client.h"
#include "infra/lambda/provisioner.h"
#include "infra/vm/cluster.h"
#include "skycore/sdk.h"

namespace skycore::lambda {

// The `lambda:` section of `<state_dir>/config.yaml` as skycore reads it
// (SkyPilot has no such section).
struct LambdaSettings {
  // The user skycore logs in as; Lambda's image has `ubuntu`.
  std::string ssh_user = "ubuntu";
};

// skycore's keys: ssh_user.
const std::vector<std::string>& LambdaConfigKeys();

// Reads `lambda:` of the config file at `path` (absent: the defaults).
LambdaSettings ReadLambdaSettings(const std::filesystem::path& path);

// SKYCORE_LAMBDA_ENDPOINT, else Lambda's own.
std::string LambdaEndpoint(const EnvLookup& env);

class LambdaCloud : public vm::VmCloud {
 public:
  LambdaCloud(LambdaSettings settings, EnvLookup env);

  const infra::InfraDescriptor& descriptor() const override;
  // Throws InvalidCloudCredentials when no API key is found.
  std::unique_ptr<vm::Provisioner> ProvisionerFor(const std::string& region) const override;
  std::string SshUser() const override { return settings_.ssh_user; }
  std::string WhyNoStop() const override;
  // {"version": 1, "endpoint", "api_key", "source", "ssh_user"}.
  nlohmann::json HeadConfig(const std::string& region) const override;
  std::unique_ptr<vm::Provisioner> ProvisionerFromHeadConfig(
      const nlohmann::json& head_config) const override;

 private:
  LambdaSettings settings_;
  EnvLookup env_;
};

// `sky check lambda`: lists the instance types with the API key, and caches
// the result in <state_dir>/lambda/check.json (0600) for LambdaEnabled.
InfraCheck CheckLambda(const SkyOptions& options, const EnvLookup& env);

bool LambdaEnabled(const std::filesystem::path& state_dir);

// Catalog rows (Lambda's CSV layout) of what /instance-types says now: each
// type in each region with capacity, at its live price; the GPU's name and
// count read from the type's name ("gpu_8x_a100_80gb_sxm4": 8 A100-80GB).
std::string OfferingsCsv(const nlohmann::json& instance_types);

// The offerings the last `sky check lambda` saw, while they are fresh
// (`max_age_s`): the optimizer then plans with Lambda's live capacity and
// prices instead of the static catalog. nullopt: none, or too old.
std::optional<std::string> CachedLambdaOfferings(const std::filesystem::path& state_dir,
                                                 int64_t max_age_s = 1800);

}  // namespace skycore::lambda
