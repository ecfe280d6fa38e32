// sky.Resources, sky.Task, sky.Dag and the YAML entry points.
//
// Constructors build a config dict from their keyword arguments and run it
// through the same loader as task YAML, so a bad keyword value gets the same
// precise error (field path, valid values, close matches) as bad YAML.
#include <fmt/format.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>

#include "bindings.h"
#include "skycore/skycore.h"

namespace skycore::python {
namespace {

template <class Json>
py::object FromJsonImpl(const Json& value) {
  if (value.is_null()) return py::none();
  if (value.is_boolean()) return py::bool_(value.template get<bool>());
  if (value.is_number_integer()) return py::int_(value.template get<long long>());
  if (value.is_number_unsigned()) return py::int_(value.template get<unsigned long long>());
  if (value.is_number_float()) return py::float_(value.template get<double>());
  if (value.is_string()) return py::str(value.template get<std::string>());
  if (value.is_array()) {
    py::list out;
    for (const auto& item : value) out.append(FromJsonImpl(item));
    return out;
  }
  py::dict out;
  for (const auto& [k, v] : value.items()) out[py::str(k)] = FromJsonImpl(v);
  return out;
}

EnvVars ToEnvVars(const py::object& value, const char* what) {
  EnvVars vars;
  if (value.is_none()) return vars;
  if (!py::isinstance<py::dict>(value)) {
    throw py::type_error(std::string(what) + " must be a dict of NAME -> value");
  }
  for (auto item : value.cast<py::dict>()) {
    vars.emplace_back(py::str(item.first).cast<std::string>(),
                      py::str(item.second).cast<std::string>());
  }
  return vars;
}

// Task.update_envs/update_secrets take a dict or a list of (name, value)
// pairs, as SkyPilot's do; anything else, or a name given twice in a list,
// is a ValueError there too.
EnvVars ToEnvUpdates(const py::object& value, const char* what) {
  if (value.is_none() || py::isinstance<py::dict>(value)) return ToEnvVars(value, what);
  if (!py::isinstance<py::list>(value) && !py::isinstance<py::tuple>(value)) {
    throw py::value_error(fmt::format("{} must be List[Tuple[str, str]] or Dict[str, str]: {}",
                                      what, py::repr(value).cast<std::string>()));
  }
  EnvVars vars;
  for (auto item : value) {
    auto pair = py::reinterpret_borrow<py::sequence>(item);
    if (!py::isinstance<py::sequence>(item) || py::len(pair) != 2) {
      throw py::value_error(fmt::format("{}: each entry must be a (name, value) pair, found {}",
                                        what, py::repr(item).cast<std::string>()));
    }
    std::string name = py::str(pair[0]).cast<std::string>();
    for (const auto& [seen, unused] : vars) {
      if (seen == name) {
        throw py::value_error(fmt::format("Duplicate {} keys provided: {}", what, name));
      }
    }
    vars.emplace_back(std::move(name), py::str(pair[1]).cast<std::string>());
  }
  return vars;
}

// A Resources, a list of them (ordered) or a set of them (any of).
ResourcesSet ToResourcesSet(const py::handle& value) {
  if (py::isinstance<Resources>(value)) return ResourcesSet::Single(value.cast<Resources>());
  const bool ordered = py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value);
  const bool any_of = py::isinstance<py::set>(value) || py::isinstance<py::frozenset>(value);
  if (!ordered && !any_of) {
    throw py::type_error("resources must be a sky.Resources, a list (ordered) or a set (any of)");
  }
  std::vector<Resources> alternatives;
  for (auto item : value) {
    if (!py::isinstance<Resources>(item)) {
      throw py::type_error("every entry of resources must be a sky.Resources");
    }
    alternatives.push_back(item.cast<Resources>());
  }
  if (alternatives.empty()) throw py::value_error("resources must not be empty");
  return ResourcesSet(std::move(alternatives),
                      ordered ? ResourcesSet::Order::kOrdered : ResourcesSet::Order::kAnyOf);
}

py::object ResourcesSetToPython(const ResourcesSet& set) {
  if (set.is_ordered()) {
    py::list out;
    for (const auto& r : set.alternatives()) out.append(py::cast(r));
    return out;
  }
  py::set out;
  for (const auto& r : set.alternatives()) out.add(py::cast(r));
  return out;
}

nlohmann::json KwargsToConfig(const py::kwargs& kwargs, const char* context) {
  nlohmann::json config = nlohmann::json::object();
  for (auto item : kwargs) {
    if (item.second.is_none()) continue;
    std::string key = py::str(item.first);
    py::handle value = item.second;
    // SkyPilot's SDK takes clouds as objects (sky.AWS()); their str() is the name.
    if (key == "cloud" && !py::isinstance<py::str>(value)) {
      config[key] = py::str(value).cast<std::string>();
      continue;
    }
    config[key] = ToJson(value, std::string(context) + "." + key);
  }
  return config;
}

LoadOptions OverrideOptions(const py::object& env_overrides, const py::object& secrets_overrides) {
  LoadOptions options;
  auto collect = [](const py::object& value, EnvVars& into) {
    if (value.is_none()) return;
    if (py::isinstance<py::dict>(value)) {
      into = ToEnvVars(value, "overrides");
      return;
    }
    for (auto pair : value) {  // SkyPilot passes a list of (name, value) tuples
      auto tuple = pair.cast<py::tuple>();
      into.emplace_back(py::str(tuple[0]).cast<std::string>(),
                        py::str(tuple[1]).cast<std::string>());
    }
  };
  collect(env_overrides, options.env_overrides);
  collect(secrets_overrides, options.secret_overrides);
  return options;
}

std::string ResourcesRepr(const Resources& r) { return "Resources(" + r.ToString() + ")"; }

// Resources::copy's rule: the fields given replace the copied ones; a new
// cloud or infra replaces the whole location.
Resources CopyResources(const Resources& r, const py::kwargs& kwargs) {
  nlohmann::json config = ResourcesToConfig(r);
  nlohmann::json overrides = KwargsToConfig(kwargs, "resources");
  if (overrides.contains("infra") || overrides.contains("cloud")) config.erase("infra");
  config.update(overrides);
  return LoadResourcesConfig(config);
}

// A field kept verbatim in the spec's `extra` (local_disk, _cluster_config_overrides, ...).
py::object ExtraField(const Resources& r, const char* key) {
  const auto& extra = r.spec().extra;
  if (!extra.is_object() || !extra.contains(key)) return py::none();
  return FromJson(extra.at(key));
}

// SkyPilot's dataclasses (AutostopConfig, DockerLoginConfig) are read by
// attribute; a SimpleNamespace gives the same access without a class here.
py::object Namespace(const py::dict& fields) {
  return py::module_::import("types").attr("SimpleNamespace")(**fields);
}

py::object AutostopConfig(const Resources& r) {
  if (!r.spec().autostop) return py::none();
  const Autostop& a = *r.spec().autostop;
  py::dict fields;
  fields["enabled"] = a.enabled;
  fields["idle_minutes"] = a.idle_minutes;
  fields["down"] = a.down;
  fields["wait_for"] = a.wait_for ? py::object(py::str(*a.wait_for)) : py::object(py::none());
  fields["hook"] = a.hook ? py::object(py::str(*a.hook)) : py::object(py::none());
  fields["hook_timeout"] = a.hook_timeout_s ? py::object(py::int_(*a.hook_timeout_s)) : py::none();
  return Namespace(fields);
}

// "A10:1" for {A10: 1}, "-" without accelerators, as SkyPilot prints them.
std::string AcceleratorsStr(const Resources& r) {
  if (!r.accelerators()) return "-";
  const double count = r.accelerators()->count;
  if (count == std::floor(count)) {
    return fmt::format("{}:{}", r.accelerators()->name, static_cast<long long>(count));
  }
  return fmt::format("{}:{}", r.accelerators()->name,
                     py::str(py::float_(count)).cast<std::string>());
}

// image_id keyed by region as SkyPilot has it: None for "every region".
py::object ImageIdDict(const std::map<std::string, std::string>& image_id, bool docker) {
  py::dict out;
  for (const auto& [region, image] : image_id) {
    if ((image.rfind("docker:", 0) == 0) != docker) continue;
    out[region.empty() ? py::object(py::none()) : py::object(py::str(region))] = image;
  }
  if (out.empty()) return py::none();
  return out;
}

// SkyPilot's Resources.less_demanding_than for one launched Resources.
bool LessDemandingThan(const Resources& self, const Resources& other, bool check_ports,
                       bool check_cloud) {
  const ResourcesSpec& a = self.spec();
  const ResourcesSpec& b = other.spec();
  if (check_cloud) {
    if (b.cloud.empty()) throw py::value_error("less_demanding_than: the other cloud must be set");
    if (!a.cloud.empty() && a.cloud != b.cloud) return false;
    if (!a.region.empty() && a.region != b.region) return false;
    if (!a.zone.empty() && a.zone != b.zone) return false;
  }
  if (!a.image_id.empty()) {
    if (b.image_id.empty()) return false;
    if (b.region.empty()) {
      for (const auto& [region, image] : a.image_id) {
        auto it = b.image_id.find(region);
        if (it == b.image_id.end() || it->second != image) return false;
      }
    } else {
      auto pick = [&](const std::map<std::string, std::string>& ids) -> std::string {
        auto it = ids.find(b.region);
        if (it == ids.end() || it->second.empty()) it = ids.find("");
        return it == ids.end() ? std::string() : it->second;
      };
      if (pick(a.image_id) != pick(b.image_id)) return false;
    }
  }
  if (!a.instance_type.empty() && a.instance_type != b.instance_type) return false;
  if (a.accelerators) {
    if (!b.accelerators || a.accelerators->name != b.accelerators->name) return false;
    if (a.accelerators->count > b.accelerators->count) return false;
  }
  if (a.accelerator_args.is_object() && a.accelerator_args != b.accelerator_args) return false;
  if (a.use_spot && self.use_spot() != other.use_spot()) return false;
  // Tiers are ordered; `best` asks for the best there is, so any tier serves it.
  static const std::vector<std::string> kDiskTiers = {"low", "medium", "high", "ultra"};
  if (a.disk_tier) {
    if (!b.disk_tier) return false;
    if (*a.disk_tier != "best") {
      auto rank = [&](const std::string& tier) {
        auto it = std::find(kDiskTiers.begin(), kDiskTiers.end(), tier);
        return it == kDiskTiers.end() ? kDiskTiers.size()
                                      : static_cast<size_t>(it - kDiskTiers.begin());
      };
      if (rank(*a.disk_tier) > rank(*b.disk_tier)) return false;
    }
  }
  if (a.network_tier) {
    if (!b.network_tier) return false;
    if (*a.network_tier == "best" && *b.network_tier != "best") return false;
  }
  if (a.extra.contains("local_disk")) {
    if (!b.extra.contains("local_disk")) return false;
    if (a.extra.at("local_disk") != b.extra.at("local_disk")) return false;
  }
  if (check_ports && !a.ports.empty()) {
    if (b.ports.empty()) return false;
    for (const auto& range : a.ports) {
      for (int port = range.first; port <= range.last; ++port) {
        const bool covered = std::any_of(b.ports.begin(), b.ports.end(), [&](const PortRange& o) {
          return o.first <= port && port <= o.last;
        });
        if (!covered) return false;
      }
    }
  }
  return true;
}

// The task's plain file mounts (destination -> source), storage mounts left out.
py::dict PlainFileMounts(const Task& t) {
  py::dict out;
  for (const auto& mount : t.file_mounts()) {
    if (!mount.is_storage()) out[py::str(mount.destination)] = mount.source;
  }
  return out;
}

// SkyPilot's test: a URL with a host part (`s3://bucket/key`, `https://account/...`).
bool IsCloudStoreUrl(const std::string& path) {
  const size_t colon = path.find("://");
  if (colon == std::string::npos || colon == 0) return false;
  if (!std::isalpha(static_cast<unsigned char>(path[0]))) return false;
  for (size_t i = 1; i < colon; ++i) {
    const char c = path[i];
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') {
      return false;
    }
  }
  const size_t host = colon + 3;
  return host < path.size() && path[host] != '/' && path[host] != '?' && path[host] != '#';
}

