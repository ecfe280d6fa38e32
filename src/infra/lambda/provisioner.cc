#include "infra/lambda/provisioner.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <thread>

#include "backend/remote_host.h"
#include "common/strings.h"

namespace skycore::lambda {
namespace {

using nlohmann::json;
using vm::FailureKind;
using vm::InstanceState;

constexpr const char* kCapacityCode = "instance-operations/launch/insufficient-capacity";

std::string HeadName(const std::string& on_cloud) { return on_cloud + "-head"; }
std::string WorkerName(const std::string& on_cloud) { return on_cloud + "-worker"; }

// "ssh-ed25519 AAAA..." of a public key line, without its comment.
std::string KeyMaterial(const std::string& public_key) {
  const auto words = strings::Split(std::string(strings::Trim(public_key)), ' ');
  std::vector<std::string> kept;
  for (const auto& word : words) {
    if (!word.empty()) kept.push_back(word);
    if (kept.size() == 2) break;
  }
  return kept.size() == 2 ? kept[0] + " " + kept[1] : std::string(strings::Trim(public_key));
}

bool AllDigits(const std::string& text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) != 0;
  });
}

// Whether a firewall rule lets tcp `port` in from anywhere.
bool Covers(const json& rule, int port) {
  if (!rule.is_object()) return false;
  const std::string protocol = rule.value("protocol", "");
  if (protocol != "tcp" && protocol != "all") return false;
  if (rule.value("source_network", "") != "0.0.0.0/0") return false;
  if (protocol == "all") return true;
  const json range = rule.value("port_range", json::array());
  if (!range.is_array() || range.size() != 2 || !range[0].is_number() || !range[1].is_number()) {
    return false;
  }
  return range[0].get<int>() <= port && port <= range[1].get<int>();
}

}  // namespace

InstanceState LambdaState(const std::string& status) {
  if (status == "active") return InstanceState::kRunning;
  if (status == "terminating") return InstanceState::kTerminating;
  if (status == "terminated") return InstanceState::kTerminated;
  return InstanceState::kPending;  // booting, unhealthy, or a status Lambda adds later
}

std::string SshKeyPrefix(const std::string& public_key) {
  return "sky-key-" + backend::remote::HashText(KeyMaterial(public_key)).substr(0, 8);
}

std::string UniqueSshKeyName(const std::vector<json>& keys, const std::string& prefix,
                             const std::string& public_key, bool& exists) {
  exists = false;
  const std::string mine = KeyMaterial(public_key);
  bool prefix_taken = false;
  long long highest = 0;
  for (const auto& key : keys) {
    if (!key.is_object()) continue;
    const std::string name = key.value("name", "");
    if (name.rfind(prefix, 0) != 0) continue;
    if (KeyMaterial(key.value("public_key", "")) == mine) {
      exists = true;
      return name;
    }
    prefix_taken = true;
    const std::string suffix = name.substr(prefix.size());
    long long number = 0;
    if (suffix.size() > 1 && suffix[0] == '-' && AllDigits(suffix.substr(1)) &&
        strings::ParseInt(suffix.substr(1), number)) {
      highest = std::max(highest, number);
    }
  }
  return prefix_taken ? fmt::format("{}-{}", prefix, highest + 1) : prefix;
}

std::optional<std::vector<json>> RulesWithPorts(std::vector<json> rules,
                                                const std::vector<int>& ports) {
  bool added = false;
  for (const int port : ports) {
    if (std::any_of(rules.begin(), rules.end(),
                    [&](const json& rule) { return Covers(rule, port); })) {
      continue;
    }
    rules.push_back({{"protocol", "tcp"},
                     {"port_range", {port, port}},
                     {"source_network", "0.0.0.0/0"},
                     {"description", fmt::format("skycore: port {}", port)}});
    added = true;
  }
  if (!added) return std::nullopt;
  return rules;
}

std::optional<vm::ProvisionFailure> ClassifyLambdaError(const Error& error) {
  if (const auto* refused = dynamic_cast<const LambdaCredentialsRefused*>(&error)) {
    return vm::ProvisionFailure{FailureKind::kAuth, refused->detail().code, error.message()};
  }
  if (error.code() == ErrorCode::kCloudCredentials) {
    return vm::ProvisionFailure{FailureKind::kAuth, "", error.message()};
  }
  if (const auto* api = dynamic_cast<const LambdaApiError*>(&error)) {
    const std::string& code = api->lambda_code();
    const long status = api->detail().http_status;
    if (code == kCapacityCode) {
      return vm::ProvisionFailure{FailureKind::kCapacity, code, error.message()};
    }
    if (code == "global/quota-exceeded") {
      return vm::ProvisionFailure{
          FailureKind::kQuota, code,
          fmt::format("{} (Lambda's quota counts the account's instances: terminate some, or ask "
                      "Lambda's support for more)",
                      error.message())};
    }
    if (status == 0 || status == 429 || status >= 500 || code == "global/rate-limited" ||
        code == "global/internal-error") {
      return vm::ProvisionFailure{FailureKind::kTransient, code, error.message()};
    }
    return vm::ProvisionFailure{FailureKind::kBadRequest, code, error.message()};
  }
  if (error.code() == ErrorCode::kResourcesUnavailable) {
    return vm::ProvisionFailure{FailureKind::kCapacity, "", error.message()};
  }
  if (error.code() == ErrorCode::kInvalidTask) {
    return vm::ProvisionFailure{FailureKind::kBadRequest, "", error.message()};
  }
  return std::nullopt;
}

