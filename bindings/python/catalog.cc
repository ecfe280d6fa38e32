// sky.optimize, sky.list_accelerators and sky.OptimizeTarget.
//
// Loading a large catalog takes tens of milliseconds even from its binary
// cache, so the module owns one explicit CatalogContext that keeps the loaded
// catalog and reloads it when any catalog file changes (size or mtime).
#include "skycore/catalog.h"

#include <fmt/format.h>
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "bindings.h"
#include "skycore/optimizer.h"

namespace skycore::python {
namespace {

CatalogPaths PathsFromEnvironment() {
  return CatalogPaths::FromEnvironment([](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  });
}

// The loaded catalog and the fingerprint of the files it came from.
class CatalogContext {
 public:
  Catalog Get() {
    CatalogPaths paths = PathsFromEnvironment();
    std::string fingerprint = Fingerprint(paths);
    std::lock_guard<std::mutex> lock(mutex_);
    if (!loaded_ || fingerprint != fingerprint_) {
      catalog_ = Catalog::Load(paths);
      fingerprint_ = std::move(fingerprint);
      loaded_ = true;
    }
    return catalog_;  // cheap: the tables are shared and immutable
  }

 private:
  static std::string Fingerprint(const CatalogPaths& paths) {
    namespace fs = std::filesystem;
    std::string out;
    std::vector<fs::path> dirs = paths.builtin_dirs;
    if (!paths.state_dir.empty()) dirs.push_back(paths.state_dir / "catalogs");
    for (const auto& dir : dirs) {
      out += dir.string() + ";";
      std::error_code error;
      for (fs::recursive_directory_iterator it(dir, error), end; !error && it != end;
           it.increment(error)) {
        if (it->path().extension() != ".csv") continue;
        std::error_code stat_error;
        auto size = fs::file_size(it->path(), stat_error);
        auto mtime = fs::last_write_time(it->path(), stat_error);
        out += it->path().string() + ":" + std::to_string(size) + ":" +
               std::to_string(mtime.time_since_epoch().count()) + ";";
      }
    }
    return out;
  }

