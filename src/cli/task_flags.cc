#include "cli/task_flags.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "common/strings.h"
#include "skycore/error.h"
#include "skycore/yaml.h"

namespace skycore::cli {
namespace {

bool LooksLikeYaml(const std::string& text) {
  return text.ends_with(".yaml") || text.ends_with(".yml");
}

bool IsNone(const std::string& value) { return strings::Lower(value) == "none"; }

// SkyPilot's "none" or "*" clears a part of the location (--cloud/...).
bool ClearsLocation(const std::string& value) { return IsNone(value) || value == "*"; }

// The flags that override one field of the resources, as (YAML key, value).
// "none" clears the field, as in SkyPilot.
std::vector<std::pair<std::string, std::string>> FieldOverrides(const TaskFlags& flags) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"accelerators", flags.gpus},   {"cpus", flags.cpus},
      {"memory", flags.memory},       {"instance_type", flags.instance_type},
      {"disk_size", flags.disk_size}, {"image_id", flags.image_id},
      {"disk_tier", flags.disk_tier}, {"network_tier", flags.network_tier},
  };
  std::erase_if(fields, [](const auto& field) { return field.second.empty(); });
  return fields;
}

// A case-insensitive choice (SkyPilot's click.Choice).
void CheckChoice(const std::string& flag, const std::string& value,
                 const std::vector<std::string>& choices) {
  if (value.empty()) return;
  if (std::find(choices.begin(), choices.end(), strings::Lower(value)) == choices.end()) {
    throw InvalidTaskError(
        fmt::format("{} '{}' is not one of {}.", flag, value, fmt::join(choices, ", ")));
  }
}

void CheckFlagValues(const TaskFlags& flags) {
  if (!flags.config_overrides.empty()) {
    throw InvalidTaskError(fmt::format(
        "--config {} is not supported by skycore yet: per-command config overrides are not "
        "applied. Put the setting in ~/.sky/config.yaml (config.yaml in $SKYCORE_STATE_DIR "
        "when that is set) instead.",
        flags.config_overrides[0]));
  }
  if (flags.async) {
    throw InvalidTaskError(
        "--async is not supported by skycore yet: the command runs in this process, not as a "
        "request to a server that could go on without it. Use -d/--detach-run to not wait for "
        "the job.");
  }
  if (!flags.git_url.empty() && !flags.workdir.empty()) {
    throw InvalidTaskError(
        fmt::format("--git-url {} cannot be given with --workdir {}: the workdir is either a git "
                    "repository or a local directory.",
                    flags.git_url, flags.workdir));
  }
  const bool legacy_location = !flags.cloud.empty() || !flags.region.empty() || !flags.zone.empty();
  if (legacy_location && !flags.infra.empty()) {
    std::vector<std::string> given;
    if (!flags.cloud.empty()) given.push_back(fmt::format("--cloud {}", flags.cloud));
    if (!flags.region.empty()) given.push_back(fmt::format("--region {}", flags.region));
    if (!flags.zone.empty()) given.push_back(fmt::format("--zone {}", flags.zone));
    throw InvalidTaskError(fmt::format(
        "--infra {} cannot be given with {}: give the whole location in --infra "
        "(cloud[/region[/zone]], e.g. aws/us-east-1/us-east-1a) and drop the deprecated "
        "--cloud/--region/--zone.",
        flags.infra, fmt::join(given, " and ")));
  }
  CheckChoice("--disk-tier", flags.disk_tier, {"low", "medium", "high", "ultra", "best", "none"});
  CheckChoice("--network-tier", flags.network_tier, {"standard", "best", "none"});
  if (flags.use_spot && flags.no_use_spot) {
    throw InvalidTaskError("--use-spot and --no-use-spot cannot both be given: pick one.");
  }
  const bool ports_none = std::any_of(flags.ports.begin(), flags.ports.end(), IsNone);
  if (ports_none && flags.ports.size() > 1) {
    throw InvalidTaskError(
        fmt::format("--ports none (no ports) cannot be given with other ports ({}): give "
                    "either 'none' or ports.",
                    fmt::join(flags.ports, ", ")));
  }
}

// Applies --gpus/--cpus/... to every alternative of the task's resources.
void ApplyResourceOverrides(Task& task, const TaskFlags& flags) {
  const auto fields = FieldOverrides(flags);
  const bool legacy_location = !flags.cloud.empty() || !flags.region.empty() || !flags.zone.empty();
  if (fields.empty() && flags.infra.empty() && !legacy_location && flags.ports.empty() &&
      !flags.use_spot && !flags.no_use_spot && flags.priority.empty()) {
    return;
  }
  std::vector<Resources> alternatives;
  for (const auto& resources : task.resources().alternatives()) {
    nlohmann::json config = ResourcesToConfig(resources);
    for (const auto& [key, value] : fields) {
      if (IsNone(value)) {
        config.erase(key);
      } else if (key == "disk_tier" || key == "network_tier") {
        config[key] = strings::Lower(value);
      } else {
        config[key] = value;
      }
    }
    if (!flags.infra.empty()) {
      config.erase("cloud");
      config.erase("region");
      config.erase("zone");
      config["infra"] = flags.infra;
    } else if (legacy_location) {
      // Each of --cloud/--region/--zone replaces its part of the location
      // and keeps the others, as SkyPilot's overrides of resources.cloud/...
      const ResourcesSpec& spec = resources.spec();
      std::string cloud = spec.cloud;
      std::string region = spec.region;
      std::string zone = spec.zone;
      if (!flags.cloud.empty()) cloud = ClearsLocation(flags.cloud) ? "" : flags.cloud;
      if (!flags.region.empty()) region = ClearsLocation(flags.region) ? "" : flags.region;
      if (!flags.zone.empty()) zone = ClearsLocation(flags.zone) ? "" : flags.zone;
      config.erase("infra");
      if (!cloud.empty()) config["cloud"] = cloud;
      if (!region.empty()) config["region"] = region;
      if (!zone.empty()) config["zone"] = zone;
    }
    if (!flags.ports.empty()) {
      if (IsNone(flags.ports[0])) {
        config.erase("ports");
      } else {
        config["ports"] = flags.ports;
      }
    }
    if (flags.use_spot) config["use_spot"] = true;
    if (flags.no_use_spot) config["use_spot"] = false;
    if (!flags.priority.empty()) {
      // Both are cleared first, so that the resources never carry the two.
      config.erase("priority");
      config.erase("priority_class");
      if (!IsNone(flags.priority)) {
        long long level = 0;
        if (strings::ParseInt(flags.priority, level)) {
          config["priority"] = level;
        } else {
          config["priority_class"] = flags.priority;
        }
      }
    }
    alternatives.push_back(LoadResourcesConfig(config));
  }
  task.set_resources(ResourcesSet(std::move(alternatives), task.resources().order()));
}