LambdaProvisioner::LambdaProvisioner(std::shared_ptr<const LambdaClient> client,
                                     LambdaProvisionerOptions options)
    : client_(std::move(client)), options_(std::move(options)) {}

std::optional<vm::ProvisionFailure> LambdaProvisioner::Classify(const Error& error) const {
  return ClassifyLambdaError(error);
}

std::string LambdaProvisioner::EnsureSshKey(const std::string& public_key) {
  const std::string prefix = SshKeyPrefix(public_key);
  bool exists = false;
  const std::string name = UniqueSshKeyName(client_->SshKeys(), prefix, public_key, exists);
  if (!exists) client_->AddSshKey(name, std::string(strings::Trim(public_key)));
  return name;
}

void LambdaProvisioner::SetProgress(std::function<void(const std::string&)> progress) {
  LambdaClientOptions options = client_->options();
  options.on_throttled = progress;
  client_ = std::make_shared<LambdaClient>(client_->endpoint(), client_->key(), options);
  vm::Provisioner::SetProgress(std::move(progress));
}

vm::ProvisionRequest LambdaProvisioner::Bootstrap(vm::ProvisionRequest request) {
  if (request.use_spot) {
    throw InvalidTaskError("Lambda Cloud has no spot instances; remove `use_spot`");
  }
  if (request.provider_config.is_null()) request.provider_config = json::object();
  request.provider_config["ssh_key_name"] = EnsureSshKey(request.ssh_public_key);
  if (!request.ports.empty()) {
    OpenPorts(request.region, request.cluster_name_on_cloud, request.ports);
  }
  return request;
}

std::vector<LambdaProvisioner::Instance> LambdaProvisioner::ClusterInstances(
    const std::string& region, const std::string& cluster_name_on_cloud) const {
  const std::string head = HeadName(cluster_name_on_cloud);
  const std::string worker = WorkerName(cluster_name_on_cloud);
  std::vector<Instance> mine;
  for (auto& resource : client_->ListInstances()) {
    if (!resource.is_object()) continue;
    const json name = resource.value("name", json());
    if (!name.is_string() || (name != head && name != worker)) continue;
    // A cluster lives in one region; what a failed attempt left elsewhere
    // is that attempt's (its own teardown removes it).
    const std::string where = resource.value("region", json::object()).value("name", "");
    if (!region.empty() && !where.empty() && where != region) continue;
    Instance instance;
    instance.id = resource.value("id", "");
    instance.status = resource.value("status", "");
    instance.head = name == head;
    instance.resource = std::move(resource);
    mine.push_back(std::move(instance));
  }
  std::sort(mine.begin(), mine.end(), [](const Instance& a, const Instance& b) {
    return a.head != b.head ? a.head : a.id < b.id;
  });
  return mine;
}

