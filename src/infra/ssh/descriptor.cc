#include "infra/descriptor.h"

namespace skycore::infra {

const InfraDescriptor& SshDescriptor() {
  static const InfraDescriptor kSsh = [] {
    InfraDescriptor d;
    d.name = "ssh";
    d.display_name = "SSH";
    d.has_zones = false;  // ssh/<pool>
    d.region_noun = "node pool";
    d.opaque_region = true;  // ssh/<pool>, and a pool name may contain '/'
    d.default_vm_shape = false;
    d.whole_devices_only = true;
    return d;
  }();
  return kSsh;
}

}  // namespace skycore::infra
