#include "cli/task_flags.h"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>

#include "skycore/error.h"
#include "skycore/yaml.h"

namespace skycore::cli {
namespace {

bool LooksLikeYaml(const std::string& text) {
  return text.ends_with(".yaml") || text.ends_with(".yml");
}

// Applies --gpus/--cpus/... to every alternative of the task's resources.
void ApplyResourceOverrides(Task& task, const TaskFlags& flags) {
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

}  // namespace

std::optional<std::string> LookupEnv(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

std::string JoinWords(const std::vector<std::string>& words) {
  return fmt::format("{}", fmt::join(words, " "));
}

void AddTaskOptions(CLI::App& command, TaskFlags& flags) {
  command.add_option("-n,--name", flags.name, "Task name (overrides the YAML's)");
  command.add_option("--workdir", flags.workdir, "Local directory synced to the cluster");
  command
      .add_option("--env", flags.envs,
                  "Environment variable NAME=VALUE (or NAME to take it from your "
                  "environment); overrides the YAML's envs")
      ->allow_extra_args(false);
  command.add_option("--secret", flags.secrets, "Secret NAME=VALUE (or NAME); never printed")
      ->allow_extra_args(false);
  command.add_option("--env-file", flags.env_files, "dotenv file of NAME=VALUE lines")
      ->allow_extra_args(false);
  command.add_option("--gpus", flags.gpus, "Accelerators, e.g. A100:8 (overrides the YAML's)");
  command.add_option("--cpus", flags.cpus, "vCPUs, e.g. 4 or 4+");
  command.add_option("--memory", flags.memory, "Memory in GiB, e.g. 32 or 32+");
  command.add_option("--infra", flags.infra,
                     "Where to run: aws, aws/us-east-1, k8s/ctx, local, ...");
  command.add_option("-t,--instance-type", flags.instance_type, "Instance type, e.g. p4d.24xlarge");
  command.add_option("--disk-size", flags.disk_size, "OS disk size in GB");
  command.add_option("--image-id", flags.image_id, "Image, e.g. docker:ubuntu:22.04");
  command.add_option("--num-nodes", flags.num_nodes, "Number of nodes")->check(CLI::PositiveNumber);
  command.add_flag("--use-spot", flags.use_spot, "Use spot instances");
}

std::optional<std::string> YamlEntrypoint(const TaskFlags& flags) {
  if (flags.entrypoint.size() == 1 && LooksLikeYaml(flags.entrypoint[0])) {
    return flags.entrypoint[0];
  }
  return std::nullopt;
}

Dag LoadEntrypoint(const TaskFlags& flags) {
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
  if (auto yaml = YamlEntrypoint(flags)) {
    if (!std::filesystem::exists(*yaml)) {
      ErrorLocation location;
      location.file = *yaml;
      throw InvalidTaskError(fmt::format("task file '{}' does not exist.", *yaml),
                             std::move(location));
    }
    dag = LoadDagYamlFile(*yaml, options);
  } else {
    const std::string command = JoinWords(flags.entrypoint);
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

}  // namespace skycore::cli
