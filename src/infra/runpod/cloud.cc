#include "infra/runpod/cloud.h"

#include <fmt/format.h>

#include <chrono>

#include "common/files.h"
#include "infra/vm/check_record.h"
#include "infra/vm/settings.h"

namespace skycore::infra {
const InfraDescriptor& RunpodDescriptor();
}

namespace skycore::runpod {
namespace fs = std::filesystem;
namespace {

using nlohmann::json;

constexpr const char* kMyselfQuery = "query Myself { myself { id } }";

}  // namespace

const std::vector<std::string>& RunpodConfigKeys() {
  static const std::vector<std::string> keys = {"ssh_user"};
  return keys;
}

RunpodSettings ReadRunpodSettings(const fs::path& path) {
  RunpodSettings settings;
  vm::ReadCloudSection(path, "runpod", RunpodConfigKeys(), {{"ssh_user", &settings.ssh_user}});
  return settings;
}

std::string EndpointFrom(const EnvLookup& env) {
  return env::ValueOr(env, "SKYCORE_RUNPOD_ENDPOINT", kDefaultEndpoint);
}

RunpodCloud::RunpodCloud(RunpodSettings settings, EnvLookup env)
    : settings_(std::move(settings)), env_(std::move(env)) {}

const infra::InfraDescriptor& RunpodCloud::descriptor() const { return infra::RunpodDescriptor(); }

RunpodProvisionerOptions RunpodCloud::ProvisionerOptions() const {
  RunpodProvisionerOptions options;
  options.ssh_user = settings_.ssh_user;
  return options;
}

std::unique_ptr<vm::Provisioner> RunpodCloud::ProvisionerFor(const std::string&) const {
  return std::make_unique<RunpodProvisioner>(
      std::make_shared<RunpodClient>(EndpointFrom(env_), FindApiKey(env_)), ProvisionerOptions());
}

json RunpodCloud::HeadConfig(const std::string&) const {
  const ApiKey key = FindApiKey(env_);
  return {{"version", 1},
          {"endpoint", EndpointFrom(env_)},
          {"api_key", key.key},
          {"source", key.source},
          {"ssh_user", settings_.ssh_user}};
}

std::unique_ptr<vm::Provisioner> RunpodCloud::ProvisionerFromHeadConfig(
    const json& head_config) const {
  auto text = [&](const char* key) {
    if (!head_config.is_object() || !head_config.contains(key) || !head_config[key].is_string()) {
      return std::string();
    }
    return head_config[key].get<std::string>();
  };
  if (text("api_key").empty()) {
    throw InvalidCloudCredentials(
        "the cluster's head config has no RunPod API key; the head cannot stop its own "
        "cluster: stop it with `sky stop` from a machine with the key");
  }
  RunpodProvisionerOptions options;
  if (const std::string user = text("ssh_user"); !user.empty()) options.ssh_user = user;
  const std::string endpoint = text("endpoint").empty() ? kDefaultEndpoint : text("endpoint");
  return std::make_unique<RunpodProvisioner>(
      std::make_shared<RunpodClient>(
          endpoint,
          ApiKey{text("api_key"), fmt::format("the cluster's head config ({})", text("source"))}),
      options);
}

bool RunpodEnabled(const fs::path& state_dir) {
  return vm::LastPassedCheck(state_dir, "runpod").has_value();
}

InfraCheck CheckRunpod(const SkyOptions& options, const EnvLookup& env) {
  InfraCheck check{"runpod", false, ""};
  json kept = json::object();  // kept beside the result (never a secret)
  try {
    if (!options.state_dir.empty()) ReadRunpodSettings(options.state_dir / "config.yaml");
    const ApiKey key = FindApiKey(env);
    const RunpodClient client(EndpointFrom(env), key, http::CheckOptions<RunpodClientOptions>());
    const json data = client.Execute("myself", kMyselfQuery);
    const json myself = data.value("myself", json());
    if (!myself.is_object()) {
      throw InvalidCloudCredentials(
          fmt::format("RunPod answered no account for the API key from {}", key.source));
    }
    check.enabled = true;
    check.reason = fmt::format("API key from {}; account {}", key.source, myself.value("id", "?"));
    kept["source"] = key.source;
  } catch (const Error& e) {
    check.reason = e.what();  // with the file, line and close matches of a config error
  }
  check.reason = vm::KeepCheck(options.state_dir, "runpod", check.enabled, check.reason, kept);
  return check;
}

}  // namespace skycore::runpod
