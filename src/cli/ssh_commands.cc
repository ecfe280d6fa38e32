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
