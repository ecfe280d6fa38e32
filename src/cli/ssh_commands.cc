#include "cli/ssh_commands.h"

#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "cli/display.h"
#include "cli/terminal.h"
#include "skycore/skycore.h"
#include "ssh/inventory.h"

namespace skycore::cli {
namespace {

int Report(const std::vector<SshHostReport>& reports, const char* done) {
  const bool fancy = FancyStdout();
  int failed = 0;
  std::string pool;
  for (const auto& report : reports) {
    if (report.pool != pool) {
      pool = report.pool;
      std::cout << fmt::format("SSH node pool '{}':\n", pool);
    }
    if (report.ok) {
      std::cout << fmt::format("  {}: {} {}\n", report.host, Style(done, kGreen, fancy),
                               Style(fmt::format("({})", report.detail), kDim, fancy));
    } else {
      ++failed;
      std::cout << fmt::format("  {}: {} {}\n", report.host, Style("failed", kRed, fancy),
                               report.detail);
    }
  }
  if (failed > 0) {
    std::cout << fmt::format("{} of {} host{} failed; `sky check ssh` says why in detail.\n",
                             failed, reports.size(), reports.size() == 1 ? "" : "s");
    return 1;
  }
  return 0;
}

}  // namespace

void PrintSshHostGpus(const std::string& pool) {
  auto sky = OpenSky();
  const auto inventory = ssh::LoadInventory(ssh::InventoryPath(sky->options().state_dir));
  if (!inventory) return;
  // GPUs each cluster on a pool holds, by (pool, host).
  std::map<std::pair<std::string, std::string>, int> held;
  for (const auto& cluster : sky->Status({}, false)) {
    const auto& handle = cluster.handle;
    if (!handle.is_object() || handle.value("infra", "") != "ssh") continue;
    for (const auto& node : handle.value("nodes", nlohmann::json::array())) {
      held[{handle.value("pool", ""), node.value("host", "")}] +=
          static_cast<int>(node.value("gpu_ids", nlohmann::json::array()).size());
    }
  }
  std::vector<std::vector<std::string>> rows = {{"POOL", "HOST", "GPU", "FREE", "TOTAL"}};
  for (const auto& host : inventory->hosts) {
    if (!host.ready() || (!pool.empty() && host.pool != pool)) continue;
    if (host.gpu_count == 0) {
      rows.push_back({host.pool, host.name, "-", "-", "-"});
      continue;
    }
    const int used = held[{host.pool, host.name}];
    rows.push_back({host.pool, host.name, host.gpu_name,
                    std::to_string(std::max(0, host.gpu_count - used)),
                    std::to_string(host.gpu_count)});
  }
  if (rows.size() == 1) return;
  std::cout << "\nSSH Node Pool per-host GPU availability\n" << FormatTable(rows);
}

std::function<std::optional<int>()> AddSshCommands(CLI::App& app) {
  CLI::App* ssh = app.add_subcommand(
      "ssh", "Prepare the machines of SSH node pools (~/.sky/ssh_node_pools.yaml) for skycore.");
  ssh->require_subcommand(1);
  auto up_pool = std::make_shared<std::string>();
  CLI::App* up = ssh->add_subcommand(
      "up",
      "Probe every host of the pools (reachable, auth, CPUs, memory, GPUs) and install the "
      "skycore agent there.");
  up->add_option("--infra", *up_pool, "Only this pool (default: every pool)");
  auto down_pool = std::make_shared<std::string>();
  CLI::App* down = ssh->add_subcommand(
      "down", "Remove everything skycore put on the hosts of the pools (clusters must be down).");
  down->add_option("--infra", *down_pool, "Only this pool (default: every pool)");

  auto strip = [](std::string pool) {
    // `--infra ssh/gpus` reads as `--infra gpus`, as in SkyPilot.
    if (pool.rfind("ssh/", 0) == 0) pool = pool.substr(4);
    return pool;
  };
  return [=]() -> std::optional<int> {
    if (up->parsed()) return Report(OpenSky()->SshUp(strip(*up_pool)), "ready");
    if (down->parsed()) return Report(OpenSky()->SshDown(strip(*down_pool)), "cleaned");
    return std::nullopt;
  };
}

}  // namespace skycore::cli
