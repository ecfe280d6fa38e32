// GCP: clusters of Compute Engine instances, through the VM backend every
// cloud shares.
#include "infra/infra.h"

#include "common/environment.h"
#include "infra/gcp/cloud.h"
#include "infra/vm/cluster.h"

namespace skycore::infra {
namespace {

gcp::CredentialsOptions ProcessCredentials() {
  gcp::CredentialsOptions options;
  options.env = env::Process;
  return options;
}

class GcpInfra : public Infra {
 public:
  const InfraDescriptor& descriptor() const override;

  bool Enabled(const BackendContext& context) const override {
    return gcp::GcpEnabled(context.state_dir());
  }
  InfraCheck Check(const BackendContext& context) const override {
    return gcp::CheckGcp(context.options, ProcessCredentials());
  }
  std::shared_ptr<const vm::VmCloud> MakeVmCloud(const BackendContext& context) const override {
    const gcp::GcpSettings settings =
        context.state_dir().empty() ? gcp::GcpSettings{}
                                    : gcp::ReadGcpSettings(context.state_dir() / "config.yaml");
    return std::make_shared<gcp::GcpCloud>(settings, ProcessCredentials());
  }
  std::unique_ptr<backend::ClusterBackend> MakeBackend(
      const BackendContext& context) const override {
    return vm::MakeVmBackend(context, MakeVmCloud(context));
  }
};

}  // namespace

const InfraDescriptor& GcpDescriptor();
const InfraDescriptor& GcpInfra::descriptor() const { return GcpDescriptor(); }

std::unique_ptr<Infra> MakeGcpInfra() { return std::make_unique<GcpInfra>(); }

}  // namespace skycore::infra
