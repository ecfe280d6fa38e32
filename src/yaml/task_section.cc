// The task document: its top-level field table and the sections that are
// validated here but kept as JSON (service, file_mounts storage, volumes, config).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "common/strings.h"
#include "yaml/sections.h"

namespace skycore::yamlio {
namespace {

struct TaskDraft {
  Task task;
  std::vector<UnsetVar>* unset = nullptr;
};

// Env values are strings; SkyPilot stringifies numbers and booleans the way
// Python's str() does, so `DEBUG: true` is "True" and `RATE: 1.0` is "1.0".
std::optional<std::string> EnvValue(Reader& r, const YAML::Node& n) {
  if (n.IsNull()) return std::nullopt;
  if (!n.IsScalar())
    r.Fail(n, fmt::format("expected a string value, found {}.", Reader::Describe(n)));
  const nlohmann::json value = r.ToJson(n);
  if (value.is_boolean()) return value.get<bool>() ? "True" : "False";
  if (value.is_number_integer()) return std::to_string(value.get<long long>());
  if (value.is_number_float()) return strings::FormatPythonFloat(value.get<double>());
  if (value.is_null()) return std::nullopt;
  return value.get<std::string>();
}

void ReadVars(Reader& r, const YAML::Node& n, TaskDraft& d, const char* section) {
  if (n.IsNull()) return;
  const bool secrets = std::string_view(section) == "secrets";
  if (secrets && n.IsSequence()) {
    // Managed secret references by name; kept for the backend to resolve.
    nlohmann::json refs = nlohmann::json::array();
    size_t i = 0;
    for (const auto& item : n) {
      auto scope = r.EnterIndex(i++);
      refs.push_back(r.String(item, "a secret name"));
    }
    nlohmann::json extra = d.task.extra();
    extra["secrets"] = refs;
    d.task.set_extra(extra);
    return;
  }
  r.RequireMap(n, secrets ? "a mapping of NAME: value (or a list of secret names)"
                          : "a mapping of NAME: value");
  CheckNoDuplicateKeys(r, n);
  EnvVars vars;
  for (auto it = n.begin(); it != n.end(); ++it) {
    const std::string name = it->first.Scalar();
    auto scope = r.Enter(name);
    if (!IsValidEnvName(name)) {
      r.Fail(it->first,
             fmt::format("'{}' is not a valid variable name: use letters, digits and "
                         "underscores, not starting with a digit (e.g. 'MY_VAR').",
                         name),
             {std::string("_") + name});
    }
    auto value = EnvValue(r, it->second);
    if (!value && secrets) {
      // A reference, as in SkyPilot: `--secret NAME=...` at launch fills it.
      d.task.add_unresolved_secret(name);
      continue;
    }
    if (!value) {
      YAML::Node at;
      at.reset(it->first);
      d.unset->push_back(UnsetVar{section, name, at});
      value = "";
    }
    vars.emplace_back(name, *value);
  }
  if (secrets)
    d.task.update_secrets(vars);
  else
    d.task.update_envs(vars);
}

// --- file_mounts storage objects

constexpr std::string_view kStores[] = {"S3",  "GCS",    "AZURE",     "R2",     "IBM",
                                        "OCI", "NEBIUS", "COREWEAVE", "VOLUME", "HF"};
constexpr std::string_view kStorageModes[] = {"MOUNT", "COPY", "MOUNT_CACHED"};

template <size_t N>
void CheckEnum(Reader& r, const YAML::Node& n, const std::string_view (&valid)[N]) {
  std::string value = r.String(n);
  std::vector<std::string> names(std::begin(valid), std::end(valid));
  for (const auto& name : names) {
    if (strings::EqualsIgnoreCase(name, value)) return;
  }
  r.Fail(n,
         fmt::format("invalid value '{}'; valid values are {}.", value, strings::JoinQuoted(names)),
         strings::CloseMatches(value, names));
}

void Accept(Reader&, const YAML::Node&, int&) {}

const Field<int> kMountCachedFields[] = {
    {"transfers", "", Accept},
    {"buffer_size", "", Accept},
    {"vfs_cache_max_size", "", Accept},
    {"vfs_cache_max_age", "", Accept},
    {"vfs_read_ahead", "", Accept},
    {"vfs_read_chunk_size", "", Accept},
    {"vfs_read_chunk_streams", "", Accept},
    {"vfs_write_back", "", Accept},
    {"read_only", "", Accept},
};

const Field<int> kStorageConfigFields[] = {
    {"disk_size", "a size", Accept},
    {"disk_tier", "a string", Accept},
    {"storage_type", "a string", Accept},
    {"attach_mode", "a string", Accept},
    {"mount_cached", "a mapping",
     [](Reader& r, const YAML::Node& n, int& x) {
       r.RequireMap(n, "a mapping");
       ReadFields(r, n, kMountCachedFields, x, "mount_cached");
     }},
    {"mount", "a mapping", Accept},
};

// The bucket URI schemes SkyPilot knows (whether or not they are copied yet:
// launch says which are not supported); anything else is a typo.
constexpr std::string_view kBucketSchemes[] = {"s3",  "gs",    "r2",     "cos",
                                               "oci", "https", "nebius", "cw"};

void CheckBucketScheme(Reader& r, const YAML::Node& n, const std::string& source) {
  const size_t at = source.find("://");
  if (at == std::string::npos) return;
  const std::string scheme = source.substr(0, at);
  std::vector<std::string> schemes(std::begin(kBucketSchemes), std::end(kBucketSchemes));
  for (const auto& known : schemes) {
    if (known == scheme) return;
  }
  std::vector<std::string> uris;
  for (const auto& match : strings::CloseMatches(scheme, schemes)) {
    uris.push_back(fmt::format("{}{}", match, source.substr(at)));
  }
  r.Fail(n,
         fmt::format("'{}' is not a bucket URI: the scheme {}:// is none of {}.", source, scheme,
                     strings::JoinQuoted(schemes)),
         uris);
}

const Field<int> kStorageFields[] = {
    {"name", "a bucket name", [](Reader& r, const YAML::Node& n, int&) { r.String(n); }},
    {"source", "a local path or bucket URI, or a list of local paths",
     [](Reader& r, const YAML::Node& n, int&) {
       if (n.IsSequence()) {
         if (n.size() == 0) r.Fail(n, "a source list must not be empty.");
         size_t i = 0;
         for (const auto& item : n) {
           auto scope = r.EnterIndex(i++);
           r.String(item, "a local path");
         }
       } else {
         CheckBucketScheme(r, n,
                           r.String(n, "a local path, a bucket URI or a list of local paths"));
       }
     }},
    {"store", "s3, gcs, azure, r2, ibm, oci, nebius, coreweave",
     [](Reader& r, const YAML::Node& n, int&) { CheckEnum(r, n, kStores); }},
    {"persistent", "true or false", [](Reader& r, const YAML::Node& n, int&) { r.Bool(n); }},
    {"mode", "MOUNT, COPY or MOUNT_CACHED",
     [](Reader& r, const YAML::Node& n, int&) { CheckEnum(r, n, kStorageModes); }},
    {"mount_options", "a string", [](Reader& r, const YAML::Node& n, int&) { r.String(n); }},
    {"type", "a string", [](Reader& r, const YAML::Node& n, int&) { r.String(n); }},
    {"config", "a mapping",
     [](Reader& r, const YAML::Node& n, int& x) {
       r.RequireMap(n, "a mapping");
       ReadFields(r, n, kStorageConfigFields, x, "storage config");
     }},
    {"_is_sky_managed", "internal", Accept},
    {"_bucket_sub_path", "internal", Accept},
    {"_force_delete", "internal", Accept},
};

void ReadFileMounts(Reader& r, const YAML::Node& n, TaskDraft& d) {
  if (n.IsNull()) return;
  r.RequireMap(n, "a mapping of destination path to source (a path, a URI or a storage mapping)");
  CheckNoDuplicateKeys(r, n);
  std::vector<FileMount> mounts;
  for (auto it = n.begin(); it != n.end(); ++it) {
    const std::string destination = it->first.Scalar();
    auto scope = r.Enter(destination);
    if (destination.empty()) r.Fail(it->first, "a mount destination must not be empty.");
    FileMount mount;
    mount.destination = destination;
    const YAML::Node value = it->second;
    if (value.IsMap()) {
      int unused = 0;
      ReadFields(r, value, kStorageFields, unused, "a storage mount");
      if (!value["name"] && !value["source"]) {
        r.Fail(value, "a storage mount needs `name` (a bucket) or `source` (a local path or URI).",
               {"source"});
      }
      mount.storage = r.ToJson(value);
    } else {
      mount.source = r.String(value, "a local path, a bucket URI or a storage mapping");
      if (mount.source.empty()) r.Fail(value, "the mount source is empty.");
      CheckBucketScheme(r, value, mount.source);
    }
    mounts.push_back(std::move(mount));
  }
  d.task.set_file_mounts(std::move(mounts));
}

// --- service (SkyServe)

// An HTTP path of the service; SkyPilot requires the leading '/'.
void ReadProbePath(Reader& r, const YAML::Node& n, std::string_view expected) {
  const std::string path = r.String(n, expected);
  if (!path.starts_with('/')) {
    r.Fail(n, fmt::format("the readiness probe path must start with '/', found '{}'.", path),
           {"/" + path});
  }
}

const Field<int> kReadinessProbeFields[] = {
    {"path", "an HTTP path such as /health",
     [](Reader& r, const YAML::Node& n, int&) { ReadProbePath(r, n, "an HTTP path"); }},
    {"initial_delay_seconds", "a number",
     [](Reader& r, const YAML::Node& n, int&) { r.Number(n); }},
    {"timeout_seconds", "a number", [](Reader& r, const YAML::Node& n, int&) { r.Number(n); }},
    {"endpoint_probe_interval_seconds", "a number",
     [](Reader& r, const YAML::Node& n, int&) { r.Number(n); }},
    {"consecutive_failure_threshold_timeout", "a number",
     [](Reader& r, const YAML::Node& n, int&) { r.Number(n); }},
    {"post_data", "a string or a mapping",
     [](Reader& r, const YAML::Node& n, int&) {
       if (!n.IsMap()) r.String(n, "a string or a mapping");
     }},
    {"headers", "a mapping of header names to strings",
     [](Reader& r, const YAML::Node& n, int&) {
       r.RequireMap(n, "a mapping of header names to strings");
       for (auto it = n.begin(); it != n.end(); ++it) {
         auto scope = r.Enter(it->first.Scalar());
         r.String(it->second);
       }
     }},
};

void NonNegativeInt(Reader& r, const YAML::Node& n, int&) {
  if (r.Int(n, "an integer >= 0") < 0) r.Fail(n, "must be 0 or more.", {"1"});
}
void NumberField(Reader& r, const YAML::Node& n, int&) { r.Number(n); }

const Field<int> kReplicaPolicyFields[] = {
    {"min_replicas", "an integer >= 0", NonNegativeInt},
    {"max_replicas", "an integer >= 0", NonNegativeInt},
    {"num_overprovision", "an integer >= 0", NonNegativeInt},
    {"target_qps_per_replica", "a number >= 0 or a mapping of accelerator to number",
     [](Reader& r, const YAML::Node& n, int&) {
       if (n.IsMap()) {
         for (auto it = n.begin(); it != n.end(); ++it) {
           auto scope = r.Enter(it->first.Scalar());
           if (r.Number(it->second) < 0) r.Fail(it->second, "must be 0 or more.");
         }
       } else if (r.Number(n, "a number >= 0") < 0) {
         r.Fail(n, "must be 0 or more.", {"2.5"});
       }
     }},
    {"dynamic_ondemand_fallback", "true or false",
     [](Reader& r, const YAML::Node& n, int&) { r.Bool(n); }},
    {"base_ondemand_fallback_replicas", "an integer >= 0", NonNegativeInt},
    {"spot_placer", "dynamic_fallback",
     [](Reader& r, const YAML::Node& n, int&) {
       static constexpr std::string_view kPlacers[] = {"dynamic_fallback"};
       CheckEnum(r, n, kPlacers);
     }},
    {"upscale_delay_seconds", "a number", NumberField},
    {"downscale_delay_seconds", "a number", NumberField},
};

const Field<int> kPoolFields[] = {
    {"workers", "an integer >= 0", NonNegativeInt},
    {"min_workers", "an integer >= 0", NonNegativeInt},
    {"max_workers", "an integer >= 0", NonNegativeInt},
    {"queue_length_threshold", "an integer >= 1", NonNegativeInt},
    {"upscale_delay_seconds", "a number", NumberField},
    {"downscale_delay_seconds", "a number", NumberField},
};

const Field<int> kServiceFields[] = {
    {"readiness_probe", "an HTTP path such as /health, or a mapping with `path`",
     [](Reader& r, const YAML::Node& n, int& x) {
       if (n.IsMap()) {
         ReadFields(r, n, kReadinessProbeFields, x, "readiness_probe");
         if (!n["path"]) r.Fail(n, "readiness_probe needs a `path`.", {"path"});
       } else {
         ReadProbePath(r, n, "an HTTP path or a mapping with `path`");
       }
     }},
    {"load_balancer", "a mapping with stream_timeout_seconds",
     [](Reader& r, const YAML::Node& n, int& x) {
       static const Field<int> kFields[] = {{"stream_timeout_seconds", "a number", NumberField}};
       r.RequireMap(n, "a mapping");
       ReadFields(r, n, kFields, x, "load_balancer");
     }},
    {"pool", "a mapping of workers settings",
     [](Reader& r, const YAML::Node& n, int& x) {
       r.RequireMap(n, "a mapping");
       ReadFields(r, n, kPoolFields, x, "pool");
     }},
    {"replica_policy", "a mapping with min_replicas, max_replicas, target_qps_per_replica, ...",
     [](Reader& r, const YAML::Node& n, int& x) {
       r.RequireMap(n, "a mapping");
       ReadFields(r, n, kReplicaPolicyFields, x, "replica_policy");
       if (!n["min_replicas"]) r.Fail(n, "replica_policy needs `min_replicas`.", {"min_replicas"});
     }},
    {"ports", "a port number",
     [](Reader& r, const YAML::Node& n, int&) { r.Int(n, "a port number"); }},
    {"replicas", "an integer >= 0", NonNegativeInt},
    {"workers", "an integer >= 0", NonNegativeInt},
    {"load_balancing_policy", "round_robin, least_load or instance_aware_least_load",
     [](Reader& r, const YAML::Node& n, int&) {
       static constexpr std::string_view kPolicies[] = {"round_robin", "least_load",
                                                        "instance_aware_least_load"};
       CheckEnum(r, n, kPolicies);
     }},
    {"tls", "a mapping with keyfile and certfile",
     [](Reader& r, const YAML::Node& n, int& x) {
       static const Field<int> kFields[] = {
           {"keyfile", "a path", [](Reader& r2, const YAML::Node& v, int&) { r2.String(v); }},
           {"certfile", "a path", [](Reader& r2, const YAML::Node& v, int&) { r2.String(v); }}};
       r.RequireMap(n, "a mapping with keyfile and certfile");
       ReadFields(r, n, kFields, x, "tls");
       if (!n["keyfile"] || !n["certfile"]) r.Fail(n, "tls needs both `keyfile` and `certfile`.");
     }},
};

// Autoscaling bounds, as SkyPilot checks them: max_replicas >= min_replicas;
// a target QPS needs a max_replicas to scale up to; and without a target QPS
// there is nothing to scale by, so max_replicas (if given) equals min_replicas.
void CheckReplicaBounds(Reader& r, const YAML::Node& policy) {
  auto scope = r.Enter("replica_policy");
  const YAML::Node min = policy["min_replicas"];
  const YAML::Node max = policy["max_replicas"];
  const bool has_target =
      policy["target_qps_per_replica"].IsDefined() && !policy["target_qps_per_replica"].IsNull();
  const bool has_max = max.IsDefined() && !max.IsNull();
  const long long min_value = min.IsDefined() && !min.IsNull() ? r.Int(min) : 0;
  if (has_max) {
    auto max_scope = r.Enter("max_replicas");
    const long long max_value = r.Int(max);
    if (max_value < min_value) {
      r.Fail(max, fmt::format("max_replicas ({}) must be at least min_replicas ({}).", max_value,
                              min_value));
    }
    if (!has_target && max_value != min_value) {
      r.Fail(max,
             fmt::format("max_replicas ({}) differs from min_replicas ({}) but there is no "
                         "target_qps_per_replica to scale by; set it to autoscale, or make "
                         "them equal.",
                         max_value, min_value),
             {"target_qps_per_replica"});
    }
  } else if (has_target) {
    r.Fail(policy, "target_qps_per_replica needs max_replicas, the most replicas to scale up to.",
           {"max_replicas"});
  }
}

void ReadService(Reader& r, const YAML::Node& n, TaskDraft& d) {
  if (n.IsNull()) return;
  r.RequireMap(n, "a mapping (readiness_probe, replicas or replica_policy, ...)");
  int unused = 0;
  ReadFields(r, n, kServiceFields, unused, "service");
  if (n["replicas"] && n["replica_policy"]) {
    r.Fail(n, "give either `replicas` or `replica_policy`, not both.", {"replica_policy"});
  }
  // (A missing key gives an undefined node, which only IsDefined may be asked.)
  if (const YAML::Node policy = n["replica_policy"]; policy.IsDefined() && policy.IsMap()) {
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (it->first.Scalar() == "replica_policy") r.set_current_key(it->first);
    }
    CheckReplicaBounds(r, policy);
  }
  d.task.set_service(r.ToJson(n));
}

void KeepExtra(Reader& r, const YAML::Node& n, TaskDraft& d) {
  const std::string& path = r.path();
  nlohmann::json extra = d.task.extra();
  extra[path.substr(path.rfind('.') + 1)] = r.ToJson(n);
  d.task.set_extra(extra);
}

const Field<TaskDraft> kTaskFields[] = {
    {"name", "a string",
     [](Reader& r, const YAML::Node& n, TaskDraft& d) {
       if (!n.IsNull()) d.task.set_name(r.String(n));
     }},
    {"workdir", "a local directory, or a mapping {url, ref} of a git repository",
     [](Reader& r, const YAML::Node& n, TaskDraft& d) {
       if (n.IsNull()) return;
       Workdir workdir;
       if (n.IsMap()) {
         static const Field<Workdir> kFields[] = {
             {"url", "a git URL",
              [](Reader& r2, const YAML::Node& v, Workdir& w) { w.git_url = r2.String(v); }},
             {"ref", "a branch, tag or commit",
              [](Reader& r2, const YAML::Node& v, Workdir& w) { w.git_ref = r2.String(v); }}};
         ReadFields(r, n, kFields, workdir, "workdir");
         if (workdir.git_url.empty()) {
           r.Fail(n, "a git workdir needs a `url`.", {"url"});
         }
       } else {
         workdir.path = r.String(n, "a local directory or a mapping {url, ref}");
       }
       d.task.set_workdir(workdir);
     }},
    {"event_callback", "a shell command",
     [](Reader& r, const YAML::Node& n, TaskDraft& d) {
       if (!n.IsNull()) d.task.set_event_callback(r.String(n));
     }},
    {"num_nodes", "an integer >= 1",
     [](Reader& r, const YAML::Node& n, TaskDraft& d) {
       if (n.IsNull()) return;
       long long v = r.Int(n, "an integer >= 1");
       if (v < 1) {
         r.Fail(n, fmt::format("num_nodes must be a positive integer (1 or more), found {}.", v),
                {"1"});
       }
       if (v > 100000) r.Fail(n, fmt::format("num_nodes {} is larger than skycore supports.", v));
       d.task.set_num_nodes(static_cast<int>(v));
     }},
    {"resources", "a mapping of resource fields",
     [](Reader& r, const YAML::Node& n, TaskDraft& d) {
       d.task.set_resources(ReadResourcesSection(r, n));
     }},
    {"file_mounts", "a mapping of destination path to source",
     [](Reader& r, const YAML::Node& n, TaskDraft& d) { ReadFileMounts(r, n, d); }},
    {"service", "a SkyServe service mapping",
     [](Reader& r, const YAML::Node& n, TaskDraft& d) { ReadService(r, n, d); }},
    {"pool", "a mapping", KeepExtra},
    {"setup", "shell commands",
     [](Reader& r, const YAML::Node& n, TaskDraft& d) {
       if (!n.IsNull()) d.task.set_setup(r.String(n, "shell commands (a string)"));
     }},
    {"run", "shell commands",
     [](Reader& r, const YAML::Node& n, TaskDraft& d) {
       if (!n.IsNull()) d.task.set_run(r.String(n, "shell commands (a string)"));
     }},
    {"envs", "a mapping of NAME: value",
     [](Reader& r, const YAML::Node& n, TaskDraft& d) { ReadVars(r, n, d, "envs"); }},
    {"secrets", "a mapping of NAME: value",
     [](Reader& r, const YAML::Node& n, TaskDraft& d) { ReadVars(r, n, d, "secrets"); }},
    {"volumes", "a mapping of mount path to volume name",
     [](Reader& r, const YAML::Node& n, TaskDraft& d) {
       if (n.IsNull()) return;
       r.RequireMap(n, "a mapping of mount path to volume name");
       for (auto it = n.begin(); it != n.end(); ++it) {
         auto scope = r.Enter(it->first.Scalar());
         if (!it->second.IsMap()) r.String(it->second, "a volume name or a volume mapping");
       }
       d.task.set_volumes(r.ToJson(n));
     }},
    {"config", "a mapping of config overrides (kubernetes, docker, ...)",
     [](Reader& r, const YAML::Node& n, TaskDraft& d) {
       if (n.IsNull()) return;
       r.RequireMap(n, "a mapping of config overrides");
       d.task.set_config(r.ToJson(n));
     }},
    {"managed_secrets", "a list", KeepExtra},
    {"inputs", "a mapping", KeepExtra},
    {"outputs", "a mapping", KeepExtra},
    {"file_mounts_mapping", "a mapping", KeepExtra},
    {"volume_mounts", "a list", KeepExtra},
    {"api_server_access", "true or false", KeepExtra},
    {"_metadata", "internal", KeepExtra},
};

}  // namespace

