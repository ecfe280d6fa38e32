#include "infra/aws/provisioner.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <random>
#include <set>
#include <thread>

#include "common/strings.h"

namespace skycore::aws {
namespace {

using vm::FailureKind;
using vm::InstanceState;

constexpr const char* kClusterTag = "skypilot-cluster-name";
constexpr const char* kRayClusterTag = "ray-cluster-name";
constexpr const char* kHeadTag = "skypilot-head-node";
constexpr const char* kNodeTypeTag = "ray-node-type";

const std::vector<std::string> kNonTerminatedStates = {"pending", "running", "stopping", "stopped"};
const std::vector<std::string> kAllStates = {"pending",  "running", "shutting-down",
                                             "stopping", "stopped", "terminated"};

InstanceState StateOf(const std::string& state) {
  if (state == "pending") return InstanceState::kPending;
  if (state == "running") return InstanceState::kRunning;
  if (state == "stopping") return InstanceState::kStopping;
  if (state == "stopped") return InstanceState::kStopped;
  if (state == "shutting-down") return InstanceState::kTerminating;
  return InstanceState::kTerminated;
}

bool IsHead(const Ec2Instance& instance) {
  auto found = instance.tags.find(kHeadTag);
  return found != instance.tags.end() && found->second == "1";
}

// EBS volume types of SkyPilot's disk tiers.
std::string VolumeType(const nlohmann::json& provider_config) {
  const std::string tier =
      provider_config.is_object() ? provider_config.value("disk_tier", "medium") : "medium";
  if (tier == "low") return "standard";
  if (tier == "ultra") return "io2";
  return "gp3";
}

std::string RandomToken() {
  std::random_device device;
  return fmt::format("{:08x}{:08x}", device(), device());
}

std::string Field(const nlohmann::json& config, const char* key) {
  if (!config.is_object() || !config.contains(key) || !config[key].is_string()) return "";
  return config[key].get<std::string>();
}

std::vector<std::string> Ids(const std::vector<Ec2Instance>& instances) {
  std::vector<std::string> ids;
  for (const auto& each : instances) ids.push_back(each.instance_id);
  return ids;
}

}  // namespace

// ------------------------------------------------------------ access

AwsAccess AwsAccess::FromEnvironment(const EnvLookup& env, AwsCredentials credentials) {
  AwsAccess access;
  access.credentials = std::move(credentials);
  if (auto url = NonEmpty(env, "AWS_ENDPOINT_URL_EC2")) {
    access.ec2_endpoint = ServiceEndpoint(env, Ec2Service(), "");
  } else if (NonEmpty(env, "AWS_ENDPOINT_URL")) {
    access.ec2_endpoint = ServiceEndpoint(env, Ec2Service(), "");
  }
  if (NonEmpty(env, "AWS_ENDPOINT_URL_STS") || NonEmpty(env, "AWS_ENDPOINT_URL")) {
    access.sts_endpoint = ServiceEndpoint(env, StsService(), "");
  }
  return access;
}

std::string AwsAccess::Ec2EndpointFor(const std::string& region) const {
  if (!ec2_endpoint.empty()) return ec2_endpoint;
  return ServiceEndpoint(nullptr, Ec2Service(), region);
}

std::string SecurityGroupName(const std::string& cluster_name_on_cloud) {
  return fmt::format("sky-sg-{}", cluster_name_on_cloud);
}

std::string KeyPairName(const std::string& ssh_public_key) {
  // The key's type and base64 body: a comment or trailing newline does not
  // make another key.
  std::string normalized(strings::Trim(ssh_public_key));
  const size_t first_space = normalized.find(' ');
  const size_t second_space =
      first_space == std::string::npos ? std::string::npos : normalized.find(' ', first_space + 1);
  if (second_space != std::string::npos) normalized.resize(second_space);
  return fmt::format("sky-key-{}", Sha256Hex(normalized).substr(0, 10));
}

// ------------------------------------------------------------ classification

std::optional<vm::ProvisionFailure> ClassifyAwsError(const Error& error) {
  if (const auto* refused = dynamic_cast<const AwsCredentialsRefused*>(&error)) {
    return vm::ProvisionFailure{FailureKind::kAuth, refused->detail().code, error.message()};
  }
  if (error.code() == ErrorCode::kCloudCredentials) {
    return vm::ProvisionFailure{FailureKind::kAuth, "", error.message()};
  }
  if (const auto* api = dynamic_cast<const AwsApiError*>(&error)) {
    const std::string& code = api->aws_code();
    static const std::set<std::string> kCapacity = {"InsufficientInstanceCapacity",
                                                    "InsufficientFreeAddressesInSubnet",
                                                    "SpotMaxPriceTooLow",
                                                    "Unsupported",
                                                    "InsufficientCapacity",
                                                    "InsufficientHostCapacity",
                                                    "InsufficientReservedInstanceCapacity"};
    static const std::set<std::string> kQuota = {
        "VcpuLimitExceeded", "InstanceLimitExceeded", "MaxSpotInstanceCountExceeded",
        "SpotInstanceLimitExceeded", "VolumeLimitExceeded"};
    if (kCapacity.count(code))
      return vm::ProvisionFailure{FailureKind::kCapacity, code, error.message()};
    if (kQuota.count(code)) {
      return vm::ProvisionFailure{
          FailureKind::kQuota, code,
          fmt::format("{} (a quota of the account in {}, per instance family: ask AWS for more "
                      "or try another region)",
                      error.message(), api->detail().region)};
    }
    if (IsAuthErrorCode(code))
      return vm::ProvisionFailure{FailureKind::kAuth, code, error.message()};
    if (IsThrottlingCode(code) || code.empty() || code == "InternalError" ||
        code == "ServiceUnavailable" || code == "Unavailable" || api->detail().http_status >= 500) {
      return vm::ProvisionFailure{FailureKind::kTransient, code, error.message()};
    }
    return vm::ProvisionFailure{FailureKind::kBadRequest, code, error.message()};
  }
  // What the provisioner itself concluded from the API's answers.
  if (error.code() == ErrorCode::kResourcesUnavailable) {
    return vm::ProvisionFailure{FailureKind::kCapacity, "", error.message()};
  }
  if (error.code() == ErrorCode::kInvalidTask) {
    return vm::ProvisionFailure{FailureKind::kBadRequest, "", error.message()};
  }
  return std::nullopt;
}

// ------------------------------------------------------------ provisioner

AwsProvisioner::AwsProvisioner(AwsAccess access, AwsProvisionerOptions options)
    : access_(std::move(access)), options_(std::move(options)) {}

const Ec2Client& AwsProvisioner::Ec2(const std::string& region) {
  if (region.empty()) throw InternalError("AWS provisioner: a call without a region");
  std::lock_guard lock(clients_mutex_);
  auto& client = clients_[region];
  if (!client) {
    client = std::make_unique<Ec2Client>(
        std::make_shared<const QueryClient>(Ec2Service(), region, access_.Ec2EndpointFor(region),
                                            access_.credentials, access_.client_options));
  }
  return *client;
}

std::optional<vm::ProvisionFailure> AwsProvisioner::Classify(const Error& error) const {
  return ClassifyAwsError(error);
}

std::vector<Ec2Instance> AwsProvisioner::ClusterInstances(const Ec2Client& ec2,
                                                          const std::string& cluster_name_on_cloud,
                                                          const std::vector<std::string>& states) {
  return ec2.DescribeInstances({{fmt::format("tag:{}", kClusterTag), {cluster_name_on_cloud}},
                                {"instance-state-name", states}});
}

Ec2Image AwsProvisioner::ResolveImage(const Ec2Client& ec2, const std::string& image_id) {
  std::string id = image_id.empty() ? options_.image_id : image_id;
  if (id.empty()) {
    auto images = ec2.DescribeImages({}, {options_.image_owner},
                                     {{"name", {options_.image_name_filter}},
                                      {"state", {"available"}},
                                      {"architecture", {"x86_64"}}});
    if (images.empty()) {
      throw InvalidTaskError(fmt::format(
          "no default image in AWS region {}: no image of owner {} is named like '{}'; name one "
          "with `image_id` in the task's resources, or set aws.image_id or aws.image_name_filter "
          "in ~/.sky/config.yaml",
          ec2.region(), options_.image_owner, options_.image_name_filter));
    }
    // The newest: the creation date, else the date the name ends with.
    std::sort(images.begin(), images.end(), [](const Ec2Image& a, const Ec2Image& b) {
      return std::tie(a.creation_date, a.name) > std::tie(b.creation_date, b.name);
    });
    return images.front();
  }
  std::vector<Ec2Image> found;
  try {
    found = ec2.DescribeImages({id}, {}, {});
  } catch (const AwsApiError& e) {
    if (e.aws_code().rfind("InvalidAMIID", 0) != 0) throw;
  }
  if (found.empty()) {
    throw InvalidTaskError(fmt::format(
        "image {} is not in AWS region {} (images are per region: copy it there, or name the "
        "region's own image with `image_id: {{<region>: ami-...}}`)",
        id, ec2.region()));
  }
  return found.front();
}

std::string AwsProvisioner::ChooseSubnet(const Ec2Client& ec2, const std::string& vpc_id,
                                         vm::ProvisionRequest& request) {
  const std::vector<std::string> offered = ec2.ZonesOffering(request.instance_type);
  if (offered.empty()) {
    throw ResourcesUnavailableError(
        fmt::format("AWS does not offer {} in region {}", request.instance_type, ec2.region()));
  }
  if (!request.zone.empty() &&
      std::find(offered.begin(), offered.end(), request.zone) == offered.end()) {
    throw ResourcesUnavailableError(fmt::format("AWS does not offer {} in zone {}; it does in {}",
                                                request.instance_type, request.zone,
                                                fmt::join(offered, ", ")));
  }
  std::vector<Ec2Filter> filters = {{"vpc-id", {vpc_id}}};
  if (!request.zone.empty()) filters.push_back({"availability-zone", {request.zone}});
  auto subnets = ec2.DescribeSubnets(filters);
  std::erase_if(subnets, [&](const Ec2Subnet& subnet) {
    return std::find(offered.begin(), offered.end(), subnet.zone) == offered.end();
  });
  if (subnets.empty()) {
    throw ResourcesUnavailableError(
        fmt::format("no subnet of VPC {} in {} where AWS offers {} ({})", vpc_id,
                    request.zone.empty() ? ec2.region() : request.zone, request.instance_type,
                    fmt::join(offered, ", ")));
  }
  // The zone's default subnet first, then the one with most free addresses;
  // ties by zone name so that repeated launches land in the same place.
  std::sort(subnets.begin(), subnets.end(), [](const Ec2Subnet& a, const Ec2Subnet& b) {
    return std::make_tuple(!a.default_for_az, a.zone, -a.available_ips, a.subnet_id) <
           std::make_tuple(!b.default_for_az, b.zone, -b.available_ips, b.subnet_id);
  });
  request.zone = subnets.front().zone;
  return subnets.front().subnet_id;
}

std::string AwsProvisioner::EnsureSecurityGroup(const Ec2Client& ec2, const std::string& vpc_id,
                                                const vm::ProvisionRequest& request) {
  const std::string name = SecurityGroupName(request.cluster_name_on_cloud);
  auto find = [&] {
    return ec2.DescribeSecurityGroups({{"group-name", {name}}, {"vpc-id", {vpc_id}}});
  };
  auto groups = find();
  std::string group_id;
  std::vector<std::pair<int, int>> open;
  if (groups.empty()) {
    try {
      group_id = ec2.CreateSecurityGroup(
          name, fmt::format("SkyPilot security group of cluster {}", request.cluster_name), vpc_id,
          {{kClusterTag, request.cluster_name_on_cloud}});
    } catch (const AwsApiError& e) {
      // Another launch of the same cluster made it in between.
      if (e.aws_code() != "InvalidGroup.Duplicate") throw;
      groups = find();
      if (groups.empty()) throw;
    }
  }
  if (!groups.empty()) {
    group_id = groups.front().group_id;
    open = groups.front().tcp_port_ranges;
  }
  std::vector<int> wanted = {22};
  wanted.insert(wanted.end(), request.ports.begin(), request.ports.end());
  std::vector<int> missing;
  for (int port : wanted) {
    const bool is_open = std::any_of(open.begin(), open.end(), [&](const auto& range) {
      return range.first <= port && port <= range.second;
    });
    if (!is_open && std::find(missing.begin(), missing.end(), port) == missing.end()) {
      missing.push_back(port);
    }
  }
  ec2.AuthorizeIngress(group_id, missing);
  return group_id;
}

vm::ProvisionRequest AwsProvisioner::Bootstrap(vm::ProvisionRequest request) {
  const Ec2Client& ec2 = Ec2(request.region);
  if (!request.provider_config.is_object()) request.provider_config = nlohmann::json::object();
  nlohmann::json& config = request.provider_config;

  if (!request.ssh_public_key.empty()) {
    const std::string key_name = KeyPairName(request.ssh_public_key);
    if (!ec2.KeyPairExists(key_name)) {
      try {
        ec2.ImportKeyPair(key_name, request.ssh_public_key);
      } catch (const AwsApiError& e) {
        if (e.aws_code() != "InvalidKeyPair.Duplicate") throw;
      }
    }
    config["key_name"] = key_name;
  }

  std::string vpc_id = Field(config, "vpc_id");
  if (vpc_id.empty()) {
    auto found = ec2.DefaultVpc();
    if (!found) {
      throw ResourcesUnavailableError(fmt::format(
          "AWS region {} has no default VPC; create one (`aws ec2 create-default-vpc --region "
          "{}`) or use another region",
          request.region, request.region));
    }
    vpc_id = *found;
  }
  config["vpc_id"] = vpc_id;

  const Ec2Image image = ResolveImage(ec2, request.image_id);
  request.image_id = image.image_id;
  if (!image.root_device_name.empty()) config["root_device_name"] = image.root_device_name;

  if (Field(config, "subnet_id").empty()) config["subnet_id"] = ChooseSubnet(ec2, vpc_id, request);
  config["zone"] = request.zone;
  config["security_group_id"] = EnsureSecurityGroup(ec2, vpc_id, request);
  if (request.ssh_user.empty()) request.ssh_user = options_.ssh_user;
  return request;
}

vm::ProvisionRecord AwsProvisioner::RunInstances(const vm::ProvisionRequest& request) {
  const Ec2Client& ec2 = Ec2(request.region);
  vm::ProvisionRecord record;
  record.region = request.region;
  record.zone = request.zone;

  auto existing = ClusterInstances(ec2, request.cluster_name_on_cloud, kNonTerminatedStates);
  // The head first, then by launch time: the oldest nodes are kept.
  std::stable_sort(existing.begin(), existing.end(),
                   [](const Ec2Instance& a, const Ec2Instance& b) {
                     return std::make_tuple(!IsHead(a), a.launch_time, a.instance_id) <
                            std::make_tuple(!IsHead(b), b.launch_time, b.instance_id);
                   });
  std::vector<Ec2Instance> usable;
  std::vector<std::string> to_resume;
  for (const auto& instance : existing) {
    if (static_cast<int>(usable.size()) >= request.count) break;
    if (instance.state == "pending" || instance.state == "running") {
      usable.push_back(instance);
    } else if (request.resume_stopped_nodes) {
      usable.push_back(instance);
      to_resume.push_back(instance.instance_id);
    }
  }
  if (!to_resume.empty()) {
    // A stopping instance cannot be started until it has stopped.
    const bool stopping = std::any_of(existing.begin(), existing.end(),
                                      [](const auto& each) { return each.state == "stopping"; });
    if (stopping) {
      WaitInstances(request.region, request.cluster_name_on_cloud, InstanceState::kStopped,
                    std::chrono::steady_clock::now() + std::chrono::minutes(5));
    }
    ec2.StartInstances(to_resume);
    record.resumed_instance_ids = to_resume;
  }

  auto tags_for = [&](bool head) {
    std::map<std::string, std::string> tags = request.labels;
    // Whole strings moved in: GCC 12's -O3 -Wrestrict misreads assigning a
    // literal to a map's string.
    tags.insert_or_assign(kClusterTag, request.cluster_name_on_cloud);
    tags.insert_or_assign(kRayClusterTag, request.cluster_name_on_cloud);
    tags.insert_or_assign(kHeadTag, std::string(head ? "1" : "0"));
    tags.insert_or_assign(kNodeTypeTag, std::string(head ? "head" : "worker"));
    tags.insert_or_assign(
        "Name", fmt::format("sky-{}-{}", request.cluster_name_on_cloud, head ? "head" : "worker"));
    return tags;
  };
  auto launch = [&](int count, bool head) {
    RunInstancesRequest run;
    run.image_id = request.image_id;
    run.root_device_name = Field(request.provider_config, "root_device_name");
    if (run.root_device_name.empty()) run.root_device_name = "/dev/sda1";
    run.instance_type = request.instance_type;
    run.count = count;
    run.key_name = Field(request.provider_config, "key_name");
    run.subnet_id = Field(request.provider_config, "subnet_id");
    if (auto group = Field(request.provider_config, "security_group_id"); !group.empty()) {
      run.security_group_ids = {group};
    }
    run.spot = request.use_spot;
    run.disk_size_gb = request.disk_size_gb;
    run.volume_type = VolumeType(request.provider_config);
    run.tags = tags_for(head);
    run.client_token =
        fmt::format("sky-{}-{}", request.cluster_name_on_cloud.substr(0, 40), RandomToken());
    return ec2.RunInstances(run);
  };

  std::string head_id;
  for (const auto& each : usable) {
    if (IsHead(each)) head_id = each.instance_id;
  }
  int to_create = request.count - static_cast<int>(usable.size());
  if (head_id.empty() && to_create > 0) {
    const auto created = launch(1, true);
    if (created.empty()) throw AwsApiError("AWS EC2 RunInstances created no head instance", {});
    head_id = created.front().instance_id;
    record.created_instance_ids.push_back(head_id);
    --to_create;
  } else if (head_id.empty() && !usable.empty()) {
    // A crash between launches left workers only: the oldest becomes the head.
    head_id = usable.front().instance_id;
    ec2.CreateTags({head_id}, tags_for(true));
  }
  if (to_create > 0) {
    for (const auto& each : launch(to_create, false)) {
      record.created_instance_ids.push_back(each.instance_id);
    }
  }
  record.head_instance_id = head_id;
  return record;
}

void AwsProvisioner::WaitInstances(const std::string& region,
                                   const std::string& cluster_name_on_cloud, InstanceState state,
                                   std::chrono::steady_clock::time_point deadline) {
  const Ec2Client& ec2 = Ec2(region);
  const auto start = std::chrono::steady_clock::now();
  // Instances terminated before the wait began are an earlier life of the
  // cluster; one that terminates while waiting for running is a failure.
  std::set<std::string> alive_at_start;
  bool first = true;
  const std::string wanted = InstanceStateName(state);
  while (true) {
    const auto instances = ClusterInstances(ec2, cluster_name_on_cloud, kAllStates);
    std::vector<std::string> not_yet;
    for (const auto& instance : instances) {
      const InstanceState current = StateOf(instance.state);
      const bool gone =
          current == InstanceState::kTerminated || current == InstanceState::kTerminating;
      if (first && !gone) alive_at_start.insert(instance.instance_id);
      if (state == InstanceState::kTerminated) {
        if (current != InstanceState::kTerminated) {
          not_yet.push_back(fmt::format("{} ({})", instance.instance_id, instance.state));
        }
        continue;
      }
      if (gone) {
        if (state == InstanceState::kRunning && alive_at_start.count(instance.instance_id)) {
          throw ResourcesUnavailableError(fmt::format(
              "AWS instance {} of cluster {} in {} went {} while starting{}", instance.instance_id,
              cluster_name_on_cloud, region, instance.state,
              instance.state_reason.empty() ? "" : fmt::format(": {}", instance.state_reason)));
        }
        continue;
      }
      if (current != state) {
        not_yet.push_back(fmt::format("{} ({})", instance.instance_id, instance.state));
      }
    }
    first = false;
    if (not_yet.empty()) return;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      throw ResourcesUnavailableError(fmt::format(
          "AWS instances of cluster {} in {} not {} after {:.0f} s: {}", cluster_name_on_cloud,
          region, wanted, std::chrono::duration<double>(now - start).count(),
          fmt::join(not_yet, ", ")));
    }
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(options_.poll_interval, deadline - now));
  }
}

