#include "infra/kubernetes/show_gpus.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <vector>

#include "common/table.h"
#include "infra/kubernetes/allowed_contexts.h"
#include "infra/kubernetes/api_client.h"
#include "infra/kubernetes/inventory.h"
#include "infra/kubernetes/kubeconfig.h"
#include "skycore/error.h"

namespace skycore {
namespace {

std::optional<std::string> LookupEnv(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
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
  std::cout << FormatTable(rows);
}

}  // namespace

int ShowKubernetesGpus(const std::string& context_name, const std::filesystem::path& state_dir,
                       bool refresh, int64_t now) {
  const auto config = kubernetes::LoadKubeconfig(kubernetes::KubeconfigPaths(LookupEnv),
                                                 kubernetes::InClusterFromEnvironment(LookupEnv));
  kubernetes::ResolveOptions resolve;
  resolve.cache =
      std::make_shared<kubernetes::CredentialCache>(kubernetes::CredentialCacheDir(state_dir));
  const std::vector<std::string> contexts =
      context_name.empty()
          ? kubernetes::ContextsToUse(
                config, kubernetes::ReadAllowedContexts(
                            state_dir.empty() ? state_dir : state_dir / "config.yaml"))
          : std::vector<std::string>{context_name};
  // The inventory `sky check kubernetes` cached: a context's nodes are reused
  // while young enough; its pods are listed again each time.
  std::optional<kubernetes::Inventory> cache;
  if (!state_dir.empty()) cache = kubernetes::LoadInventory(kubernetes::InventoryPath(state_dir));
  auto cached = [&](const std::string& name) -> kubernetes::ContextInventory* {
    if (!cache) return nullptr;
    for (auto& context : cache->contexts) {
      if (context.context == name) return &context;
    }
    return nullptr;
  };
  bool cache_changed = false;
  std::vector<kubernetes::ContextInventory> inventories;
  for (const auto& name : contexts) {
    // One unreachable context of several is reported, not fatal.
    try {
      const kubernetes::ApiClient client(kubernetes::ResolveContext(config, name, resolve));
      kubernetes::ContextInventory* entry = cached(name);
      const bool nodes_fresh = !refresh && entry != nullptr && entry->error.empty() &&
                               entry->nodes_listed_at > 0 && now >= entry->nodes_listed_at &&
                               now - entry->nodes_listed_at <= kKubernetesNodesMaxAgeS;
      if (nodes_fresh) {
        kubernetes::RefreshPods(client, *entry);
        inventories.push_back(*entry);
        continue;
      }
      inventories.push_back(kubernetes::FetchInventory(client));
      inventories.back().nodes_listed_at = now;
      // Only a context `sky check` cached is updated: showing GPUs does not
      // enable an infra.
      if (entry != nullptr) {
        *entry = inventories.back();
        cache_changed = true;
      }
    } catch (const Error& e) {
      if (contexts.size() == 1) throw;
      std::cerr << "sky: warning: " << e.message() << "\n";
    }
  }
  if (cache_changed) kubernetes::SaveInventory(kubernetes::InventoryPath(state_dir), *cache);
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
  std::cout << FormatTable(rows);
  return 0;
}

}  // namespace skycore
