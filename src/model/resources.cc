#include "skycore/resources.h"

#include <fmt/format.h>

#include <algorithm>
#include <string_view>
#include <utility>

#include "common/strings.h"
#include "infra/descriptor.h"
#include "skycore/error.h"

namespace skycore {
namespace {

constexpr int kMinPriority = -1000;
constexpr int kMaxPriority = 1000;

[[noreturn]] void Invalid(const std::string& field, const std::string& message,
                          std::vector<std::string> suggestions = {}) {
  ErrorLocation location;
  location.field_path = field;
  throw InvalidTaskError(message, std::move(location), std::move(suggestions));
}

void CheckOneOf(const std::string& field, std::optional<std::string>& value,
                const std::vector<std::string>& valid) {
  if (!value) return;
  std::string lower = strings::Lower(*value);
  if (std::find(valid.begin(), valid.end(), lower) == valid.end()) {
    Invalid(
        field,
        fmt::format("invalid value '{}'; valid values are {}.", *value, strings::JoinQuoted(valid)),
        strings::CloseMatches(*value, valid));
  }
  value = lower;
}

std::string CanonicalInfraName(const std::string& name, const std::string& field) {
  if (const auto* descriptor = infra::FindDescriptor(name)) return descriptor->name;
  std::string lower = strings::Lower(name);
  const auto& known = KnownInfraNames();
  if (std::find(known.begin(), known.end(), lower) != known.end()) return lower;
  std::vector<std::string> candidates = known;
  for (const auto* descriptor : infra::Descriptors()) {
    candidates.insert(candidates.end(), descriptor->aliases.begin(), descriptor->aliases.end());
  }
  Invalid(field, fmt::format("unknown infra '{}'. Known infras: {}.", name, fmt::join(known, ", ")),
          strings::CloseMatches(name, candidates));
}

// Infras whose region is a name the user chose (a kubeconfig context, an SSH
// node pool) that may itself contain '/': in `infra` everything after the
// first '/' is that name, so they cannot have zones (as in SkyPilot).
bool RegionIsFreeName(std::string_view cloud) { return infra::DescribeInfra(cloud).opaque_region; }

// The region and zone must be expressible in `infra` (which is how a task is
// dumped): a cloud's region or zone never contains '/', and '*' is the
// wildcard there, not a name.
void ValidateLocation(const ResourcesSpec& spec) {
  const bool free_name = RegionIsFreeName(spec.cloud);
  if (free_name && !spec.zone.empty()) {
    Invalid("zone",
            fmt::format("{} has no zones, found zone '{}'; the {} is the region.", spec.cloud,
                        spec.zone, infra::DescribeInfra(spec.cloud).region_noun));
  }
  const std::pair<const char*, const std::string*> fields[] = {{"region", &spec.region},
                                                               {"zone", &spec.zone}};
  for (const auto& [field, value] : fields) {
    if (*value == "*") {
      Invalid(field,
              fmt::format("'*' is not a {} name; leave `{}` out to allow any.", field, field));
    }
    const bool may_hold_slash = free_name && std::string_view(field) == "region";
    if (!may_hold_slash && value->find('/') != std::string::npos) {
      Invalid(field,
              fmt::format("invalid {} '{}'{}: a {} name cannot contain '/' (only "
                          "Kubernetes context and SSH node pool names can).",
                          field, *value,
                          spec.cloud.empty() ? "" : fmt::format(" for {}", spec.cloud), field));
    }
  }
}

void Validate(ResourcesSpec& spec) {
  if (!spec.cloud.empty()) spec.cloud = CanonicalInfraName(spec.cloud, "cloud");
  ValidateLocation(spec);
  if (spec.cpus && spec.cpus->value <= 0) {
    Invalid("cpus", fmt::format("cpus must be positive, found {}.", spec.cpus->ToString()));
  }
  if (spec.cpus && spec.cpus->per_cpu) Invalid("cpus", "the 'Nx' form applies to memory only.");
  if (spec.memory && spec.memory->value <= 0) {
    Invalid("memory", fmt::format("memory must be positive, found {}.", spec.memory->ToString()));
  }
  if (spec.accelerators) {
    if (spec.accelerators->name.empty()) Invalid("accelerators", "the accelerator name is empty.");
    if (!(spec.accelerators->count > 0)) {
      Invalid("accelerators", fmt::format("the accelerator count must be positive, found {}.",
                                          strings::FormatNumber(spec.accelerators->count)));
    }
  }
  if (!spec.accelerator_args.is_null() && !spec.accelerator_args.is_object()) {
    Invalid("accelerator_args", "expected a mapping.");
  }
  if (spec.disk_size_gb && *spec.disk_size_gb <= 0) {
    Invalid("disk_size", fmt::format("disk_size must be a positive number of GB, found {}.",
                                     *spec.disk_size_gb));
  }
  CheckOneOf("disk_tier", spec.disk_tier, {"low", "medium", "high", "ultra", "best"});
  CheckOneOf("network_tier", spec.network_tier, {"standard", "best"});
  for (const auto& range : spec.ports) {
    if (range.first < 1 || range.last > 65535 || range.first > range.last) {
      Invalid("ports", fmt::format("invalid port range '{}': ports are 1-65535 and a range is "
                                   "written low-high, e.g. '10000-10010'.",
                                   range.ToString()));
    }
  }
  if (spec.priority && (*spec.priority < kMinPriority || *spec.priority > kMaxPriority)) {
    Invalid("priority", fmt::format("priority must be between {} and {}, found {}.", kMinPriority,
                                    kMaxPriority, *spec.priority));
  }
  if (spec.job_recovery) {
    auto& recovery = *spec.job_recovery;
    if (recovery.strategy) recovery.strategy = strings::Upper(*recovery.strategy);
    if (recovery.max_restarts_on_errors && *recovery.max_restarts_on_errors < 0) {
      Invalid("job_recovery.max_restarts_on_errors", "must be 0 or more.");
    }
    for (int code : recovery.recover_on_exit_codes) {
      if (code < 0 || code > 255) {
        Invalid("job_recovery.recover_on_exit_codes",
                fmt::format("exit codes are 0-255, found {}.", code));
      }
    }
  }
  if (spec.autostop) {
    if (spec.autostop->idle_minutes < 0) {
      Invalid("autostop.idle_minutes", "idle minutes must be 0 or more.");
    }
    CheckOneOf("autostop.wait_for", spec.autostop->wait_for, {"jobs_and_ssh", "jobs", "none"});
  }
  if (spec.max_hourly_cost && !(*spec.max_hourly_cost > 0)) {
    Invalid("max_hourly_cost", "max_hourly_cost must be positive.");
  }
  std::sort(spec.ports.begin(), spec.ports.end(),
            [](const PortRange& a, const PortRange& b) { return a.first < b.first; });
}

}  // namespace

std::string Quantity::ToString() const {
  std::string text = strings::FormatNumber(value);
  if (per_cpu) return text + "x";
  if (or_more) return text + "+";
  return text;
}

std::string AcceleratorRequest::ToString() const {
  return fmt::format("{}:{}", name, strings::FormatNumber(count));
}

std::string PortRange::ToString() const {
  return first == last ? std::to_string(first) : fmt::format("{}-{}", first, last);
}

const std::vector<std::string>& KnownInfraNames() { return infra::KnownNames(); }

void ParseInfraInto(const std::string& infra_text, ResourcesSpec& spec,
                    const std::string& field_path) {
  std::string infra(strings::Trim(infra_text));
  spec.cloud.clear();
  spec.region.clear();
  spec.zone.clear();
  if (infra.empty() || infra == "*") return;
  auto slash = infra.find('/');
  std::string head = infra.substr(0, slash);
  std::string rest = slash == std::string::npos ? "" : infra.substr(slash + 1);
  if (slash != std::string::npos && rest.empty()) {
    Invalid(field_path, fmt::format("invalid infra '{}': nothing after '/'.", infra_text));
  }
  if (head != "*") {
    try {
      spec.cloud = CanonicalInfraName(head, field_path);
    } catch (const InvalidTaskError& e) {
      ErrorLocation location;
      location.field_path = field_path;
      std::vector<std::string> suggestions;
      for (const auto& s : e.suggestions())
        suggestions.push_back(rest.empty() ? s : s + "/" + rest);
      throw InvalidTaskError(
          fmt::format("unknown infra '{}' in '{}'. Write cloud[/region[/zone]] (e.g. "
                      "'aws/us-east-1'), 'k8s[/context]', 'ssh/<pool>', 'slurm/<cluster>', "
                      "'local' or '*'.",
                      head, infra_text),
          std::move(location), std::move(suggestions));
    }
  }
  if (rest.empty()) return;
  if (RegionIsFreeName(spec.cloud)) {
    if (rest != "*") spec.region = rest;  // a context or pool name may contain '/'
    return;
  }
  auto parts = strings::Split(rest, '/');
  if (parts.size() > 2) {
    Invalid(field_path,
            fmt::format("invalid infra '{}': expected at most cloud/region/zone.", infra_text));
  }
  for (const auto& part : parts) {
    if (part.empty())
      Invalid(field_path, fmt::format("invalid infra '{}': empty part.", infra_text));
  }
  if (parts[0] != "*") spec.region = parts[0];
  if (parts.size() == 2 && parts[1] != "*") spec.zone = parts[1];
}

AcceleratorRequest ParseAccelerator(const std::string& text_in, const std::string& field_path) {
  const std::string text(strings::Trim(text_in));
  AcceleratorRequest request;
  auto colon = text.rfind(':');
  request.name = text.substr(0, colon);
  request.name = std::string(strings::Trim(request.name));
  auto valid_name = [](const std::string& name) {
    if (name.empty()) return false;
    for (char c : name) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
        return false;
      }
    }
    return true;
  };
  if (!valid_name(request.name)) {
    Invalid(field_path,
            fmt::format("invalid accelerator '{}': write NAME or NAME:COUNT, e.g. 'A100:8'.", text),
            {"A100:8"});
  }
  if (colon != std::string::npos) {
    std::string count_text(strings::Trim(text.substr(colon + 1)));
    double count;
    if (!strings::ParseDouble(count_text, count) || !(count > 0)) {
      Invalid(field_path,
              fmt::format("invalid accelerator count '{}' in '{}': the count must be a positive "
                          "number, e.g. '{}:8' or '{}:0.5'.",
                          count_text, text, request.name, request.name),
              {request.name + ":1"});
    }
    request.count = count;
  }
  return request;
}