std::string AbsoluteLocalPath(const std::string& path) {
  return py::module_::import("os.path")
      .attr("abspath")(py::module_::import("os.path").attr("expanduser")(path))
      .cast<std::string>();
}

// Task names SkyPilot accepts: ASCII letters and digits, joined by at most two
// of `._-`; starts and ends with a letter or digit.
bool IsValidTaskName(const std::string& name) {
  if (name.empty()) return false;
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (!alnum(name.front()) || !alnum(name.back())) return false;
  int run = 0;
  for (char c : name) {
    if (alnum(c)) {
      run = 0;
    } else if (c == '.' || c == '_' || c == '-') {
      if (++run > 2) return false;
    } else {
      return false;
    }
  }
  return true;
}

void ValidateWorkdir(Task& t) {
  if (!t.workdir()) return;
  if (t.workdir()->is_git()) {
    if (!t.workdir()->git_ref.empty()) {
      nlohmann::json extra = t.extra();
      extra["_metadata"]["git_commit"] = t.workdir()->git_ref;
      t.set_extra(std::move(extra));
    }
    return;
  }
  Workdir workdir = *t.workdir();
  const std::string given = workdir.path;
  workdir.path = AbsoluteLocalPath(given);
  std::error_code error;
  if (!std::filesystem::is_directory(workdir.path, error)) {
    throw py::value_error(fmt::format(
        "Workdir must be a valid directory (or a symlink to a directory). {} not found.", given));
  }
  t.set_workdir(std::move(workdir));
}

