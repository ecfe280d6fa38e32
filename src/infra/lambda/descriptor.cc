#include "infra/descriptor.h"

namespace skycore::infra {

const InfraDescriptor& LambdaDescriptor() {
  static const InfraDescriptor kLambda = [] {
    InfraDescriptor d;
    d.name = "lambda";
    d.display_name = "Lambda";
    d.has_zones = false;
    d.accelerator_machines_only = true;
    return d;
  }();
  return kLambda;
}

}  // namespace skycore::infra