Resources::Resources() = default;

Resources::Resources(ResourcesSpec spec) : spec_(std::move(spec)) { Validate(spec_); }

std::string Resources::infra() const {
  std::string cloud = spec_.cloud.empty() ? "*" : infra::DescribeInfra(spec_.cloud).written_name();
  if (cloud.empty()) cloud = spec_.cloud;  // a known cloud without a folder here
  if (spec_.region.empty() && spec_.zone.empty()) return cloud;
  if (spec_.zone.empty()) return fmt::format("{}/{}", cloud, spec_.region);
  return fmt::format("{}/{}/{}", cloud, spec_.region.empty() ? "*" : spec_.region, spec_.zone);
}

std::string Resources::ToString() const {
  std::vector<std::string> parts;
  parts.push_back(infra());
  if (!spec_.instance_type.empty()) parts.push_back(spec_.instance_type);
  // fmt, not literal + string: GCC 12 at -O3 warns (-Wrestrict) on the latter.
  if (spec_.cpus) parts.push_back(fmt::format("cpus={}", spec_.cpus->ToString()));
  if (spec_.memory) parts.push_back(fmt::format("mem={}", spec_.memory->ToString()));
  if (spec_.accelerators) parts.push_back(fmt::format("{{{}}}", spec_.accelerators->ToString()));
  if (use_spot()) parts.push_back("[spot]");
  return fmt::format("{}", fmt::join(parts, " "));
}

ResourcesSet::ResourcesSet() : alternatives_{Resources()} {}

ResourcesSet::ResourcesSet(std::vector<Resources> alternatives, Order order)
    : alternatives_(std::move(alternatives)), order_(order) {
  if (alternatives_.empty()) {
    Invalid("resources", "a resources list must hold at least one entry.");
  }
}

ResourcesSet ResourcesSet::Single(Resources resources) {
  return ResourcesSet({std::move(resources)}, Order::kAnyOf);
}

}  // namespace skycore
