#include "infra/descriptor.h"

namespace skycore::infra {

const InfraDescriptor& AwsDescriptor() {
  static const InfraDescriptor kAws = [] {
    InfraDescriptor d;
    d.name = "aws";
    d.display_name = "AWS";
    // Published first-tier internet / inter-region list prices (USD/GB); they
    // only steer the optimizer between otherwise equal choices.
    d.egress_internet_usd_per_gb = 0.09;
    d.egress_inter_region_usd_per_gb = 0.02;
    return d;
  }();
  return kAws;
}

}  // namespace skycore::infra
