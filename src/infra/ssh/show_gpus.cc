#include "infra/ssh/show_gpus.h"

#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <map>

#include "common/table.h"
#include "infra/ssh/inventory.h"
#include "skycore/state.h"

namespace skycore {

void PrintSshHostGpus(const std::string& pool, const std::filesystem::path& state_dir) {
  const auto inventory = ssh::LoadInventory(ssh::InventoryPath(state_dir));
  if (!inventory) return;
  StateStoreOptions store_options;
  store_options.state_dir = state_dir;
  // GPUs each cluster on a pool holds, by (pool, host).
  std::map<std::pair<std::string, std::string>, int> held;
  for (const auto& cluster : OpenSqliteStateStore(store_options)->ListClusters()) {
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

}  // namespace skycore
