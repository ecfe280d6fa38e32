// What the Slurm clusters have: asked of each cluster's login node over SSH
// (`sinfo`) by `sky check slurm`, cached as JSON at
// `<state_dir>/slurm/inventory.json`, and read by the catalog (infra "slurm",
// region = cluster, zone = partition, price 0) without touching the network.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "backend/ssh_runner.h"
#include "infra/slurm/config.h"

namespace skycore::slurm {

// One kind of GPU of a node, from its GRES (`gpu:h100:2`, used `gpu:h100:1(IDX:0)`).
struct NodeGpus {
  std::string type;  // as Slurm names it ("h100"); empty for an untyped `gpu:2`
  int total = 0;
  int used = 0;
  // The accelerator name the catalog uses ("H100"; "GPU" when untyped).
  std::string AcceleratorName() const;
};

// One node as one partition sees it (sinfo lists a node once per partition).
struct NodeInventory {
  std::string name;
  std::string partition;
  std::string address;  // NodeAddr
  int cpus_total = 0;
  int cpus_allocated = 0;
  int memory_mb = 0;  // RealMemory
  std::vector<NodeGpus> gpus;
  std::string state;  // sinfo's long state: "idle", "mixed", "allocated", "down*", "drained", ...

  // Whether jobs can be placed on the node now or later: not down, drained,
  // failing or unknown.
  bool schedulable() const;
  int gpus_total() const;
  int gpus_free() const;  // 0 when not schedulable
};

struct ClusterInventory {
  std::string cluster;
  std::string login;              // "alice@login:22"
  std::string default_partition;  // the one sinfo marks with '*'; empty if none
  // Whether memory is a consumable resource (SelectTypeParameters names
  // Memory, or cannot be read): when not, an allocation that did not ask for
  // memory omits --mem, as SkyPilot's does.
  bool tracks_memory = true;
  std::vector<NodeInventory> nodes;
  std::string error;  // why the cluster cannot be used; empty when it can

  bool ready() const { return error.empty(); }
  // Partitions in sinfo's order.
  std::vector<std::string> Partitions() const;
};

// Persisted with a version; a file of another version is not read.
struct Inventory {
  static constexpr int kVersion = 1;
  std::vector<ClusterInventory> clusters;

  nlohmann::json ToJson() const;
  // Throws StateError for JSON that is not an inventory of kVersion.
  static Inventory FromJson(const nlohmann::json& json);
  bool AnyReady() const;
};

// The sinfo command the probe runs: one `|`-separated line per node and
// partition, fields as ParseSinfo reads them.
const char* SinfoCommand();

// Whether the probe's output says the cluster tracks memory (a line
// "SelectTypeParameters=CR_Core_Memory"); true when it does not say.
bool TracksMemory(const std::string& output);

// Reads SinfoCommand's output. Throws CommandError naming the line for output
// that is not in that format (e.g. a wrapper script printing something else).
std::vector<NodeInventory> ParseSinfo(const std::string& output,
                                      std::string* default_partition = nullptr);

// Parses one GRES field ("gpu:h100:2(S:0-1),gpu:a100:1" or "(null)") into its
// GPUs; `used` fields ("gpu:h100:1(IDX:0)") fill NodeGpus::used instead.
void ParseGres(const std::string& field, std::vector<NodeGpus>& gpus, bool used);

// Asks one cluster's login node for its nodes. Never throws: a failure
// (unreachable, authentication, sinfo missing or failing) is in `error`.
ClusterInventory ProbeCluster(const ClusterConfig& cluster, const ssh::RunnerOptions& options,
                              double deadline_s, const ssh::SpawnFunction& spawn = {});

// ProbeCluster for every cluster, in parallel.
Inventory ProbeClusters(const std::vector<ClusterConfig>& clusters,
                        const ssh::RunnerOptions& options, double deadline_s,
                        const ssh::SpawnFunction& spawn = {});

// Writes atomically (a temporary file renamed over the old one).
void SaveInventory(const std::filesystem::path& path, const Inventory& inventory);
// nullopt when absent, unreadable or of another version (run `sky check slurm`).
std::optional<Inventory> LoadInventory(const std::filesystem::path& path);

// Catalog rows of the ready clusters: per partition and node shape a CPU-only
// row and one per GPU count, named as SkyPilot names Kubernetes shapes
// ("4CPU--3.9GB", "4CPU--3.9GB--H100:2"), region = cluster, zone = partition.
std::string InventoryCatalogCsv(const Inventory& inventory);

// The catalog rows as the last `sky check slurm` found them: nullopt unless
// some cluster was ready. Reads only the cache, never the network.
std::optional<std::string> CachedCatalogCsv(const std::filesystem::path& state_dir);

// A per-cluster report for `sky check`: a summary line per cluster, then one
// indented line per partition.
std::string DescribeClusters(const Inventory& inventory);

// `<state_dir>/slurm/inventory.json`.
std::filesystem::path InventoryPath(const std::filesystem::path& state_dir);

}  // namespace skycore::slurm
