// The ClusterBackend every VM cloud shares.
//
// A cloud (src/infra/aws/, later azure, gcp, ...) gives a VmCloud: its
// descriptor, a Provisioner for a region, and what the head needs to call
// the cloud's API itself (autostop). This backend does the rest, once for
// every cloud: plans the handle (names on the cloud, the instance type the
// optimizer chose), asks the provisioner for the instances, waits for them,
// brings them up as SSH-reachable hosts (src/backend/remote_host.h: agent on
// the head, ranks over ssh, file sync), stops, starts and terminates them,
// finds them by tag after a crash, and reconciles `sky status -r` with what
// the cloud reports.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "backend/cluster_backend.h"
#include "infra/descriptor.h"
#include "infra/vm/provisioner.h"

namespace skycore::vm {

class VmCloud {
 public:
  virtual ~VmCloud() = default;

  virtual const infra::InfraDescriptor& descriptor() const = 0;

  // A provisioner acting in `region` with this machine's credentials (the
  // cloud's own chain: environment, profile files, ...). Throws
  // InvalidCloudCredentials saying which source was tried and why it failed.
  virtual std::unique_ptr<Provisioner> ProvisionerFor(const std::string& region) const = 0;

  // Why this cloud cannot stop instances (it only terminates them), in
  // words for `sky stop`; empty where it can.
  virtual std::string WhyNoStop() const { return {}; }

  // The user instances are logged into over ssh (the image's user unless the
  // config names another).
  virtual std::string SshUser() const = 0;

  // What the head of a cluster in `region` needs to call the cloud's API by
  // itself (autostop: the head stops or terminates its own cluster): a JSON
  // object the head keeps in a 0600 file. Never logged.
  virtual nlohmann::json HeadConfig(const std::string& region) const = 0;
  // The provisioner the head builds from HeadConfig's object.
  virtual std::unique_ptr<Provisioner> ProvisionerFromHeadConfig(
      const nlohmann::json& head_config) const = 0;
};

// The backend of clusters on `cloud`.
std::unique_ptr<backend::ClusterBackend> MakeVmBackend(const backend::BackendContext& context,
                                                       std::shared_ptr<const VmCloud> cloud);

// `skyletd cloud-stop`: run on a head by its autostop hook. Reads the file
// the backend wrote there (HeadConfig plus the cluster's name on the cloud),
// then stops (or with `terminate`, terminates) every instance of the
// cluster, the head last. Returns the process's exit code.
int RunCloudStop(const std::string& config_file, bool terminate);

}  // namespace skycore::vm
