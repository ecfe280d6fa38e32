// SSH node pools: clusters on machines listed in ~/.sky/ssh_node_pools.yaml.
#include "infra/infra.h"

#include "infra/ssh/check.h"
#include "infra/ssh/cluster.h"
#include "infra/ssh/inventory.h"
#include "infra/ssh/show_gpus.h"

namespace skycore::infra {
namespace {

class SshInfra : public Infra {
 public:
  const InfraDescriptor& descriptor() const override;

  std::optional<std::string> CachedOfferings(const BackendContext& context) const override {
    return ssh::CachedPoolsCatalogCsv(context.state_dir());
  }
  InfraCheck Check(const BackendContext& context) const override {
    return CheckSshPools(context.options);
  }
  std::unique_ptr<backend::ClusterBackend> MakeBackend(
      const BackendContext& context) const override {
    return backend::MakeSshBackend(context);
  }
  void ShowGpusDetail(const std::string& pool, const BackendContext& context) const override {
    PrintSshHostGpus(pool, context.state_dir());
  }
};

}  // namespace

const InfraDescriptor& SshDescriptor();
const InfraDescriptor& SshInfra::descriptor() const { return SshDescriptor(); }

std::unique_ptr<Infra> MakeSshInfra() { return std::make_unique<SshInfra>(); }

}  // namespace skycore::infra