vm::ClusterInfo AwsProvisioner::GetClusterInfo(const std::string& region,
                                               const std::string& cluster_name_on_cloud) {
  auto instances = ClusterInstances(Ec2(region), cluster_name_on_cloud, kNonTerminatedStates);
  std::stable_sort(instances.begin(), instances.end(),
                   [](const Ec2Instance& a, const Ec2Instance& b) {
                     return std::make_tuple(!IsHead(a), a.launch_time, a.instance_id) <
                            std::make_tuple(!IsHead(b), b.launch_time, b.instance_id);
                   });
  vm::ClusterInfo info;
  info.region = region;
  info.ssh_user = options_.ssh_user;
  for (const auto& instance : instances) {
    if (IsHead(instance) && info.head_instance_id.empty()) {
      info.head_instance_id = instance.instance_id;
      info.zone = instance.zone;
    }
    vm::InstanceInfo node;
    node.instance_id = instance.instance_id;
    node.internal_ip = instance.private_ip;
    node.external_ip = instance.public_ip;
    node.state = StateOf(instance.state);
    node.tags = instance.tags;
    info.instances.push_back(std::move(node));
  }
  if (info.zone.empty() && !instances.empty()) info.zone = instances.front().zone;
  return info;
}

std::map<std::string, InstanceState> AwsProvisioner::QueryInstances(
    const std::string& region, const std::string& cluster_name_on_cloud, bool non_terminated_only) {
  const auto instances = ClusterInstances(Ec2(region), cluster_name_on_cloud,
                                          non_terminated_only ? kNonTerminatedStates : kAllStates);
  std::map<std::string, InstanceState> out;
  for (const auto& instance : instances) out[instance.instance_id] = StateOf(instance.state);
  return out;
}

