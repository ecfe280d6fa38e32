// What the hosts of the SSH node pools have: probed over SSH by `sky check`,
// cached as JSON at `<state_dir>/ssh/inventory.json`, and read by the catalog
// (infra "ssh", region = pool name, price 0) without touching the network.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "backend/ssh_runner.h"
#include "infra/ssh/node_pools.h"

namespace skycore::ssh {

struct HostInventory {
  std::string pool;
  std::string name;  // as in the pools file
  std::string address;
  int port = 22;
  std::string user;
  bool reachable = false;      // a connection was made
  bool authenticated = false;  // and our key was accepted
  std::string os;              // `uname -sm`: "Linux x86_64"
  double cpus = 0;             // `nproc`
  double memory_gib = 0;       // MemTotal
  std::string gpu_name;        // canonical ("H100"); empty without GPUs
  int gpu_count = 0;
  std::string error;  // why the host cannot be used; empty when it can

  bool ready() const { return error.empty(); }
  // "Linux x86_64, 4 CPUs, 15.5 GiB memory, 2x H100" or the error.
  std::string Describe() const;
};

// Persisted with a version; a file of another version is not read.
struct Inventory {
  static constexpr int kVersion = 1;
  std::vector<HostInventory> hosts;

  nlohmann::json ToJson() const;
  // Throws StateError for JSON that is not an inventory of kVersion.
  static Inventory FromJson(const nlohmann::json& json);
  bool AnyReady() const;
};

// Probes every host of every pool in parallel (reachability, auth, OS, CPUs,
// memory, GPUs). Never throws for a host's failure: it is in that host's `error`.
Inventory ProbePools(const std::vector<NodePool>& pools, const RunnerOptions& options,
                     double deadline_s, const SpawnFunction& spawn = {});

// Reads the probe command's output into `host` (exposed for tests).
void ParseProbeOutput(const std::string& output, HostInventory& host);

// Writes atomically (a temporary file renamed over the old one).
void SaveInventory(const std::filesystem::path& path, const Inventory& inventory);
// nullopt when absent, unreadable or of another version (run `sky check ssh`).
std::optional<Inventory> LoadInventory(const std::filesystem::path& path);

// Catalog rows for the ready hosts: per host a CPU-only row and one per GPU
// count, instance type = the host's name, region = its pool.
std::string InventoryCatalogCsv(const Inventory& inventory);

// The catalog rows of the pools as the last `sky check` found them: nullopt
// unless `<state_dir>/ssh_node_pools.yaml` exists and some host was ready.
// Reads only the cache, never the network.
std::optional<std::string> CachedPoolsCatalogCsv(const std::filesystem::path& state_dir);

// A per-pool, per-host report for `sky check`, one line each; hosts indented.
std::string DescribePools(const Inventory& inventory);

// `<state_dir>/ssh_node_pools.yaml`, `<state_dir>/ssh/inventory.json`,
// `<state_dir>/ssh/known_hosts`.
std::filesystem::path NodePoolsPath(const std::filesystem::path& state_dir);
std::filesystem::path InventoryPath(const std::filesystem::path& state_dir);
std::filesystem::path KnownHostsPath(const std::filesystem::path& state_dir);

}  // namespace skycore::ssh
