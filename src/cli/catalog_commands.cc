#include "cli/catalog_commands.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>

#include "cli/terminal.h"
#include "common/strings.h"
#include "infra/infra.h"
#include "infra/local/machine.h"
#include "skycore/catalog.h"
#include "skycore/error.h"
#include "skycore/optimizer.h"
#include "skycore/sdk.h"
#include "skycore/yaml.h"

namespace skycore::cli {
namespace {

std::optional<std::string> LookupEnv(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

bool FancyOutput() { return ::isatty(1) != 0 && std::getenv("CI") == nullptr; }

// What the infras read: the configuration and this machine.
infra::BackendContext InfraContext() {
  infra::BackendContext context;
  context.options = SkyOptions::FromEnvironment(LookupEnv);
  // Discovered on first use only (not every command needs this machine's rows).
  auto machine = std::make_shared<std::optional<backend::LocalMachine>>();
  context.machine = [machine]() -> const backend::LocalMachine& {
    if (!*machine) *machine = backend::DiscoverLocalMachine(LookupEnv);
    return **machine;
  };
  return context;
}

Catalog LoadCatalog() {
  std::vector<CatalogIssue> issues;
  Catalog catalog = Catalog::Load(CatalogPaths::FromEnvironment(LookupEnv), &issues);
  if (!issues.empty()) {
    std::cerr << fmt::format("sky: warning: {} catalog problem(s) skipped; first: {}\n",
                             issues.size(), issues.front().ToString());
  }
  // Each infra's rows as this machine last found them: this machine itself,
  // and SSH pools, Kubernetes contexts and Slurm clusters as the last
  // `sky check` cached them.
  catalog = infra::WithCachedOfferings(std::move(catalog), InfraContext());
  if (catalog.num_rows() == 0) {
    throw ResourcesUnavailableError(
        "no catalog found: set SKYCORE_CATALOG_DIR to a directory of <infra>.csv files or run "
        "'sky catalog refresh'.");
  }
  return catalog;
}

std::string Price(const std::optional<double>& price) {
  return price ? fmt::format("$ {:.3f}", *price) : std::string("-");
}

// SkyPilot's per-GPU table: one row per offering; `with_region` adds where
// (the all-GPU listing leaves it out, as SkyPilot's does).
std::string DetailTable(const std::vector<AcceleratorOffering>& offerings, bool with_region) {
  std::vector<std::vector<std::string>> rows = {{"GPU", "QTY", "INFRA", "INSTANCE_TYPE",
                                                 "DEVICE_MEM", "vCPUs", "HOST_MEM", "HOURLY_PRICE",
                                                 "HOURLY_SPOT_PRICE"}};
  if (with_region) rows[0].push_back("REGION");
  for (const auto& o : offerings) {
    rows.push_back({o.accelerator_name, strings::FormatNumber(o.accelerator_count), o.infra,
                    o.instance_type.empty() ? "(attachable)" : o.instance_type,
                    o.device_memory_gib ? fmt::format("{}GB", std::round(*o.device_memory_gib))
                                        : std::string("-"),
                    o.vcpus > 0 ? strings::FormatNumber(o.vcpus) : std::string("-"),
                    o.memory_gib > 0 ? fmt::format("{}GB", strings::FormatNumber(o.memory_gib))
                                     : std::string("-"),
                    Price(o.price), Price(o.spot_price)});
    if (with_region) rows.back().push_back(o.region);
  }
  return FormatTable(rows);
}

struct ShowGpusFlags {
  std::string accelerator;
  std::string infra;
  bool all = false;
  bool all_regions = false;
  bool refresh = false;
};

int ShowGpus(const ShowGpusFlags& flags) {
  const infra::Infra* named = nullptr;
  std::vector<std::string> path;
  if (!flags.infra.empty()) {
    path = strings::Split(flags.infra, '/');
    named = infra::FindInfra(path[0]);
    path.erase(path.begin());
  }
  if (flags.accelerator.empty() && named != nullptr) {
    // Infras whose GPUs are asked of the infra itself (Kubernetes, Slurm).
    infra::ShowGpusRequest request;
    request.path = path;
    request.refresh = flags.refresh;
    request.now = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    if (auto code = named->ShowGpus(request, InfraContext())) return *code;
  }
  Catalog catalog = LoadCatalog();
  AcceleratorQuery query;
  query.all_regions = flags.all_regions;
  if (!flags.infra.empty()) {
    query.infras = {named != nullptr
                        ? named->name()
                        : strings::Lower(flags.infra.substr(0, flags.infra.find('/')))};
    if (!path.empty()) query.region = path[0];
  }
  if (flags.accelerator.empty()) {
    // Names and the counts on offer.
    const auto offerings = catalog.ListAccelerators(query);
    std::map<std::string, std::vector<double>> counts;
    for (const auto& offering : offerings) {
      auto& list = counts[offering.accelerator_name];
      if (std::find(list.begin(), list.end(), offering.accelerator_count) == list.end()) {
        list.push_back(offering.accelerator_count);
      }
    }
    std::vector<std::vector<std::string>> rows = {{"GPU", "AVAILABLE_QUANTITIES"}};
    for (auto& [name, list] : counts) {
      std::sort(list.begin(), list.end());
      std::vector<std::string> texts;
      for (double count : list) texts.push_back(strings::FormatNumber(count));
      rows.push_back({name, fmt::format("{}", fmt::join(texts, ", "))});
    }
    std::cout << FormatTable(rows);
    if (named != nullptr) named->ShowGpusDetail(query.region, InfraContext());
    if (!flags.all) {
      std::cout << "\nHint: append a GPU name (e.g. 'sky show-gpus A100') for instance types and "
                   "prices, or use -a/--all to see them for every GPU.\n";
      return 0;
    }
    // Then every GPU's offerings, a table each, in name order.
    std::map<std::string, std::vector<AcceleratorOffering>> by_name;
    for (const auto& offering : offerings) by_name[offering.accelerator_name].push_back(offering);
    for (const auto& [gpu, list] : by_name) {
      std::cout << "\n" << DetailTable(list, /*with_region=*/false);
    }
    return 0;
  }
  std::string name = flags.accelerator;
  if (auto colon = name.find(':'); colon != std::string::npos) {
    double count = 0;
    if (!strings::ParseDouble(name.substr(colon + 1), count) || count <= 0) {
      throw InvalidTaskError(fmt::format("invalid accelerator count in '{}'.", name));
    }
    query.count = count;
    name = name.substr(0, colon);
  }
  query.name_filter = name;
  auto offerings = catalog.ListAccelerators(query);
  if (offerings.empty()) {
    auto matches = strings::CloseMatches(name, catalog.AcceleratorNames());
    throw ResourcesUnavailableError(
        fmt::format("no accelerator matching '{}' in the catalog{}.", flags.accelerator,
                    flags.infra.empty() ? "" : " for " + flags.infra),
        {}, std::move(matches));
  }
  std::cout << DetailTable(offerings, /*with_region=*/true);
  return 0;
}

struct OptimizeFlags {
  std::string yaml;
  bool minimize_time = false;
};

void PrintPlanTable(const Dag& dag, const Catalog& catalog, OptimizeTarget target) {
  OptimizeOptions options;
  options.target = target;
  Plan plan = Optimize(dag, catalog, options);
  std::cout << FormatOptimizerTable(dag, plan, FancyOutput());
  std::cout << fmt::format("Estimated cost: ${:.2f} / hour", plan.total_cost());
  if (plan.egress_cost > 0)
    std::cout << fmt::format(" (of which egress ${:.2f})", plan.egress_cost);
  std::cout << "\n";
}

int OptimizeCommand(const OptimizeFlags& flags) {
  Dag dag = LoadDagYamlFile(flags.yaml);
  PrintPlanTable(dag, LoadCatalog(),
                 flags.minimize_time ? OptimizeTarget::kTime : OptimizeTarget::kCost);
  return 0;
}

struct RefreshFlags {
  std::string url;
  std::vector<std::string> infras;
};

int RefreshCommand(const RefreshFlags& flags) {
  RefreshOptions options;
  if (!flags.url.empty()) options.base_url = flags.url;
  if (!flags.infras.empty()) options.infras = flags.infras;
  options.state_dir = CatalogPaths::FromEnvironment(LookupEnv).state_dir;
  if (options.state_dir.empty()) {
    throw IoError("no state directory: set HOME or SKYCORE_STATE_DIR.");
  }
  int failures = 0;
  for (const auto& result : RefreshCatalogs(options)) {
    const char* status = result.status == RefreshResult::Status::kUpdated       ? "updated"
                         : result.status == RefreshResult::Status::kNotModified ? "up to date"
                                                                                : "FAILED";
    std::cout << fmt::format("{:<10} {:<10} {}\n", result.infra, status, result.message);
    if (result.status == RefreshResult::Status::kFailed) ++failures;
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

void PrintOptimizerTable(const Dag& dag) {
  PrintPlanTable(dag, LoadCatalog(), OptimizeTarget::kCost);
}

std::function<std::optional<int>()> AddCatalogCommands(CLI::App& app) {
  auto show_flags = std::make_shared<ShowGpusFlags>();
  auto add_show_options = [&](CLI::App* command) {
    command->add_option("accelerator", show_flags->accelerator, "GPU name, optionally NAME:COUNT");
    command->add_option("--infra,--cloud", show_flags->infra,
                        "Only this infra (aws, gcp/us-central1, ...)");
    command->add_flag("-a,--all", show_flags->all, "List every accelerator");
    command->add_flag("--all-regions", show_flags->all_regions, "One line per region");
    command->add_flag("-r,--refresh", show_flags->refresh,
                      "Kubernetes: list the nodes again rather than reuse the last minute's list");
  };
  CLI::App* show = app.add_subcommand("show-gpus", "List accelerators, instance types and prices.");
  add_show_options(show);
  // SkyPilot's newer name: `sky gpus list` (`sky show-gpus` is deprecated there).
  CLI::App* gpus = app.add_subcommand("gpus", "Accelerators: `sky gpus list` (as show-gpus).");
  gpus->require_subcommand(0, 1);
  CLI::App* gpus_list =
      gpus->add_subcommand("list", "List accelerators, instance types and prices.");
  add_show_options(gpus_list);

  auto optimize_flags = std::make_shared<OptimizeFlags>();
  CLI::App* optimize = app.add_subcommand("optimize", "Show where a task YAML would run, and why.");
  optimize->add_option("yaml", optimize_flags->yaml, "Task YAML file")->required();
  optimize->add_flag("--minimize-time", optimize_flags->minimize_time,
                     "Minimize estimated time instead of cost");

  auto refresh_flags = std::make_shared<RefreshFlags>();
  CLI::App* catalog = app.add_subcommand("catalog", "Manage the instance catalog.");
  catalog->require_subcommand(1);
  CLI::App* refresh = catalog->add_subcommand(
      "refresh", "Download current catalogs into $SKYCORE_STATE_DIR (default ~/.sky)/catalogs.");
  refresh->add_option("--url", refresh_flags->url, "Base URL serving <infra>/vms.csv");
  refresh->add_option("--infra", refresh_flags->infras, "Only these infras");

  return [=]() -> std::optional<int> {
    if (show->parsed() || gpus_list->parsed()) return ShowGpus(*show_flags);
    if (gpus->parsed()) {
      std::cout << gpus->help("sky");
      return 0;
    }
    if (optimize->parsed()) return OptimizeCommand(*optimize_flags);
    if (refresh->parsed()) return RefreshCommand(*refresh_flags);
    return std::nullopt;
  };
}

}  // namespace skycore::cli
