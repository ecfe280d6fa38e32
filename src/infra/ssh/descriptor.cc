#include "infra/descriptor.h"

#include "infra/virtual_instance_type.h"

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
    // A cluster's node reserves SkyPilot's virtual instance type on its host,
    // as a pod of SkyPilot's SSH node pools requests it; rows are the hosts.
    d.virtual_instance_type = &VirtualTypeFor;
    return d;
  }();
  return kSsh;
}

}  // namespace skycore::infra