// --git-url makes the workdir that repository (at --git-ref); --git-ref alone
// changes the ref of a git workdir the YAML gives, as SkyPilot's.
void ApplyGitWorkdir(Task& task, const TaskFlags& flags) {
  if (flags.git_url.empty() && flags.git_ref.empty()) return;
  std::optional<Workdir> workdir = task.workdir();
  if (workdir && workdir->is_git()) {
    if (!flags.git_url.empty()) workdir->git_url = flags.git_url;
    if (!flags.git_ref.empty()) workdir->git_ref = flags.git_ref;
  } else if (!flags.git_url.empty()) {
    workdir = Workdir{"", flags.git_url, flags.git_ref};
  } else {
    return;  // --git-ref without a git workdir: nothing to change (SkyPilot ignores it too)
  }
  task.set_workdir(*workdir);
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
  command
      .add_option("--secret-file", flags.secret_files,
                  "dotenv file of secrets NAME=VALUE (--secret overrides them); never printed")
      ->allow_extra_args(false);
  command.add_option("--git-url", flags.git_url,
                     "Git repository cloned as the workdir (instead of --workdir)");
  command.add_option("--git-ref", flags.git_ref,
                     "Branch, tag or commit of the git workdir (--git-url or the YAML's)");
  command.add_option("--gpus", flags.gpus, "Accelerators, e.g. A100:8 (overrides the YAML's)");
  command.add_option("--cpus", flags.cpus, "vCPUs, e.g. 4 or 4+");
  command.add_option("--memory", flags.memory, "Memory in GiB, e.g. 32 or 32+");
  command.add_option("--infra", flags.infra,
                     "Where to run: aws, aws/us-east-1, k8s/ctx, local, ...");
  command.add_option("-t,--instance-type", flags.instance_type, "Instance type, e.g. p4d.24xlarge");
  command.add_option("--disk-size", flags.disk_size, "OS disk size in GB");
  command.add_option("--disk-tier", flags.disk_tier,
                     "OS disk tier: low, medium, high, ultra, best, or none");
  command.add_option("--network-tier", flags.network_tier, "Network tier: standard, best, or none");
  command
      .add_option("--ports", flags.ports,
                  "Ports to open: 8080, a range 8000-8010 or a list 8080,9090; repeatable; "
                  "overrides the YAML's (none: no ports)")
      ->allow_extra_args(false);
  // SkyPilot's deprecated, hidden location flags; --infra replaces them.
  command.add_option("--cloud", flags.cloud)->group("");
  command.add_option("--region", flags.region)->group("");
  command.add_option("--zone", flags.zone)->group("");
  command.add_option("--config", flags.config_overrides)->allow_extra_args(false)->group("");
  command.add_flag("--async,!--no-async", flags.async)->group("");
  command.add_option("--image-id", flags.image_id, "Image, e.g. docker:ubuntu:22.04");
  command.add_option("--num-nodes", flags.num_nodes, "Number of nodes")->check(CLI::PositiveNumber);
  command.add_flag("--use-spot", flags.use_spot, "Use spot instances");
  command.add_flag("--no-use-spot", flags.no_use_spot,
                   "Use on-demand instances (overrides the YAML's use_spot)");
}

std::optional<std::string> YamlEntrypoint(const TaskFlags& flags) {
  if (flags.entrypoint.size() == 1 && LooksLikeYaml(flags.entrypoint[0])) {
    return flags.entrypoint[0];
  }
  return std::nullopt;
}

Dag LoadEntrypoint(const TaskFlags& flags) {
  CheckFlagValues(flags);
  if (!flags.cloud.empty() || !flags.region.empty() || !flags.zone.empty()) {
    std::cerr << "sky: warning: --cloud, --region and --zone are deprecated; use --infra "
                 "cloud[/region[/zone]] instead.\n";
  }
  LoadOptions options;
  for (const auto& file : flags.env_files) {
    for (auto& kv : ParseEnvFile(file)) options.env_overrides.push_back(std::move(kv));
  }
  for (const auto& env : flags.envs) {
    options.env_overrides.push_back(ParseEnvAssignment(env, LookupEnv, "--env"));
  }
  for (const auto& file : flags.secret_files) {
    for (auto& kv : ParseEnvFile(file)) options.secret_overrides.push_back(std::move(kv));
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
    ApplyGitWorkdir(*task, flags);
    if (flags.num_nodes > 0) task->set_num_nodes(flags.num_nodes);
    ApplyResourceOverrides(*task, flags);
  }
  return dag;
}

}  // namespace skycore::cli
