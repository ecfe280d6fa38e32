// What a Kubernetes context has: per node its GPU type (from labels, in
// SkyPilot's order), allocatable CPU/memory/GPUs and what non-finished pods
// have not requested yet. Fetched by `sky check kubernetes` and `sky show-gpus
// --infra k8s`, cached as JSON at `<state_dir>/kubernetes/inventory.json`, and
// read by the catalog (infra "kubernetes", region = context, price 0): one row
// per node shape, so thousands of like nodes are a handful of rows.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "infra/kubernetes/api_client.h"

namespace skycore::kubernetes {

struct NodeInventory {
  std::string name;
  bool ready = false;
  std::string gpu_name;  // SkyPilot's name ("H100"); empty without GPUs
  int gpu_total = 0;     // allocatable nvidia.com/gpu
  int gpu_free = 0;
  double cpus = 0;  // allocatable
  double cpus_free = 0;
  double memory_gib = 0;  // allocatable
  double memory_free_gib = 0;
};

struct ContextInventory {
  std::string context;
  std::string error;  // why the context could not be read; empty when it was
  std::vector<NodeInventory> nodes;
  int64_t nodes_listed_at = 0;  // Unix seconds of the node list; 0: unknown
};

struct Inventory {
  static constexpr int kVersion = 1;
  std::vector<ContextInventory> contexts;

  nlohmann::json ToJson() const;
  static std::optional<Inventory> FromJson(const nlohmann::json& json);
  bool AnyReady() const;
};

// The GPU type a node's labels give, checking skypilot.co/accelerator,
// cloud.google.com/gke-accelerator, karpenter.k8s.aws/instance-gpu-name and
// nvidia.com/gpu.product in that order; empty when none is set.
std::string GpuNameFromLabels(const nlohmann::json& labels);

// Builds a context's inventory from a NodeList and a PodList (pure).
ContextInventory BuildInventory(const std::string& context, const nlohmann::json& nodes,
                                const nlohmann::json& pods);

// Sets every node's free CPUs, memory and GPUs to its allocatable ones less
// the requests of the PodList's non-finished pods bound to it (pure).
void ApplyPods(ContextInventory& inventory, const nlohmann::json& pods);

// Lists nodes and non-finished pods through `client`; `nodes_listed_at` is
// left 0 for the caller to stamp. Throws what Get throws.
ContextInventory FetchInventory(const ApiClient& client);

// Lists the non-finished pods bound to nodes and recomputes `inventory`'s free
// resources from them, keeping its nodes (a few pods instead of thousands of
// nodes on a large cluster). Throws what Get throws.
void RefreshPods(const ApiClient& client, ContextInventory& inventory);

void SaveInventory(const std::filesystem::path& path, const Inventory& inventory);
std::optional<Inventory> LoadInventory(const std::filesystem::path& path);
std::filesystem::path InventoryPath(const std::filesystem::path& state_dir);

// Catalog rows for the readable contexts: one per node shape (CPUs, memory,
// GPU type) and GPU count from 0 to the shape's GPUs; region = context.
// A context in `autoscaling` (its config names a cluster autoscaler) also
// gets rows for a node the autoscaler may add: any CPUs and memory, and the
// GPUs SkyPilot knows by name (1 to 16), after every existing node's rows.
// SkyPilot plans such a context without asking whether a node can be added
// (it asks GKE's node pools only, which skycore cannot reach).
std::string InventoryCatalogCsv(const Inventory& inventory,
                                const std::set<std::string>& autoscaling = {});
// The rows of the cached inventory; nullopt without one. Never the network.
std::optional<std::string> CachedCatalogCsv(const std::filesystem::path& state_dir);

}  // namespace skycore::kubernetes
