// skycore/yaml.h — SkyPilot task YAML in and out.
//
// The loader accepts every valid SkyPilot task YAML and rejects invalid ones
// with an InvalidTaskError that names the file, line:column, the field path,
// what was found, what is valid and close matches for misspelt names. It
// never crashes on arbitrary bytes.
//
// Env handling follows SkyPilot: overrides (`--env`, `--secret`) replace values
// from the YAML; every env or secret must end up with a value (a YAML `null`
// means "must be given at launch"); `${VAR}` / `$VAR` in `workdir`,
// `file_mounts` and `volumes` is replaced with the task's env values.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "skycore/dag.h"
#include "skycore/task.h"

namespace skycore {

struct LoadOptions {
  EnvVars env_overrides;     // --env / --env-file
  EnvVars secret_overrides;  // --secret
  std::string filename;      // shown in error messages; empty for in-memory configs
};

// Loads one task from YAML text holding a single document.
Task LoadTaskYaml(std::string_view yaml_text, const LoadOptions& options = {});
// Reads and loads a file; the filename in errors is `path` as given.
Task LoadTaskYamlFile(const std::string& path, LoadOptions options = {});
// Loads a task from an already-parsed config (the Python SDK's from_yaml_config).
Task LoadTaskConfig(const nlohmann::json& config, const LoadOptions& options = {});

// Loads a Dag: one document gives a one-task Dag; several documents a chain.
// A first document holding only `name:` names the Dag (SkyPilot's pipeline form).
Dag LoadDagYaml(std::string_view yaml_text, const LoadOptions& options = {});
Dag LoadDagYamlFile(const std::string& path, LoadOptions options = {});

// The SDK's `sky.Resources(**fields)`: one resources mapping, no alternatives.
Resources LoadResourcesConfig(const nlohmann::json& config);
// A task's whole `resources:` value, alternatives included.
ResourcesSet LoadResourcesSetConfig(const nlohmann::json& config);
nlohmann::ordered_json ResourcesToConfig(const Resources& resources);

struct DumpOptions {
  bool redact_secrets = true;  // print secrets as "<redacted>"
};
// The task as a config object / YAML text in SkyPilot's layout; loading the
// text again (with secrets not redacted) gives an equal Task.
nlohmann::ordered_json TaskToConfig(const Task& task, const DumpOptions& options = {});
std::string DumpTaskYaml(const Task& task, const DumpOptions& options = {});
std::string DumpDagYaml(const Dag& dag, const DumpOptions& options = {});

// `--env NAME=VALUE` or `--env NAME` (value taken from `lookup`, normally the
// caller's environment). Throws InvalidTaskError for a bad name or a missing value.
std::pair<std::string, std::string> ParseEnvAssignment(
    std::string_view text,
    const std::function<std::optional<std::string>(const std::string&)>& lookup,
    std::string_view flag = "--env");
// A dotenv file: NAME=VALUE lines, `#` comments, optional `export `, quotes.
EnvVars ParseEnvFile(const std::string& path);

}  // namespace skycore
