#include "infra/azure/cloud.h"

#include <fmt/format.h>

#include <chrono>

#include "common/files.h"
#include "infra/vm/check_record.h"
#include "infra/vm/settings.h"

namespace skycore::infra {
const InfraDescriptor& AzureDescriptor();
}

namespace skycore::azure {
namespace fs = std::filesystem;
namespace {

using nlohmann::json;

constexpr const char* kDefaultArm = "https://management.azure.com";
constexpr const char* kSubscriptionsApi = "2022-12-01";

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

const std::vector<std::string>& AzureConfigKeys() {
  static const std::vector<std::string> keys = {
      // SkyPilot's (storage_account: accepted, used by storage later).
      "resource_group_vm", "storage_account",
      // skycore's.
      "subscription_id", "arm_endpoint", "ssh_user", "image_id"};
  return keys;
}

AzureSettings ReadAzureSettings(const fs::path& path) {
  AzureSettings settings;
  vm::ReadCloudSection(path, "azure", AzureConfigKeys(),
                       {{"resource_group_vm", &settings.resource_group_vm},
                        {"subscription_id", &settings.subscription_id},
                        {"arm_endpoint", &settings.arm_endpoint},
                        {"ssh_user", &settings.ssh_user},
                        {"image_id", &settings.image_id}});
  return settings;
}

AzureCloud::AzureCloud(AzureSettings settings, CredentialsOptions credentials)
    : settings_(std::move(settings)),
      credentials_(credentials),
      tokens_(std::make_shared<TokenProvider>(std::move(credentials))) {}

const infra::InfraDescriptor& AzureCloud::descriptor() const { return infra::AzureDescriptor(); }

AzureProvisionerOptions AzureCloud::ProvisionerOptions() const {
  AzureProvisionerOptions options;
  options.ssh_user = settings_.ssh_user;
  if (!settings_.image_id.empty()) options.image = settings_.image_id;
  options.resource_group = settings_.resource_group_vm;
  return options;
}

AzureAccess AzureCloud::Access() const {
  AzureAccess access;
  access.tokens = tokens_;
  access.arm_endpoint = settings_.arm_endpoint;
  if (access.arm_endpoint.empty()) {
    access.arm_endpoint = credentials_.env("AZURE_RESOURCE_MANAGER_ENDPOINT").value_or(kDefaultArm);
  }
  access.subscription = settings_.subscription_id;
  if (access.subscription.empty()) {
    access.subscription = credentials_.env("AZURE_SUBSCRIPTION_ID").value_or("");
  }
  if (access.subscription.empty()) {
    // The CLI's current subscription (`az account set`) comes with its token.
    access.subscription = tokens_->Token().cli_subscription;
  }
  if (access.subscription.empty()) {
    throw InvalidCloudCredentials(fmt::format(
        "no Azure subscription: credentials from {} name none; set AZURE_SUBSCRIPTION_ID or "
        "azure.subscription_id in ~/.sky/config.yaml",
        tokens_->SourceName()));
  }
  return access;
}

std::unique_ptr<vm::Provisioner> AzureCloud::ProvisionerFor(const std::string&) const {
  const AzureAccess access = Access();
  tokens_->Token();  // a credentials problem is reported before anything is asked for
  return std::make_unique<AzureProvisioner>(
      std::make_shared<ArmClient>(access.arm_endpoint, access.subscription, access.tokens),
      ProvisionerOptions());
}

json AzureCloud::HeadConfig(const std::string& region) const {
  const AzureAccess access = Access();
  json config = {{"version", 1},
                 {"region", region},
                 {"subscription", access.subscription},
                 {"arm_endpoint", access.arm_endpoint},
                 {"authority", tokens_->authority()},
                 {"source", tokens_->SourceName()},
                 {"ssh_user", settings_.ssh_user},
                 {"resource_group_vm", settings_.resource_group_vm}};
  if (auto client = tokens_->Client()) {
    config["tenant_id"] = client->tenant_id;
    config["client_id"] = client->client_id;
    config["client_secret"] = client->client_secret;
    config["certificate_pem"] = client->certificate_pem;
    config["federated_token"] = client->federated_token;
  } else {
    // The CLI's login and a managed identity do not travel: the head gets a
    // token, good until it expires (an hour).
    const AccessToken token = tokens_->Token();
    config["access_token"] = token.token;
    config["expires_at"] = token.expires_at;
  }
  return config;
}

std::unique_ptr<vm::Provisioner> AzureCloud::ProvisionerFromHeadConfig(
    const json& head_config) const {
  auto text = [&](const char* key) {
    if (!head_config.is_object() || !head_config.contains(key) || !head_config[key].is_string()) {
      return std::string();
    }
    return head_config[key].get<std::string>();
  };
  CredentialsOptions options = credentials_;
  const std::string authority = text("authority");
  auto base_env = options.env;
  options.env = [authority, base_env](const std::string& name) -> std::optional<std::string> {
    if (name == "AZURE_AUTHORITY_HOST" && !authority.empty()) return authority;
    return base_env ? base_env(name) : std::nullopt;
  };
  std::shared_ptr<TokenProvider> tokens;
  const std::string source = fmt::format("the cluster's head config ({})", text("source"));
  if (!text("client_id").empty()) {
    tokens = std::make_shared<TokenProvider>(
        options,
        ClientCredentials{text("tenant_id"), text("client_id"), text("client_secret"),
                          text("certificate_pem"), text("federated_token")},
        source);
  } else {
    const int64_t expires_at = head_config.value("expires_at", int64_t{0});
    if (text("access_token").empty() || expires_at <= UnixNow()) {
      throw InvalidCloudCredentials(fmt::format(
          "the Azure token in {} has expired; the head cannot stop its own cluster: stop it with "
          "`sky stop` from a machine with fresh credentials (a service principal's variables "
          "travel to the head; an `az login` does not)",
          source));
    }
    tokens = std::make_shared<TokenProvider>(options, ClientCredentials{}, source);
    tokens->Seed(AccessToken{text("access_token"), expires_at, source, "", ""});
  }
  AzureProvisionerOptions provisioner_options;
  if (auto user = text("ssh_user"); !user.empty()) provisioner_options.ssh_user = user;
  provisioner_options.resource_group = text("resource_group_vm");
  return std::make_unique<AzureProvisioner>(
      std::make_shared<ArmClient>(text("arm_endpoint"), text("subscription"), tokens),
      provisioner_options);
}

bool AzureEnabled(const fs::path& state_dir) {
  return vm::LastPassedCheck(state_dir, "azure").has_value();
}

InfraCheck CheckAzure(const SkyOptions& options, const CredentialsOptions& credentials) {
  InfraCheck check{"azure", false, ""};
  json kept = json::object();  // kept beside the result (never a secret)
  try {
    const AzureSettings settings = options.state_dir.empty()
                                       ? AzureSettings{}
                                       : ReadAzureSettings(options.state_dir / "config.yaml");
    const AzureCloud cloud(settings, credentials);
    const AzureAccess access = cloud.Access();
    const ArmClient arm(access.arm_endpoint, access.subscription, access.tokens,
                        http::CheckOptions<ArmClientOptions>());
    const auto subscription = arm.Get(arm.SubscriptionPath(""), kSubscriptionsApi);
    if (!subscription) {
      throw InvalidCloudCredentials(
          fmt::format("subscription {} not found with the credentials of {}", access.subscription,
                      access.tokens->SourceName()));
    }
    const std::string state = subscription->value("state", "Enabled");
    if (state != "Enabled") {
      throw InvalidCloudCredentials(fmt::format("subscription {} ({}) is {}", access.subscription,
                                                subscription->value("displayName", ""), state));
    }
    check.enabled = true;
    check.reason =
        fmt::format("credentials from {}; subscription {} ({})", access.tokens->SourceName(),
                    subscription->value("displayName", access.subscription), access.subscription);
    kept["source"] = access.tokens->SourceName();
    kept["subscription"] = access.subscription;
  } catch (const Error& e) {
    check.reason = e.what();  // with the file, line and close matches of a config error
  }
  check.reason = vm::KeepCheck(options.state_dir, "azure", check.enabled, check.reason, kept);
  return check;
}

}  // namespace skycore::azure