std::map<std::string, std::string> AwsProvisioner::StateReasons(
    const std::string& region, const std::string& cluster_name_on_cloud) {
  std::map<std::string, std::string> out;
  for (const auto& instance : ClusterInstances(Ec2(region), cluster_name_on_cloud, kAllStates)) {
    if (!instance.state_reason.empty()) out[instance.instance_id] = instance.state_reason;
  }
  return out;
}

void AwsProvisioner::StopInstances(const std::string& region,
                                   const std::string& cluster_name_on_cloud, bool worker_only) {
  auto instances = ClusterInstances(Ec2(region), cluster_name_on_cloud, {"pending", "running"});
  if (worker_only) std::erase_if(instances, IsHead);
  Ec2(region).StopInstances(Ids(instances));
}

void AwsProvisioner::TerminateInstances(const std::string& region,
                                        const std::string& cluster_name_on_cloud,
                                        bool worker_only) {
  auto instances = ClusterInstances(Ec2(region), cluster_name_on_cloud, kNonTerminatedStates);
  if (worker_only) std::erase_if(instances, IsHead);
  Ec2(region).TerminateInstances(Ids(instances));
}

void AwsProvisioner::OpenPorts(const std::string& region, const std::string& cluster_name_on_cloud,
                               const std::vector<int>& ports) {
  const Ec2Client& ec2 = Ec2(region);
  const auto groups =
      ec2.DescribeSecurityGroups({{"group-name", {SecurityGroupName(cluster_name_on_cloud)}}});
  if (groups.empty()) {
    throw ClusterDoesNotExist(fmt::format(
        "AWS: no security group {} in {} to open ports in (was the cluster bootstrapped?)",
        SecurityGroupName(cluster_name_on_cloud), region));
  }
  ec2.AuthorizeIngress(groups.front().group_id, ports);
}

void AwsProvisioner::CleanupPorts(const std::string& region,
                                  const std::string& cluster_name_on_cloud) {
  const Ec2Client& ec2 = Ec2(region);
  const auto groups =
      ec2.DescribeSecurityGroups({{"group-name", {SecurityGroupName(cluster_name_on_cloud)}}});
  const auto deadline = std::chrono::steady_clock::now() + options_.cleanup_wait;
  for (const auto& group : groups) {
    while (true) {
      try {
        ec2.DeleteSecurityGroup(group.group_id);
        break;
      } catch (const AwsApiError& e) {
        if (e.aws_code() == "InvalidGroup.NotFound") break;
        // Terminating instances hold the group until they are gone.
        if (e.aws_code() != "DependencyViolation" || std::chrono::steady_clock::now() >= deadline) {
          throw;
        }
      }
      std::this_thread::sleep_for(options_.poll_interval);
    }
  }
}

}  // namespace skycore::aws
