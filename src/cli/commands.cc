#include "cli/commands.h"

#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "cli/catalog_commands.h"
#include "skycore/skycore.h"

namespace skycore::cli {
namespace {

struct LaunchFlags {
  std::vector<std::string> entrypoint;
  std::string cluster;
  std::string name;
  std::string workdir;
  std::vector<std::string> envs;
  std::vector<std::string> secrets;
  std::vector<std::string> env_files;
  std::string gpus;
  std::string cpus;
  std::string memory;
  std::string infra;
  std::string instance_type;
  std::string disk_size;
  std::string image_id;
  int num_nodes = 0;
  bool use_spot = false;
  bool dryrun = false;
  bool yes = false;
  bool detach_run = false;
};

std::optional<std::string> LookupEnv(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

bool LooksLikeYaml(const std::string& text) {
  return text.ends_with(".yaml") || text.ends_with(".yml");
}

// Applies --gpus/--cpus/... to every alternative of the task's resources.
void ApplyResourceOverrides(Task& task, const LaunchFlags& flags) {
  nlohmann::json overrides = nlohmann::json::object();
  if (!flags.gpus.empty()) overrides["accelerators"] = flags.gpus;
  if (!flags.cpus.empty()) overrides["cpus"] = flags.cpus;
  if (!flags.memory.empty()) overrides["memory"] = flags.memory;
  if (!flags.infra.empty()) overrides["infra"] = flags.infra;
  if (!flags.instance_type.empty()) overrides["instance_type"] = flags.instance_type;
  if (!flags.disk_size.empty()) overrides["disk_size"] = flags.disk_size;
  if (!flags.image_id.empty()) overrides["image_id"] = flags.image_id;
  if (flags.use_spot) overrides["use_spot"] = true;
  if (overrides.empty()) return;
  std::vector<Resources> alternatives;
  for (const auto& resources : task.resources().alternatives()) {
    nlohmann::json config = ResourcesToConfig(resources);
    if (overrides.contains("infra")) {
      config.erase("cloud");
      config.erase("region");
      config.erase("zone");
    }
    config.update(overrides);
    alternatives.push_back(LoadResourcesConfig(config));
  }
  task.set_resources(ResourcesSet(std::move(alternatives), task.resources().order()));
}

Dag LoadEntrypoint(const LaunchFlags& flags) {
  LoadOptions options;
  for (const auto& file : flags.env_files) {
    for (auto& kv : ParseEnvFile(file)) options.env_overrides.push_back(std::move(kv));
  }
  for (const auto& env : flags.envs) {
    options.env_overrides.push_back(ParseEnvAssignment(env, LookupEnv, "--env"));
  }
  for (const auto& secret : flags.secrets) {
    options.secret_overrides.push_back(ParseEnvAssignment(secret, LookupEnv, "--secret"));
  }
  Dag dag;
  if (flags.entrypoint.size() == 1 && LooksLikeYaml(flags.entrypoint[0])) {
    if (!std::filesystem::exists(flags.entrypoint[0])) {
      ErrorLocation location;
      location.file = flags.entrypoint[0];
      throw InvalidTaskError(fmt::format("task file '{}' does not exist.", flags.entrypoint[0]),
                             std::move(location));
    }
    dag = LoadDagYamlFile(flags.entrypoint[0], options);
  } else {
    std::string command;
    for (const auto& part : flags.entrypoint) command += (command.empty() ? "" : " ") + part;
    auto task = std::make_shared<Task>();
    if (!command.empty()) task->set_run(command);
    task->update_envs(options.env_overrides);
    task->update_secrets(options.secret_overrides);
    dag.add(task);
  }
  for (const auto& task : dag.tasks()) {
    if (!flags.name.empty() && dag.size() == 1) task->set_name(flags.name);
    if (!flags.workdir.empty()) task->set_workdir(Workdir{flags.workdir, "", ""});
    if (flags.num_nodes > 0) task->set_num_nodes(flags.num_nodes);
    ApplyResourceOverrides(*task, flags);
  }
  return dag;
}

void PrintPlan(const Dag& dag, const std::string& source) {
  if (!source.empty()) fmt::print("Task from {}\n", source);
  for (size_t index : dag.topological_order()) {
    const Task& task = *dag.tasks()[index];
    fmt::print("Task '{}': {} node{}\n", task.name().value_or("<unnamed>"), task.num_nodes(),
               task.num_nodes() == 1 ? "" : "s");
    const auto& set = task.resources();
    for (size_t i = 0; i < set.size(); ++i) {
      fmt::print(
          "  {} {}\n",
          set.size() == 1 ? "resources:" : (set.is_ordered() ? fmt::format("{}.", i + 1) : "-"),
          set.alternatives()[i].ToString());
    }
    if (task.workdir()) {
      fmt::print("  workdir: {}\n",
                 task.workdir()->is_git() ? task.workdir()->git_url : task.workdir()->path);
    }
    for (const auto& [k, v] : task.envs()) fmt::print("  env {}={}\n", k, v);
    for (const auto& [k, v] : task.secrets()) fmt::print("  secret {}=<redacted>\n", k);
    if (task.setup()) {
      const std::string& setup = *task.setup();
      const auto lines =
          std::count(setup.begin(), setup.end(), '\n') + (setup.ends_with('\n') ? 0 : 1);
      fmt::print("  setup: {} line{}\n", lines, lines == 1 ? "" : "s");
    }
    if (task.run()) fmt::print("  run: {}\n", task.run()->substr(0, task.run()->find('\n')));
  }
}

int Launch(const LaunchFlags& flags) {
  Dag dag = LoadEntrypoint(flags);
  const std::string source = flags.entrypoint.size() == 1 && LooksLikeYaml(flags.entrypoint[0])
                                 ? flags.entrypoint[0]
                                 : std::string();
  PrintPlan(dag, source);
  if (flags.dryrun) {
    PrintOptimizerTable(dag);
    fmt::print("Dry run finished: the task is valid; nothing was launched.\n");
    return 0;
  }
  throw NotSupportedError(
      "launching is not available in this build yet: no infra is registered. Use --dryrun to "
      "validate the task.");
}

int ReportError(const Error& e) {
  std::cerr << "sky: error: " << e.what() << "\n";
  return e.code() == ErrorCode::kInvalidTask || e.code() == ErrorCode::kInvalidConfig ? 2 : 1;
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"sky: run AI and batch jobs on any infra, and pick the cheapest place that fits.",
               "sky"};
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", std::string("skycore ") + Version());
  app.footer("Run 'sky COMMAND --help' for a command's options.");

  LaunchFlags flags;
  CLI::App* launch =
      app.add_subcommand("launch", "Launch a task (a task YAML or a shell command) on a cluster.");
  launch->add_option("entrypoint", flags.entrypoint, "Task YAML file, or a command to run")
      ->expected(0, -1);
  launch->add_option("-c,--cluster", flags.cluster, "Cluster name (new or existing)");
  launch->add_option("-n,--name", flags.name, "Task name (overrides the YAML's)");
  launch->add_option("--workdir", flags.workdir, "Local directory synced to the cluster");
  launch
      ->add_option("--env", flags.envs,
                   "Environment variable NAME=VALUE (or NAME to take it from your "
                   "environment); overrides the YAML's envs")
      ->allow_extra_args(false);
  launch->add_option("--secret", flags.secrets, "Secret NAME=VALUE (or NAME); never printed")
      ->allow_extra_args(false);
  launch->add_option("--env-file", flags.env_files, "dotenv file of NAME=VALUE lines")
      ->allow_extra_args(false);
  launch->add_option("--gpus", flags.gpus, "Accelerators, e.g. A100:8 (overrides the YAML's)");
  launch->add_option("--cpus", flags.cpus, "vCPUs, e.g. 4 or 4+");
  launch->add_option("--memory", flags.memory, "Memory in GiB, e.g. 32 or 32+");
  launch->add_option("--infra", flags.infra,
                     "Where to run: aws, aws/us-east-1, k8s/ctx, local, ...");
  launch->add_option("-t,--instance-type", flags.instance_type, "Instance type, e.g. p4d.24xlarge");
  launch->add_option("--disk-size", flags.disk_size, "OS disk size in GB");
  launch->add_option("--image-id", flags.image_id, "Image, e.g. docker:ubuntu:22.04");
  launch->add_option("--num-nodes", flags.num_nodes, "Number of nodes")->check(CLI::PositiveNumber);
  launch->add_flag("--use-spot", flags.use_spot, "Use spot instances");
  launch->add_flag("--dryrun", flags.dryrun, "Validate and plan, but launch nothing");
  launch->add_flag("-y,--yes", flags.yes, "Do not ask for confirmation");
  launch->add_flag("-d,--detach-run", flags.detach_run, "Return once the job is submitted");

  auto run_catalog_command = AddCatalogCommands(app);

  // Words after `--` are a command to run (`sky launch -- python train.py`);
  // split them off before flag parsing so they are never read as flags.
  std::vector<std::string> command_words;
  int flag_argc = argc;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--") {
      flag_argc = i;
      command_words.assign(argv + i + 1, argv + argc);
      break;
    }
  }
  try {
    app.parse(flag_argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;  // usage errors exit 2, as SkyPilot's CLI does
  }
  try {
    if (launch->parsed()) {
      flags.entrypoint.insert(flags.entrypoint.end(), command_words.begin(), command_words.end());
      return Launch(flags);
    }
    if (auto code = run_catalog_command()) return *code;
    std::cout << app.help();
    return 0;
  } catch (const Error& e) {
    return ReportError(e);
  } catch (const std::exception& e) {
    std::cerr << "sky: internal error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace skycore::cli
