#include "infra/descriptor.h"

#include <cctype>
#include <string>

namespace skycore::infra {
namespace {

// Azure counts quota per VM family: the size without its vCPU count
// (Standard_D8s_v5 -> Ds_v5, Standard_NC40ads_H100_v5 -> NCads_H100_v5).
std::string AzureFamily(std::string_view type) {
  for (const std::string_view tier : {"Standard_", "Basic_"}) {
    if (type.substr(0, tier.size()) == tier) type.remove_prefix(tier.size());
  }
  size_t series = 0;
  while (series < type.size() && std::isalpha(static_cast<unsigned char>(type[series]))) ++series;
  size_t count = series;
  while (count < type.size() &&
         (std::isdigit(static_cast<unsigned char>(type[count])) || type[count] == '-')) {
    ++count;
  }
  return std::string(type.substr(0, series)) + std::string(type.substr(count));
}

}  // namespace

const InfraDescriptor& AzureDescriptor() {
  static const InfraDescriptor kAzure = [] {
    InfraDescriptor d;
    d.name = "azure";
    d.display_name = "Azure";
    d.has_zones = false;
    d.egress_internet_usd_per_gb = 0.0875;
    d.egress_inter_region_usd_per_gb = 0.02;
    d.instance_family = AzureFamily;
    return d;
  }();
  return kAzure;
}

}  // namespace skycore::infra
