#include "infra/descriptor.h"

namespace skycore::infra {

const InfraDescriptor& SlurmDescriptor() {
  static const InfraDescriptor kSlurm = [] {
    InfraDescriptor d;
    d.name = "slurm";
    d.display_name = "Slurm";
    // slurm/<cluster>/<partition>: region = cluster, zone = partition.
    d.region_noun = "cluster";
    d.default_vm_shape = false;
    d.whole_devices_only = true;
    return d;
  }();
  return kSlurm;
}

}  // namespace skycore::infra
