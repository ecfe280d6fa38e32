#include "infra/descriptor.h"

namespace skycore::infra {

const InfraDescriptor& LocalDescriptor() {
  static const InfraDescriptor kLocal = [] {
    InfraDescriptor d;
    d.name = "local";
    d.display_name = "Local";
    // Jobs on this machine share its GPUs the way the agent reserves them.
    d.fractional_accelerators = true;
    d.has_zones = false;
    d.default_vm_shape = false;
    return d;
  }();
  return kLocal;
}

}  // namespace skycore::infra