// The variables that log in to a private Docker registry go together, all in
// `envs` or all in `secrets` (SkyPilot refuses a partial or split set).
void CheckDockerLogin(Reader& reader, const Task& task, const YAML::Node& document) {
  static constexpr std::string_view kLogin[] = {
      "SKYPILOT_DOCKER_USERNAME", "SKYPILOT_DOCKER_PASSWORD", "SKYPILOT_DOCKER_SERVER"};
  auto present = [](const EnvVars& vars, bool want) {
    std::vector<std::string> names;
    for (auto name : kLogin) {
      bool found =
          std::any_of(vars.begin(), vars.end(), [&](const auto& kv) { return kv.first == name; });
      if (found == want) names.emplace_back(name);
    }
    return names;
  };
  const auto in_envs = present(task.envs(), true);
  const auto in_secrets = present(task.secrets(), true);
  if (in_envs.empty() && in_secrets.empty()) return;
  // Report at the variable's key in the YAML, or its section when an override set it.
  auto fail = [&](std::string_view section, const std::string& name, const std::string& message,
                  std::vector<std::string> suggestions) {
    YAML::Node at;
    at.reset(document);
    auto scope = reader.Enter(section);
    const YAML::Node map = document.IsMap() ? document[std::string(section)] : YAML::Node();
    if (map.IsDefined() && map.IsMap()) {
      at.reset(map);
      for (auto it = map.begin(); it != map.end(); ++it) {
        if (it->first.Scalar() == name) {
          reader.set_current_key(it->first);
          at.reset(it->second);
        }
      }
    }
    auto name_scope = reader.Enter(name);
    reader.Fail(at, message, std::move(suggestions));
  };
  const std::string all = fmt::format("{}", fmt::join(kLogin, ", "));
  if (!in_envs.empty() && !in_secrets.empty()) {
    fail("secrets", in_secrets.front(),
         fmt::format("the Docker registry login ({}) must be given all in `envs` or all in "
                     "`secrets`, not split: envs has {}, secrets has {}.",
                     all, fmt::join(in_envs, ", "), fmt::join(in_secrets, ", ")),
         {});
  }
  const bool envs_side = !in_envs.empty();
  const auto& given = envs_side ? in_envs : in_secrets;
  if (given.size() == std::size(kLogin)) return;
  const auto missing = present(envs_side ? task.envs() : task.secrets(), false);
  fail(
      envs_side ? "envs" : "secrets", given.front(),
      fmt::format("the Docker registry login needs all of {} together; {} has {} but not {}.", all,
                  envs_side ? "envs" : "secrets", fmt::join(given, ", "), fmt::join(missing, ", ")),
      missing);
}

Task ReadTaskDocument(Reader& r, const YAML::Node& node, std::vector<UnsetVar>& unset) {
  TaskDraft draft;
  draft.unset = &unset;
  if (!node.IsDefined() || node.IsNull()) return draft.task;
  if (!node.IsMap()) {
    r.Fail(node,
           fmt::format("a task must be a mapping of fields (name, resources, setup, run, "
                       "...), found {}.",
                       Reader::Describe(node)),
           {"run: echo hello"});
  }
  ReadFields(r, node, kTaskFields, draft, "the task");
  return draft.task;
}

}  // namespace skycore::yamlio
