#include "infra/aws/ec2.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/strings.h"

namespace skycore::aws {
namespace {

std::string Child(const pugi::xml_node& node, const char* name) {
  return node.child(name).child_value();
}

// The `item` children of `node`'s child `set`.
template <typename Each>
void ForEachItem(const pugi::xml_node& node, const char* set, Each each) {
  for (const pugi::xml_node& item : node.child(set).children("item")) each(item);
}

std::map<std::string, std::string> Tags(const pugi::xml_node& node) {
  std::map<std::string, std::string> tags;
  ForEachItem(node, "tagSet",
              [&](const pugi::xml_node& item) { tags[Child(item, "key")] = Child(item, "value"); });
  return tags;
}

void AppendList(const std::string& prefix, const std::vector<std::string>& values,
                QueryParams& params) {
  for (size_t i = 0; i < values.size(); ++i) {
    params.emplace_back(fmt::format("{}.{}", prefix, i + 1), values[i]);
  }
}

void AppendTags(const std::string& prefix, const std::map<std::string, std::string>& tags,
                QueryParams& params) {
  int n = 0;
  for (const auto& [key, value] : tags) {
    ++n;
    params.emplace_back(fmt::format("{}.{}.Key", prefix, n), key);
    params.emplace_back(fmt::format("{}.{}.Value", prefix, n), value);
  }
}

}  // namespace

void AppendFilters(const std::vector<Ec2Filter>& filters, QueryParams& params) {
  for (size_t i = 0; i < filters.size(); ++i) {
    params.emplace_back(fmt::format("Filter.{}.Name", i + 1), filters[i].name);
    AppendList(fmt::format("Filter.{}.Value", i + 1), filters[i].values, params);
  }
}

std::vector<Ec2Instance> ParseInstances(const pugi::xml_node& answer) {
  std::vector<Ec2Instance> out;
  auto read = [&](const pugi::xml_node& item) {
    Ec2Instance instance;
    instance.instance_id = Child(item, "instanceId");
    instance.instance_type = Child(item, "instanceType");
    instance.state = item.child("instanceState").child_value("name");
    const pugi::xml_node reason = item.child("stateReason");
    instance.state_reason = Child(reason, "message");
    if (instance.state_reason.empty()) instance.state_reason = Child(item, "reason");
    instance.zone = item.child("placement").child_value("availabilityZone");
    instance.private_ip = Child(item, "privateIpAddress");
    instance.public_ip = Child(item, "ipAddress");
    instance.launch_time = Child(item, "launchTime");
    instance.tags = Tags(item);
    out.push_back(std::move(instance));
  };
  // DescribeInstances: reservationSet/item/instancesSet/item; RunInstances:
  // instancesSet/item at the top.
  const pugi::xml_node root = answer.first_child();
  if (root.child("reservationSet")) {
    ForEachItem(root, "reservationSet", [&](const pugi::xml_node& reservation) {
      ForEachItem(reservation, "instancesSet", read);
    });
  } else {
    ForEachItem(root, "instancesSet", read);
  }
  return out;
}

std::vector<std::string> Ec2Client::DescribeRegions() const {
  const auto answer = client_->Call("DescribeRegions", {});
  std::vector<std::string> regions;
  ForEachItem(answer.first_child(), "regionInfo",
              [&](const pugi::xml_node& item) { regions.push_back(Child(item, "regionName")); });
  return regions;
}

std::vector<std::string> Ec2Client::DescribeAvailabilityZones() const {
  const auto answer = client_->Call("DescribeAvailabilityZones", {});
  std::vector<std::string> zones;
  ForEachItem(answer.first_child(), "availabilityZoneInfo", [&](const pugi::xml_node& item) {
    const std::string state = Child(item, "zoneState");
    if (state.empty() || state == "available") zones.push_back(Child(item, "zoneName"));
  });
  return zones;
}

std::vector<Ec2Image> Ec2Client::DescribeImages(const std::vector<std::string>& image_ids,
                                                const std::vector<std::string>& owners,
                                                const std::vector<Ec2Filter>& filters) const {
  QueryParams params;
  AppendList("ImageId", image_ids, params);
  AppendList("Owner", owners, params);
  AppendFilters(filters, params);
  const auto answer = client_->Call("DescribeImages", params);
  std::vector<Ec2Image> images;
  ForEachItem(answer.first_child(), "imagesSet", [&](const pugi::xml_node& item) {
    images.push_back({Child(item, "imageId"), Child(item, "name"), Child(item, "creationDate"),
                      Child(item, "rootDeviceName")});
  });
  return images;
}

std::vector<std::string> Ec2Client::ZonesOffering(const std::string& instance_type) const {
  QueryParams params = {{"LocationType", "availability-zone"}};
  AppendFilters({{"instance-type", {instance_type}}}, params);
  std::vector<std::string> zones;
  for (std::string token;;) {
    QueryParams page = params;
    if (!token.empty()) page.emplace_back("NextToken", token);
    const auto answer = client_->Call("DescribeInstanceTypeOfferings", page);
    ForEachItem(answer.first_child(), "instanceTypeOfferingSet",
                [&](const pugi::xml_node& item) { zones.push_back(Child(item, "location")); });
    token = Child(answer.first_child(), "nextToken");
    if (token.empty()) break;
  }
  std::sort(zones.begin(), zones.end());
  return zones;
}

bool Ec2Client::KeyPairExists(const std::string& name) const {
  try {
    const auto answer = client_->Call("DescribeKeyPairs", {{"KeyName.1", name}});
    return static_cast<bool>(answer.first_child().child("keySet").child("item"));
  } catch (const AwsApiError& e) {
    if (e.aws_code() == "InvalidKeyPair.NotFound") return false;
    throw;
  }
}

void Ec2Client::ImportKeyPair(const std::string& name, const std::string& public_key) const {
  // PublicKeyMaterial is base64 of the OpenSSH line (the Query API's blob).
  client_->Call("ImportKeyPair",
                {{"KeyName", name}, {"PublicKeyMaterial", strings::EncodeBase64(public_key)}});
}

void Ec2Client::DeleteKeyPair(const std::string& name) const {
  client_->Call("DeleteKeyPair", {{"KeyName", name}});
}

std::optional<std::string> Ec2Client::DefaultVpc() const {
  QueryParams params;
  AppendFilters({{"is-default", {"true"}}}, params);
  const auto answer = client_->Call("DescribeVpcs", params);
  const pugi::xml_node item = answer.first_child().child("vpcSet").child("item");
  if (!item) return std::nullopt;
  return Child(item, "vpcId");
}

std::vector<Ec2Subnet> Ec2Client::DescribeSubnets(const std::vector<Ec2Filter>& filters) const {
  QueryParams params;
  AppendFilters(filters, params);
  const auto answer = client_->Call("DescribeSubnets", params);
  std::vector<Ec2Subnet> subnets;
  ForEachItem(answer.first_child(), "subnetSet", [&](const pugi::xml_node& item) {
    Ec2Subnet subnet;
    subnet.subnet_id = Child(item, "subnetId");
    subnet.vpc_id = Child(item, "vpcId");
    subnet.zone = Child(item, "availabilityZone");
    subnet.default_for_az = Child(item, "defaultForAz") == "true";
    subnet.available_ips = item.child("availableIpAddressCount").text().as_int();
    subnets.push_back(std::move(subnet));
  });
  return subnets;
}

std::vector<Ec2SecurityGroup> Ec2Client::DescribeSecurityGroups(
    const std::vector<Ec2Filter>& filters) const {
  QueryParams params;
  AppendFilters(filters, params);
  const auto answer = client_->Call("DescribeSecurityGroups", params);
  std::vector<Ec2SecurityGroup> groups;
  ForEachItem(answer.first_child(), "securityGroupInfo", [&](const pugi::xml_node& item) {
    Ec2SecurityGroup group;
    group.group_id = Child(item, "groupId");
    group.group_name = Child(item, "groupName");
    group.vpc_id = Child(item, "vpcId");
    ForEachItem(item, "ipPermissions", [&](const pugi::xml_node& permission) {
      const std::string protocol = Child(permission, "ipProtocol");
      if (protocol != "tcp" && protocol != "-1") return;
      bool everyone = false;
      ForEachItem(permission, "ipRanges", [&](const pugi::xml_node& range) {
        everyone = everyone || Child(range, "cidrIp") == "0.0.0.0/0";
      });
      if (!everyone) return;
      if (protocol == "-1") {
        group.tcp_port_ranges.emplace_back(0, 65535);
      } else {
        group.tcp_port_ranges.emplace_back(permission.child("fromPort").text().as_int(),
                                           permission.child("toPort").text().as_int());
      }
    });
    groups.push_back(std::move(group));
  });
  return groups;
}

std::string Ec2Client::CreateSecurityGroup(const std::string& name, const std::string& description,
                                           const std::string& vpc_id,
                                           const std::map<std::string, std::string>& tags) const {
  QueryParams params = {{"GroupName", name}, {"GroupDescription", description}};
  if (!vpc_id.empty()) params.emplace_back("VpcId", vpc_id);
  if (!tags.empty()) {
    params.emplace_back("TagSpecification.1.ResourceType", "security-group");
    AppendTags("TagSpecification.1.Tag", tags, params);
  }
  const auto answer = client_->Call("CreateSecurityGroup", params);
  return Child(answer.first_child(), "groupId");
}

void Ec2Client::AuthorizeIngress(const std::string& group_id, const std::vector<int>& ports) const {
  if (ports.empty()) return;
  // One rule per run of consecutive ports (a group holds 60 rules; a task's
  // `9000-9999` is one), added one by one: a batch fails whole when one of
  // its rules exists, and a duplicate is skipped.
  std::vector<int> sorted = ports;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::vector<std::pair<int, int>> runs;
  for (int port : sorted) {
    if (!runs.empty() && runs.back().second + 1 == port) {
      runs.back().second = port;
    } else {
      runs.emplace_back(port, port);
    }
  }
  for (const auto& [from, to] : runs) {
    try {
      client_->Call("AuthorizeSecurityGroupIngress",
                    {{"GroupId", group_id},
                     {"IpPermissions.1.IpProtocol", "tcp"},
                     {"IpPermissions.1.FromPort", std::to_string(from)},
                     {"IpPermissions.1.ToPort", std::to_string(to)},
                     {"IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0"}});
    } catch (const AwsApiError& e) {
      if (e.aws_code() != "InvalidPermission.Duplicate") throw;
    }
  }
}

void Ec2Client::DeleteSecurityGroup(const std::string& group_id) const {
  client_->Call("DeleteSecurityGroup", {{"GroupId", group_id}});
}

std::vector<Ec2Instance> Ec2Client::RunInstances(const RunInstancesRequest& request) const {
  QueryParams params = {
      {"ImageId", request.image_id},
      {"InstanceType", request.instance_type},
      {"MinCount", std::to_string(request.count)},
      {"MaxCount", std::to_string(request.count)},
      {"BlockDeviceMapping.1.DeviceName", request.root_device_name},
      {"BlockDeviceMapping.1.Ebs.VolumeSize", std::to_string(request.disk_size_gb)},
      {"BlockDeviceMapping.1.Ebs.VolumeType", request.volume_type},
      {"BlockDeviceMapping.1.Ebs.DeleteOnTermination", "true"},
  };
  if (!request.key_name.empty()) params.emplace_back("KeyName", request.key_name);
  if (!request.subnet_id.empty()) params.emplace_back("SubnetId", request.subnet_id);
  AppendList("SecurityGroupId", request.security_group_ids, params);
  if (request.spot) {
    params.emplace_back("InstanceMarketOptions.MarketType", "spot");
    params.emplace_back("InstanceMarketOptions.SpotOptions.SpotInstanceType", "one-time");
    params.emplace_back("InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior",
                        "terminate");
  }
  if (!request.tags.empty()) {
    params.emplace_back("TagSpecification.1.ResourceType", "instance");
    AppendTags("TagSpecification.1.Tag", request.tags, params);
    params.emplace_back("TagSpecification.2.ResourceType", "volume");
    AppendTags("TagSpecification.2.Tag", request.tags, params);
  }
  if (!request.client_token.empty()) params.emplace_back("ClientToken", request.client_token);
  const auto answer = client_->Call("RunInstances", params);
  return ParseInstances(answer);
}

std::vector<Ec2Instance> Ec2Client::DescribeInstances(const std::vector<Ec2Filter>& filters) const {
  QueryParams params;
  AppendFilters(filters, params);
  params.emplace_back("MaxResults", "1000");
  std::vector<Ec2Instance> out;
  for (std::string token;;) {
    QueryParams page = params;
    if (!token.empty()) page.emplace_back("NextToken", token);
    const auto answer = client_->Call("DescribeInstances", page);
    auto instances = ParseInstances(answer);
    out.insert(out.end(), std::make_move_iterator(instances.begin()),
               std::make_move_iterator(instances.end()));
    token = Child(answer.first_child(), "nextToken");
    if (token.empty()) break;
  }
  return out;
}

void Ec2Client::StartInstances(const std::vector<std::string>& ids) const {
  if (ids.empty()) return;
  QueryParams params;
  AppendList("InstanceId", ids, params);
  client_->Call("StartInstances", params);
}

void Ec2Client::StopInstances(const std::vector<std::string>& ids) const {
  if (ids.empty()) return;
  QueryParams params;
  AppendList("InstanceId", ids, params);
  client_->Call("StopInstances", params);
}

void Ec2Client::TerminateInstances(const std::vector<std::string>& ids) const {
  if (ids.empty()) return;
  QueryParams params;
  AppendList("InstanceId", ids, params);
  client_->Call("TerminateInstances", params);
}

void Ec2Client::CreateTags(const std::vector<std::string>& ids,
                           const std::map<std::string, std::string>& tags) const {
  if (ids.empty() || tags.empty()) return;
  QueryParams params;
  AppendList("ResourceId", ids, params);
  AppendTags("Tag", tags, params);
  client_->Call("CreateTags", params);
}

}  // namespace skycore::aws
