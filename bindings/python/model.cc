// sky.Resources, sky.Task, sky.Dag and the YAML entry points.
//
// Constructors build a config dict from their keyword arguments and run it
// through the same loader as task YAML, so a bad keyword value gets the same
// precise error (field path, valid values, close matches) as bad YAML.
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <cmath>
#include <filesystem>

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
          [](const Resources& r, const py::kwargs& kwargs) {
            nlohmann::json config = ResourcesToConfig(r);
            nlohmann::json overrides = KwargsToConfig(kwargs, "resources");
            if (overrides.contains("infra") || overrides.contains("cloud")) {
              config.erase("infra");
            }
            config.update(overrides);
            return LoadResourcesConfig(config);
          },
          "A copy with the given fields replaced.")
      .def("__eq__",
           [](const Resources& a, const py::object& b) {
             return py::isinstance<Resources>(b) && a == b.cast<Resources>();
           })
      .def("__hash__",
           [](const Resources& r) {
             return py::hash(py::str(nlohmann::json(ResourcesToConfig(r)).dump()));
           })
      .def("__repr__", &ResourcesRepr);

  py::class_<Task, std::shared_ptr<Task>>(
      m, "Task", "A unit of work: commands, environment, files and resources.")
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
            t.update_envs(ToEnvVars(envs, "envs"));
            return t;
          },
          py::return_value_policy::reference_internal)
      .def(
          "update_secrets",
          [](Task& t, const py::object& secrets) -> Task& {
            t.update_secrets(ToEnvVars(secrets, "secrets"));
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
      .def("__eq__",
           [](const Task& a, const py::object& b) {
             return py::isinstance<Task>(b) && a == *b.cast<std::shared_ptr<Task>>();
           })
      .def("__hash__", [](const Task& t) { return reinterpret_cast<std::uintptr_t>(&t); })
      .def("__copy__", [](const Task& t) { return std::make_shared<Task>(t); })
      .def("__deepcopy__",
           [](const Task& t, const py::object& /*memo*/) { return std::make_shared<Task>(t); })
      .def("__repr__", [](const Task& t) { return "Task(name=" + t.name().value_or("None") + ")"; })
      .def("__str__", &Task::ToString);

  py::class_<Dag, std::shared_ptr<Dag>>(m, "Dag", "Tasks and the order between them.")
      .def(py::init<>())
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
           [](const Dag& d, const py::object& /*memo*/) {
             return std::make_shared<Dag>(DeepCopyDag(d));
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
