// `sky check slurm`: asks every configured Slurm cluster's login node for its
// nodes and caches the inventory that slurm::CachedCatalogCsv reads.
#include "infra/slurm/check.h"

#include <fmt/format.h>

#include <algorithm>

#include "backend/ssh_runner.h"
#include "common/strings.h"
#include "infra/slurm/config.h"
#include "infra/ssh/inventory.h"
#include "skycore/error.h"

namespace skycore {
namespace fs = std::filesystem;

namespace {

// sinfo answers in well under a second; with slurmctld down it waits out
// MessageTimeout (10 s by default) before failing, which this still covers.
constexpr double kProbeDeadlineS = 30;
constexpr int kProbeConnectTimeoutS = 5;

}  // namespace

ssh::RunnerOptions SlurmRunnerOptions(const SkyOptions& options) {
  ssh::RunnerOptions runner;
  // One known_hosts for every host skycore reaches over SSH.
  runner.known_hosts = ssh::KnownHostsPath(options.state_dir);
  std::error_code ec;
  fs::create_directories(runner.known_hosts.parent_path(), ec);
  runner.control_dir =
      options.ssh_control_dir.empty() ? ssh::DefaultControlDir() : options.ssh_control_dir;
  if (!ssh::PrepareControlDir(runner.control_dir)) runner.control_dir.clear();
  runner.connect_timeout_s = kProbeConnectTimeoutS;
  runner.max_attempts = 2;
  return runner;
}

SlurmProbe ProbeSlurm(const SkyOptions& options, const std::string& only_cluster) {
  if (options.state_dir.empty()) {
    throw StateError("no state directory: set SKYCORE_STATE_DIR or HOME");
  }
  const auto all = slurm::LoadClusters(options.slurm_config, ssh::CurrentPoolsEnvironment());
  const auto settings = slurm::ReadSlurmSettings(options.state_dir / "config.yaml");
  SlurmProbe probe;
  std::vector<std::string> missing;
  auto clusters = slurm::ClustersToUse(all, settings.allowed_clusters, &missing);
  for (const auto& name : missing) {
    probe.problems.push_back(
        fmt::format("cluster '{}' (in slurm.allowed_clusters): no `Host {}` in {}", name, name,
                    options.slurm_config.string()));
  }
  if (!only_cluster.empty()) {
    std::vector<std::string> names;
    for (const auto& cluster : clusters) names.push_back(cluster.name);
    std::erase_if(clusters, [&](const auto& cluster) { return cluster.name != only_cluster; });
    if (clusters.empty()) {
      throw InvalidSkyPilotConfigError(
          fmt::format("no Slurm cluster '{}' in {}{}", only_cluster, options.slurm_config.string(),
                      settings.allowed_clusters.empty() ? "" : " among slurm.allowed_clusters"),
          {options.slurm_config.string(), 0, 0, ""}, strings::CloseMatches(only_cluster, names));
    }
  }
  if (clusters.empty()) {
    std::string message =
        all.empty() ? fmt::format(
                          "no Slurm clusters: name each cluster's login node in {} (a `Host "
                          "<cluster>` block with HostName, User, IdentityFile; see "
                          "https://docs.skypilot.co/en/latest/reference/slurm/index.html)",
                          options.slurm_config.string())
                    : fmt::format("none of the clusters in {} is in slurm.allowed_clusters",
                                  options.slurm_config.string());
    for (const auto& problem : probe.problems) message += "\n" + problem;
    throw InvalidSkyPilotConfigError(message, {options.slurm_config.string(), 0, 0, ""});
  }
  probe.inventory = slurm::ProbeClusters(clusters, SlurmRunnerOptions(options), kProbeDeadlineS);
  return probe;
}

InfraCheck CheckSlurm(const SkyOptions& options) {
  InfraCheck check{"slurm", false, ""};
  SlurmProbe probe;
  try {
    probe = ProbeSlurm(options, "");
  } catch (const Error& e) {
    // No usable configuration: nothing to cache either.
    std::error_code ec;
    if (!options.state_dir.empty()) fs::remove(slurm::InventoryPath(options.state_dir), ec);
    check.reason = e.message();
    return check;
  }
  slurm::SaveInventory(slurm::InventoryPath(options.state_dir), probe.inventory);
  check.enabled = probe.inventory.AnyReady();
  check.reason = slurm::DescribeClusters(probe.inventory);
  for (const auto& problem : probe.problems) check.reason += "\n" + problem;
  return check;
}

}  // namespace skycore
