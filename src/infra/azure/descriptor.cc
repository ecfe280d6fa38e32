#include "infra/descriptor.h"

namespace skycore::infra {

const InfraDescriptor& AzureDescriptor() {
  static const InfraDescriptor kAzure = [] {
    InfraDescriptor d;
    d.name = "azure";
    d.display_name = "Azure";
    d.has_zones = false;
    d.egress_internet_usd_per_gb = 0.0875;
    d.egress_inter_region_usd_per_gb = 0.02;
    return d;
  }();
  return kAzure;
}

}  // namespace skycore::infra
