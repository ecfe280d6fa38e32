// The `resources:` section: its field table, its alternatives, and its dump.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "common/strings.h"
#include "yaml/resource_values.h"
#include "yaml/sections.h"

namespace skycore::yamlio {
namespace {

// Where a resources mapping stands, which decides the accelerator forms it takes.
enum class Place {
  kSingle,       // one Resources (the SDK's `sky.Resources(...)`): one accelerator type
  kTopLevel,     // a task's `resources:`: also a list (ordered) or a set (any of)
  kAlternative,  // an `any_of`/`ordered` entry: a name, a one-entry mapping, or a
                 // quoted set '{A100, H100}' (as SkyPilot's schema allows)
};

// Accelerator choices before expansion: `A100:8` is one; a list is ordered; a
// mapping with several names is an any-of set.
struct Draft {
  ResourcesSpec spec;
  std::vector<AcceleratorRequest> accelerator_choices;
  bool accelerators_ordered = false;
  Place place = Place::kSingle;
  YAML::Node accelerators_node;
  YAML::Node accelerators_key;
  bool has_labels = false;
  YAML::Node any_of;
  YAML::Node ordered;
  bool has_any_of = false;
  bool has_ordered = false;
  bool has_infra = false;
  bool has_legacy_location = false;
};

void ReadAccelerators(Reader& r, const YAML::Node& node, Draft& d) {
  d.accelerator_choices.clear();
  d.accelerators_ordered = false;
  d.accelerators_node.reset(node);
  d.accelerators_key.reset(r.current_key());
  d.spec.accelerators.reset();
  if (node.IsNull()) return;
  if (node.IsSequence() && d.place == Place::kAlternative) {
    r.Fail(node,
           "a list of accelerators (an order of preference) cannot be given inside "
           "`any_of`/`ordered`; give one accelerator per entry, or list them under the task's "
           "top-level `resources.accelerators`.");
  }
  if (node.IsScalar()) {
    std::string text(strings::Trim(node.Scalar()));
    // "{A100:1, V100:1}" given as a quoted string: a set of choices.
    if (text.size() >= 2 && text.front() == '{' && text.back() == '}') {
      for (auto& part : strings::Split(text.substr(1, text.size() - 2), ',')) {
        YAML::Node item(std::string(strings::Trim(part)));
        d.accelerator_choices.push_back(ReadAcceleratorText(r, item));
      }
    } else {
      d.accelerator_choices.push_back(ReadAcceleratorText(r, node));
    }
  } else if (node.IsMap()) {
    CheckNoDuplicateKeys(r, node);
    for (auto it = node.begin(); it != node.end(); ++it) {
      d.accelerator_choices.push_back(ReadAcceleratorEntry(r, it->first, it->second));
    }
    if (d.accelerator_choices.empty()) return;
  } else if (node.IsSequence()) {
    size_t index = 0;
    for (const auto& item : node) {
      auto scope = r.EnterIndex(index++);
      d.accelerator_choices.push_back(ReadAcceleratorText(r, item));
    }
    d.accelerators_ordered = true;
  }
  const bool multi_allowed =
      d.place == Place::kTopLevel || (d.place == Place::kAlternative && node.IsScalar());
  if (d.accelerator_choices.size() > 1 && !multi_allowed) {
    r.Fail(node,
           "only one accelerator type may be given here; list alternatives under the task's "
           "top-level `resources.accelerators` or use `any_of`.");
  }
  if (d.accelerator_choices.size() == 1) d.spec.accelerators = d.accelerator_choices[0];
}

// --- sub-tables

const Field<Autostop> kAutostopFields[] = {
    {"idle_minutes", "an integer >= 0",
     [](Reader& r, const YAML::Node& n, Autostop& a) {
       long long v = r.Int(n, "an integer >= 0");
       if (v < 0) r.Fail(n, "idle_minutes must be 0 or more.", {"10"});
       a.idle_minutes = static_cast<int>(std::min<long long>(v, 1 << 30));
     }},
    {"down", "true or false",
     [](Reader& r, const YAML::Node& n, Autostop& a) { a.down = r.Bool(n); }},
    {"wait_for", "'jobs_and_ssh', 'jobs' or 'none'",
     [](Reader& r, const YAML::Node& n, Autostop& a) { a.wait_for = r.String(n); }},
    {"hook", "a shell command",
     [](Reader& r, const YAML::Node& n, Autostop& a) { a.hook = r.String(n); }},
    {"hook_timeout", "seconds, an integer >= 1",
     [](Reader& r, const YAML::Node& n, Autostop& a) {
       long long v = r.Int(n, "an integer >= 1");
       if (v < 1) r.Fail(n, "hook_timeout must be 1 or more seconds.");
       a.hook_timeout_s = static_cast<int>(std::min<long long>(v, 1 << 30));
     }},
};

const Field<JobRecovery> kJobRecoveryFields[] = {
    {"strategy", "a strategy name such as 'EAGER_NEXT_REGION' or 'FAILOVER'",
     [](Reader& r, const YAML::Node& n, JobRecovery& j) {
       if (n.IsNull())
         j.strategy.reset();
       else
         j.strategy = r.StrictString(n, "a strategy name (a string) such as 'EAGER_NEXT_REGION'");
     }},
    {"max_restarts_on_errors", "an integer >= 0",
     [](Reader& r, const YAML::Node& n, JobRecovery& j) {
       long long v = r.Int(n, "an integer >= 0");
       if (v < 0) r.Fail(n, "max_restarts_on_errors must be 0 or more.", {"3"});
       j.max_restarts_on_errors = static_cast<int>(std::min<long long>(v, 1 << 30));
     }},
    {"recover_on_exit_codes", "an exit code 0-255 or a list of them",
     [](Reader& r, const YAML::Node& n, JobRecovery& j) {
       auto read_code = [&](const YAML::Node& item) {
         long long v = r.Int(item, "an exit code 0-255");
         if (v < 0 || v > 255) r.Fail(item, "exit codes are 0-255.", {"1"});
         return static_cast<int>(v);
       };
       j.recover_on_exit_codes.clear();
       if (n.IsSequence()) {
         size_t i = 0;
         for (const auto& item : n) {
           auto scope = r.EnterIndex(i++);
           int code = read_code(item);
           if (std::find(j.recover_on_exit_codes.begin(), j.recover_on_exit_codes.end(), code) !=
               j.recover_on_exit_codes.end()) {
             r.Fail(item, fmt::format("exit code {} is listed twice.", code));
           }
           j.recover_on_exit_codes.push_back(code);
         }
       } else {
         j.recover_on_exit_codes.push_back(read_code(n));
       }
     }},
};

const Field<nlohmann::json> kAcceleratorArgsFields[] = {
    {"runtime_version", "a string",
     [](Reader& r, const YAML::Node& n, nlohmann::json& j) { j["runtime_version"] = r.String(n); }},
    {"tpu_name", "a string",
     [](Reader& r, const YAML::Node& n, nlohmann::json& j) { j["tpu_name"] = r.String(n); }},
    {"tpu_vm", "true or false",
     [](Reader& r, const YAML::Node& n, nlohmann::json& j) { j["tpu_vm"] = r.Bool(n); }},
    {"gcp_queued_resource", "true or false",
     [](Reader& r, const YAML::Node& n, nlohmann::json& j) {
       j["gcp_queued_resource"] = r.Bool(n);
     }},
};

void ReadLegacyLocation(Reader& r, const YAML::Node& n, std::string& into, Draft& d) {
  d.has_legacy_location = true;
  into = n.IsNull() ? "" : r.String(n);
}

void KeepVerbatim(Reader& r, const YAML::Node& n, Draft& d) {
  // The last path component is the field name.
  const std::string& path = r.path();
  d.spec.extra[path.substr(path.rfind('.') + 1)] = r.ToJson(n);
}

const Field<Draft> kResourcesFields[] = {
    {"infra", "cloud[/region[/zone]], k8s[/context], ssh/<pool>, slurm/<cluster>, local or *",
     [](Reader& r, const YAML::Node& n, Draft& d) {
       d.has_infra = true;
       std::string text = n.IsNull() ? "" : r.String(n);
       try {
         ParseInfraInto(text, d.spec, r.path());
       } catch (const InvalidTaskError& e) {
         r.Fail(n, e.message(), e.suggestions());
       }
     }},
    {"cloud", "a cloud name such as aws, gcp, azure, kubernetes (legacy; prefer infra)",
     [](Reader& r, const YAML::Node& n, Draft& d) { ReadLegacyLocation(r, n, d.spec.cloud, d); }},
    {"region", "a region name (legacy; prefer infra)",
     [](Reader& r, const YAML::Node& n, Draft& d) { ReadLegacyLocation(r, n, d.spec.region, d); }},
    {"zone", "a zone name (legacy; prefer infra)",
     [](Reader& r, const YAML::Node& n, Draft& d) { ReadLegacyLocation(r, n, d.spec.zone, d); }},
    {"instance_type", "an instance type such as p4d.24xlarge",
     [](Reader& r, const YAML::Node& n, Draft& d) {
       d.spec.instance_type = n.IsNull() ? "" : r.String(n);
     }},
    {"cpus", kCpusHelp,
     [](Reader& r, const YAML::Node& n, Draft& d) {
       if (n.IsNull())
         d.spec.cpus.reset();
       else
         d.spec.cpus = ReadQuantity(r, n, false);
     }},
    {"memory", kMemoryHelp,
     [](Reader& r, const YAML::Node& n, Draft& d) {
       if (n.IsNull())
         d.spec.memory.reset();
       else
         d.spec.memory = ReadQuantity(r, n, true);
     }},
    {"accelerators", "'A100', 'A100:8', {A100: 8}, a list (ordered) or a set (any of)",
     [](Reader& r, const YAML::Node& n, Draft& d) { ReadAccelerators(r, n, d); }},
    {"accelerator_args", "a mapping of runtime_version, tpu_name, tpu_vm, gcp_queued_resource",
     [](Reader& r, const YAML::Node& n, Draft& d) {
       if (n.IsNull()) {
         d.spec.accelerator_args = nullptr;
         return;
       }
       r.RequireMap(n, "a mapping");
       d.spec.accelerator_args = nlohmann::json::object();
       ReadFields(r, n, kAcceleratorArgsFields, d.spec.accelerator_args, "accelerator_args");
     }},
    {"gpus", "an alias of accelerators",
     [](Reader& r, const YAML::Node& n, Draft& d) { ReadAccelerators(r, n, d); }},
    {"use_spot", "true or false",
     [](Reader& r, const YAML::Node& n, Draft& d) {
       if (n.IsNull())
         d.spec.use_spot.reset();
       else
         d.spec.use_spot = r.Bool(n);
     }},
    {"job_recovery",
     "a strategy name or a mapping of strategy, max_restarts_on_errors, "
     "recover_on_exit_codes",
     [](Reader& r, const YAML::Node& n, Draft& d) {
       if (n.IsNull()) {
         d.spec.job_recovery.reset();
         return;
       }
       JobRecovery recovery;
       if (n.IsMap()) {
         ReadFields(r, n, kJobRecoveryFields, recovery, "job_recovery");
       } else {
         recovery.strategy = r.StrictString(n, "a strategy name (a string) or a mapping");
       }
       d.spec.job_recovery = recovery;
     }},
    {"disk_size", "a size in GB such as 256, or '256GB' / '1TB'",
     [](Reader& r, const YAML::Node& n, Draft& d) {
       if (n.IsNull())
         d.spec.disk_size_gb.reset();
       else
         d.spec.disk_size_gb = ReadSizeGb(r, n);
     }},
    {"disk_tier", "low, medium, high, ultra or best",
     [](Reader& r, const YAML::Node& n, Draft& d) {
       if (n.IsNull())
         d.spec.disk_tier.reset();
       else
         d.spec.disk_tier = r.String(n);
     }},
    {"network_tier", "standard or best",
     [](Reader& r, const YAML::Node& n, Draft& d) {
       if (n.IsNull())
         d.spec.network_tier.reset();
       else
         d.spec.network_tier = r.String(n);
     }},
    {"ports", "a port (8080), a range ('10000-10010') or a list of them",
     [](Reader& r, const YAML::Node& n, Draft& d) {
       d.spec.ports.clear();
       if (n.IsNull()) return;
       // A string may list several, comma-separated: '8080,8081'. As in
       // SkyPilot, parts are trimmed and empty ones ('8080,' or '') skipped.
       auto read = [&](const YAML::Node& item) {
         if (!item.IsScalar() || item.Scalar().find(',') == std::string::npos) {
           if (item.IsScalar() && ResolveScalar(item) == ScalarKind::kString &&
               strings::Trim(item.Scalar()).empty()) {
             return;
           }
           d.spec.ports.push_back(ReadPortText(r, item));
           return;
         }
         for (const auto& part : strings::Split(item.Scalar(), ',')) {
           if (strings::Trim(part).empty()) continue;
           d.spec.ports.push_back(ReadPortText(r, item, part));
         }
       };
       if (n.IsSequence()) {
         size_t i = 0;
         for (const auto& item : n) {
           auto scope = r.EnterIndex(i++);
           read(item);
         }
       } else {
         read(n);
       }
     }},
    {"image_id", "an image name, 'docker:<image>', or a mapping of region to image",
     [](Reader& r, const YAML::Node& n, Draft& d) {
       d.spec.image_id.clear();
       if (n.IsNull()) return;
       if (n.IsMap()) {
         CheckNoDuplicateKeys(r, n);
         for (auto it = n.begin(); it != n.end(); ++it) {
           auto scope = r.Enter(it->first.Scalar());
           d.spec.image_id[it->first.Scalar()] = r.String(it->second, "an image name");
         }
       } else {
         d.spec.image_id[""] = r.String(n, "an image name or a mapping of region to image");
       }
     }},
    {"labels", "a mapping of label names to string values",
     [](Reader& r, const YAML::Node& n, Draft& d) {
       d.spec.labels.clear();
       d.has_labels = true;
       if (n.IsNull()) return;
       r.RequireMap(n, "a mapping of label names to string values");
       CheckNoDuplicateKeys(r, n);
       for (auto it = n.begin(); it != n.end(); ++it) {
         auto scope = r.Enter(it->first.Scalar());
         d.spec.labels[it->first.Scalar()] = r.StrictString(it->second, "a string label value");
       }
     }},
    {"autostop",
     "true/false, idle minutes (10), a duration ('1h'), or a mapping of idle_minutes, "
     "down, wait_for",
     [](Reader& r, const YAML::Node& n, Draft& d) {
       if (n.IsNull()) {
         d.spec.autostop.reset();
         return;
       }
       Autostop autostop;
       if (n.IsMap()) {
         ReadFields(r, n, kAutostopFields, autostop, "autostop");
       } else if (n.IsScalar() && ResolveScalar(n) == ScalarKind::kBool) {
         autostop.enabled = r.Bool(n);
       } else {
         autostop.idle_minutes = ReadIdleMinutes(r, n);
       }
       d.spec.autostop = autostop;
     }},
    {"priority", "an integer from -1000 to 1000",
     [](Reader& r, const YAML::Node& n, Draft& d) {
       if (n.IsNull()) {
         d.spec.priority.reset();
         return;
       }
       long long v = r.Int(n, "an integer from -1000 to 1000");
       if (v < -1000 || v > 1000) {
         r.Fail(n, fmt::format("priority must be between -1000 and 1000, found {}.", v), {"0"});
       }
       d.spec.priority = static_cast<int>(v);
     }},
    {"max_hourly_cost", "a positive number of USD per hour",
     [](Reader& r, const YAML::Node& n, Draft& d) {
       double v = r.Number(n, "a positive number of USD per hour");
       if (!(v > 0)) r.Fail(n, "max_hourly_cost must be positive.", {"10.0"});
       d.spec.max_hourly_cost = v;
     }},
    {"volumes", "a list of disk volume mappings", KeepVerbatim},
    {"local_disk", "a string", KeepVerbatim},
    {"priority_class", "a string", KeepVerbatim},
    {"ephemeral_storage", "a size (deprecated; use disk_size)", KeepVerbatim},
    {"any_of", "a list of resources mappings; the cheapest feasible is chosen",
     [](Reader&, const YAML::Node& n, Draft& d) {
       d.any_of.reset(n);
       d.has_any_of = true;
     }},
    {"ordered", "a list of resources mappings; the first feasible is chosen",
     [](Reader&, const YAML::Node& n, Draft& d) {
       d.ordered.reset(n);
       d.has_ordered = true;
     }},
    {"_no_missing_accel_warnings", "true or false", KeepVerbatim},
    {"_docker_login_config", "internal", KeepVerbatim},
    {"_is_image_managed", "internal", KeepVerbatim},
    {"_requires_fuse", "internal", KeepVerbatim},
    {"_cluster_config_overrides", "internal", KeepVerbatim},
};

// Builds Resources; an error from validation is reported at the offending
// field's position under the current path.
Resources Build(Reader& r, const YAML::Node& map, ResourcesSpec spec) {
  try {
    return Resources(std::move(spec));
  } catch (const InvalidTaskError& e) {
    // Walk the field path (e.g. "autostop.wait_for") down to its node.
    const std::string field = e.field_path();
    YAML::Node at;
    at.reset(map);
    YAML::Node key;
    for (const auto& part : strings::Split(field, '.')) {
      if (!at.IsMap()) break;
      bool found = false;
      for (auto it = at.begin(); it != at.end(); ++it) {
        if (it->first.Scalar() == part) {
          key.reset(it->first);
          at.reset(it->second);
          found = true;
          break;
        }
      }
      if (!found) break;
    }
    auto scope = r.Enter(field);
    if (key.IsDefined() && !key.IsNull()) r.set_current_key(key);
    r.Fail(at, e.message(), e.suggestions());
  }
}

void ReadDraft(Reader& r, const YAML::Node& node, Draft& d) {
  r.RequireMap(node, "a mapping of resource fields (infra, accelerators, cpus, ...)");
  ReadFields(r, node, kResourcesFields, d, "resources");
  if (node["gpus"].IsDefined() && node["accelerators"].IsDefined()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (it->first.Scalar() != "gpus") continue;
      auto scope = r.Enter("gpus");
      r.set_current_key(it->first);
      r.Fail(it->second, "give either `gpus` or `accelerators` (the same field), not both.",
             {"accelerators"});
    }
  }
  if (d.has_infra && d.has_legacy_location) {
    r.Fail(node, "give either `infra` or the legacy `cloud`/`region`/`zone`, not both.", {"infra"});
  }
}

std::vector<Resources> ExpandAccelerators(Reader& r, const YAML::Node& node, const Draft& d) {
  std::vector<Resources> out;
  if (d.accelerator_choices.size() <= 1) {
    out.push_back(Build(r, node, d.spec));
    return out;
  }
  for (const auto& choice : d.accelerator_choices) {
    ResourcesSpec spec = d.spec;
    spec.accelerators = choice;
    out.push_back(Build(r, node, std::move(spec)));
  }
  return out;
}

}  // namespace

