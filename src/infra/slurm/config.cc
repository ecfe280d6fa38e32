#include "infra/slurm/config.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "common/sky_config.h"
#include "common/strings.h"
#include "skycore/error.h"

namespace skycore::slurm {
namespace fs = std::filesystem;

namespace {

std::string ExpandHome(const std::string& path, const ssh::PoolsEnvironment& env) {
  if (path == "~") return env.home.string();
  if (path.starts_with("~/")) return (env.home / path.substr(2)).string();
  return path;
}

[[noreturn]] void Fail(const fs::path& path, const YAML::Node& node, const std::string& field,
                       const std::string& what) {
  throw InvalidSkyPilotConfigError(
      fmt::format("{}: {} must be {}", path.string(), field, what),
      {path.string(), node.Mark().line + 1, node.Mark().column + 1, field});
}

SubmitSettings ReadSubmitSettings(const fs::path& path, const YAML::Node& node,
                                  const std::string& field) {
  SubmitSettings settings;
  if (const YAML::Node timeout = node["provision_timeout"]; timeout && !timeout.IsNull()) {
    long long seconds = 0;
    if (!timeout.IsScalar() || !strings::ParseInt(timeout.Scalar(), seconds) || seconds < 0) {
      Fail(path, timeout, field + ".provision_timeout", "a number of seconds");
    }
    settings.provision_timeout_s = static_cast<int>(seconds);
  }
  const YAML::Node options = node["sbatch_options"];
  if (!options || options.IsNull()) return settings;
  const std::string options_field = field + ".sbatch_options";
  auto add = [&](std::string name, const std::string& value, const YAML::Node& at) {
    while (name.starts_with('-')) name.erase(0, 1);
    if (name.empty()) Fail(path, at, options_field, "a mapping of sbatch option names to values");
    settings.sbatch_options[name] = value;
  };
  if (options.IsMap()) {
    for (const auto& entry : options) {
      if (!entry.first.IsScalar() || !(entry.second.IsScalar() || entry.second.IsNull())) {
        Fail(path, entry.first, options_field, "a mapping of sbatch option names to values");
      }
      add(entry.first.Scalar(), entry.second.IsNull() ? "" : entry.second.Scalar(), entry.first);
    }
  } else if (options.IsSequence()) {
    // Also accepted: a list as written on the command line ("--qos=high").
    for (const auto& item : options) {
      if (!item.IsScalar()) Fail(path, item, options_field, "a list of '--option=value' strings");
      const std::string text = item.Scalar();
      const auto equals = text.find('=');
      add(text.substr(0, equals), equals == std::string::npos ? "" : text.substr(equals + 1), item);
    }
  } else {
    Fail(path, options, options_field, "a mapping of sbatch option names to values");
  }
  return settings;
}

}  // namespace

std::vector<ClusterConfig> ClustersFromSshConfig(const ssh::SshConfig& config,
                                                 const ssh::PoolsEnvironment& env) {
  std::vector<ClusterConfig> clusters;
  for (const auto& alias : config.Aliases()) {
    // Every matching block in file order, first value wins: what `ssh alias` does.
    const ssh::SshConfigValues values = config.Lookup(alias);
    ClusterConfig cluster;
    cluster.name = alias;
    cluster.login.name = alias;
    cluster.login.address = values.hostname.value_or(alias);
    cluster.login.port = values.port.value_or(22);
    cluster.login.user = values.user.value_or(env.current_user);
    cluster.login.identity_file = ExpandHome(values.identity_file.value_or(""), env);
    cluster.login.from_ssh_config = true;
    clusters.push_back(std::move(cluster));
  }
  return clusters;
}

std::vector<ClusterConfig> LoadClusters(const fs::path& path, const ssh::PoolsEnvironment& env) {
  return ClustersFromSshConfig(ssh::SshConfig::Load(path), env);
}

fs::path DefaultConfigPath(const EnvLookup& lookup) {
  if (auto path = lookup("SKYCORE_SLURM_CONFIG"); path && !path->empty()) return *path;
  if (auto home = lookup("HOME"); home && !home->empty()) {
    return fs::path(*home) / ".slurm" / "config";
  }
  return {};
}

std::vector<std::string> SbatchFlags(const SubmitSettings& settings) {
  std::vector<std::string> flags;
  for (const auto& [name, value] : settings.sbatch_options) {
    flags.push_back(value.empty() ? "--" + name : fmt::format("--{}={}", name, value));
  }
  return flags;
}

SubmitSettings SlurmSettings::For(const std::string& cluster) const {
  SubmitSettings settings = defaults;
  auto it = cluster_configs.find(cluster);
  if (it == cluster_configs.end()) return settings;
  if (it->second.provision_timeout_s) settings.provision_timeout_s = it->second.provision_timeout_s;
  for (const auto& [name, value] : it->second.sbatch_options) settings.sbatch_options[name] = value;
  return settings;
}

SlurmSettings ReadSlurmSettings(const fs::path& path) {
  SlurmSettings settings;
  std::error_code ec;
  if (path.empty() || !fs::exists(path, ec)) return settings;
  const YAML::Node root = config::LoadConfigFile(path);
  if (!root.IsMap() || !root["slurm"] || root["slurm"].IsNull()) return settings;
  const YAML::Node section = root["slurm"];
  if (!section.IsMap()) Fail(path, section, "slurm", "a mapping");

  if (const YAML::Node list = section["allowed_clusters"]; list && !list.IsNull()) {
    const std::string field = "slurm.allowed_clusters";
    if (!list.IsSequence()) Fail(path, list, field, "a list of cluster names");
    for (const auto& item : list) {
      if (!item.IsScalar() || item.Scalar().empty()) {
        Fail(path, item, field, "a list of cluster names");
      }
      settings.allowed_clusters.push_back(item.Scalar());
    }
  }
  settings.defaults = ReadSubmitSettings(path, section, "slurm");
  if (const YAML::Node configs = section["cluster_configs"]; configs && !configs.IsNull()) {
    const std::string field = "slurm.cluster_configs";
    if (!configs.IsMap()) Fail(path, configs, field, "a mapping of cluster names to settings");
    for (const auto& entry : configs) {
      const std::string name = entry.first.Scalar();
      if (entry.second.IsNull()) continue;
      if (!entry.second.IsMap()) Fail(path, entry.second, field + "." + name, "a mapping");
      settings.cluster_configs[name] = ReadSubmitSettings(path, entry.second, field + "." + name);
    }
  }
  return settings;
}

std::vector<ClusterConfig> ClustersToUse(const std::vector<ClusterConfig>& clusters,
                                         const std::vector<std::string>& allowed,
                                         std::vector<std::string>* missing) {
  if (allowed.empty()) return clusters;
  std::vector<ClusterConfig> out;
  for (const auto& name : allowed) {
    auto it = std::find_if(clusters.begin(), clusters.end(),
                           [&](const ClusterConfig& cluster) { return cluster.name == name; });
    if (it != clusters.end()) {
      out.push_back(*it);
    } else if (missing != nullptr) {
      missing->push_back(name);
    }
  }
  return out;
}

}  // namespace skycore::slurm
