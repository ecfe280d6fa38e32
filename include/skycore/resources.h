// skycore/resources.h — what a task asks for: where it may run and on what.
//
// Resources is an immutable value. Build it from a ResourcesSpec (a plain
// struct whose fields mirror the `resources:` section of a SkyPilot task YAML);
// the constructor validates and normalises the spec and throws InvalidTaskError
// with the offending field path when a value is invalid. Construction never
// does I/O and never consults a catalog: whether an instance type or GPU exists
// is the optimizer's question.
//
// A task may accept several alternatives: ResourcesSet holds them, either as
// `any_of` (the optimizer picks the cheapest) or `ordered` (first feasible wins).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace skycore {

// `cpus: 4+`, `memory: 32GB`, `memory: 2x`: an amount and how to read it.
struct Quantity {
  double value = 0;      // cpus: count; memory: GiB (or GiB per vCPU when per_cpu)
  bool or_more = false;  // written "N+": at least value
  bool per_cpu = false;  // memory only, written "Nx": value GiB per vCPU
  // Canonical text: "4", "4+", "0.5", "32+", "2x".
  std::string ToString() const;
  bool operator==(const Quantity&) const = default;
};

// One accelerator request: `A100:8` is {"A100", 8}; fractions are allowed
// (`A100:0.5`) where an infra can share a device.
struct AcceleratorRequest {
  std::string name;
  double count = 1;
  std::string ToString() const;  // "A100:8", "A100:0.5"
  bool operator==(const AcceleratorRequest&) const = default;
};

// An inclusive port range; a single port has first == last.
struct PortRange {
  int first = 0;
  int last = 0;
  std::string ToString() const;  // "8080" or "10000-10010"
  bool operator==(const PortRange&) const = default;
};

// `job_recovery:` of managed jobs, as a strategy name or a dict.
struct JobRecovery {
  std::optional<std::string> strategy;  // e.g. "EAGER_NEXT_REGION", "FAILOVER"; upper case
  std::optional<int> max_restarts_on_errors;
  std::vector<int> recover_on_exit_codes;  // each 0..255
  bool operator==(const JobRecovery&) const = default;
};

// `autostop:` — stop (or tear down) the cluster after it has been idle.
struct Autostop {
  bool enabled = true;
  int idle_minutes = 5;                 // SkyPilot's default when only `true` is given
  bool down = false;                    // tear down instead of stopping
  std::optional<std::string> wait_for;  // "jobs_and_ssh", "jobs" or "none"
  std::optional<std::string> hook;      // command run before stopping (legacy place)
  std::optional<int> hook_timeout_s;
  bool operator==(const Autostop&) const = default;
};

// The fields of one resources entry. Empty / nullopt means "not specified".
struct ResourcesSpec {
  // Where: canonical lower-case infra name ("aws", "gcp", "kubernetes", "ssh",
  // "slurm", "local", ...), or empty for any. For kubernetes the region is the
  // context; for ssh the pool; for slurm the cluster.
  std::string cloud;
  std::string region;
  std::string zone;

  std::string instance_type;
  std::optional<Quantity> cpus;
  std::optional<Quantity> memory;
  std::optional<AcceleratorRequest> accelerators;
  nlohmann::json accelerator_args;  // object or null (runtime_version, tpu_vm, ...)
  std::optional<bool> use_spot;
  std::optional<JobRecovery> job_recovery;
  std::optional<int> disk_size_gb;
  std::optional<std::string> disk_tier;     // low, medium, high, ultra, best
  std::optional<std::string> network_tier;  // standard, best
  std::vector<PortRange> ports;
  std::map<std::string, std::string> image_id;  // region ("" = every region) -> image
  std::map<std::string, std::string> labels;
  std::optional<Autostop> autostop;
  std::optional<int> priority;            // -1000..1000
  std::optional<double> max_hourly_cost;  // USD
  // Rarely used fields kept verbatim so they round-trip: volumes, local_disk,
  // priority_class, ephemeral_storage.
  nlohmann::json extra = nlohmann::json::object();

  bool operator==(const ResourcesSpec&) const = default;
};

class Resources {
 public:
  // Any cloud, any shape: the optimizer picks.
  Resources();
  // Validates and normalises. Throws InvalidTaskError naming the field.
  explicit Resources(ResourcesSpec spec);

  const ResourcesSpec& spec() const noexcept { return spec_; }
  const std::string& cloud() const noexcept { return spec_.cloud; }
  const std::string& region() const noexcept { return spec_.region; }
  const std::string& zone() const noexcept { return spec_.zone; }
  const std::string& instance_type() const noexcept { return spec_.instance_type; }
  const std::optional<Quantity>& cpus() const noexcept { return spec_.cpus; }
  const std::optional<Quantity>& memory() const noexcept { return spec_.memory; }
  const std::optional<AcceleratorRequest>& accelerators() const noexcept {
    return spec_.accelerators;
  }
  bool use_spot() const noexcept { return spec_.use_spot.value_or(false); }
  std::optional<int> disk_size_gb() const noexcept { return spec_.disk_size_gb; }

  // The `infra:` string: "aws/us-east-1/us-east-1a", "k8s/my-context",
  // "ssh/pool", "local", or "*" when nothing is pinned.
  std::string infra() const;

  // Human-readable one-liner, e.g. "aws/us-east-1 p4d.24xlarge {A100:8} [spot]".
  std::string ToString() const;

  bool operator==(const Resources& other) const { return spec_ == other.spec_; }

 private:
  ResourcesSpec spec_;
};

// The alternatives a task accepts.
class ResourcesSet {
 public:
  enum class Order { kAnyOf, kOrdered };

  ResourcesSet();  // one default Resources
  ResourcesSet(std::vector<Resources> alternatives, Order order);
  static ResourcesSet Single(Resources resources);

  const std::vector<Resources>& alternatives() const noexcept { return alternatives_; }
  Order order() const noexcept { return order_; }
  bool is_ordered() const noexcept { return order_ == Order::kOrdered; }
  size_t size() const noexcept { return alternatives_.size(); }

  bool operator==(const ResourcesSet&) const = default;

 private:
  std::vector<Resources> alternatives_;
  Order order_ = Order::kAnyOf;
};

// Parses an infra string ("aws/us-east-1", "k8s/ctx", "*") into a spec's
// cloud/region/zone. Throws InvalidTaskError with close matches for an unknown
// infra name. `field_path` names the field in errors.
void ParseInfraInto(const std::string& infra, ResourcesSpec& spec,
                    const std::string& field_path = "resources.infra");

// Parses accelerator text: "A100", "A100:8", "A100:0.5". Throws InvalidTaskError.
AcceleratorRequest ParseAccelerator(const std::string& text,
                                    const std::string& field_path = "resources.accelerators");

// Canonical infra names accepted in `infra:` and `cloud:` (lower case).
const std::vector<std::string>& KnownInfraNames();

}  // namespace skycore
