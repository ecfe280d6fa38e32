#include "infra/slurm/show_gpus.h"

#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <set>
#include <vector>

#include "common/strings.h"
#include "common/table.h"
#include "infra/slurm/check.h"
#include "infra/slurm/inventory.h"
#include "skycore/error.h"

namespace skycore {
namespace {}  // namespace

int ShowSlurmGpus(const SkyOptions& options, const std::string& cluster,
                  const std::string& partition_filter) {
  const SlurmProbe probe = ProbeSlurm(options, cluster);
  if (!partition_filter.empty()) {
    // ProbeSlurm left exactly the one cluster named.
    const auto& inventory = probe.inventory.clusters.at(0);
    const auto partitions = inventory.Partitions();
    if (inventory.ready() &&
        std::find(partitions.begin(), partitions.end(), partition_filter) == partitions.end()) {
      throw InvalidSkyPilotConfigError(
          fmt::format("no partition '{}' in Slurm cluster '{}' (partitions: {})", partition_filter,
                      cluster, fmt::join(partitions, ", ")),
          {}, strings::CloseMatches(partition_filter, partitions));
    }
  }
  for (const auto& problem : probe.problems) std::cerr << "sky: warning: " << problem << "\n";
  int failed = 0;
  struct Totals {
    int max_per_node = 0;
    int total = 0;
    int free = 0;
  };
  // (cluster, partition, GPU) in sinfo's order of clusters and partitions.
  std::vector<std::vector<std::string>> summary = {
      {"CLUSTER", "PARTITION", "GPU", "REQUESTABLE_QTY_PER_NODE", "UTILIZATION"}};
  std::vector<std::vector<std::string>> per_node = {
      {"CLUSTER", "PARTITION", "NODE", "STATE", "GPU", "UTILIZATION"}};
  for (const auto& inventory : probe.inventory.clusters) {
    if (!inventory.ready()) {
      std::cerr << fmt::format("sky: cluster '{}': {}\n", inventory.cluster, inventory.error);
      ++failed;
      continue;
    }
    for (const auto& partition : inventory.Partitions()) {
      if (!partition_filter.empty() && partition != partition_filter) continue;
      std::map<std::string, Totals> gpus;
      for (const auto& node : inventory.nodes) {
        if (node.partition != partition) continue;
        std::string names;
        std::string utilization;
        for (const auto& gpu : node.gpus) {
          const int free = node.schedulable() ? std::max(0, gpu.total - gpu.used) : 0;
          auto& totals = gpus[gpu.AcceleratorName()];
          totals.max_per_node = std::max(totals.max_per_node, gpu.total);
          totals.total += gpu.total;
          totals.free += free;
          names += (names.empty() ? "" : ", ") + gpu.AcceleratorName();
          utilization +=
              fmt::format("{}{} of {} free", utilization.empty() ? "" : ", ", free, gpu.total);
        }
        per_node.push_back({inventory.cluster, partition, node.name, node.state,
                            names.empty() ? "None" : names,
                            utilization.empty() ? "-" : utilization});
      }
      for (const auto& [name, totals] : gpus) {
        summary.push_back({inventory.cluster, partition, name,
                           RequestableQuantities(totals.max_per_node),
                           fmt::format("{} of {} free", totals.free, totals.total)});
      }
    }
  }
  if (failed == static_cast<int>(probe.inventory.clusters.size())) return 1;
  std::cout << "Slurm GPUs\n";
  if (summary.size() == 1) {
    std::cout << "No GPUs found in these clusters.\n";
  } else {
    std::cout << FormatTable(summary);
  }
  std::cout << "\nSlurm per-node GPU availability\n";
  std::cout << FormatTable(per_node);
  return failed == 0 ? 0 : 1;
}

}  // namespace skycore
