// `skyletd cloud-stop`: a cloud head's autostop stops or terminates its own
// cluster through the cloud's API (see cluster.h).
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "infra/infra.h"
#include "infra/vm/cluster.h"
#include "skycore/error.h"

namespace skycore::vm {
using nlohmann::json;

namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

int RunCloudStop(const std::string& config_file, bool terminate) {
  try {
    const json config = json::parse(ReadFile(config_file));
    const std::string infra_name = config.value("infra", "");
    const infra::Infra* found = infra::FindInfra(infra_name);
    backend::BackendContext context;
    auto cloud = found ? found->MakeVmCloud(context) : nullptr;
    if (!cloud) {
      std::fprintf(stderr, "skyletd cloud-stop: %s is not a VM cloud skycore knows\n",
                   infra_name.c_str());
      return 2;
    }
    auto provisioner = cloud->ProvisionerFromHeadConfig(config.value("cloud", json::object()));
    const std::string region = config.value("region", "");
    const std::string on_cloud = config.value("cluster_name_on_cloud", "");
    // Workers first: the head is this machine, and the call that stops it
    // is the last this process makes.
    if (terminate) {
      provisioner->TerminateInstances(region, on_cloud, true);
      provisioner->TerminateInstances(region, on_cloud, false);
    } else {
      provisioner->StopInstances(region, on_cloud, true);
      provisioner->StopInstances(region, on_cloud, false);
    }
    std::fprintf(stderr, "skyletd cloud-stop: %s cluster %s in %s\n",
                 terminate ? "terminated" : "stopped", on_cloud.c_str(), region.c_str());
    return 0;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "skyletd cloud-stop: %s\n", error.what());
    return 1;
  }
}

}  // namespace skycore::vm
