// What the catalog, the optimizer and the YAML model need to know about an
// infra, as data.
//
// Core code asks these descriptors (the names an infra is written with, can it
// share a GPU, does it have zones, how does it price egress, how are GPUs
// attached to host VMs) instead of testing infra names. Each infra's
// descriptor lives in its folder (src/infra/<name>/descriptor.cc); the list of
// infras is src/infra/list.h. An infra without an entry gets the defaults.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace skycore {
class Resources;
}

namespace skycore::infra {

// What one node of an infra with virtual instance types requests: the type's
// name ("4CPU--16GB--H100:1") and what it stands for.
struct VirtualInstanceType {
  std::string name;
  double cpus = 0;
  double memory_gib = 0;  // the name's GB (SkyPilot's unit for these types)
  std::string accelerator;
  int accelerator_count = 0;
};

// Accelerator-only catalog rows (empty InstanceType) are offered on a host VM:
// the launch costs host row + accelerator row in the same region and zone.
struct HostRule {
  std::string accelerator;         // accelerator name this rule applies to
  double count = 0;                // accelerator count; 0 = any count
  std::vector<std::string> hosts;  // exact host instance types, or
  std::string host_prefix;         // any host whose type starts with this
};

struct InfraDescriptor {
  std::string name;          // canonical infra name ("aws")
  std::string display_name;  // for tables ("AWS")
  // How `infra:` strings write it back ("k8s" for kubernetes); empty: `name`.
  std::string short_name;
  // Other names accepted in `infra:`/`cloud:` and on the command line.
  std::vector<std::string> aliases;
  // Everything after `<name>/` is one region (a Kubernetes context name may
  // itself contain '/'), instead of region[/zone].
  bool opaque_region = false;
  // What a region is called here, in messages ("context", "node pool").
  std::string region_noun = "region";
  bool fractional_accelerators = false;  // may a task ask for A100:0.5?
  bool has_zones = true;
  double egress_internet_usd_per_gb = 0;      // leaving this infra
  double egress_inter_region_usd_per_gb = 0;  // between its regions
  std::vector<HostRule> host_rules;
  // Host rows whose type starts with one of these are sold only with their
  // GPUs (e.g. GCP a2/a3/g2): never offered as CPU-only machines.
  std::vector<std::string> gpu_only_host_prefixes;
  // Accelerator-only rows whose name starts with this come with their own
  // host (GCP's TPU VMs, "tpu-v5litepod-8"): offered as instance type
  // `hostless_instance_type` ("TPU-VM", as SkyPilot names it), not attached.
  std::string hostless_accelerator_prefix;
  std::string hostless_instance_type;
  // A task that names no cpus, memory, accelerators or instance type gets a
  // VM of SkyPilot's default shape (8+ vCPUs, 32+ GiB) on a cloud; on a
  // machine or cluster that is already there (local, SSH, Slurm, Kubernetes)
  // it takes whatever node is there.
  bool default_vm_shape = true;
  // Hands out whole devices only (Kubernetes device plugins, Slurm GRES,
  // SSH-pool reservations by index): a fractional ask there is a mistake the
  // optimizer names, not a partial-GPU size to look for.
  bool whole_devices_only = false;
  // Sells machines with accelerators only (Lambda): a task that asks for no
  // accelerator gets the cheapest machine that fits, as SkyPilot gives it.
  bool accelerator_machines_only = false;

  // Set where an instance type is what a node requests, not a machine sold
  // (Kubernetes pods): the catalog's rows are node shapes, a row is feasible
  // when its shape can hold the type this sizes from a task's resources
  // (its `instance_type`, else its cpus/memory/accelerators with the infra's
  // defaults), and the candidate carries that type. nullopt: an instance type
  // the infra cannot read.
  std::optional<VirtualInstanceType> (*virtual_instance_type)(const Resources& resources) = nullptr;

  // The instance family of a type, which quotas count by ("m5" of
  // "m5.large"); empty: everything before the first '.'.
  std::string (*instance_family)(std::string_view instance_type) = nullptr;

  std::string Family(std::string_view instance_type) const {
    if (instance_family != nullptr) return instance_family(instance_type);
    return std::string(instance_type.substr(0, instance_type.find('.')));
  }

  // `short_name` when set, else `name`.
  const std::string& written_name() const { return short_name.empty() ? name : short_name; }
};

// The infras skycore implements (src/infra/list.h order).
const std::vector<const InfraDescriptor*>& Descriptors();

// The descriptor of an infra by its name or an alias, case-insensitively;
// nullptr for an infra skycore does not implement.
const InfraDescriptor* FindDescriptor(std::string_view name_or_alias);

// The descriptor for `infra` (defaults when unknown; never throws).
const InfraDescriptor& DescribeInfra(std::string_view infra);

// Every infra name a task may write: the implemented infras, then the other
// clouds SkyPilot knows (a task naming one loads; launching there says it is
// not supported yet).
const std::vector<std::string>& KnownNames();

// The name tables show for an infra ("AWS", "Kubernetes"; an unknown one
// capitalised).
std::string DisplayName(std::string_view infra);

// Egress cost in USD per GB moving data from (infra, region) to (infra, region).
double EgressUsdPerGb(std::string_view from_infra, std::string_view from_region,
                      std::string_view to_infra, std::string_view to_region);

}  // namespace skycore::infra
