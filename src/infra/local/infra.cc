// The local infra: clusters whose nodes are directories on this machine.
#include "infra/infra.h"

#include "infra/local/cluster.h"
#include "infra/local/machine.h"

namespace skycore::infra {
namespace {

class LocalInfra : public Infra {
 public:
  const InfraDescriptor& descriptor() const override;

  std::optional<std::string> CachedOfferings(const BackendContext& context) const override {
    return backend::LocalCatalogCsv(context.machine());
  }
  bool Enabled(const BackendContext&) const override { return true; }
  InfraCheck Check(const BackendContext& context) const override {
    return {name(), true, "this machine: " + context.machine().Describe()};
  }
  std::unique_ptr<backend::ClusterBackend> MakeBackend(
      const BackendContext& context) const override {
    return backend::MakeLocalBackend(context);
  }
};

}  // namespace

const InfraDescriptor& LocalDescriptor();
const InfraDescriptor& LocalInfra::descriptor() const { return LocalDescriptor(); }

std::unique_ptr<Infra> MakeLocalInfra() { return std::make_unique<LocalInfra>(); }

}  // namespace skycore::infra
