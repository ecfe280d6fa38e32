// `sky check kubernetes` and the catalog rows of Kubernetes contexts.
#include "infra/kubernetes/check.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <cmath>
#include <map>

#include "infra/kubernetes/allowed_contexts.h"
#include "infra/kubernetes/api_client.h"
#include "infra/kubernetes/inventory.h"
#include "infra/kubernetes/kubeconfig.h"

namespace skycore {
namespace fs = std::filesystem;

namespace {

// "context 'skycore': 3 nodes ready, 16 H100 (16 free), 48 CPUs".
std::string DescribeContext(const kubernetes::ContextInventory& context) {
  size_t ready = 0;
  double cpus = 0;
  std::map<std::string, std::pair<int, int>> gpus;  // name -> (total, free)
  for (const auto& node : context.nodes) {
    if (!node.ready) continue;
    ++ready;
    cpus += node.cpus;
    if (node.gpu_total > 0) {
      gpus[node.gpu_name].first += node.gpu_total;
      gpus[node.gpu_name].second += node.gpu_free;
    }
  }
  std::string text =
      fmt::format("context '{}': {} of {} node{} ready, {} CPUs", context.context, ready,
                  context.nodes.size(), context.nodes.size() == 1 ? "" : "s", std::floor(cpus));
  for (const auto& [name, counts] : gpus) {
    text += fmt::format(", {} {} ({} free)", counts.first, name, counts.second);
  }
  if (gpus.empty()) text += ", no GPUs";
  return text;
}

}  // namespace

InfraCheck CheckKubernetes(const SkyOptions& options) {
  InfraCheck check{"kubernetes", false, ""};
  kubernetes::Inventory inventory;
  try {
    const auto config = kubernetes::LoadKubeconfig(
        options.kubeconfig_paths,
        kubernetes::InClusterFromEnvironment(kubernetes::ProcessEnvironment));
    kubernetes::ResolveOptions resolve;
    resolve.cache = std::make_shared<kubernetes::CredentialCache>(
        kubernetes::CredentialCacheDir(options.state_dir));
    const auto allowed = kubernetes::ReadAllowedContexts(
        options.state_dir.empty() ? fs::path() : options.state_dir / "config.yaml");
    for (const auto& name : kubernetes::ContextsToUse(config, allowed)) {
      kubernetes::ContextInventory context;
      context.context = name;
      try {
        context = kubernetes::FetchInventory(
            kubernetes::ApiClient(kubernetes::ResolveContext(config, name, resolve)));
        context.nodes_listed_at = std::chrono::duration_cast<std::chrono::seconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count();
      } catch (const Error& e) {
        context.error = e.message();
      }
      inventory.contexts.push_back(std::move(context));
    }
  } catch (const Error& e) {
    // No usable kubeconfig or SkyPilot config: nothing to list.
    check.reason = e.message();
  }
  if (!options.state_dir.empty()) {
    kubernetes::SaveInventory(kubernetes::InventoryPath(options.state_dir), inventory);
  }
  check.enabled = inventory.AnyReady();
  std::vector<std::string> lines;
  for (const auto& context : inventory.contexts) {
    if (!context.error.empty()) {
      lines.push_back(context.error);  // it names the context
    } else {
      lines.push_back(DescribeContext(context));
    }
  }
  if (!lines.empty()) check.reason = fmt::format("{}", fmt::join(lines, "\n"));
  return check;
}

}  // namespace skycore