Resources ReadSingleResources(Reader& r, const YAML::Node& node) {
  Draft d;
  d.place = Place::kSingle;
  if (node.IsNull()) return Resources();
  ReadDraft(r, node, d);
  if (d.has_any_of || d.has_ordered) {
    r.Fail(node, "`any_of` and `ordered` are only allowed in a task's top-level resources.");
  }
  return Build(r, node, d.spec);
}

ResourcesSet ReadResourcesSection(Reader& r, const YAML::Node& node) {
  if (node.IsNull()) return ResourcesSet();
  Draft base;
  base.place = Place::kTopLevel;
  ReadDraft(r, node, base);
  const bool has_any_of = base.has_any_of;
  const bool has_ordered = base.has_ordered;
  if (has_any_of && has_ordered) {
    r.Fail(node, "give either `any_of` or `ordered`, not both.");
  }
  if (!has_any_of && !has_ordered) {
    auto alternatives = ExpandAccelerators(r, node, base);
    const bool ordered = base.accelerators_ordered && alternatives.size() > 1;
    return ResourcesSet(std::move(alternatives),
                        ordered ? ResourcesSet::Order::kOrdered : ResourcesSet::Order::kAnyOf);
  }
  const char* key = has_any_of ? "any_of" : "ordered";
  if (base.accelerator_choices.size() > 1 && (has_ordered || base.accelerators_ordered)) {
    // A set with `any_of` is their cross product (below); an order of
    // preference has no meaning there, nor does any choice with `ordered`.
    auto scope = r.Enter("accelerators");
    r.set_current_key(base.accelerators_key);
    r.Fail(base.accelerators_node,
           has_ordered ? "several accelerators cannot be combined with `ordered`; move each "
                         "accelerator into its own `ordered` entry."
                       : "a list of accelerators (an order of preference) cannot be combined "
                         "with `any_of`; give a set such as {A100, H100} to try each with "
                         "every `any_of` entry, or use `ordered`.");
  }
  const YAML::Node& list = has_any_of ? base.any_of : base.ordered;
  auto scope = r.Enter(key);
  r.RequireList(list, "a list of resources mappings");
  if (list.size() == 0) r.Fail(list, fmt::format("`{}` must hold at least one entry.", key));
  std::vector<Resources> alternatives;
  size_t index = 0;
  for (const auto& item : list) {
    auto item_scope = r.EnterIndex(index++);
    Draft d;
    d.place = Place::kAlternative;
    d.spec = base.spec;                                // entries override the shared fields...
    d.accelerator_choices = base.accelerator_choices;  // ...a set of accelerators too
    ReadDraft(r, item, d);
    if (d.has_any_of || d.has_ordered) {
      r.Fail(item, "`any_of`/`ordered` cannot be nested.");
    }
    // An entry's labels add to (and win over) the shared ones, as in SkyPilot.
    if (d.has_labels) d.spec.labels.insert(base.spec.labels.begin(), base.spec.labels.end());
    for (auto& resources : ExpandAccelerators(r, item, d)) {
      alternatives.push_back(std::move(resources));
    }
  }
  return ResourcesSet(std::move(alternatives),
                      has_ordered ? ResourcesSet::Order::kOrdered : ResourcesSet::Order::kAnyOf);
}

