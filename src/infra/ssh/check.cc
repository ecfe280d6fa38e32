// `sky check ssh` and the catalog rows of SSH node pools.
#include "infra/ssh/check.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "backend/ssh_runner.h"
#include "common/sky_config.h"
#include "common/strings.h"
#include "infra/ssh/cluster.h"
#include "infra/ssh/inventory.h"
#include "infra/ssh/node_pools.h"
#include "sdk/sky_impl.h"

namespace skycore {
namespace fs = std::filesystem;

namespace {

// A probe is a handful of quick commands: a host that has not answered in
// this long is reported, not waited for.
constexpr double kProbeDeadlineS = 30;
constexpr int kProbeConnectTimeoutS = 5;

}  // namespace

std::vector<ssh::NodePool> LoadAllowedPools(const SkyOptions& options,
                                            std::vector<std::string>* excluded) {
  auto pools =
      ssh::LoadNodePools(ssh::NodePoolsPath(options.state_dir),
                         ssh::SshConfig::Load(options.ssh_config), ssh::CurrentPoolsEnvironment());
  const auto allowed = config::ReadNameList(options.state_dir / "config.yaml", "ssh",
                                            "allowed_node_pools", "pool names");
  if (allowed.empty()) return pools;
  std::vector<ssh::NodePool> kept;
  for (auto& pool : pools) {
    if (std::find(allowed.begin(), allowed.end(), pool.name) != allowed.end()) {
      kept.push_back(std::move(pool));
    } else if (excluded) {
      excluded->push_back(pool.name);
    }
  }
  return kept;
}

InfraCheck CheckSshPools(const SkyOptions& options) {
  InfraCheck check{"ssh", false, ""};
  if (options.state_dir.empty()) {
    check.reason = "no state directory: set SKYCORE_STATE_DIR or HOME";
    return check;
  }
  const fs::path pools_path = ssh::NodePoolsPath(options.state_dir);
  std::vector<std::string> excluded;
  const auto pools = LoadAllowedPools(options, &excluded);
  size_t host_count = 0;
  for (const auto& pool : pools) host_count += pool.hosts.size();
  if (host_count == 0) {
    std::error_code ec;
    fs::remove(ssh::InventoryPath(options.state_dir), ec);
    check.reason =
        pools.empty() && !excluded.empty()
            ? fmt::format("ssh.allowed_node_pools of {} allows none of the pools in {}",
                          (options.state_dir / "config.yaml").string(), pools_path.string())
        : pools.empty() ? fmt::format(
                              "no SSH node pools: list your machines in {} (see "
                              "https://docs.skypilot.co/en/latest/reservations/"
                              "existing-machines.html)",
                              pools_path.string())
                        : fmt::format("the pools in {} have no hosts", pools_path.string());
    return check;
  }
  ssh::RunnerOptions runner;
  runner.known_hosts = ssh::KnownHostsPath(options.state_dir);
  std::error_code ec;
  fs::create_directories(runner.known_hosts.parent_path(), ec);
  runner.control_dir =
      options.ssh_control_dir.empty() ? ssh::DefaultControlDir() : options.ssh_control_dir;
  if (!ssh::PrepareControlDir(runner.control_dir)) runner.control_dir.clear();
  runner.connect_timeout_s = kProbeConnectTimeoutS;
  runner.max_attempts = 2;
  const ssh::Inventory inventory = ssh::ProbePools(pools, runner, kProbeDeadlineS);
  ssh::SaveInventory(ssh::InventoryPath(options.state_dir), inventory);
  check.enabled = inventory.AnyReady();
  check.reason = ssh::DescribePools(inventory);
  for (const auto& pool : pools) {
    if (pool.hosts.empty()) check.reason += fmt::format("\npool '{}': no hosts", pool.name);
  }
  for (const auto& name : excluded) {
    check.reason += fmt::format("\npool '{}': skipped (not in ssh.allowed_node_pools of {})", name,
                                (options.state_dir / "config.yaml").string());
  }
  return check;
}

namespace {

// The pools named by `pool` (all when empty); InvalidTaskError for an unknown one.
// (`sky ssh up` prepares only the allowed pools; `sky ssh down` may clean
// any pool of the file.)
std::vector<ssh::NodePool> SelectPools(const SkyOptions& options, const std::string& pool,
                                       bool allowed_only) {
  auto pools = allowed_only ? LoadAllowedPools(options, nullptr)
                            : ssh::LoadNodePools(ssh::NodePoolsPath(options.state_dir),
                                                 ssh::SshConfig::Load(options.ssh_config),
                                                 ssh::CurrentPoolsEnvironment());
  if (pools.empty()) {
    throw InvalidTaskError(fmt::format("no SSH node pools: list your machines in {}",
                                       ssh::NodePoolsPath(options.state_dir).string()));
  }
  if (pool.empty()) return pools;
  std::vector<std::string> names;
  for (const auto& each : pools) {
    if (each.name == pool) return {each};
    names.push_back(each.name);
  }
  throw InvalidTaskError(fmt::format("no SSH node pool '{}' in {}; the pools are {}", pool,
                                     ssh::NodePoolsPath(options.state_dir).string(),
                                     strings::JoinQuoted(names, " and ")),
                         {}, strings::CloseMatches(pool, names));
}

std::vector<SshHostReport> ToReports(const std::vector<backend::HostOutcome>& outcomes) {
  std::vector<SshHostReport> reports;
  for (const auto& outcome : outcomes) {
    reports.push_back({outcome.pool, outcome.host, outcome.ok, outcome.detail});
  }
  return reports;
}

}  // namespace

std::vector<SshHostReport> Sky::SshUp(const std::string& pool) {
  const auto pools = SelectPools(options_, pool, true);
  Check({"ssh"});  // probes every pool and refreshes the cached inventory
  return ToReports(backend::InstallOnHosts(impl_->MakeBackendContext(), pools));
}

std::vector<SshHostReport> Sky::SshDown(const std::string& pool) {
  const auto pools = SelectPools(options_, pool, false);
  std::vector<std::string> busy;
  for (const auto& cluster : state().ListClusters()) {
    if (!cluster.handle.is_object() || cluster.handle.value("infra", "") != "ssh") continue;
    for (const auto& each : pools) {
      if (cluster.handle.value("pool", "") == each.name) busy.push_back(cluster.name);
    }
  }
  if (!busy.empty()) {
    throw NotSupportedError(fmt::format(
        "cluster{} {} still run{} on the pool{}; `sky down {}` first", busy.size() == 1 ? "" : "s",
        strings::JoinQuoted(busy, " and "), busy.size() == 1 ? "s" : "",
        pools.size() == 1 ? "" : "s", fmt::join(busy, " ")));
  }
  return ToReports(backend::CleanHosts(impl_->MakeBackendContext(), pools));
}

}  // namespace skycore