  std::mutex mutex_;
  bool loaded_ = false;
  std::string fingerprint_;
  Catalog catalog_;
};

py::dict CandidateToDict(const Candidate& c) {
  py::dict out;
  out["infra"] = c.InfraString();
  out["cloud"] = c.infra;
  out["region"] = c.region;
  out["zone"] = c.zone.empty() ? py::object(py::none()) : py::object(py::str(c.zone));
  out["instance_type"] = c.instance_type;
  out["accelerators"] =
      c.accelerator_name.empty()
          ? py::object(py::none())
          : py::object(py::dict(py::arg(c.accelerator_name.c_str()) = c.accelerator_count));
  out["vcpus"] = c.vcpus;
  out["memory_gb"] = c.memory_gib;
  out["use_spot"] = c.use_spot;
  out["hourly_price"] = c.hourly_price;
  out["estimated_hours"] = c.hours;
  out["cost"] = c.cost;
  return out;
}

std::shared_ptr<Dag> AsDag(const py::object& dag_or_task) {
  if (py::isinstance<Dag>(dag_or_task)) return dag_or_task.cast<std::shared_ptr<Dag>>();
  if (py::isinstance<Task>(dag_or_task)) {
    auto dag = std::make_shared<Dag>();
    dag->add(dag_or_task.cast<std::shared_ptr<Task>>());
    return dag;
  }
  throw py::type_error("optimize() takes a sky.Dag or a sky.Task");
}

}  // namespace

void BindCatalog(py::module_& m) {
  py::enum_<OptimizeTarget>(m, "OptimizeTarget", "What the optimizer minimizes.")
      .value("COST", OptimizeTarget::kCost)
      .value("TIME", OptimizeTarget::kTime);

  py::class_<CatalogContext>(m, "CatalogContext",
                             "Keeps the loaded catalog between calls; reloads on file changes.")
      .def(py::init<>());
  // Owned by the module (one per interpreter); the functions below use it.
  auto* context = new CatalogContext();
  m.attr("_catalog_context") = py::cast(context, py::return_value_policy::take_ownership);

  // Resources.get_cost lives here, beside the catalog it prices from.
  py::class_<Resources> resources = m.attr("Resources");
  resources.def(
      "get_cost",
      [context](const Resources& r, double seconds) {
        if (r.cloud().empty() || r.instance_type().empty()) {
          throw py::value_error(
              "Resources.get_cost needs a cloud and an instance type (is_launchable())");
        }
        std::optional<double> hourly;
        {
          py::gil_scoped_release release;
          Catalog catalog = context->Get();
          // Without a region, the cheapest region that offers it, as SkyPilot prices it.
          std::vector<std::string> regions = {r.region()};
          if (r.region().empty()) regions = catalog.Regions(r.cloud());
          for (const auto& region : regions) {
            auto price =
                catalog.HourlyPrice(r.cloud(), r.instance_type(), region, r.zone(), r.use_spot());
            if (price && (!hourly || *price < *hourly)) hourly = price;
          }
        }
        if (!hourly) {
          const std::string where = r.region().empty() ? "" : fmt::format(" in {}", r.region());
          throw py::value_error(fmt::format("no {}price for {}{} in the {} catalog",
                                            r.use_spot() ? "spot " : "", r.instance_type(), where,
                                            r.cloud()));
        }
        return *hourly * seconds / 3600.0;
      },
      py::arg("seconds"), "The cost in USD of running for `seconds`, from the catalog's prices.");

  m.def(
      "optimize",
      [context](const py::object& dag_or_task, OptimizeTarget minimize,
                const py::object& blocked_resources,
                const std::vector<std::string>& enabled_infras) {
        std::shared_ptr<Dag> dag = AsDag(dag_or_task);
        OptimizeOptions options;
        options.target = minimize;
        options.enabled_infras = enabled_infras;
        if (!blocked_resources.is_none()) {
          for (auto item : blocked_resources) options.blocked.push_back(item.cast<Resources>());
        }
        Plan plan;
        std::string table;
        {
          py::gil_scoped_release release;
          Catalog catalog = context->Get();
          plan = Optimize(*dag, catalog, options);
          table = FormatOptimizerTable(*dag, plan, false);
        }
        py::list tasks;
        for (const auto& task_plan : plan.tasks) {
          py::dict entry;
          const auto& task = dag->tasks()[task_plan.task_index];
          entry["task"] = task->name();
          entry["num_nodes"] = task->num_nodes();
          entry["chosen"] = CandidateToDict(task_plan.chosen);
          py::list failover;
          for (const auto& c : task_plan.failover) failover.append(CandidateToDict(c));
          entry["failover"] = failover;
          entry["egress_cost_in"] = task_plan.egress_cost_in;
          tasks.append(entry);
          // As SkyPilot's optimizer does: the choice is also recorded on the Task.
          py::cast(task).attr("best_resources") = task_plan.chosen.ToResources(*task);
        }
        py::dict out;
        out["minimize"] = minimize == OptimizeTarget::kCost ? "COST" : "TIME";
        out["tasks"] = tasks;
        out["compute_cost"] = plan.compute_cost;
        out["egress_cost"] = plan.egress_cost;
        out["total_cost"] = plan.total_cost();
        out["table"] = table;
        return out;
      },
      py::arg("dag"), py::arg("minimize") = OptimizeTarget::kCost,
      py::arg("blocked_resources") = py::none(),
      py::arg("enabled_infras") = std::vector<std::string>{},
      "Chooses where each task of `dag` runs. Returns a dict: per task the chosen "
      "placement and the ordered failover candidates, the total estimated cost, and the "
      "optimizer table as `sky launch --dryrun` prints it.");

  m.def(
      "list_accelerators",
      [context](bool gpus_only, const std::optional<std::string>& name_filter,
                const std::optional<std::string>& region_filter,
                const std::optional<double>& quantity_filter,
                const std::vector<std::string>& clouds, bool all_regions) {
        AcceleratorQuery query;
        query.name_filter = name_filter.value_or("");
        query.region = region_filter.value_or("");
        query.count = quantity_filter;
        query.infras = clouds;
        query.all_regions = all_regions;
        query.include_cpu_only = !gpus_only;
        std::vector<AcceleratorOffering> offerings;
        {
          py::gil_scoped_release release;
          offerings = context->Get().ListAccelerators(query);
        }
        py::dict out;
        for (const auto& o : offerings) {
          py::str key(o.accelerator_name);
          if (!out.contains(key)) out[key] = py::list();
          py::dict row;
          row["accelerator_name"] = o.accelerator_name;
          row["accelerator_count"] = o.accelerator_count;
          row["cloud"] = o.infra;
          row["instance_type"] = o.instance_type;
          row["cpu_count"] = o.vcpus;
          row["memory"] = o.memory_gib;
          row["device_memory"] = o.device_memory_gib;
          row["price"] = o.price;
          row["spot_price"] = o.spot_price;
          row["region"] = o.region;
          out[key].cast<py::list>().append(row);
        }
        return out;
      },
      py::arg("gpus_only") = true, py::arg("name_filter") = py::none(),
      py::arg("region_filter") = py::none(), py::arg("quantity_filter") = py::none(),
      py::arg("clouds") = std::vector<std::string>{}, py::arg("all_regions") = false,
      "Accelerator offerings from the catalogs: {name: [offering dict, ...]}, as "
      "`sky show-gpus` lists them.");
}

}  // namespace skycore::python
