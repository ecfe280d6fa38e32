#include "infra/descriptor.h"

namespace skycore::infra {

const InfraDescriptor& RunpodDescriptor() {
  static const InfraDescriptor kRunpod = [] {
    InfraDescriptor d;
    d.name = "runpod";
    d.display_name = "RunPod";
    // The catalog lists GPU pods only (no CPU pods yet): a task that asks
    // for no GPU gets the cheapest pod that fits, as on Lambda.
    d.accelerator_machines_only = true;
    return d;
  }();
  return kRunpod;
}

}  // namespace skycore::infra
