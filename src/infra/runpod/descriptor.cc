#include "infra/descriptor.h"

namespace skycore::infra {

const InfraDescriptor& RunpodDescriptor() {
  static const InfraDescriptor kRunpod = [] {
    InfraDescriptor d;
    d.name = "runpod";
    d.display_name = "RunPod";
    return d;
  }();
  return kRunpod;
}

}  // namespace skycore::infra
