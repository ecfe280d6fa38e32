#include "infra/aws/cloud.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>

#include "common/files.h"
#include "common/sky_config.h"
#include "common/strings.h"
#include "infra/aws/sts.h"
#include "infra/vm/settings.h"

namespace skycore::infra {
const InfraDescriptor& AwsDescriptor();
}

namespace skycore::aws {
namespace fs = std::filesystem;
namespace {

constexpr int kCheckCacheVersion = 1;

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

const std::vector<std::string>& AwsConfigKeys() {
  static const std::vector<std::string> keys = {
      // SkyPilot's (accepted; skycore does not act on them yet).
      "labels", "vpc_name", "use_internal_ips", "ssh_proxy_command", "security_group_name",
      "disk_encrypted", "prioritize_reservations", "specific_reservations", "remote_identity",
      "post_provision_runcmd", "use_ssm", "ciblock",
      // skycore's.
      "ssh_user", "image_id", "image_name_filter"};
  return keys;
}

AwsSettings ReadAwsSettings(const fs::path& path) {
  AwsSettings settings;
  vm::ReadCloudSection(path, "aws", AwsConfigKeys(),
                       {{"ssh_user", &settings.ssh_user},
                        {"image_id", &settings.image_id},
                        {"image_name_filter", &settings.image_name_filter}});
  return settings;
}

AwsCloud::AwsCloud(AwsSettings settings, CredentialsOptions credentials)
    : settings_(std::move(settings)), credentials_(std::move(credentials)) {}

const infra::InfraDescriptor& AwsCloud::descriptor() const { return infra::AwsDescriptor(); }

AwsProvisionerOptions AwsCloud::ProvisionerOptions() const {
  AwsProvisionerOptions options;
  options.ssh_user = settings_.ssh_user;
  options.image_id = settings_.image_id;
  if (!settings_.image_name_filter.empty()) options.image_name_filter = settings_.image_name_filter;
  return options;
}

std::unique_ptr<vm::Provisioner> AwsCloud::ProvisionerFor(const std::string&) const {
  AwsCredentials credentials = ResolveCredentials(credentials_);
  return std::make_unique<AwsProvisioner>(
      AwsAccess::FromEnvironment(credentials_.env, std::move(credentials)), ProvisionerOptions());
}

nlohmann::json AwsCloud::HeadConfig(const std::string& region) const {
  const AwsAccess access =
      AwsAccess::FromEnvironment(credentials_.env, ResolveCredentials(credentials_));
  nlohmann::json config = {{"version", 1},
                           {"region", region},
                           {"access_key_id", access.credentials.access_key_id},
                           {"secret_access_key", access.credentials.secret_access_key},
                           {"session_token", access.credentials.session_token},
                           {"credentials_source", access.credentials.source},
                           {"ec2_endpoint", access.ec2_endpoint},
                           {"sts_endpoint", access.sts_endpoint},
                           {"ssh_user", settings_.ssh_user},
                           {"image_id", settings_.image_id},
                           {"image_name_filter", settings_.image_name_filter}};
  if (access.credentials.expires_at) config["expires_at"] = *access.credentials.expires_at;
  return config;
}

std::unique_ptr<vm::Provisioner> AwsCloud::ProvisionerFromHeadConfig(
    const nlohmann::json& head_config) const {
  auto text = [&](const char* key) {
    if (!head_config.is_object() || !head_config.contains(key) || !head_config[key].is_string()) {
      return std::string();
    }
    return head_config[key].get<std::string>();
  };
  AwsAccess access;
  access.credentials.access_key_id = text("access_key_id");
  access.credentials.secret_access_key = text("secret_access_key");
  access.credentials.session_token = text("session_token");
  access.credentials.source =
      fmt::format("the cluster's head config ({})", text("credentials_source"));
  if (head_config.is_object() && head_config.contains("expires_at") &&
      head_config["expires_at"].is_number_integer()) {
    access.credentials.expires_at = head_config["expires_at"].get<int64_t>();
  }
  if (access.credentials.access_key_id.empty() || access.credentials.secret_access_key.empty()) {
    throw InvalidCloudCredentials("the cluster's AWS head config has no access key");
  }
  if (access.credentials.expires_at && *access.credentials.expires_at <= UnixNow()) {
    throw InvalidCloudCredentials(fmt::format(
        "the AWS credentials in the cluster's head config ({}) have expired; the head cannot "
        "stop its own cluster: stop it with `sky stop` from a machine with fresh credentials",
        text("credentials_source")));
  }
  access.ec2_endpoint = text("ec2_endpoint");
  access.sts_endpoint = text("sts_endpoint");
  AwsProvisionerOptions options;
  if (auto user = text("ssh_user"); !user.empty()) options.ssh_user = user;
  options.image_id = text("image_id");
  if (auto filter = text("image_name_filter"); !filter.empty()) options.image_name_filter = filter;
  return std::make_unique<AwsProvisioner>(std::move(access), std::move(options));
}

fs::path AwsCheckCachePath(const fs::path& state_dir) { return state_dir / "aws" / "check.json"; }

bool AwsEnabled(const fs::path& state_dir) {
  if (state_dir.empty()) return false;
  const auto cached = files::ReadJsonFile(AwsCheckCachePath(state_dir));
  return cached && cached->is_object() && cached->value("version", 0) == kCheckCacheVersion &&
         cached->value("enabled", false);
}

InfraCheck CheckAws(const SkyOptions& options, const CredentialsOptions& credentials_options) {
  InfraCheck check{"aws", false, ""};
  nlohmann::json cache = {{"version", kCheckCacheVersion}, {"checked_at", UnixNow()}};
  try {
    if (!options.state_dir.empty()) ReadAwsSettings(options.state_dir / "config.yaml");
    const AwsCredentials credentials = ResolveCredentials(credentials_options);
    const std::string region = RegionFromEnvironment(credentials_options.env)
                                   .value_or(credentials.profile_region.value_or("us-east-1"));
    const QueryClient sts(StsService(), region,
                          ServiceEndpoint(credentials_options.env, StsService(), region),
                          credentials, http::CheckOptions<QueryClientOptions>());
    const CallerIdentity identity = GetCallerIdentity(sts);
    const Ec2Client ec2(std::make_shared<const QueryClient>(
        Ec2Service(), region, ServiceEndpoint(credentials_options.env, Ec2Service(), region),
        credentials, http::CheckOptions<QueryClientOptions>()));
    const auto regions = ec2.DescribeRegions();
    check.enabled = true;
    check.reason = fmt::format("credentials from {}; account {}, {}; {} regions",
                               credentials.source, identity.account, identity.arn, regions.size());
    cache["source"] = credentials.source;
    cache["account"] = identity.account;
    cache["arn"] = identity.arn;
    cache["regions"] = regions;
  } catch (const Error& e) {
    check.reason = e.what();  // with the file, line and close matches of a config error
  }
  cache["enabled"] = check.enabled;
  cache["reason"] = check.reason;
  if (!options.state_dir.empty()) {
    try {
      files::WriteAtomically(AwsCheckCachePath(options.state_dir), cache.dump(2));
    } catch (const Error& e) {
      check.reason += fmt::format(" (the result could not be cached: {})", e.message());
    }
  }
  return check;
}

}  // namespace skycore::aws
