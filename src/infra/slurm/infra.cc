// Slurm: clusters that are allocations of the clusters in ~/.slurm/config.
#include "infra/infra.h"

#include "infra/slurm/check.h"
#include "infra/slurm/cluster.h"
#include "infra/slurm/inventory.h"
#include "infra/slurm/show_gpus.h"

namespace skycore::infra {
namespace {

class SlurmInfra : public Infra {
 public:
  const InfraDescriptor& descriptor() const override;

  std::optional<std::string> CachedOfferings(const BackendContext& context) const override {
    return slurm::CachedCatalogCsv(context.state_dir());
  }
  InfraCheck Check(const BackendContext& context) const override {
    return CheckSlurm(context.options);
  }
  std::unique_ptr<backend::ClusterBackend> MakeBackend(
      const BackendContext& context) const override {
    return backend::MakeSlurmBackend(context);
  }
  // Slurm's GPUs are asked of each cluster's login node now, per partition.
  std::optional<int> ShowGpus(const ShowGpusRequest& request,
                              const BackendContext& context) const override {
    const auto& path = request.path;
    return ShowSlurmGpus(context.options, !path.empty() ? path[0] : std::string(),
                         path.size() > 1 ? path[1] : std::string());
  }
};

}  // namespace

const InfraDescriptor& SlurmDescriptor();
const InfraDescriptor& SlurmInfra::descriptor() const { return SlurmDescriptor(); }

std::unique_ptr<Infra> MakeSlurmInfra() { return std::make_unique<SlurmInfra>(); }

}  // namespace skycore::infra
