#include "infra/lambda/cloud.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

#include "common/files.h"
#include "common/strings.h"
#include "infra/vm/check_record.h"
#include "infra/vm/settings.h"

namespace skycore::infra {
const InfraDescriptor& LambdaDescriptor();
}

namespace skycore::lambda {
namespace fs = std::filesystem;
namespace {

using nlohmann::json;

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

fs::path OfferingsPath(const fs::path& state_dir) { return state_dir / "lambda" / "offerings.csv"; }

// "gpu_8x_a100_80gb_sxm4" -> ("A100-80GB", 8); empty name for anything else.
std::pair<std::string, int> GpuOf(const std::string& type) {
  const auto parts = strings::Split(type, '_');
  if (parts.size() < 3 || parts[0] != "gpu" || parts[1].size() < 2 || parts[1].back() != 'x') {
    return {"", 0};
  }
  long long count = 0;
  if (!strings::ParseInt(parts[1].substr(0, parts[1].size() - 1), count) || count <= 0) {
    return {"", 0};
  }
  std::string name;
  for (const char c : parts[2]) name.push_back(static_cast<char>(std::toupper(c)));
  if (name == "A100" && std::find(parts.begin(), parts.end(), "80gb") != parts.end()) {
    name = "A100-80GB";
  }
  return {name, static_cast<int>(count)};
}

}  // namespace

const std::vector<std::string>& LambdaConfigKeys() {
  static const std::vector<std::string> keys = {"ssh_user"};
  return keys;
}

LambdaSettings ReadLambdaSettings(const fs::path& path) {
  LambdaSettings settings;
  vm::ReadCloudSection(path, "lambda", LambdaConfigKeys(), {{"ssh_user", &settings.ssh_user}});
  return settings;
}

std::string LambdaEndpoint(const EnvLookup& env) {
  return env::ValueOr(env, "SKYCORE_LAMBDA_ENDPOINT", kDefaultEndpoint);
}

LambdaCloud::LambdaCloud(LambdaSettings settings, EnvLookup env)
    : settings_(std::move(settings)), env_(std::move(env)) {}

const infra::InfraDescriptor& LambdaCloud::descriptor() const { return infra::LambdaDescriptor(); }

std::unique_ptr<vm::Provisioner> LambdaCloud::ProvisionerFor(const std::string&) const {
  LambdaProvisionerOptions options;
  options.ssh_user = settings_.ssh_user;
  return std::make_unique<LambdaProvisioner>(
      std::make_shared<LambdaClient>(LambdaEndpoint(env_), ResolveApiKey(env_)), options);
}

std::string LambdaCloud::WhyNoStop() const { return std::string(kNoStop); }

json LambdaCloud::HeadConfig(const std::string&) const {
  const ApiKey key = ResolveApiKey(env_);
  return {{"version", 1},
          {"endpoint", LambdaEndpoint(env_)},
          {"api_key", key.key},
          {"source", key.source},
          {"ssh_user", settings_.ssh_user}};
}

std::unique_ptr<vm::Provisioner> LambdaCloud::ProvisionerFromHeadConfig(
    const json& head_config) const {
  auto text = [&](const char* key) {
    if (!head_config.is_object() || !head_config.contains(key) || !head_config[key].is_string()) {
      return std::string();
    }
    return head_config[key].get<std::string>();
  };
  if (text("api_key").empty()) {
    throw InvalidCloudCredentials(
        "the cluster's head config has no Lambda Cloud API key; `sky down` the cluster from a "
        "machine with one");
  }
  LambdaProvisionerOptions options;
  if (auto user = text("ssh_user"); !user.empty()) options.ssh_user = user;
  const std::string endpoint = text("endpoint").empty() ? kDefaultEndpoint : text("endpoint");
  return std::make_unique<LambdaProvisioner>(
      std::make_shared<LambdaClient>(
          endpoint,
          ApiKey{text("api_key"), fmt::format("the cluster's head config ({})", text("source"))}),
      options);
}

bool LambdaEnabled(const fs::path& state_dir) {
  return vm::LastPassedCheck(state_dir, "lambda").has_value();
}

std::string OfferingsCsv(const json& instance_types) {
  std::string csv =
      "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,Region,"
      "GpuInfo,SpotPrice\n";
  if (!instance_types.is_object()) return csv;
  for (auto it = instance_types.begin(); it != instance_types.end(); ++it) {
    if (!it->is_object()) continue;
    const json type = it->value("instance_type", json::object());
    const json specs = type.value("specs", json::object());
    const auto [gpu, count] = GpuOf(it.key());
    if (gpu.empty() || !type.contains("price_cents_per_hour")) continue;
    const double price = type.value("price_cents_per_hour", 0.0) / 100.0;
    for (const auto& region : it->value("regions_with_capacity_available", json::array())) {
      const std::string name = region.is_object() ? region.value("name", "") : "";
      if (name.empty()) continue;
      csv += fmt::format("{},{},{},{},{},{},{},,\n", it.key(), gpu, count,
                         specs.value("vcpus", 0.0), specs.value("memory_gib", 0.0), price, name);
    }
  }
  return csv;
}

std::optional<std::string> CachedLambdaOfferings(const fs::path& state_dir, int64_t max_age_s) {
  const auto checked_at = vm::LastPassedCheck(state_dir, "lambda");
  if (!checked_at || UnixNow() - *checked_at > max_age_s) return std::nullopt;
  return files::ReadText(OfferingsPath(state_dir));
}

InfraCheck CheckLambda(const SkyOptions& options, const EnvLookup& env) {
  InfraCheck check{"lambda", false, ""};
  json kept = json::object();  // kept beside the result (never a secret)
  try {
    if (!options.state_dir.empty()) ReadLambdaSettings(options.state_dir / "config.yaml");
    const ApiKey key = ResolveApiKey(env);
    const LambdaClient client(LambdaEndpoint(env), key, http::CheckOptions<LambdaClientOptions>());
    const json types = client.InstanceTypes();
    size_t with_capacity = 0;
    if (types.is_object()) {
      for (auto it = types.begin(); it != types.end(); ++it) {
        if (it->is_object() &&
            !it->value("regions_with_capacity_available", json::array()).empty()) {
          ++with_capacity;
        }
      }
    }
    check.enabled = true;
    check.reason = fmt::format("API key from {}; {} instance types, {} with capacity now",
                               key.source, types.is_object() ? types.size() : 0, with_capacity);
    kept["source"] = key.source;
    if (!options.state_dir.empty()) {
      files::WriteAtomically(OfferingsPath(options.state_dir), OfferingsCsv(types));
    }
  } catch (const Error& e) {
    check.reason = e.what();  // with the file, line and close matches of a config error
  }
  check.reason = vm::KeepCheck(options.state_dir, "lambda", check.enabled, check.reason, kept);
  return check;
}

}  // namespace skycore::lambda