void ValidateFileMounts(Task& t) {
  std::vector<FileMount> mounts = t.file_mounts();
  for (auto& mount : mounts) {
    if (mount.is_storage()) continue;
    const std::string location = fmt::format("file_mounts.{}: {}", mount.destination, mount.source);
    for (const std::string& path : {mount.destination, mount.source}) {
      if (!path.empty() && path.back() == '/') {
        throw py::value_error(
            fmt::format("Mount paths cannot end with a slash. Found: {} in {}", path, location));
      }
    }
    if (mount.destination == "~/sky_workdir" && t.workdir()) {
      throw py::value_error(
          "Cannot use '~/sky_workdir' as a destination path of a file mount, as it will be used "
          "by the workdir. If uploading a file/folder to the workdir is needed, please specify "
          "the full path to the file/folder.");
    }
    if (IsCloudStoreUrl(mount.destination)) {
      throw py::value_error("File mount destination paths cannot be cloud storage");
    }
    if (IsCloudStoreUrl(mount.source)) continue;
    const std::string given = mount.source;
    mount.source = AbsoluteLocalPath(given);
    std::error_code error;
    if (!std::filesystem::exists(mount.source, error) && given.rfind("skypilot:", 0) != 0) {
      throw py::value_error(
          fmt::format("File mount source '{}' does not exist locally. To fix: check if it "
                      "exists, and correct the path.",
                      given));
    }
  }
  t.set_file_mounts(std::move(mounts));
}

void ValidateTask(Task& t, bool skip_file_mounts, bool skip_workdir) {
  if (t.name() && !IsValidTaskName(*t.name())) {
    throw py::value_error(fmt::format(
        "Invalid task name {}. Valid name: ASCII characters and may contain lowercase and "
        "uppercase letters, digits, underscores, periods, and dashes. Must start and end with "
        "alphanumeric characters. No triple dashes or underscores.",
        *t.name()));
  }
  if (!skip_workdir) ValidateWorkdir(t);
  if (!skip_file_mounts) ValidateFileMounts(t);
  // Each Resources was validated when it was built; nothing can change it since.
}

nlohmann::json TaskMetadata(const Task& t) {
  const auto& extra = t.extra();
  if (extra.is_object() && extra.contains("_metadata") && extra.at("_metadata").is_object()) {
    return extra.at("_metadata");
  }
  return nlohmann::json::object();
}

// copy.deepcopy(dag): the same name and edges over copies of the tasks, so
// edits to the copy never reach the original (SkyPilot's entrypoint handling).
Dag DeepCopyDag(const Dag& dag) {
  Dag out;
  out.set_name(dag.name());
  std::vector<std::shared_ptr<Task>> copies;
  for (const auto& task : dag.tasks()) {
    copies.push_back(std::make_shared<Task>(*task));
    out.add(copies.back());
  }
  for (const auto& [upstream, downstream] : dag.edges()) {
    out.add_edge(copies[upstream], copies[downstream]);
  }
  return out;
}

}  // namespace

nlohmann::json ToJson(const py::handle& value, const std::string& context) {
  if (value.is_none()) return nullptr;
  if (py::isinstance<py::bool_>(value)) return value.cast<bool>();
  if (py::isinstance<py::int_>(value)) return value.cast<long long>();
  if (py::isinstance<py::float_>(value)) {
    double d = value.cast<double>();
    if (!std::isfinite(d)) throw py::value_error(context + ": numbers must be finite");
    return d;
  }
  if (py::isinstance<py::str>(value)) return value.cast<std::string>();
  if (py::isinstance<py::dict>(value)) {
    nlohmann::json out = nlohmann::json::object();
    for (auto item : value.cast<py::dict>()) {
      std::string key = py::str(item.first);
      out[key] = ToJson(item.second, context + "." + key);
    }
    return out;
  }
  if (py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value)) {
    nlohmann::json out = nlohmann::json::array();
    for (auto item : value) out.push_back(ToJson(item, context));
    return out;
  }
  if (py::isinstance<py::set>(value) || py::isinstance<py::frozenset>(value)) {
    // A set of accelerator names ({'A100:1', 'V100:1'}) is an any-of mapping.
    nlohmann::json out = nlohmann::json::object();
    for (auto item : value) out[py::str(item).cast<std::string>()] = nullptr;
    return out;
  }
  throw py::type_error(context + ": unsupported value of type " +
                       py::str(py::type::of(value).attr("__name__")).cast<std::string>());
}

py::object FromJson(const nlohmann::json& value) { return FromJsonImpl(value); }
py::object FromJson(const nlohmann::ordered_json& value) { return FromJsonImpl(value); }