vm::ProvisionRecord LambdaProvisioner::RunInstances(const vm::ProvisionRequest& request) {
  const std::string& on_cloud = request.cluster_name_on_cloud;
  vm::ProvisionRecord record;
  record.region = request.region;
  int alive = 0;
  for (const auto& each : ClusterInstances(request.region, on_cloud)) {
    const InstanceState state = LambdaState(each.status);
    if (state != InstanceState::kRunning && state != InstanceState::kPending) continue;
    ++alive;
    if (each.head && record.head_instance_id.empty()) record.head_instance_id = each.id;
  }
  const bool need_head = record.head_instance_id.empty();
  const int missing_workers = request.count - alive - (need_head ? 1 : 0);
  if (!need_head && missing_workers <= 0) return record;

  std::string key_name = request.provider_config.is_object()
                             ? request.provider_config.value("ssh_key_name", "")
                             : std::string();
  if (key_name.empty()) key_name = EnsureSshKey(request.ssh_public_key);

  // A launch request costs the rate limit (one per ~10 s) even when it is
  // refused for capacity; the list of types says the same for free.
  const json types = client_->InstanceTypes();
  if (types.is_object() && types.contains(request.instance_type)) {
    std::vector<std::string> regions;
    for (const auto& region :
         types[request.instance_type].value("regions_with_capacity_available", json::array())) {
      if (region.is_object()) regions.push_back(region.value("name", ""));
    }
    if (std::find(regions.begin(), regions.end(), request.region) == regions.end()) {
      LambdaErrorDetail detail;
      detail.method = "GET";
      detail.path = "/instance-types";
      detail.code = kCapacityCode;
      detail.message = "Not enough capacity to fulfill launch request.";
      detail.http_status = 400;
      throw LambdaApiError(
          fmt::format("{}: {} has no capacity for {} in {} (regions with capacity: {})",
                      kCapacityCode, "Lambda Cloud", request.instance_type, request.region,
                      regions.empty() ? "none" : fmt::format("{}", fmt::join(regions, ", "))),
          detail);
    }
  }

  if (need_head) {
    const auto ids =
        client_->Launch(request.region, request.instance_type, key_name, 1, HeadName(on_cloud));
    if (ids.empty()) {
      throw ResourcesUnavailableError(fmt::format(
          "Lambda Cloud launched no {} head for cluster '{}' in {} (an empty instance_ids)",
          request.instance_type, request.cluster_name, request.region));
    }
    record.head_instance_id = ids.front();
    record.created_instance_ids.push_back(ids.front());
  }
  if (missing_workers > 0) {
    const auto ids = client_->Launch(request.region, request.instance_type, key_name,
                                     missing_workers, WorkerName(on_cloud));
    record.created_instance_ids.insert(record.created_instance_ids.end(), ids.begin(), ids.end());
  }
  return record;
}

std::map<std::string, InstanceState> LambdaProvisioner::QueryInstances(
    const std::string& region, const std::string& cluster_name_on_cloud, bool non_terminated_only) {
  std::map<std::string, InstanceState> states;
  for (const auto& each : ClusterInstances(region, cluster_name_on_cloud)) {
    const InstanceState state = LambdaState(each.status);
    if (non_terminated_only && state == InstanceState::kTerminated) continue;
    states[each.id] = state;
  }
  return states;
}

vm::ClusterInfo LambdaProvisioner::GetClusterInfo(const std::string& region,
                                                  const std::string& cluster_name_on_cloud) {
  vm::ClusterInfo info;
  info.region = region;
  info.ssh_user = options_.ssh_user;
  for (const auto& each : ClusterInstances(region, cluster_name_on_cloud)) {
    // Only a launched instance has addresses (unhealthy: launched, ailing).
    if (each.status != "active" && each.status != "unhealthy") continue;
    vm::InstanceInfo instance;
    instance.instance_id = each.id;
    instance.internal_ip = each.resource.value("private_ip", "");
    instance.external_ip = each.resource.value("ip", "");
    // Lambda's API has no port: sshd listens on 22.
    instance.ssh_port = 22;
    instance.state = LambdaState(each.status);
    instance.tags["name"] = each.resource.value("name", "");
    if (each.head && info.head_instance_id.empty()) info.head_instance_id = each.id;
    info.instances.push_back(std::move(instance));
  }
  if (info.head_instance_id.empty() && !info.instances.empty()) {
    info.head_instance_id = info.instances.front().instance_id;
  }
  return info;
}

void LambdaProvisioner::StopInstances(const std::string&, const std::string& cluster_name_on_cloud,
                                      bool) {
  // `sky stop` and autostop without --down are refused before any call
  // gets here (VmCloud::WhyNoStop); this is the last guard.
  throw NotSupportedError(
      fmt::format("{}; `sky down` terminates the cluster ({} on Lambda), `sky autostop --down` "
                  "does it when idle",
                  kNoStop, cluster_name_on_cloud));
}

void LambdaProvisioner::TerminateInstances(const std::string& region,
                                           const std::string& cluster_name_on_cloud,
                                           bool worker_only) {
  std::vector<std::string> ids;
  for (const auto& each : ClusterInstances(region, cluster_name_on_cloud)) {
    if (worker_only && each.head) continue;
    const InstanceState state = LambdaState(each.status);
    if (state == InstanceState::kTerminating || state == InstanceState::kTerminated) continue;
    ids.push_back(each.id);
  }
  if (!ids.empty()) client_->Terminate(ids);
}

void LambdaProvisioner::OpenPorts(const std::string&, const std::string&,
                                  const std::vector<int>& ports) {
  if (ports.empty()) return;
  if (auto rules = RulesWithPorts(client_->FirewallRules(), ports)) {
    client_->SetFirewallRules(*rules);
  }
}

void LambdaProvisioner::CleanupPorts(const std::string&, const std::string&) {
  // The firewall rules are the account's, not the cluster's: another
  // cluster may serve on the same port. Nothing else is the cluster's.
}

}  // namespace skycore::lambda
