#include "infra/descriptor.h"

#include "infra/virtual_instance_type.h"

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
    // Allocations ask for SkyPilot's virtual instance types (--cpus-per-task,
    // --mem, --gres); rows are the partitions' node shapes.
    d.virtual_instance_type = &VirtualTypeFor;
    return d;
  }();
  return kSlurm;
}

}  // namespace skycore::infra
