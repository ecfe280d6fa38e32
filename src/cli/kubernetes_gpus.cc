#include "cli/kubernetes_gpus.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>
#include <vector>

#include "kubernetes/allowed_contexts.h"
#include "kubernetes/api_client.h"
#include "kubernetes/inventory.h"
#include "kubernetes/kubeconfig.h"
#include "skycore/error.h"

namespace skycore::cli {
namespace {

std::optional<std::string> LookupEnv(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
}

// SkyPilot's requestable quantities: powers of two up to the largest node's
// count, and that count.
std::string RequestableQuantities(int max_per_node) {
  std::vector<std::string> texts;
  int count = 1;
  for (; count < max_per_node; count *= 2) texts.push_back(std::to_string(count));
  texts.push_back(std::to_string(max_per_node));
  return fmt::format("{}", fmt::join(texts, ", "));
}

void PrintContextSummary(const kubernetes::ContextInventory& inventory) {
  struct GpuTotals {
    int max_per_node = 0;
    int total = 0;
    int free = 0;
  };
  std::map<std::string, GpuTotals> gpus;
  for (const auto& node : inventory.nodes) {
    if (node.gpu_total == 0) continue;
    auto& totals = gpus[node.gpu_name];
    totals.max_per_node = std::max(totals.max_per_node, node.gpu_total);
    totals.total += node.gpu_total;
    totals.free += node.gpu_free;
  }
  std::cout << "Kubernetes GPUs\n";
  std::cout << fmt::format("Context: {}\n", inventory.context);
  if (gpus.empty()) {
    std::cout << "No GPUs found in this context.\n";
    return;
  }
  std::vector<std::vector<std::string>> rows = {{"GPU", "REQUESTABLE_QTY_PER_NODE", "UTILIZATION"}};
  for (const auto& [name, totals] : gpus) {
    rows.push_back({name, RequestableQuantities(totals.max_per_node),
                    fmt::format("{} of {} free", totals.free, totals.total)});
  }
  PrintTable(rows);
}

}  // namespace

int ShowKubernetesGpus(const std::string& context_name, const std::filesystem::path& sky_config) {
  const auto config = kubernetes::LoadKubeconfig(kubernetes::KubeconfigPaths(LookupEnv));
  const std::vector<std::string> contexts =
      context_name.empty()
          ? kubernetes::ContextsToUse(config, kubernetes::ReadAllowedContexts(sky_config))
          : std::vector<std::string>{context_name};
  std::vector<kubernetes::ContextInventory> inventories;
  for (const auto& name : contexts) {
    // One unreachable context of several is reported, not fatal.
    try {
      inventories.push_back(kubernetes::FetchInventory(
          kubernetes::ApiClient(kubernetes::ResolveContext(config, name))));
    } catch (const Error& e) {
      if (contexts.size() == 1) throw;
      std::cerr << "sky: warning: " << e.message() << "\n";
    }
  }
  for (size_t i = 0; i < inventories.size(); ++i) {
    if (i > 0) std::cout << "\n";
    PrintContextSummary(inventories[i]);
  }
  std::cout << "\nKubernetes per-node GPU availability\n";
  std::vector<std::vector<std::string>> rows = {{"CONTEXT", "NODE", "GPU", "UTILIZATION"}};
  for (const auto& inventory : inventories) {
    for (const auto& node : inventory.nodes) {
      rows.push_back({inventory.context, node.name, node.gpu_total > 0 ? node.gpu_name : "None",
                      fmt::format("{} of {} free{}", node.gpu_free, node.gpu_total,
                                  node.ready ? "" : " (NotReady)")});
    }
  }
  PrintTable(rows);
  return 0;
}

}  // namespace skycore::cli
