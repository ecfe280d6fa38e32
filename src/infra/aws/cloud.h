// AWS as a VM cloud (src/infra/vm/cluster.h): the provisioner of a region
// with this machine's credentials, the ssh user, what a head needs to call
// EC2 itself; and `sky check aws`.
#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "infra/aws/credentials.h"
#include "infra/aws/provisioner.h"
#include "infra/vm/cluster.h"
#include "skycore/sdk.h"

namespace skycore::aws {

// The `aws:` section of `<state_dir>/config.yaml` as skycore reads it.
struct AwsSettings {
  std::string ssh_user = "ubuntu";  // aws.ssh_user (a skycore extension)
  std::string image_id;             // aws.image_id: the default image in every region
  std::string image_name_filter;    // aws.image_name_filter: else found by name
};

// The keys an `aws:` section may have: SkyPilot's, plus skycore's
// ssh_user, image_id and image_name_filter.
const std::vector<std::string>& AwsConfigKeys();

// Reads `aws:` of the config file at `path` (absent: the defaults). Throws
// InvalidSkyPilotConfigError naming the file and field for an unknown key
// (with close matches) or a value that is not a string.
AwsSettings ReadAwsSettings(const std::filesystem::path& path);

class AwsCloud : public vm::VmCloud {
 public:
  AwsCloud(AwsSettings settings, CredentialsOptions credentials);

  const infra::InfraDescriptor& descriptor() const override;
  // Resolves the credentials chain now (InvalidCloudCredentials saying why
  // each source gave nothing).
  std::unique_ptr<vm::Provisioner> ProvisionerFor(const std::string& region) const override;
  std::string SshUser() const override { return settings_.ssh_user; }
  // {"version": 1, "region", "access_key_id", "secret_access_key",
  // "session_token", "expires_at" (Unix s, when they expire),
  // "credentials_source", "ec2_endpoint", "sts_endpoint", "ssh_user", ...}.
  nlohmann::json HeadConfig(const std::string& region) const override;
  std::unique_ptr<vm::Provisioner> ProvisionerFromHeadConfig(
      const nlohmann::json& head_config) const override;

  AwsProvisionerOptions ProvisionerOptions() const;

 private:
  AwsSettings settings_;
  CredentialsOptions credentials_;
};

// `sky check aws`: resolves the credentials, asks STS who they are
// (GetCallerIdentity) and EC2 for the regions, and caches the result in
// AwsCheckCachePath (0600) for AwsEnabled. Problems are the result's reason,
// never thrown.
InfraCheck CheckAws(const SkyOptions& options, const CredentialsOptions& credentials);

// `<state_dir>/aws/check.json`.
std::filesystem::path AwsCheckCachePath(const std::filesystem::path& state_dir);

// Whether the last CheckAws found AWS usable (reads its cache; no network).
bool AwsEnabled(const std::filesystem::path& state_dir);

}  // namespace skycore::aws
