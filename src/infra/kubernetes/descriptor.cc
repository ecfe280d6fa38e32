#include "infra/descriptor.h"

#include "infra/virtual_instance_type.h"

namespace skycore::infra {

const InfraDescriptor& KubernetesDescriptor() {
  static const InfraDescriptor kKubernetes = [] {
    InfraDescriptor d;
    d.name = "kubernetes";
    d.display_name = "Kubernetes";
    d.short_name = "k8s";
    d.aliases = {"k8s"};
    d.opaque_region = true;  // k8s/<context>, and a context name may contain '/'
    d.has_zones = false;
    d.region_noun = "context";
    d.default_vm_shape = false;
    d.whole_devices_only = true;
    // Pods request SkyPilot's virtual instance types; rows are node shapes.
    d.virtual_instance_type = &VirtualTypeFor;
    return d;
  }();
  return kKubernetes;
}

}  // namespace skycore::infra
