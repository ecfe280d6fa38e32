// The task flags shared by `sky launch` and `sky exec` (entrypoint, --env,
// --gpus, ...) and how they turn into a Dag, as SkyPilot's CLI does.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "skycore/dag.h"

namespace skycore::cli {

struct TaskFlags {
  std::vector<std::string> entrypoint;  // a task YAML, or the words of a command
  std::string name;
  std::string workdir;
  std::vector<std::string> envs;
  std::vector<std::string> secrets;
  std::vector<std::string> env_files;
  std::vector<std::string> secret_files;  // dotenv files of secrets; --secret wins
  // A git repository as the workdir (SkyPilot's workdir {url, ref}); --git-ref
  // alone changes the ref of a YAML's git workdir.
  std::string git_url;
  std::string git_ref;
  std::string gpus;
  std::string cpus;
  std::string memory;
  std::string infra;
  // SkyPilot's hidden, deprecated --cloud/--region/--zone: each overrides one
  // part of the infra ("none" or "*" clears it); none may be given with --infra.
  std::string cloud;
  std::string region;
  std::string zone;
  std::string instance_type;
  std::string disk_size;
  std::string disk_tier;
  std::string network_tier;
  std::vector<std::string> ports;  // each a port, a range or a comma-separated list
  std::string image_id;
  // launch only: an integer sets resources.priority, a name resources.priority_class;
  // "none" clears both (SkyPilot's --priority).
  std::string priority;
  int num_nodes = 0;
  bool use_spot = false;
  bool no_use_spot = false;
  // SkyPilot's --config and --async, which skycore cannot honour yet: given,
  // they are an error saying so (--no-async, the way skycore works, is fine).
  std::vector<std::string> config_overrides;
  bool async = false;  // --no-use-spot: on-demand even where the YAML asks for spot
};

// Adds the entrypoint-independent task options (-n, --workdir, --env,
// --secret, --env-file, --gpus, --cpus, ..., --ports, --use-spot) to `command`.
void AddTaskOptions(CLI::App& command, TaskFlags& flags);

// The environment of this process, for NAME-only --env/--secret.
std::optional<std::string> LookupEnv(const std::string& name);

// The entrypoint as a task YAML path when it is one ("x.yaml"/"x.yml").
std::optional<std::string> YamlEntrypoint(const TaskFlags& flags);

// Loads the YAML (or makes a task of the command words) and applies the
// overrides. InvalidTaskError for a missing file or a bad value.
Dag LoadEntrypoint(const TaskFlags& flags);

// The words of the entrypoint joined with spaces ("sky exec c echo hi").
std::string JoinWords(const std::vector<std::string>& words);

}  // namespace skycore::cli
