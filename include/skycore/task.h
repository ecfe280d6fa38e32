// skycore/task.h — a unit of work: what to run, with what, on which resources.
//
// A Task mirrors a SkyPilot task YAML document. It is a mutable object (like
// SkyPilot's `sky.Task`) whose setters validate their input and throw
// InvalidTaskError. Sections that skycore passes through without interpreting
// yet (service, config, storage mounts) are held as validated JSON values.
//
// Secrets are kept apart from envs and are redacted in every printed form
// (ToString(), DumpTaskYaml() by default); a secret still without a value is
// printed as such (null in a dump, as SkyPilot writes it).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "skycore/resources.h"

namespace skycore {

// Ordered name -> value pairs (envs, secrets keep the order they were given in).
using EnvVars = std::vector<std::pair<std::string, std::string>>;

// `workdir:` is a local directory or a git repository.
struct Workdir {
  std::string path;     // local directory (empty for git)
  std::string git_url;  // git repository (empty for a local directory)
  std::string git_ref;  // branch, tag or commit; optional
  bool is_git() const noexcept { return !git_url.empty(); }
  bool operator==(const Workdir&) const = default;
};

// One entry of `file_mounts:`: a plain copy (`/dst: ~/src` or `/dst: s3://b/p`)
// or a storage object (`/dst: {name: ..., source: ..., mode: MOUNT}`).
struct FileMount {
  std::string destination;
  std::string source;                // set for plain copies
  nlohmann::json storage = nullptr;  // set (an object) for storage mounts
  bool is_storage() const noexcept { return storage.is_object(); }
  bool operator==(const FileMount&) const = default;
};

class Task {
 public:
  Task() = default;

  // --- identity and commands
  const std::optional<std::string>& name() const noexcept { return name_; }
  void set_name(std::optional<std::string> name);
  const std::optional<std::string>& setup() const noexcept { return setup_; }
  void set_setup(std::optional<std::string> setup) { setup_ = std::move(setup); }
  const std::optional<std::string>& run() const noexcept { return run_; }
  void set_run(std::optional<std::string> run) { run_ = std::move(run); }
  const std::optional<std::string>& event_callback() const noexcept { return event_callback_; }
  void set_event_callback(std::optional<std::string> cb) { event_callback_ = std::move(cb); }

  // --- placement
  int num_nodes() const noexcept { return num_nodes_; }
  void set_num_nodes(int num_nodes);  // >= 1
  const ResourcesSet& resources() const noexcept { return resources_; }
  void set_resources(ResourcesSet resources) { resources_ = std::move(resources); }

  // --- environment
  const EnvVars& envs() const noexcept { return envs_; }
  // Replaces values of existing names and appends new ones. Names must be
  // valid shell identifiers.
  void update_envs(const EnvVars& envs);
  const EnvVars& secrets() const noexcept { return secrets_; }
  // Also resolves any of these names that were declared without a value.
  void update_secrets(const EnvVars& secrets);
  // Secrets declared without a value (`NAME: null` in the YAML), in order.
  // SkyPilot takes them as references filled in at launch, so a task loads
  // with them but cannot launch until update_secrets() gives each a value.
  const std::vector<std::string>& unresolved_secrets() const noexcept {
    return unresolved_secrets_;
  }
  // A no-op for a name that already has a value.
  void add_unresolved_secret(const std::string& name);
  // Throws InvalidTaskError naming each unresolved secret and how to give it;
  // launch and exec call it before planning anything.
  void RequireSecretValues() const;
  // envs then secrets, as the job sees them (secrets win on a clash).
  EnvVars envs_and_secrets() const;

  // --- files
  const std::optional<Workdir>& workdir() const noexcept { return workdir_; }
  void set_workdir(std::optional<Workdir> workdir) { workdir_ = std::move(workdir); }
  const std::vector<FileMount>& file_mounts() const noexcept { return file_mounts_; }
  void set_file_mounts(std::vector<FileMount> mounts);
  // `volumes:` mount path -> volume name (or a volume spec object).
  const nlohmann::json& volumes() const noexcept { return volumes_; }
  void set_volumes(nlohmann::json volumes) { volumes_ = std::move(volumes); }

  // --- pass-through sections (validated, not interpreted here)
  const nlohmann::json& service() const noexcept { return service_; }
  void set_service(nlohmann::json service) { service_ = std::move(service); }
  const nlohmann::json& config() const noexcept { return config_; }
  void set_config(nlohmann::json config) { config_ = std::move(config); }
  // Other top-level fields SkyPilot accepts (pool, inputs, outputs, ...).
  const nlohmann::json& extra() const noexcept { return extra_; }
  void set_extra(nlohmann::json extra) { extra_ = std::move(extra); }

  // Multi-line human-readable summary; secrets redacted.
  std::string ToString() const;

  bool operator==(const Task&) const = default;

 private:
  std::optional<std::string> name_;
  std::optional<std::string> setup_;
  std::optional<std::string> run_;
  std::optional<std::string> event_callback_;
  int num_nodes_ = 1;
  ResourcesSet resources_;
  EnvVars envs_;
  EnvVars secrets_;
  std::vector<std::string> unresolved_secrets_;
  std::optional<Workdir> workdir_;
  std::vector<FileMount> file_mounts_;
  nlohmann::json volumes_ = nullptr;
  nlohmann::json service_ = nullptr;
  nlohmann::json config_ = nullptr;
  nlohmann::json extra_ = nlohmann::json::object();
};

// True for names a shell accepts as variables: [A-Za-z_][A-Za-z0-9_]*.
bool IsValidEnvName(const std::string& name) noexcept;

}  // namespace skycore
