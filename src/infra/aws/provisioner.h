// The AWS Provisioner (src/infra/vm/provisioner.h): a cluster's instances,
// key pair, security group and subnet in one region, with the names and tags
// SkyPilot gives them, so either tool finds what the other made.
//
// Tags on every instance: skypilot-cluster-name and ray-cluster-name (the
// cluster's name on the cloud), skypilot-head-node (1 or 0), ray-node-type
// (head or worker), Name (sky-<name on cloud>-head|worker), and the task's
// labels. The security group is sky-sg-<name on cloud> in the VPC (the
// region's default unless provider_config names `vpc_id`), open for tcp 22
// and the task's ports; the key pair is sky-key-<hash of the public key>.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "infra/aws/credentials.h"
#include "infra/aws/ec2.h"
#include "infra/aws/query_client.h"
#include "infra/vm/provisioner.h"

namespace skycore::aws {

// Everything needed to call EC2 in any region: keys and where the APIs are.
struct AwsAccess {
  AwsCredentials credentials;
  // A fixed EC2 endpoint for every region (AWS_ENDPOINT_URL_EC2 or
  // AWS_ENDPOINT_URL); empty: https://ec2.<region>.amazonaws.com.
  std::string ec2_endpoint;
  std::string sts_endpoint;  // the same for STS
  QueryClientOptions client_options;

  // The keys and endpoint overrides the environment resolves to.
  static AwsAccess FromEnvironment(const EnvLookup& env, AwsCredentials credentials);
  std::string Ec2EndpointFor(const std::string& region) const;
};

struct AwsProvisionerOptions {
  std::string ssh_user = "ubuntu";
  // The image when a request names none: this id (config `aws.image_id`),
  // else the newest image of `image_owner` whose name matches
  // `image_name_filter` (config `aws.image_name_filter`).
  std::string image_id;
  std::string image_name_filter = "ubuntu/images/hvm-ssd*/ubuntu-*-22.04-amd64-server-*";
  std::string image_owner = "099720109477";  // Canonical
  // WaitInstances asks EC2 this often (never longer than the time left).
  std::chrono::milliseconds poll_interval{2000};
  // CleanupPorts retries DeleteSecurityGroup this long while EC2 still sees
  // the group used (DependencyViolation: instances shutting down hold it).
  std::chrono::seconds cleanup_wait{180};
};

// The name of the security group of a cluster ("sky-sg-<name on cloud>").
std::string SecurityGroupName(const std::string& cluster_name_on_cloud);
// The key pair name of a public key ("sky-key-<10 hex digits of its SHA-256>").
std::string KeyPairName(const std::string& ssh_public_key);

// What an AWS error means for failover (the Provisioner's Classify).
std::optional<vm::ProvisionFailure> ClassifyAwsError(const Error& error);

class AwsProvisioner : public vm::Provisioner {
 public:
  AwsProvisioner(AwsAccess access, AwsProvisionerOptions options);

  vm::ProvisionRequest Bootstrap(vm::ProvisionRequest request) override;
  vm::ProvisionRecord RunInstances(const vm::ProvisionRequest& request) override;
  void WaitInstances(const std::string& region, const std::string& cluster_name_on_cloud,
                     vm::InstanceState state,
                     std::chrono::steady_clock::time_point deadline) override;
  vm::ClusterInfo GetClusterInfo(const std::string& region,
                                 const std::string& cluster_name_on_cloud) override;
  std::map<std::string, vm::InstanceState> QueryInstances(const std::string& region,
                                                          const std::string& cluster_name_on_cloud,
                                                          bool non_terminated_only) override;
  std::map<std::string, std::string> StateReasons(
      const std::string& region, const std::string& cluster_name_on_cloud) override;
  void StopInstances(const std::string& region, const std::string& cluster_name_on_cloud,
                     bool worker_only) override;
  void TerminateInstances(const std::string& region, const std::string& cluster_name_on_cloud,
                          bool worker_only) override;
  void OpenPorts(const std::string& region, const std::string& cluster_name_on_cloud,
                 const std::vector<int>& ports) override;
  void CleanupPorts(const std::string& region, const std::string& cluster_name_on_cloud) override;
  std::optional<vm::ProvisionFailure> Classify(const Error& error) const override;

  // The EC2 client of `region` (made once per region; thread-safe).
  const Ec2Client& Ec2(const std::string& region);

 private:
  std::vector<Ec2Instance> ClusterInstances(const Ec2Client& ec2,
                                            const std::string& cluster_name_on_cloud,
                                            const std::vector<std::string>& states);
  Ec2Image ResolveImage(const Ec2Client& ec2, const std::string& image_id);
  std::string ChooseSubnet(const Ec2Client& ec2, const std::string& vpc_id,
                           vm::ProvisionRequest& request);
  std::string EnsureSecurityGroup(const Ec2Client& ec2, const std::string& vpc_id,
                                  const vm::ProvisionRequest& request);

  AwsAccess access_;
  AwsProvisionerOptions options_;
  std::mutex clients_mutex_;
  std::map<std::string, std::unique_ptr<Ec2Client>> clients_;
};

}  // namespace skycore::aws
