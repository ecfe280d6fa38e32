#include "infra/descriptor.h"

namespace skycore::infra {
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

// GCE counts CPU quota by machine series ("N2_CPUS" for n2-*; N1 and E2
// share "CPUS"): the series, "n2" of "n2-standard-8".
std::string GcpFamily(std::string_view instance_type) {
  return std::string(instance_type.substr(0, instance_type.find('-')));
}

}  // namespace

const InfraDescriptor& GcpDescriptor() {
  static const InfraDescriptor kGcp = [] {
    InfraDescriptor d;
    d.name = "gcp";
    d.display_name = "GCP";
    d.egress_internet_usd_per_gb = 0.12;
    d.egress_inter_region_usd_per_gb = 0.02;
    d.host_rules = GcpHostRules();
    d.gpu_only_host_prefixes = {"a2-", "a3-", "g2-"};
    d.instance_family = GcpFamily;
    d.hostless_accelerator_prefix = "tpu-";
    d.hostless_instance_type = "TPU-VM";
    return d;
  }();
  return kGcp;
}

}  // namespace skycore::infra
