// Azure: clusters of VMs, through the VM backend every cloud shares.
#include "infra/infra.h"

#include "common/environment.h"
#include "infra/azure/cloud.h"
#include "infra/vm/cluster.h"

namespace skycore::infra {
namespace {

azure::CredentialsOptions ProcessCredentials() {
  azure::CredentialsOptions options;
  options.env = env::Process;
  return options;
}

class AzureInfra : public Infra {
 public:
  const InfraDescriptor& descriptor() const override;

  bool Enabled(const BackendContext& context) const override {
    return azure::AzureEnabled(context.state_dir());
  }
  InfraCheck Check(const BackendContext& context) const override {
    return azure::CheckAzure(context.options, ProcessCredentials());
  }
  std::shared_ptr<const vm::VmCloud> MakeVmCloud(const BackendContext& context) const override {
    const azure::AzureSettings settings =
        context.state_dir().empty() ? azure::AzureSettings{}
                                    : azure::ReadAzureSettings(context.state_dir() / "config.yaml");
    return std::make_shared<azure::AzureCloud>(settings, ProcessCredentials());
  }
  std::unique_ptr<backend::ClusterBackend> MakeBackend(
      const BackendContext& context) const override {
    return vm::MakeVmBackend(context, MakeVmCloud(context));
  }
};

}  // namespace

const InfraDescriptor& AzureDescriptor();
const InfraDescriptor& AzureInfra::descriptor() const { return AzureDescriptor(); }

std::unique_ptr<Infra> MakeAzureInfra() { return std::make_unique<AzureInfra>(); }

}  // namespace skycore::infra
