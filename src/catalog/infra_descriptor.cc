#include "catalog/infra_descriptor.h"

#include <algorithm>

namespace skycore::catalog_internal {
namespace {

std::vector<HostRule> GcpHostRules() {
  std::vector<HostRule> rules;
  auto exact = [&](const char* accelerator, double count, std::vector<std::string> hosts) {
    rules.push_back(HostRule{accelerator, count, std::move(hosts), ""});
  };
  // GCP sells A2/A3/G2 machine types with a fixed GPU count; the catalog
  // prices the host share and the GPUs on separate rows.
  exact("A100", 1, {"a2-highgpu-1g"});
  exact("A100", 2, {"a2-highgpu-2g"});
  exact("A100", 4, {"a2-highgpu-4g"});
  exact("A100", 8, {"a2-highgpu-8g"});
  exact("A100", 16, {"a2-megagpu-16g"});
  exact("A100-80GB", 1, {"a2-ultragpu-1g"});
  exact("A100-80GB", 2, {"a2-ultragpu-2g"});
  exact("A100-80GB", 4, {"a2-ultragpu-4g"});
  exact("A100-80GB", 8, {"a2-ultragpu-8g"});
  exact("H100", 1, {"a3-highgpu-1g"});
  exact("H100", 2, {"a3-highgpu-2g"});
  exact("H100", 4, {"a3-highgpu-4g"});
  exact("H100", 8, {"a3-highgpu-8g"});
  exact("H200", 8, {"a3-ultragpu-8g"});
  exact("L4", 1,
        {"g2-standard-4", "g2-standard-8", "g2-standard-12", "g2-standard-16", "g2-standard-32"});
  exact("L4", 2, {"g2-standard-24"});
  exact("L4", 4, {"g2-standard-48"});
  exact("L4", 8, {"g2-standard-96"});
  // T4 and V100 attach to any N1 machine type.
  rules.push_back(HostRule{"T4", 0, {}, "n1-"});
  rules.push_back(HostRule{"V100", 0, {}, "n1-"});
  rules.push_back(HostRule{"P100", 0, {}, "n1-"});
  rules.push_back(HostRule{"P4", 0, {}, "n1-"});
  return rules;
}

std::vector<InfraDescriptor> BuildRegistry() {
  std::vector<InfraDescriptor> registry;
  // Egress figures are the published first-tier internet / inter-region list
  // prices (USD/GB); they only steer the optimizer between equal choices.
  InfraDescriptor aws{"aws", "AWS", false, true, 0.09, 0.02, {}, {}};
  InfraDescriptor gcp{"gcp", "GCP", false, true, 0.12, 0.02, GcpHostRules(), {"a2-", "a3-", "g2-"}};
  InfraDescriptor azure{"azure", "Azure", false, false, 0.0875, 0.02, {}, {}};
  InfraDescriptor lambda{"lambda", "Lambda", false, false, 0, 0, {}, {}};
  InfraDescriptor runpod{"runpod", "RunPod", false, true, 0, 0, {}, {}};
  InfraDescriptor kubernetes{"kubernetes", "Kubernetes", false, false, 0, 0, {}, {}, false, true};
  InfraDescriptor local{"local", "Local", true, false, 0, 0, {}, {}, false};
  InfraDescriptor ssh{"ssh", "SSH", false, false, 0, 0, {}, {}, false, true};
  // Slurm: region = cluster, zone = partition (`slurm/<cluster>/<partition>`).
  InfraDescriptor slurm{"slurm", "Slurm", false, true, 0, 0, {}, {}, false, true};
  for (auto* d : {&aws, &gcp, &azure, &lambda, &runpod, &kubernetes, &local, &ssh, &slurm}) {
    registry.push_back(std::move(*d));
  }
  return registry;
}

}  // namespace

const InfraDescriptor& DescribeInfra(std::string_view infra) {
  static const std::vector<InfraDescriptor> kRegistry = BuildRegistry();
  for (const auto& descriptor : kRegistry) {
    if (descriptor.name == infra) return descriptor;
  }
  // Unknown infras: zones allowed, whole accelerators only, no egress data.
  static const InfraDescriptor kDefault{"", "", false, true, 0, 0, {}, {}};
  return kDefault;
}

double EgressUsdPerGb(std::string_view from_infra, std::string_view from_region,
                      std::string_view to_infra, std::string_view to_region) {
  if (from_infra == to_infra) {
    if (from_region == to_region) return 0;
    return DescribeInfra(from_infra).egress_inter_region_usd_per_gb;
  }
  return DescribeInfra(from_infra).egress_internet_usd_per_gb;
}

}  // namespace skycore::catalog_internal
