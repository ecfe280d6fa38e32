#include "infra/descriptor.h"

#include <algorithm>
#include <cctype>

#include "common/strings.h"
#include "infra/list.h"

namespace skycore::infra {

#define SKYCORE_DECLARE_DESCRIPTOR(Type) const InfraDescriptor& Type##Descriptor();
SKYCORE_INFRAS(SKYCORE_DECLARE_DESCRIPTOR)
#undef SKYCORE_DECLARE_DESCRIPTOR

namespace {

// Clouds SkyPilot 0.14.1 registers (sky/clouds/) that have no folder here
// yet: a task may name them (it loads, and the optimizer finds no offering
// there). Only the names its registry knows: a name it does not (CoreWeave is
// a storage store, not a cloud) fails to load there, and so here.
struct OtherCloud {
  const char* name;
  const char* display_name;
};
constexpr OtherCloud kOtherClouds[] = {
    {"oci", "OCI"},
    {"ibm", "IBM"},
    {"scp", "SCP"},
    {"vsphere", "vSphere"},
    {"cudo", "Cudo"},
    {"fluidstack", "Fluidstack"},
    {"paperspace", "Paperspace"},
    {"do", "DO"},
    {"nebius", "Nebius"},
    {"vast", "Vast"},
    {"hyperbolic", "Hyperbolic"},
    {"seeweb", "Seeweb"},
    {"shadeform", "Shadeform"},
    {"primeintellect", "PrimeIntellect"},
    {"yotta", "Yotta"},
    {"mithril", "Mithril"},
    {"verda", "Verda"},
};

}  // namespace

const std::vector<const InfraDescriptor*>& Descriptors() {
#define SKYCORE_DESCRIPTOR_ADDRESS(Type) &Type##Descriptor(),
  static const std::vector<const InfraDescriptor*> kAll = {
      SKYCORE_INFRAS(SKYCORE_DESCRIPTOR_ADDRESS)};
#undef SKYCORE_DESCRIPTOR_ADDRESS
  return kAll;
}

const InfraDescriptor* FindDescriptor(std::string_view name_or_alias) {
  const std::string lower = strings::Lower(name_or_alias);
  for (const InfraDescriptor* descriptor : Descriptors()) {
    if (descriptor->name == lower) return descriptor;
    const auto& aliases = descriptor->aliases;
    if (std::find(aliases.begin(), aliases.end(), lower) != aliases.end()) return descriptor;
  }
  return nullptr;
}

const InfraDescriptor& DescribeInfra(std::string_view infra) {
  if (const InfraDescriptor* descriptor = FindDescriptor(infra)) return *descriptor;
  // Unknown infras: zones allowed, whole accelerators only, no egress data.
  static const InfraDescriptor kDefault;
  return kDefault;
}

const std::vector<std::string>& KnownNames() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names;
    for (const InfraDescriptor* descriptor : Descriptors()) names.push_back(descriptor->name);
    for (const auto& cloud : kOtherClouds) names.emplace_back(cloud.name);
    return names;
  }();
  return kNames;
}

std::string DisplayName(std::string_view infra) {
  if (const InfraDescriptor* descriptor = FindDescriptor(infra)) return descriptor->display_name;
  const std::string lower = strings::Lower(infra);
  for (const auto& cloud : kOtherClouds) {
    if (lower == cloud.name) return cloud.display_name;
  }
  std::string name(infra);
  if (!name.empty()) name[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(name[0])));
  return name;
}

double EgressUsdPerGb(std::string_view from_infra, std::string_view from_region,
                      std::string_view to_infra, std::string_view to_region) {
  if (from_infra == to_infra) {
    if (from_region == to_region) return 0;
    return DescribeInfra(from_infra).egress_inter_region_usd_per_gb;
  }
  return DescribeInfra(from_infra).egress_internet_usd_per_gb;
}

}  // namespace skycore::infra
