// Which Slurm clusters skycore knows, and how it reaches them, as SkyPilot
// configures them.
//
// `~/.slurm/config` (or $SKYCORE_SLURM_CONFIG) is an OpenSSH-client-style file;
// each `Host` line names a cluster and its block says how to reach the
// cluster's login node, where skycore runs sinfo/sbatch/squeue/scancel:
//
//   Host mycluster              # the cluster's name (region of `slurm/mycluster`)
//     HostName login.example.org
//     User alice
//     IdentityFile ~/.ssh/id_ed25519
//     Port 22
//
// Wildcard blocks (`Host *`) supply defaults, as they would for `ssh`.
//
// The `slurm:` section of SkyPilot's config (`<state_dir>/config.yaml`):
//
//   slurm:
//     allowed_clusters: [mycluster]   # only these (default: every Host)
//     provision_timeout: 600          # seconds to wait for an allocation
//     sbatch_options: {qos: high}     # extra `sbatch --qos=high` ...
//     cluster_configs:                # per-cluster overrides of the two above
//       mycluster: {provision_timeout: 60, sbatch_options: {account: lab}}
//
// Parsing does no network I/O.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "infra/ssh/node_pools.h"

namespace skycore::slurm {

// One cluster: its name and its login node, resolved to what `ssh` needs.
struct ClusterConfig {
  std::string name;
  ssh::SshHost login;  // login.name == name
};

// The clusters of a parsed ~/.slurm/config, in file order: one per name that a
// `Host` line lists literally. Never throws.
std::vector<ClusterConfig> ClustersFromSshConfig(const ssh::SshConfig& config,
                                                 const ssh::PoolsEnvironment& env);

// Reads `path`; an absent file is no clusters.
std::vector<ClusterConfig> LoadClusters(const std::filesystem::path& path,
                                        const ssh::PoolsEnvironment& env);

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// $SKYCORE_SLURM_CONFIG when set, else $HOME/.slurm/config (empty without HOME).
std::filesystem::path DefaultConfigPath(const EnvLookup& lookup);

// `sbatch_options` / `provision_timeout` of the section or of one cluster.
struct SubmitSettings {
  std::optional<int> provision_timeout_s;
  // Option name without dashes → value ("" for a flag), e.g. {"qos", "high"}.
  std::map<std::string, std::string> sbatch_options;
};

// `sbatch_options` as command-line flags, in name order: {"--qos=high",
// "--exclusive"} (a flag with an empty value is written without `=`).
std::vector<std::string> SbatchFlags(const SubmitSettings& settings);

// The `slurm:` section of SkyPilot's config.
struct SlurmSettings {
  std::vector<std::string> allowed_clusters;  // empty: every configured cluster
  SubmitSettings defaults;
  std::map<std::string, SubmitSettings> cluster_configs;

  // The settings for `cluster`: its cluster_configs entry over the defaults.
  SubmitSettings For(const std::string& cluster) const;
};

// Parses the `slurm:` section of the config at `path`; absent file or section:
// defaults. Throws InvalidSkyPilotConfigError naming the file, line and field
// for a malformed value.
SlurmSettings ReadSlurmSettings(const std::filesystem::path& path);

// `clusters` restricted to `allowed` (all when empty), in `allowed`'s order.
// `missing` (optional) receives the allowed names that no Host block defines.
std::vector<ClusterConfig> ClustersToUse(const std::vector<ClusterConfig>& clusters,
                                         const std::vector<std::string>& allowed,
                                         std::vector<std::string>* missing = nullptr);

}  // namespace skycore::slurm