// ------------------------------------------------------------------ dumping

nlohmann::ordered_json ResourcesToConfig(const Resources& resources) {
  const ResourcesSpec& s = resources.spec();
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  if (!s.cloud.empty() || !s.region.empty() || !s.zone.empty()) out["infra"] = resources.infra();
  if (!s.instance_type.empty()) out["instance_type"] = s.instance_type;
  if (s.cpus) out["cpus"] = s.cpus->ToString();
  if (s.memory) out["memory"] = s.memory->ToString();
  if (s.accelerators) {
    // `{A10: 1}`, as SkyPilot writes it: a whole count as an integer.
    const double count = s.accelerators->count;
    out["accelerators"] = {{s.accelerators->name, nlohmann::ordered_json(count)}};
    if (count == std::floor(count) && count < 1e15) {
      out["accelerators"][s.accelerators->name] = static_cast<long long>(count);
    }
  }
  if (s.accelerator_args.is_object()) out["accelerator_args"] = s.accelerator_args;
  if (s.use_spot) out["use_spot"] = *s.use_spot;
  if (s.job_recovery) {
    const auto& j = *s.job_recovery;
    nlohmann::ordered_json recovery = nlohmann::ordered_json::object();
    recovery["strategy"] =
        j.strategy ? nlohmann::ordered_json(*j.strategy) : nlohmann::ordered_json(nullptr);
    if (j.max_restarts_on_errors) recovery["max_restarts_on_errors"] = *j.max_restarts_on_errors;
    if (!j.recover_on_exit_codes.empty())
      recovery["recover_on_exit_codes"] = j.recover_on_exit_codes;
    out["job_recovery"] = recovery;
  }
  if (s.disk_size_gb) out["disk_size"] = *s.disk_size_gb;
  if (s.disk_tier) out["disk_tier"] = *s.disk_tier;
  if (s.network_tier) out["network_tier"] = *s.network_tier;
  if (!s.ports.empty()) {
    nlohmann::ordered_json ports = nlohmann::ordered_json::array();
    for (const auto& p : s.ports) ports.push_back(p.ToString());
    out["ports"] = ports;
  }
  if (!s.image_id.empty()) {
    if (s.image_id.size() == 1 && s.image_id.count("")) {
      out["image_id"] = s.image_id.at("");
    } else {
      out["image_id"] = s.image_id;
    }
  }
  if (!s.labels.empty()) out["labels"] = s.labels;
  if (s.autostop) {
    const auto& a = *s.autostop;
    if (!a.enabled) {
      out["autostop"] = false;
    } else {
      nlohmann::ordered_json autostop = {{"idle_minutes", a.idle_minutes}, {"down", a.down}};
      if (a.wait_for) autostop["wait_for"] = *a.wait_for;
      if (a.hook) autostop["hook"] = *a.hook;
      if (a.hook_timeout_s) autostop["hook_timeout"] = *a.hook_timeout_s;
      out["autostop"] = autostop;
    }
  }
  if (s.priority) out["priority"] = *s.priority;
  if (s.max_hourly_cost) out["max_hourly_cost"] = *s.max_hourly_cost;
  for (const auto& [key, value] : s.extra.items()) out[key] = value;
  return out;
}

nlohmann::ordered_json ResourcesSetToConfig(const ResourcesSet& set) {
  if (set.size() == 1) return ResourcesToConfig(set.alternatives()[0]);
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const auto& r : set.alternatives()) list.push_back(ResourcesToConfig(r));
  return {{set.is_ordered() ? "ordered" : "any_of", list}};
}

}  // namespace skycore::yamlio
