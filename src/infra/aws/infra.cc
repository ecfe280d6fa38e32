// AWS: clusters of EC2 instances, through the VM backend every cloud shares.
#include "infra/infra.h"

#include "common/environment.h"
#include "infra/aws/cloud.h"
#include "infra/vm/cluster.h"

namespace skycore::infra {
namespace {

aws::CredentialsOptions ProcessCredentials() {
  aws::CredentialsOptions options;
  options.env = env::Process;
  return options;
}

class AwsInfra : public Infra {
 public:
  const InfraDescriptor& descriptor() const override;

  bool Enabled(const BackendContext& context) const override {
    return aws::AwsEnabled(context.state_dir());
  }
  InfraCheck Check(const BackendContext& context) const override {
    return aws::CheckAws(context.options, ProcessCredentials());
  }
  std::shared_ptr<const vm::VmCloud> MakeVmCloud(const BackendContext& context) const override {
    // No state directory: no config file, the defaults.
    const aws::AwsSettings settings =
        context.state_dir().empty() ? aws::AwsSettings{}
                                    : aws::ReadAwsSettings(context.state_dir() / "config.yaml");
    return std::make_shared<aws::AwsCloud>(settings, ProcessCredentials());
  }
  std::unique_ptr<backend::ClusterBackend> MakeBackend(
      const BackendContext& context) const override {
    return vm::MakeVmBackend(context, MakeVmCloud(context));
  }
};

}  // namespace

const InfraDescriptor& AwsDescriptor();
const InfraDescriptor& AwsInfra::descriptor() const { return AwsDescriptor(); }

std::unique_ptr<Infra> MakeAwsInfra() { return std::make_unique<AwsInfra>(); }

}  // namespace skycore::infra