void BindModel(py::module_& m) {
  py::class_<Resources>(m, "Resources",
                        "Immutable description of what a task needs and where it may run.")
      .def(py::init([](const py::kwargs& kwargs) {
             return LoadResourcesConfig(KwargsToConfig(kwargs, "resources"));
           }),
           "Resources(*, infra=None, cloud=None, region=None, zone=None, instance_type=None, "
           "cpus=None, memory=None, accelerators=None, accelerator_args=None, use_spot=None, "
           "job_recovery=None, disk_size=None, disk_tier=None, network_tier=None, ports=None, "
           "image_id=None, labels=None, autostop=None, priority=None, ...)")
      .def_property_readonly("cloud",
                             [](const Resources& r) -> py::object {
                               return r.cloud().empty() ? py::object(py::none())
                                                        : py::object(py::str(r.cloud()));
                             })
      .def_property_readonly("region",
                             [](const Resources& r) -> py::object {
                               return r.region().empty() ? py::object(py::none())
                                                         : py::object(py::str(r.region()));
                             })
      .def_property_readonly("zone",
                             [](const Resources& r) -> py::object {
                               return r.zone().empty() ? py::object(py::none())
                                                       : py::object(py::str(r.zone()));
                             })
      .def_property_readonly("infra", &Resources::infra)
      .def_property_readonly("instance_type",
                             [](const Resources& r) -> py::object {
                               return r.instance_type().empty()
                                          ? py::object(py::none())
                                          : py::object(py::str(r.instance_type()));
                             })
      .def_property_readonly("cpus",
                             [](const Resources& r) -> py::object {
                               return r.cpus() ? py::object(py::str(r.cpus()->ToString()))
                                               : py::object(py::none());
                             })
      .def_property_readonly("memory",
                             [](const Resources& r) -> py::object {
                               return r.memory() ? py::object(py::str(r.memory()->ToString()))
                                                 : py::object(py::none());
                             })
      .def_property_readonly("accelerators",
                             [](const Resources& r) -> py::object {
                               if (!r.accelerators()) return py::none();
                               py::dict out;
                               const double count = r.accelerators()->count;
                               if (count == std::floor(count))
                                 out[py::str(r.accelerators()->name)] =
                                     static_cast<long long>(count);
                               else
                                 out[py::str(r.accelerators()->name)] = count;
                               return out;
                             })
      .def_property_readonly("use_spot", &Resources::use_spot)
      .def_property_readonly("disk_size",
                             [](const Resources& r) -> py::object {
                               return r.disk_size_gb() ? py::object(py::int_(*r.disk_size_gb()))
                                                       : py::object(py::none());
                             })
      .def_property_readonly("disk_tier", [](const Resources& r) { return r.spec().disk_tier; })
      .def_property_readonly("network_tier",
                             [](const Resources& r) { return r.spec().network_tier; })
      .def_property_readonly("ports",
                             [](const Resources& r) -> py::object {
                               if (r.spec().ports.empty()) return py::none();
                               py::list out;
                               for (const auto& p : r.spec().ports) out.append(p.ToString());
                               return out;
                             })
      .def_property_readonly("labels", [](const Resources& r) { return r.spec().labels; })
      .def_property_readonly("priority", [](const Resources& r) { return r.spec().priority; })
      .def_property_readonly("image_id",
                             [](const Resources& r) -> py::object {
                               if (r.spec().image_id.empty()) return py::none();
                               return py::cast(r.spec().image_id);
                             })
      .def(
          "to_yaml_config", [](const Resources& r) { return FromJson(ResourcesToConfig(r)); },
          "The resources as a dict in task-YAML layout.")
      .def(
          "copy",
          [](const Resources& r, const py::kwargs& kwargs) { return CopyResources(r, kwargs); },
          "A copy with the given fields replaced.")
      .def_static(
          "from_yaml_config",
          [](const py::object& config) {
            // SkyPilot's classmethod: a set (any of) or a list (ordered) of Resources.
            if (config.is_none()) return ResourcesSetToPython(ResourcesSet());
            return ResourcesSetToPython(LoadResourcesSetConfig(ToJson(config, "resources")));
          },
          py::arg("config"),
          "The Resources a task's `resources:` mapping names: a set (any of) or a list "
          "(ordered).")
      .def_property_readonly("accelerator_args",
                             [](const Resources& r) -> py::object {
                               if (!r.spec().accelerator_args.is_object()) return py::none();
                               return FromJson(r.spec().accelerator_args);
                             })
      .def_property_readonly("autostop_config", &AutostopConfig,
                             "None, or idle_minutes/down/wait_for/hook/hook_timeout/enabled "
                             "as attributes.")
      .def(
          "override_autostop_config",
          [](Resources& r, bool down, std::optional<int> idle_minutes, const py::object& wait_for) {
            if (!down && !idle_minutes) return;
            ResourcesSpec spec = r.spec();
            if (!spec.autostop) spec.autostop = Autostop{};
            if (down) spec.autostop->down = true;
            if (idle_minutes) spec.autostop->idle_minutes = *idle_minutes;
            if (!wait_for.is_none()) {
              // SkyPilot passes its AutostopWaitFor enum; its value is the name.
              const py::object name =
                  py::hasattr(wait_for, "value") ? wait_for.attr("value") : wait_for;
              const std::string mode = py::str(name).cast<std::string>();
              if (mode != "jobs_and_ssh" && mode != "jobs" && mode != "none") {
                throw py::value_error(fmt::format(
                    "wait_for must be 'jobs_and_ssh', 'jobs' or 'none', found '{}'", mode));
              }
              spec.autostop->wait_for = mode;
            }
            r = Resources(std::move(spec));
          },
          py::arg("down") = false, py::arg("idle_minutes") = py::none(),
          py::arg("wait_for") = py::none())
      .def_property_readonly("cluster_config_overrides",
                             [](const Resources& r) -> py::object {
                               py::object value = ExtraField(r, "_cluster_config_overrides");
                               return value.is_none() ? py::dict() : value;
                             })
      .def_property_readonly("job_recovery",
                             [](const Resources& r) -> py::object {
                               // As the task YAML writes it: {'strategy': ..., ...}.
                               nlohmann::ordered_json config = ResourcesToConfig(r);
                               if (!config.contains("job_recovery")) return py::none();
                               return FromJson(config["job_recovery"]);
                             })
      .def_property_readonly("volumes", [](const Resources& r) { return ExtraField(r, "volumes"); })
      .def_property_readonly("requires_fuse",
                             [](const Resources& r) {
                               py::object value = ExtraField(r, "_requires_fuse");
                               return !value.is_none() && value.cast<bool>();
                             })
      .def(
          "set_requires_fuse",
          [](Resources& r, bool value) {
            ResourcesSpec spec = r.spec();
            spec.extra["_requires_fuse"] = value;
            r = Resources(std::move(spec));
          },
          py::arg("value"), "Marks that the task mounts buckets with FUSE (or not).")
      .def_property_readonly("disk_size_specified",
                             [](const Resources& r) { return r.disk_size_gb().has_value(); })
      .def_property_readonly("use_spot_specified",
                             [](const Resources& r) { return r.spec().use_spot.has_value(); })
      .def_property_readonly("local_disk",
                             [](const Resources& r) { return ExtraField(r, "local_disk"); })
      .def_property_readonly("priority_class",
                             [](const Resources& r) { return ExtraField(r, "priority_class"); })
      .def_property_readonly("max_hourly_cost",
                             [](const Resources& r) { return r.spec().max_hourly_cost; })
      .def_property_readonly("no_missing_accel_warnings",
                             [](const Resources& r) {
                               py::object value = ExtraField(r, "_no_missing_accel_warnings");
                               return !value.is_none() && value.cast<bool>();
                             })
      .def_property_readonly("is_image_managed",
                             [](const Resources& r) { return ExtraField(r, "_is_image_managed"); })
      .def_property_readonly("docker_login_config",
                             [](const Resources& r) -> py::object {
                               py::object value = ExtraField(r, "_docker_login_config");
                               if (!py::isinstance<py::dict>(value)) return py::none();
                               return Namespace(value.cast<py::dict>());
                             })
      .def_property_readonly(
          "docker_username_for_runpod",
          [](const Resources& r) { return ExtraField(r, "_docker_username_for_runpod"); })
      .def("get_accelerators_str", &AcceleratorsStr)
      .def("get_spot_str",
           [](const Resources& r) { return std::string(r.use_spot() ? "[Spot]" : ""); })
      .def("get_cloud_image_id",
           [](const Resources& r) { return ImageIdDict(r.spec().image_id, /*docker=*/false); })
      .def("extract_docker_image",
           [](const Resources& r) -> py::object {
             // Only an image for every region (or this region) names a docker image.
             const auto& ids = r.spec().image_id;
             if (ids.size() != 1) return py::none();
             const auto& [region, image] = *ids.begin();
             if (!region.empty() && region != r.region()) return py::none();
             if (image.rfind("docker:", 0) != 0) return py::none();
             return py::str(image.substr(7));
           })
      .def(
          "is_empty",
          [](const Resources& r) {
            const ResourcesSpec& s = r.spec();
            return s.cloud.empty() && s.instance_type.empty() && !s.cpus && !s.memory &&
                   !s.accelerators && !s.accelerator_args.is_object() && !s.use_spot &&
                   !s.disk_size_gb && !s.disk_tier && !s.network_tier && s.image_id.empty() &&
                   s.ports.empty() && !s.extra.contains("_docker_login_config");
          },
          "True when nothing is asked for: any cloud, any shape.")
      .def(
          "is_launchable",
          [](const Resources& r) { return !r.cloud().empty() && !r.instance_type().empty(); },
          "True when the cloud and the instance type are both set.")
      .def(
          "assert_launchable",
          [](const Resources& r) -> const Resources& {
            if (r.cloud().empty() || r.instance_type().empty()) {
              throw py::value_error(ResourcesRepr(r) +
                                    " is not launchable: it needs a cloud and an instance type");
            }
            return r;
          },
          py::return_value_policy::reference_internal)
      .def(
          "need_cleanup_after_preemption_or_failure",
          [](const Resources& r) {
            if (r.cloud().empty() || r.instance_type().empty()) {
              throw py::value_error(ResourcesRepr(r) +
                                    " is not launchable: it needs a cloud and an instance type");
            }
            // Only a GCP TPU VM must be deleted by hand after preemption or a
            // failure; a TPU node (tpu_vm: false) and GKE's TPU slices need not.
            if (r.cloud() != "gcp" || !r.accelerators()) return false;
            const std::string& name = r.accelerators()->name;
            static const char* const kGkeTpus[] = {"tpu-v4-podslice", "tpu-v5-lite-device",
                                                   "tpu-v5-lite-podslice", "tpu-v5p-slice",
                                                   "tpu-v6e-slice"};
            if (name.rfind("tpu", 0) != 0) return false;
            if (std::find(std::begin(kGkeTpus), std::end(kGkeTpus), name) != std::end(kGkeTpus)) {
              return false;
            }
            const auto& args = r.spec().accelerator_args;
            return !args.is_object() || args.value("tpu_vm", true);
          },
          "Whether a cluster of these resources must be torn down after preemption or a failure "
          "(GCP TPU VMs).")
      .def(
          "less_demanding_than",
          [](const Resources& self, const py::object& other, int requested_num_nodes,
             bool check_ports, bool check_cloud) {
            if (py::isinstance<py::list>(other)) {
              // A heterogeneous cluster: enough of its nodes must each satisfy self.
              int satisfied = 0;
              for (auto node : other) {
                satisfied += LessDemandingThan(self, node.cast<Resources>(), false, true) ? 1 : 0;
              }
              return requested_num_nodes <= satisfied;
            }
            return LessDemandingThan(self, other.cast<Resources>(), check_ports, check_cloud);
          },
          py::arg("other"), py::arg("requested_num_nodes") = 1, py::arg("check_ports") = false,
          py::arg("check_cloud") = true,
          "Whether a cluster launched with `other` (or a list of node Resources) can run "
          "what this asks for.")
      .def(
          "should_be_blocked_by",
          [](const Resources& self, const Resources& blocked) {
            // Every field set in `blocked` must match; unset fields match anything
            // (but use_spot, below).
            if (self.cloud().empty()) {
              throw py::value_error("should_be_blocked_by: the cloud must be set");
            }
            const ResourcesSpec& b = blocked.spec();
            if (!b.cloud.empty() && b.cloud != self.cloud()) return false;
            if (!b.instance_type.empty() && b.instance_type != self.instance_type()) return false;
            if (!b.region.empty() && b.region != self.region()) return false;
            if (!b.zone.empty() && b.zone != self.zone()) return false;
            if (b.accelerators && b.accelerators != self.accelerators()) return false;
            // SkyPilot compares use_spot even when `blocked` leaves it unset
            // (it reads as on-demand there), so spot never matches those.
            if (b.use_spot.value_or(false) != self.use_spot()) return false;
            return true;
          },
          py::arg("blocked"))
      .def(
          "valid_on_region_zones",
          [](const Resources& r, const std::string& region, const std::vector<std::string>& zones) {
            if (!r.region().empty() && r.region() != region) return false;
            if (!r.zone().empty() &&
                std::find(zones.begin(), zones.end(), r.zone()) == zones.end()) {
              return false;
            }
            const auto& ids = r.spec().image_id;
            if (!ids.empty() && !ids.count("") && !ids.count(region)) return false;
            return true;
          },
          py::arg("region"), py::arg("zones"))
      .def(
          "validate", [](const Resources&) {},
          "A no-op: a Resources is validated when it is built and cannot change after.")
      .def_property_readonly("repr_with_region_zone",
                             [](const Resources& r) {
                               std::string text = ResourcesRepr(r);
                               std::string suffix;
                               if (!r.region().empty()) {
                                 std::string region = r.region();
                                 if (region.rfind("ssh-", 0) == 0) region = region.substr(4);
                                 suffix += fmt::format(", region={}", region);
                               }
                               if (!r.zone().empty()) suffix += fmt::format(", zone={}", r.zone());
                               text.insert(text.size() - 1, suffix);
                               return text;
                             })
      .def("__eq__",
           [](const Resources& a, const py::object& b) {
             return py::isinstance<Resources>(b) && a == b.cast<Resources>();
           })
      .def("__hash__",
           [](const Resources& r) {
             return py::hash(py::str(nlohmann::json(ResourcesToConfig(r)).dump()));
           })
      .def("__copy__", [](const Resources& r) { return r; })
      .def("__deepcopy__", [](const Resources& r, const py::object& /*memo*/) { return r; })
      .def(py::pickle(
          // Pickled as its task-YAML dict, which reads back equal.
          [](const Resources& r) { return FromJson(ResourcesToConfig(r)); },
          [](const py::object& config) {
            return LoadResourcesConfig(ToJson(config, "resources"));
          }))
      .def("__repr__", &ResourcesRepr);

  // dynamic_attr: what the optimizer records on a Task (best_resources) is a
  // plain attribute, as in SkyPilot.
  py::class_<Task, std::shared_ptr<Task>>(
      m, "Task", "A unit of work: commands, environment, files and resources.", py::dynamic_attr())
      .def(py::init([](const py::object& name, const py::kwargs& kwargs) {
             py::dict fields;
             py::object resources = py::none();
             for (auto item : kwargs) {
               std::string key = py::str(item.first);
               if (key == "resources")
                 resources = py::reinterpret_borrow<py::object>(item.second);
               else
                 fields[item.first] = item.second;
             }
             if (!name.is_none()) fields["name"] = name;
             nlohmann::json config = KwargsToConfig(py::kwargs(fields), "task");
             auto task = std::make_shared<Task>(LoadTaskConfig(config));
             if (!resources.is_none()) task->set_resources(ToResourcesSet(resources));
             return task;
           }),
           py::arg("name") = py::none(),
           "Task(name=None, *, setup=None, run=None, envs=None, secrets=None, workdir=None, "
           "num_nodes=None, file_mounts=None, volumes=None, resources=None, "
           "event_callback=None, config=None, service=None)")
      .def_static(
          "from_yaml",
          [](const py::object& yaml_path, const py::object& env_overrides,
             const py::object& secrets_overrides) {
            // A str or os.PathLike; `~` expanded, as SkyPilot's Task.from_yaml does.
            const std::string path = py::module_::import("os.path")
                                         .attr("expanduser")(yaml_path)
                                         .cast<std::filesystem::path>()
                                         .string();
            LoadOptions options = OverrideOptions(env_overrides, secrets_overrides);
            py::gil_scoped_release release;
            return std::make_shared<Task>(LoadTaskYamlFile(path, options));
          },
          py::arg("yaml_path"), py::arg("env_overrides") = py::none(),
          py::arg("secrets_overrides") = py::none())
      .def_static(
          "from_yaml_str",
          [](const std::string& text, const py::object& env_overrides,
             const py::object& secrets_overrides) {
            LoadOptions options = OverrideOptions(env_overrides, secrets_overrides);
            return std::make_shared<Task>(LoadTaskYaml(text, options));
          },
          py::arg("yaml_str"), py::arg("env_overrides") = py::none(),
          py::arg("secrets_overrides") = py::none())
      .def_static(
          "from_yaml_config",
          [](const py::object& config, const py::object& env_overrides,
             const py::object& secrets_overrides) {
            LoadOptions options = OverrideOptions(env_overrides, secrets_overrides);
            return std::make_shared<Task>(LoadTaskConfig(ToJson(config, "task"), options));
          },
          py::arg("config"), py::arg("env_overrides") = py::none(),
          py::arg("secrets_overrides") = py::none())
      .def_property(
          "name", [](const Task& t) { return t.name(); },
          [](Task& t, std::optional<std::string> name) { t.set_name(std::move(name)); })
      .def_property(
          "run", [](const Task& t) { return t.run(); },
          [](Task& t, std::optional<std::string> run) { t.set_run(std::move(run)); })
      .def_property(
          "setup", [](const Task& t) { return t.setup(); },
          [](Task& t, std::optional<std::string> setup) { t.set_setup(std::move(setup)); })
      .def_property("num_nodes", &Task::num_nodes, &Task::set_num_nodes)
      .def_property_readonly("event_callback", [](const Task& t) { return t.event_callback(); })
      .def_property_readonly("envs",
                             [](const Task& t) {
                               py::dict out;
                               for (const auto& [k, v] : t.envs()) out[py::str(k)] = v;
                               return out;
                             })
      .def_property_readonly("secrets",
                             [](const Task& t) {
                               py::dict out;
                               for (const auto& [k, v] : t.secrets()) out[py::str(k)] = v;
                               return out;
                             })
      .def_property_readonly("envs_and_secrets",
                             [](const Task& t) {
                               py::dict out;
                               for (const auto& [k, v] : t.envs_and_secrets()) out[py::str(k)] = v;
                               return out;
                             })
      .def_property_readonly("workdir",
                             [](const Task& t) -> py::object {
                               if (!t.workdir()) return py::none();
                               if (!t.workdir()->is_git()) return py::str(t.workdir()->path);
                               py::dict git;
                               git["url"] = t.workdir()->git_url;
                               if (!t.workdir()->git_ref.empty()) git["ref"] = t.workdir()->git_ref;
                               return git;
                             })
      .def_property_readonly("file_mounts",
                             [](const Task& t) -> py::object {
                               if (t.file_mounts().empty()) return py::none();
                               py::dict out;
                               for (const auto& mount : t.file_mounts()) {
                                 out[py::str(mount.destination)] =
                                     mount.is_storage() ? FromJson(mount.storage)
                                                        : py::object(py::str(mount.source));
                               }
                               return out;
                             })
      .def_property_readonly("service", [](const Task& t) { return FromJson(t.service()); })
      .def_property_readonly("config", [](const Task& t) { return FromJson(t.config()); })
      .def_property_readonly("resources",
                             [](const Task& t) { return ResourcesSetToPython(t.resources()); })
      .def_property_readonly("resources_ordered",
                             [](const Task& t) { return t.resources().is_ordered(); })
      .def(
          "set_resources",
          [](Task& t, const py::object& resources) -> Task& {
            t.set_resources(ToResourcesSet(resources));
            return t;
          },
          py::arg("resources"), py::return_value_policy::reference_internal,
          "Sets a Resources, a list (ordered preference) or a set (any of). Returns self.")
      .def(
          "update_envs",
          [](Task& t, const py::object& envs) -> Task& {
            t.update_envs(ToEnvUpdates(envs, "envs"));
            return t;
          },
          py::return_value_policy::reference_internal)
      .def(
          "update_secrets",
          [](Task& t, const py::object& secrets) -> Task& {
            t.update_secrets(ToEnvUpdates(secrets, "secrets"));
            return t;
          },
          py::return_value_policy::reference_internal)
      .def(
          "set_file_mounts",
          [](Task& t, const py::object& mounts) -> Task& {
            nlohmann::json config = {{"file_mounts", ToJson(mounts, "file_mounts")}};
            t.set_file_mounts(LoadTaskConfig(config).file_mounts());
            return t;
          },
          py::return_value_policy::reference_internal)
      .def(
          "to_yaml_config",
          [](const Task& t, bool redact_secrets) {
            DumpOptions options;
            options.redact_secrets = redact_secrets;
            return FromJson(TaskToConfig(t, options));
          },
          py::arg("redact_secrets") = true,
          "The task as a dict in task-YAML layout (secrets redacted unless asked).")
      .def(
          "to_yaml",
          [](const Task& t, bool redact_secrets) {
            DumpOptions options;
            options.redact_secrets = redact_secrets;
            return DumpTaskYaml(t, options);
          },
          py::arg("redact_secrets") = true)
      .def_property_readonly(
          "use_spot",
          [](const Task& t) {
            const auto& all = t.resources().alternatives();
            return std::any_of(all.begin(), all.end(),
                               [](const Resources& r) { return r.use_spot(); });
          },
          "Whether any of the task's Resources asks for spot instances.")
      .def_property_readonly(
          "metadata", [](const Task& t) { return FromJson(TaskMetadata(t)); },
          "Facts recorded about the task (the `_metadata` of its YAML, the git commit of its "
          "workdir after validate()). A copy: edits do not reach the task.")
      .def_property_readonly(
          "metadata_json",
          [](const Task& t) {
            return py::module_::import("json").attr("dumps")(FromJson(TaskMetadata(t)));
          })
      .def(
          "update_file_mounts",
          [](Task& t, const py::object& mounts) -> Task& {
            // Like dict.update() on the mounts: new destinations are added,
            // existing ones replaced; validated as in a task YAML.
            if (!py::isinstance<py::dict>(mounts)) {
              throw py::type_error("file_mounts must be a dict of destination -> source");
            }
            nlohmann::json merged = nlohmann::json::object();
            for (const auto& mount : t.file_mounts()) {
              merged[mount.destination] =
                  mount.is_storage() ? mount.storage : nlohmann::json(mount.source);
            }
            merged.update(ToJson(mounts, "file_mounts"));
            t.set_file_mounts(LoadTaskConfig({{"file_mounts", merged}}).file_mounts());
            return t;
          },
          py::arg("file_mounts"), py::return_value_policy::reference_internal)
      .def(
          "update_workdir",
          [](Task& t, const std::optional<std::string>& workdir,
             const std::optional<std::string>& git_url,
             const std::optional<std::string>& git_ref) -> Task& {
            // SkyPilot's rule: a local (or no) workdir is replaced by the
            // directory, else by the repository; a repository's url and ref
            // are updated in place.
            if (!t.workdir() || !t.workdir()->is_git()) {
              if (workdir) {
                t.set_workdir(Workdir{*workdir, "", ""});
              } else if (git_url) {
                t.set_workdir(Workdir{"", *git_url, git_ref.value_or("")});
              }
              return t;
            }
            Workdir updated = *t.workdir();
            if (git_url) updated.git_url = *git_url;
            if (git_ref) updated.git_ref = *git_ref;
            t.set_workdir(std::move(updated));
            return t;
          },
          py::arg("workdir"), py::arg("git_url"), py::arg("git_ref"),
          py::return_value_policy::reference_internal)
      .def(
          "set_resources_override",
          [](Task& t, const py::dict& override_params) -> Task& {
            std::vector<Resources> updated;
            for (const auto& r : t.resources().alternatives()) {
              updated.push_back(CopyResources(r, py::kwargs(override_params)));
            }
            t.set_resources(ResourcesSet(std::move(updated), t.resources().order()));
            return t;
          },
          py::arg("override_params"), py::return_value_policy::reference_internal,
          "Replaces the given fields in every Resources of the task (as Resources.copy).")
      .def(
          "get_resource_config",
          [](const Task& t) {
            nlohmann::ordered_json config = TaskToConfig(t);
            return config.contains("resources") ? FromJson(config["resources"])
                                                : py::object(py::dict());
          },
          "The task's `resources:` section as a dict.")
      .def("get_local_to_remote_file_mounts",
           [](const Task& t) -> py::object {
             if (t.file_mounts().empty()) return py::none();
             py::dict out;
             for (auto item : PlainFileMounts(t)) {
               const auto dst = item.first.cast<std::string>();
               const auto src = item.second.cast<std::string>();
               if (!IsCloudStoreUrl(dst) && !IsCloudStoreUrl(src)) out[item.first] = item.second;
             }
             return out;
           })
      .def("get_cloud_to_remote_file_mounts",
           [](const Task& t) -> py::object {
             if (t.file_mounts().empty()) return py::none();
             py::dict out;
             for (auto item : PlainFileMounts(t)) {
               const auto dst = item.first.cast<std::string>();
               const auto src = item.second.cast<std::string>();
               if (!IsCloudStoreUrl(dst) && IsCloudStoreUrl(src)) out[item.first] = item.second;
             }
             return out;
           })
      .def(
          "is_controller_task", [](const Task&) { return false; },
          "Always False: skycore runs no jobs or serve controller.")
      .def(
          "validate",
          [](Task& t, bool skip_file_mounts, bool skip_workdir) {
            ValidateTask(t, skip_file_mounts, skip_workdir);
          },
          py::arg("skip_file_mounts") = false, py::arg("skip_workdir") = false,
          "Checks the name, makes the workdir and file mount sources absolute and checks they "
          "exist; raises ValueError.")
      .def("validate_name",
           [](Task& t) { ValidateTask(t, /*skip_file_mounts=*/true, /*skip_workdir=*/true); })
      .def(
          "validate_run", [](const Task&) {}, "A no-op: `run` is always a string (or None) here.")
      .def("expand_and_validate_workdir", &ValidateWorkdir)
      .def("expand_and_validate_file_mounts", &ValidateFileMounts)
      .def("__eq__",
           [](const Task& a, const py::object& b) {
             return py::isinstance<Task>(b) && a == *b.cast<std::shared_ptr<Task>>();
           })
      .def("__hash__", [](const Task& t) { return reinterpret_cast<std::uintptr_t>(&t); })
      .def("__copy__",
           [](const py::object& self) {
             py::object copy = py::cast(std::make_shared<Task>(self.cast<const Task&>()));
             copy.attr("__dict__").attr("update")(self.attr("__dict__"));
             return copy;
           })
      .def("__deepcopy__",
           [](const py::object& self, const py::object& memo) {
             py::object copy = py::cast(std::make_shared<Task>(self.cast<const Task&>()));
             copy.attr("__dict__")
                 .attr("update")(
                     py::module_::import("copy").attr("deepcopy")(self.attr("__dict__"), memo));
             return copy;
           })
      .def("__repr__", [](const Task& t) { return "Task(name=" + t.name().value_or("None") + ")"; })
      .def("__str__", &Task::ToString);
  // Set by sky.optimize: the Resources chosen for the task; None until planned.
  m.attr("Task").attr("best_resources") = py::none();

  // dynamic_attr: SkyPilot's plain attributes (execution, policy_applied) live
  // on the Python object; sky/dag.py gives their defaults.
  py::class_<Dag, std::shared_ptr<Dag>>(m, "Dag", "Tasks and the order between them.",
                                        py::dynamic_attr())
      .def(py::init<>())
      .def(
          "remove",
          [](Dag& d, const std::shared_ptr<Task>& task) {
            // Rebuilt without the task: its edges go, the others keep their order.
            const auto& tasks = d.tasks();
            auto found = std::find(tasks.begin(), tasks.end(), task);
            if (found == tasks.end()) throw py::value_error("Dag.remove(x): x not in Dag");
            const size_t removed = static_cast<size_t>(found - tasks.begin());
            Dag rebuilt;
            rebuilt.set_name(d.name());
            for (size_t i = 0; i < tasks.size(); ++i) {
              if (i != removed) rebuilt.add(tasks[i]);
            }
            for (const auto& [from, to] : d.edges()) {
              if (from != removed && to != removed) rebuilt.add_edge(tasks[from], tasks[to]);
            }
            d = std::move(rebuilt);
          },
          py::arg("task"))
      .def(
          "validate",
          [](const Dag& d, bool skip_file_mounts, bool skip_workdir) {
            for (const auto& task : d.tasks()) ValidateTask(*task, skip_file_mounts, skip_workdir);
          },
          py::arg("skip_file_mounts") = false, py::arg("skip_workdir") = false)
      .def_property(
          "name", [](const Dag& d) { return d.name(); },
          [](Dag& d, std::optional<std::string> name) { d.set_name(std::move(name)); })
      .def("add", [](Dag& d, std::shared_ptr<Task> task) { d.add(std::move(task)); })
      .def("add_edge", &Dag::add_edge, py::arg("op1"), py::arg("op2"))
      .def_property_readonly("tasks", [](const Dag& d) { return d.tasks(); })
      .def_property_readonly("edges", [](const Dag& d) { return d.edges(); })
      .def("is_chain", &Dag::is_chain)
      .def("topological_order",
           [](const Dag& d) {
             py::list out;
             for (size_t i : d.topological_order()) out.append(py::cast(d.tasks()[i]));
             return out;
           })
      .def("__len__", &Dag::size)
      .def("__copy__", [](const Dag& d) { return std::make_shared<Dag>(d); })
      .def("__deepcopy__",
           [](const py::object& self, const py::object& memo) {
             py::object copy =
                 py::cast(std::make_shared<Dag>(DeepCopyDag(self.cast<const Dag&>())));
             // The attributes set from Python (execution, policy_applied) too.
             py::object state =
                 py::module_::import("copy").attr("deepcopy")(self.attr("__dict__"), memo);
             copy.attr("__dict__").attr("update")(state);
             return copy;
           })
      .def(
          "to_yaml",
          [](const Dag& d, bool redact) {
            DumpOptions options;
            options.redact_secrets = redact;
            return DumpDagYaml(d, options);
          },
          py::arg("redact_secrets") = true)
      .def("__repr__", [](const Dag& d) {
        return "Dag(name=" + d.name().value_or("None") + ", tasks=" + std::to_string(d.size()) +
               ")";
      });

  m.def(
      "load_dag_from_yaml",
      [](const std::filesystem::path& path, const py::object& env_overrides,
         const py::object& secrets_overrides) {
        LoadOptions options = OverrideOptions(env_overrides, secrets_overrides);
        py::gil_scoped_release release;
        return std::make_shared<Dag>(LoadDagYamlFile(path.string(), options));
      },
      py::arg("path"), py::arg("env_overrides") = py::none(),
      py::arg("secrets_overrides") = py::none());
  m.def(
      "load_dag_from_yaml_str",
      [](const std::string& text, const py::object& env_overrides,
         const py::object& secrets_overrides) {
        return std::make_shared<Dag>(
            LoadDagYaml(text, OverrideOptions(env_overrides, secrets_overrides)));
      },
      py::arg("text"), py::arg("env_overrides") = py::none(),
      py::arg("secrets_overrides") = py::none());
}

}  // namespace skycore::python
