// GCP as a VM cloud (src/infra/vm/cluster.h): the provisioner of a region
// with this machine's Application Default Credentials and project, the ssh
// user, what a head needs to call Compute Engine itself; and `sky check gcp`.
#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "infra/gcp/compute_client.h"
#include "infra/gcp/credentials.h"
#include "infra/gcp/provisioner.h"
#include "infra/vm/cluster.h"
#include "skycore/sdk.h"

namespace skycore::gcp {

inline constexpr const char* kDefaultComputeEndpoint = "https://compute.googleapis.com/compute/v1/";
inline constexpr const char* kDefaultTpuEndpoint = "https://tpu.googleapis.com/v2/";

// The `gcp:` section of `<state_dir>/config.yaml` as skycore reads it.
struct GcpSettings {
  std::string vpc_name;          // SkyPilot's: the network instances join (default: default)
  std::string project_id;        // skycore's: else GOOGLE_CLOUD_PROJECT, the key's, gcloud's
  std::string compute_endpoint;  // skycore's: else SKYCORE_GCP_COMPUTE_ENDPOINT, else Google's
  std::string tpu_endpoint;      // skycore's: else SKYCORE_GCP_TPU_ENDPOINT, else Google's
  // The user skycore logs in as; the key is always installed for gcpuser
  // (SkyPilot's). Set for images with a user of their own.
  std::string ssh_user = "gcpuser";
  std::string image_id;  // an image link (projects/P/global/images/[family/]NAME) for every node
};

// SkyPilot's keys plus skycore's project_id, compute_endpoint, ssh_user, image_id.
const std::vector<std::string>& GcpConfigKeys();

// Reads `gcp:` of the config file at `path` (absent: the defaults).
GcpSettings ReadGcpSettings(const std::filesystem::path& path);

class GcpCloud : public vm::VmCloud {
 public:
  GcpCloud(GcpSettings settings, CredentialsOptions credentials);

  const infra::InfraDescriptor& descriptor() const override;
  std::unique_ptr<vm::Provisioner> ProvisionerFor(const std::string& region) const override;
  std::string SshUser() const override { return settings_.ssh_user; }
  // {"version": 1, "region", "project", "compute_endpoint", "tpu_endpoint", "credentials"
  // (the key file's or the login's JSON; absent on a GCE VM, where the
  // head asks its own metadata server), "source", "ssh_user", "vpc_name"}.
  nlohmann::json HeadConfig(const std::string& region) const override;
  std::unique_ptr<vm::Provisioner> ProvisionerFromHeadConfig(
      const nlohmann::json& head_config) const override;

  // The Compute client of this machine's credentials; throws
  // InvalidCloudCredentials when no project can be found.
  std::shared_ptr<ComputeClient> Compute(ComputeClientOptions options = {}) const;
  GcpProvisionerOptions ProvisionerOptions() const;

 private:
  std::string Endpoint(const std::string& setting, const char* variable,
                       const char* fallback) const;

  GcpSettings settings_;
  CredentialsOptions credentials_;
  std::shared_ptr<TokenProvider> tokens_;
};

// `sky check gcp`: gets a token, reads the project from Compute Engine, and
// caches the result in <state_dir>/gcp/check.json (0600) for GcpEnabled.
InfraCheck CheckGcp(const SkyOptions& options, const CredentialsOptions& credentials);

bool GcpEnabled(const std::filesystem::path& state_dir);

}  // namespace skycore::gcp
