// RunPod as a VM cloud (src/infra/vm/cluster.h): the provisioner with this
// machine's API key, the ssh user, what a head needs to call RunPod itself;
// and `sky check runpod`.
#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "infra/runpod/api_client.h"
#include "infra/runpod/provisioner.h"
#include "infra/vm/cluster.h"
#include "skycore/sdk.h"

namespace skycore::runpod {

// The `runpod:` section of `<state_dir>/config.yaml` as skycore reads it.
// SkyPilot has no keys there; skycore's ssh_user is for images (and test
// machines) that log in as another user than root.
struct RunpodSettings {
  std::string ssh_user = "root";
};

const std::vector<std::string>& RunpodConfigKeys();

// Reads `runpod:` of the config file at `path` (absent: the defaults).
RunpodSettings ReadRunpodSettings(const std::filesystem::path& path);

// SKYCORE_RUNPOD_ENDPOINT, else RunPod's GraphQL URL.
std::string EndpointFrom(const EnvLookup& env);

class RunpodCloud : public vm::VmCloud {
 public:
  RunpodCloud(RunpodSettings settings, EnvLookup env);

  const infra::InfraDescriptor& descriptor() const override;
  // Throws InvalidCloudCredentials saying which key sources were tried.
  std::unique_ptr<vm::Provisioner> ProvisionerFor(const std::string& region) const override;
  std::string SshUser() const override { return settings_.ssh_user; }
  // {"version": 1, "endpoint", "api_key", "source", "ssh_user"}: the key
  // travels to the head (in the 0600 file the backend writes there).
  nlohmann::json HeadConfig(const std::string& region) const override;
  std::unique_ptr<vm::Provisioner> ProvisionerFromHeadConfig(
      const nlohmann::json& head_config) const override;

 private:
  RunpodProvisionerOptions ProvisionerOptions() const;

  RunpodSettings settings_;
  EnvLookup env_;
};

// `sky check runpod`: finds the key, asks RunPod `myself { id }` with it,
// and caches the result in <state_dir>/runpod/check.json (0600) for
// RunpodEnabled.
InfraCheck CheckRunpod(const SkyOptions& options, const EnvLookup& env);

bool RunpodEnabled(const std::filesystem::path& state_dir);

}  // namespace skycore::runpod
