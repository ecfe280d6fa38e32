// Lambda Cloud: clusters of GPU instances, through the VM backend every
// cloud shares.
#include "infra/infra.h"

#include "common/environment.h"
#include "infra/lambda/cloud.h"
#include "infra/vm/cluster.h"

namespace skycore::infra {
namespace {

class LambdaInfra : public Infra {
 public:
  const InfraDescriptor& descriptor() const override;

  bool Enabled(const BackendContext& context) const override {
    return lambda::LambdaEnabled(context.state_dir());
  }
  std::optional<std::string> CachedOfferings(const BackendContext& context) const override {
    return lambda::CachedLambdaOfferings(context.state_dir());
  }
  InfraCheck Check(const BackendContext& context) const override {
    return lambda::CheckLambda(context.options, env::Process);
  }
  std::shared_ptr<const vm::VmCloud> MakeVmCloud(const BackendContext& context) const override {
    const lambda::LambdaSettings settings =
        context.state_dir().empty()
            ? lambda::LambdaSettings{}
            : lambda::ReadLambdaSettings(context.state_dir() / "config.yaml");
    return std::make_shared<lambda::LambdaCloud>(settings, env::Process);
  }
  std::unique_ptr<backend::ClusterBackend> MakeBackend(
      const BackendContext& context) const override {
    return vm::MakeVmBackend(context, MakeVmCloud(context));
  }
};

}  // namespace

const InfraDescriptor& LambdaDescriptor();
const InfraDescriptor& LambdaInfra::descriptor() const { return LambdaDescriptor(); }

std::unique_ptr<Infra> MakeLambdaInfra() { return std::make_unique<LambdaInfra>(); }

}  // namespace skycore::infra
