// Azure as a VM cloud (src/infra/vm/cluster.h): the provisioner of a region
// with this machine's credentials and subscription, the ssh user, what a
// head needs to call ARM itself; and `sky check azure`.
#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "infra/azure/arm_client.h"
#include "infra/azure/credentials.h"
#include "infra/azure/provisioner.h"
#include "infra/vm/cluster.h"
#include "skycore/sdk.h"

namespace skycore::azure {

// The `azure:` section of `<state_dir>/config.yaml` as skycore reads it.
struct AzureSettings {
  std::string resource_group_vm;  // SkyPilot's: one shared resource group
  std::string subscription_id;    // skycore's: else AZURE_SUBSCRIPTION_ID, else the CLI's
  std::string arm_endpoint;       // else AZURE_RESOURCE_MANAGER_ENDPOINT, else management.azure.com
  // The user skycore logs in as; the VM's admin user (who gets the key) is
  // always azureuser. Set for images with a user of their own.
  std::string ssh_user = "azureuser";
  std::string image_id;  // publisher:offer:sku:version for every region
};

// SkyPilot's keys plus skycore's subscription_id, arm_endpoint, ssh_user, image_id.
const std::vector<std::string>& AzureConfigKeys();

// Reads `azure:` of the config file at `path` (absent: the defaults).
AzureSettings ReadAzureSettings(const std::filesystem::path& path);

// Where ARM is and whose subscription, resolved from settings and environment.
struct AzureAccess {
  std::string arm_endpoint;
  std::string subscription;
  std::shared_ptr<TokenProvider> tokens;
};

class AzureCloud : public vm::VmCloud {
 public:
  AzureCloud(AzureSettings settings, CredentialsOptions credentials);

  const infra::InfraDescriptor& descriptor() const override;
  std::unique_ptr<vm::Provisioner> ProvisionerFor(const std::string& region) const override;
  std::string SshUser() const override { return settings_.ssh_user; }
  // {"version": 1, "region", "subscription", "arm_endpoint", "authority",
  // the service principal's (or workload identity's) client credentials, or
  // else an access token and its expiry, "ssh_user", "resource_group_vm"}.
  nlohmann::json HeadConfig(const std::string& region) const override;
  std::unique_ptr<vm::Provisioner> ProvisionerFromHeadConfig(
      const nlohmann::json& head_config) const override;

  // The endpoint, subscription and token source; throws
  // InvalidCloudCredentials when no subscription can be found.
  AzureAccess Access() const;
  AzureProvisionerOptions ProvisionerOptions() const;

 private:
  AzureSettings settings_;
  CredentialsOptions credentials_;
  std::shared_ptr<TokenProvider> tokens_;
};

// `sky check azure`: gets a token, reads the subscription from ARM, and
// caches the result in <state_dir>/azure/check.json (0600) for AzureEnabled.
InfraCheck CheckAzure(const SkyOptions& options, const CredentialsOptions& credentials);

bool AzureEnabled(const std::filesystem::path& state_dir);

}  // namespace skycore::azure
