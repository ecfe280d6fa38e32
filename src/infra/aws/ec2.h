// The EC2 calls skycore's AWS provisioner makes, typed: requests as structs,
// answers read out of EC2's XML. Each throws as QueryClient::Call.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "infra/aws/query_client.h"

namespace skycore::aws {

// A DescribeX filter: `Name` with any of `values`.
struct Ec2Filter {
  std::string name;
  std::vector<std::string> values;
};

struct Ec2Instance {
  std::string instance_id;
  std::string instance_type;
  std::string state;         // pending, running, shutting-down, terminated, stopping, stopped
  std::string state_reason;  // why it is in that state ("Server.SpotInstanceTermination: ...")
  std::string zone;
  std::string private_ip;
  std::string public_ip;  // empty without one
  std::string launch_time;
  std::map<std::string, std::string> tags;
};

struct Ec2Image {
  std::string image_id;
  std::string name;
  std::string creation_date;
  std::string root_device_name;  // "/dev/sda1": where the root disk is mapped
};

struct Ec2SecurityGroup {
  std::string group_id;
  std::string group_name;
  std::string vpc_id;
  std::vector<std::pair<int, int>> tcp_port_ranges;  // open to 0.0.0.0/0
};

struct Ec2Subnet {
  std::string subnet_id;
  std::string vpc_id;
  std::string zone;
  bool default_for_az = false;
  int available_ips = 0;
};

struct RunInstancesRequest {
  std::string image_id;
  std::string root_device_name = "/dev/sda1";
  std::string instance_type;
  int count = 1;  // MinCount = MaxCount: all or none
  std::string key_name;
  std::string subnet_id;
  std::vector<std::string> security_group_ids;
  bool spot = false;
  int disk_size_gb = 256;
  std::string volume_type = "gp3";
  std::map<std::string, std::string> tags;  // on the instances and their volumes
  // Makes the call idempotent: EC2 answers a retry with the same token with
  // the instances of the first call instead of launching more.
  std::string client_token;
};

class Ec2Client {
 public:
  explicit Ec2Client(std::shared_ptr<const QueryClient> client) : client_(std::move(client)) {}

  const QueryClient& query() const { return *client_; }
  const std::string& region() const { return client_->region(); }

  std::vector<std::string> DescribeRegions() const;
  // The zones of the region that are `available`.
  std::vector<std::string> DescribeAvailabilityZones() const;
  std::vector<Ec2Image> DescribeImages(const std::vector<std::string>& image_ids,
                                       const std::vector<std::string>& owners,
                                       const std::vector<Ec2Filter>& filters) const;
  // The zones of the region where `instance_type` is offered.
  std::vector<std::string> ZonesOffering(const std::string& instance_type) const;

  bool KeyPairExists(const std::string& name) const;
  void ImportKeyPair(const std::string& name, const std::string& public_key) const;
  void DeleteKeyPair(const std::string& name) const;

  // The region's default VPC; nullopt when the account has none.
  std::optional<std::string> DefaultVpc() const;
  std::vector<Ec2Subnet> DescribeSubnets(const std::vector<Ec2Filter>& filters) const;

  std::vector<Ec2SecurityGroup> DescribeSecurityGroups(const std::vector<Ec2Filter>& filters) const;
  // Returns the new group's id.
  std::string CreateSecurityGroup(const std::string& name, const std::string& description,
                                  const std::string& vpc_id,
                                  const std::map<std::string, std::string>& tags) const;
  // Opens tcp `ports` to 0.0.0.0/0; rules that exist already are not an error.
  void AuthorizeIngress(const std::string& group_id, const std::vector<int>& ports) const;
  void DeleteSecurityGroup(const std::string& group_id) const;

  std::vector<Ec2Instance> RunInstances(const RunInstancesRequest& request) const;
  // Every page of the answer.
  std::vector<Ec2Instance> DescribeInstances(const std::vector<Ec2Filter>& filters) const;
  void StartInstances(const std::vector<std::string>& ids) const;
  void StopInstances(const std::vector<std::string>& ids) const;
  void TerminateInstances(const std::vector<std::string>& ids) const;
  void CreateTags(const std::vector<std::string>& ids,
                  const std::map<std::string, std::string>& tags) const;

 private:
  std::shared_ptr<const QueryClient> client_;
};

// Appends `filters` as Filter.N.Name / Filter.N.Value.M.
void AppendFilters(const std::vector<Ec2Filter>& filters, QueryParams& params);

// Reads the instances of a RunInstances or DescribeInstances answer.
std::vector<Ec2Instance> ParseInstances(const pugi::xml_node& answer);

}  // namespace skycore::aws
