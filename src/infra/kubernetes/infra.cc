// Kubernetes: clusters whose nodes are pods of a kubeconfig context.
#include "infra/infra.h"

#include "infra/kubernetes/check.h"
#include "infra/kubernetes/cluster.h"
#include "infra/kubernetes/inventory.h"
#include "infra/kubernetes/show_gpus.h"

namespace skycore::infra {
namespace {

class KubernetesInfra : public Infra {
 public:
  const InfraDescriptor& descriptor() const override;

  std::optional<std::string> CachedOfferings(const BackendContext& context) const override {
    return kubernetes::CachedCatalogCsv(context.state_dir());
  }
  InfraCheck Check(const BackendContext& context) const override {
    return CheckKubernetes(context.options);
  }
  std::unique_ptr<backend::ClusterBackend> MakeBackend(
      const BackendContext& context) const override {
    return backend::MakeKubernetesBackend(context);
  }
  // GPUs are asked of the cluster, as SkyPilot does (nodes may come from the
  // inventory `sky check` cached, see show_gpus.h).
  std::optional<int> ShowGpus(const ShowGpusRequest& request,
                              const BackendContext& context) const override {
    return ShowKubernetesGpus(!request.path.empty() ? request.path[0] : std::string(),
                              context.state_dir(), request.refresh, request.now);
  }
};

}  // namespace

const InfraDescriptor& KubernetesDescriptor();
const InfraDescriptor& KubernetesInfra::descriptor() const { return KubernetesDescriptor(); }

std::unique_ptr<Infra> MakeKubernetesInfra() { return std::make_unique<KubernetesInfra>(); }

}  // namespace skycore::infra
