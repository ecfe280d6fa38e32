// RunPod: clusters of pods, through the VM backend every cloud shares.
#include "infra/infra.h"

#include "common/environment.h"
#include "infra/runpod/cloud.h"
#include "infra/vm/cluster.h"

namespace skycore::infra {
namespace {

class RunpodInfra : public Infra {
 public:
  const InfraDescriptor& descriptor() const override;

  bool Enabled(const BackendContext& context) const override {
    return runpod::RunpodEnabled(context.state_dir());
  }
  InfraCheck Check(const BackendContext& context) const override {
    return runpod::CheckRunpod(context.options, env::Process);
  }
  std::shared_ptr<const vm::VmCloud> MakeVmCloud(const BackendContext& context) const override {
    const runpod::RunpodSettings settings =
        context.state_dir().empty()
            ? runpod::RunpodSettings{}
            : runpod::ReadRunpodSettings(context.state_dir() / "config.yaml");
    return std::make_shared<runpod::RunpodCloud>(settings, env::Process);
  }
  std::unique_ptr<backend::ClusterBackend> MakeBackend(
      const BackendContext& context) const override {
    return vm::MakeVmBackend(context, MakeVmCloud(context));
  }
};

}  // namespace

const InfraDescriptor& RunpodDescriptor();
const InfraDescriptor& RunpodInfra::descriptor() const { return RunpodDescriptor(); }

std::unique_ptr<Infra> MakeRunpodInfra() { return std::make_unique<RunpodInfra>(); }

}  // namespace skycore::infra
