#include "infra/gcp/cloud.h"

#include <fmt/format.h>

#include <chrono>

#include "common/files.h"
#include "infra/vm/check_record.h"
#include "infra/vm/settings.h"

namespace skycore::infra {
const InfraDescriptor& GcpDescriptor();
}

namespace skycore::gcp {
namespace fs = std::filesystem;
namespace {

using nlohmann::json;

}  // namespace

const std::vector<std::string>& GcpConfigKeys() {
  static const std::vector<std::string> keys = {
      // SkyPilot's (only vpc_name changes what skycore does so far).
      "vpc_name", "use_internal_ips", "ssh_proxy_command", "labels", "specific_reservations",
      "prioritize_reservations", "managed_instance_group", "provision_timeout", "enable_gvnic",
      "enable_gpu_direct", "placement_policy", "remote_identity", "force_enable_external_ips",
      // skycore's.
      "project_id", "compute_endpoint", "tpu_endpoint", "ssh_user", "image_id"};
  return keys;
}

GcpSettings ReadGcpSettings(const fs::path& path) {
  GcpSettings settings;
  vm::ReadCloudSection(path, "gcp", GcpConfigKeys(),
                       {{"vpc_name", &settings.vpc_name},
                        {"project_id", &settings.project_id},
                        {"compute_endpoint", &settings.compute_endpoint},
                        {"tpu_endpoint", &settings.tpu_endpoint},
                        {"ssh_user", &settings.ssh_user},
                        {"image_id", &settings.image_id}});
  return settings;
}

GcpCloud::GcpCloud(GcpSettings settings, CredentialsOptions credentials)
    : settings_(std::move(settings)),
      credentials_(credentials),
      tokens_(std::make_shared<TokenProvider>(std::move(credentials))) {}

const infra::InfraDescriptor& GcpCloud::descriptor() const { return infra::GcpDescriptor(); }

std::string GcpCloud::Endpoint(const std::string& setting, const char* variable,
                               const char* fallback) const {
  return setting.empty() ? env::ValueOr(credentials_.env, variable, fallback) : setting;
}

GcpProvisionerOptions GcpCloud::ProvisionerOptions() const {
  GcpProvisionerOptions options;
  options.ssh_user = settings_.ssh_user;
  if (!settings_.vpc_name.empty()) options.network = settings_.vpc_name;
  if (!settings_.image_id.empty()) {
    options.cpu_image = settings_.image_id;
    options.gpu_image = settings_.image_id;
  }
  return options;
}

std::shared_ptr<ComputeClient> GcpCloud::Compute(ComputeClientOptions options) const {
  std::string project = settings_.project_id;
  if (project.empty()) project = tokens_->Project();
  if (project.empty()) {
    throw InvalidCloudCredentials(
        fmt::format("no GCP project: credentials from {} name none; set GOOGLE_CLOUD_PROJECT, "
                    "gcp.project_id in ~/.sky/config.yaml, or `gcloud config set project ID`",
                    tokens_->SourceName()));
  }
  return std::make_shared<ComputeClient>(
      Endpoint(settings_.compute_endpoint, "SKYCORE_GCP_COMPUTE_ENDPOINT", kDefaultComputeEndpoint),
      project, tokens_, options);
}

std::unique_ptr<vm::Provisioner> GcpCloud::ProvisionerFor(const std::string&) const {
  auto compute = Compute();
  tokens_->Token();  // a credentials problem is reported before anything is asked for
  auto tpu = std::make_shared<ComputeClient>(
      Endpoint(settings_.tpu_endpoint, "SKYCORE_GCP_TPU_ENDPOINT", kDefaultTpuEndpoint),
      compute->project(), tokens_);
  return std::make_unique<GcpProvisioner>(std::move(compute), std::move(tpu), ProvisionerOptions());
}

json GcpCloud::HeadConfig(const std::string& region) const {
  const auto compute = Compute();
  json config = {{"version", 1},
                 {"region", region},
                 {"project", compute->project()},
                 {"compute_endpoint", compute->endpoint()},
                 {"tpu_endpoint", Endpoint(settings_.tpu_endpoint, "SKYCORE_GCP_TPU_ENDPOINT",
                                           kDefaultTpuEndpoint)},
                 {"source", tokens_->SourceName()},
                 {"ssh_user", settings_.ssh_user},
                 {"vpc_name", settings_.vpc_name}};
  if (const auto file = tokens_->File()) {
    // The key (or login) travels; on the head it signs its own tokens.
    const auto text = files::ReadJsonFile(file->path);
    if (text) config["credentials"] = *text;
  }
  return config;
}

std::unique_ptr<vm::Provisioner> GcpCloud::ProvisionerFromHeadConfig(
    const json& head_config) const {
  auto text = [&](const char* key) {
    if (!head_config.is_object() || !head_config.contains(key) || !head_config[key].is_string()) {
      return std::string();
    }
    return head_config[key].get<std::string>();
  };
  CredentialsOptions options = credentials_;
  const json credentials =
      head_config.is_object() ? head_config.value("credentials", json()) : json();
  if (credentials.is_object()) {
    options.inline_credentials = credentials.dump();
    options.inline_source = fmt::format("the cluster's head config ({})", text("source"));
  }
  auto tokens = std::make_shared<TokenProvider>(std::move(options));
  GcpProvisionerOptions provisioner_options;
  if (auto user = text("ssh_user"); !user.empty()) provisioner_options.ssh_user = user;
  if (auto network = text("vpc_name"); !network.empty()) provisioner_options.network = network;
  return std::make_unique<GcpProvisioner>(
      std::make_shared<ComputeClient>(text("compute_endpoint"), text("project"), tokens),
      text("tpu_endpoint").empty()
          ? nullptr
          : std::make_shared<ComputeClient>(text("tpu_endpoint"), text("project"), tokens),
      provisioner_options);
}

bool GcpEnabled(const fs::path& state_dir) {
  return vm::LastPassedCheck(state_dir, "gcp").has_value();
}

InfraCheck CheckGcp(const SkyOptions& options, const CredentialsOptions& credentials) {
  InfraCheck check{"gcp", false, ""};
  json kept = json::object();  // kept beside the result (never a secret)
  try {
    const GcpSettings settings = options.state_dir.empty()
                                     ? GcpSettings{}
                                     : ReadGcpSettings(options.state_dir / "config.yaml");
    CredentialsOptions bounded = credentials;
    bounded.request_timeout_ms = 8000;
    const GcpCloud cloud(settings, bounded);
    // `sky check` answers quickly even when GCE does not.
    const auto compute = cloud.Compute(http::CheckOptions<ComputeClientOptions>());
    const auto project = compute->Get(compute->ProjectPath("zones?maxResults=1"));
    if (!project) {
      throw InvalidCloudCredentials(fmt::format("project {} not found with the credentials of {}",
                                                compute->project(),
                                                compute->tokens().SourceName()));
    }
    check.enabled = true;
    check.reason = fmt::format("credentials from {}; project {}", compute->tokens().SourceName(),
                               compute->project());
    kept["source"] = compute->tokens().SourceName();
    kept["project"] = compute->project();
  } catch (const Error& e) {
    check.reason = e.what();  // with the file, line and close matches of a config error
  }
  check.reason = vm::KeepCheck(options.state_dir, "gcp", check.enabled, check.reason, kept);
  return check;
}

}  // namespace skycore::gcp
