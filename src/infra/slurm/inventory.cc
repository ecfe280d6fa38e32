#include "infra/slurm/inventory.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include "common/files.h"
#include "common/strings.h"
#include "skycore/error.h"

namespace skycore::slurm {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// `-O` because GresUsed has no `-o` letter. Width 0 prints a field whole,
// neither padded nor cut (a width cuts a long GRES list), and `|` ends each
// field, so spaces in a value cannot shift the columns.
constexpr const char* kSinfo =
    "sinfo -h -N -O "
    "'NodeList:0|,Partition:0|,NodeAddr:0|,CPUsState:0|,Memory:0|,Gres:0|,GresUsed:0|,"
    "StateLong:0|'";
constexpr size_t kSinfoFields = 8;

// Without it, a login shell lacking Slurm says "sh: sinfo: not found" in its
// own words; this line is recognisable whatever the shell.
const std::string kProbeCommand =
    std::string(
        "command -v sinfo >/dev/null 2>&1 || { echo 'sinfo: command not found'; exit 127; }; ") +
    kSinfo +
    " 2>&1; status=$?; "
    // A line ParseSinfo skips (no '|'): what the cluster counts as consumable.
    "scontrol show config 2>/dev/null | sed -n 's/^SelectTypeParameters *= */"
    "SelectTypeParameters=/p'; exit $status";

constexpr size_t kMaxParallelProbes = 16;

int ParseCount(std::string_view text, const std::string& what, size_t line_number) {
  long long value = 0;
  if (!strings::ParseInt(strings::Trim(text), value) || value < 0) {
    throw CommandError(fmt::format("sinfo output line {}: {} '{}' is not a count", line_number,
                                   what, std::string(text)));
  }
  return static_cast<int>(value);
}

std::string StateBase(const std::string& state) {
  std::string base = strings::Lower(state);
  // Flags sinfo appends: * not responding, ~ powered off, # powering up,
  // ! powering down, % powering off, $ maintenance, @ reboot pending, ^ rebooting, - planned.
  while (!base.empty() && std::string_view("*~#!%$@^-").find(base.back()) != std::string::npos) {
    base.pop_back();
  }
  return base;
}

std::string FormatGib(int memory_mb) {
  return strings::FormatNumber(std::floor(memory_mb / 1024.0 * 10) / 10);
}

std::string Plural(size_t count, const char* word) {
  return fmt::format("{} {}{}", count, word, count == 1 ? "" : "s");
}

}  // namespace

// ------------------------------------------------------------ parsing

std::string NodeGpus::AcceleratorName() const {
  return type.empty() ? std::string("GPU") : strings::Upper(type);
}

bool NodeInventory::schedulable() const {
  if (state.ends_with('*')) return false;  // not responding
  static const std::set<std::string> kUnusable = {"down",   "drain",   "drained", "draining",
                                                  "fail",   "failing", "inval",   "unknown",
                                                  "future", "maint"};
  return !kUnusable.contains(StateBase(state));
}

int NodeInventory::gpus_total() const {
  int total = 0;
  for (const auto& gpu : gpus) total += gpu.total;
  return total;
}

int NodeInventory::gpus_free() const {
  if (!schedulable()) return 0;
  int free = 0;
  for (const auto& gpu : gpus) free += std::max(0, gpu.total - gpu.used);
  return free;
}

void ParseGres(const std::string& field, std::vector<NodeGpus>& gpus, bool used) {
  // Entries are comma-separated, but a socket or index list in parentheses
  // may hold commas too ("gpu:h100:4(S:0,1)"): split outside parentheses.
  std::vector<std::string> entries;
  std::string current;
  int depth = 0;
  for (char c : field) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      entries.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  entries.push_back(current);
  for (std::string entry : entries) {
    if (auto paren = entry.find('('); paren != std::string::npos) entry.erase(paren);
    entry = std::string(strings::Trim(entry));
    auto parts = strings::Split(entry, ':');
    if (parts.empty() || parts[0] != "gpu") continue;  // "(null)", other GRES
    NodeGpus gpu;
    long long count = 0;
    if (parts.size() == 2 && strings::ParseInt(parts[1], count)) {
      // "gpu:2": untyped.
    } else if (parts.size() >= 3 && strings::ParseInt(parts.back(), count)) {
      gpu.type = parts[1];
    } else {
      continue;
    }
    auto it = std::find_if(gpus.begin(), gpus.end(),
                           [&](const NodeGpus& known) { return known.type == gpu.type; });
    if (it == gpus.end()) {
      gpus.push_back(gpu);
      it = gpus.end() - 1;
    }
    (used ? it->used : it->total) += static_cast<int>(count);
  }
}

const char* SinfoCommand() { return kSinfo; }

bool TracksMemory(const std::string& output) {
  constexpr std::string_view kKey = "SelectTypeParameters=";
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    const std::string_view text = strings::Trim(line);
    if (text.substr(0, kKey.size()) != kKey) continue;
    std::string value(text.substr(kKey.size()));
    for (char& c : value) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    // "(null)" or nothing: unknown, assumed tracked.
    if (value.empty() || value == "(NULL)") return true;
    return value.find("MEMORY") != std::string::npos;
  }
  return true;
}

std::vector<NodeInventory> ParseSinfo(const std::string& output, std::string* default_partition) {
  std::vector<NodeInventory> nodes;
  std::istringstream lines(output);
  std::string line;
  size_t line_number = 0;
  while (std::getline(lines, line)) {
    ++line_number;
    // Lines without a separator are sinfo's messages (its stderr is merged in).
    if (line.find('|') == std::string::npos) continue;
    std::vector<std::string> fields;
    for (const auto& field : strings::Split(line, '|')) {
      fields.emplace_back(strings::Trim(field));
    }
    if (fields.size() == kSinfoFields + 1 && fields.back().empty()) fields.pop_back();
    if (fields.size() != kSinfoFields) {
      throw CommandError(fmt::format("sinfo output line {} has {} fields, expected {}: '{}'",
                                     line_number, fields.size(), kSinfoFields, line));
    }
    NodeInventory node;
    node.name = fields[0];
    node.partition = fields[1];
    if (node.partition.ends_with('*')) {
      node.partition.pop_back();
      if (default_partition != nullptr) *default_partition = node.partition;
    }
    node.address = fields[2];
    // CPUsState: allocated/idle/other/total.
    auto cpus = strings::Split(fields[3], '/');
    if (cpus.size() != 4) {
      throw CommandError(fmt::format("sinfo output line {}: CPU state '{}' is not A/I/O/T",
                                     line_number, fields[3]));
    }
    node.cpus_allocated = ParseCount(cpus[0], "allocated CPUs", line_number);
    node.cpus_total = ParseCount(cpus[3], "total CPUs", line_number);
    node.memory_mb = ParseCount(fields[4], "memory", line_number);
    ParseGres(fields[5], node.gpus, /*used=*/false);
    ParseGres(fields[6], node.gpus, /*used=*/true);
    node.state = fields[7];
    if (node.name.empty() || node.partition.empty()) {
      throw CommandError(
          fmt::format("sinfo output line {} names no node or partition: '{}'", line_number, line));
    }
    nodes.push_back(std::move(node));
  }
  return nodes;
}

std::vector<std::string> ClusterInventory::Partitions() const {
  std::vector<std::string> partitions;
  for (const auto& node : nodes) {
    if (std::find(partitions.begin(), partitions.end(), node.partition) == partitions.end()) {
      partitions.push_back(node.partition);
    }
  }
  return partitions;
}

// ------------------------------------------------------------ probing

ClusterInventory ProbeCluster(const ClusterConfig& cluster, const ssh::RunnerOptions& options,
                              double deadline_s, const ssh::SpawnFunction& spawn) {
  ClusterInventory inventory;
  inventory.cluster = cluster.name;
  inventory.login = cluster.login.Display();
  const ssh::SshResult result =
      ssh::SshRunner(cluster.login, options, spawn).Run(kProbeCommand, deadline_s);
  const std::string where = fmt::format("on login node {}", inventory.login);
  switch (result.outcome) {
    case ssh::SshOutcome::kOk:
      break;
    case ssh::SshOutcome::kAuthFailed:
    case ssh::SshOutcome::kHostKeyMismatch:
      inventory.error = "authentication failed: " + result.error;
      return inventory;
    default:
      inventory.error = "login node unreachable: " + result.error;
      return inventory;
  }
  if (result.exit_code == 127) {
    inventory.error = fmt::format(
        "sinfo not found {}: is it a Slurm login node, with Slurm's commands on the PATH of a "
        "non-interactive shell?",
        where);
    return inventory;
  }
  if (result.exit_code != 0) {
    inventory.error = fmt::format("sinfo failed (exit {}) {}: {}", result.exit_code, where,
                                  strings::Trim(result.output));
    return inventory;
  }
  try {
    inventory.nodes = ParseSinfo(result.output, &inventory.default_partition);
    inventory.tracks_memory = TracksMemory(result.output);
  } catch (const CommandError& e) {
    inventory.error = fmt::format("unexpected sinfo output {}: {}", where, e.message());
    return inventory;
  }
  if (inventory.nodes.empty()) {
    inventory.error = fmt::format("sinfo listed no nodes {}", where);
  }
  return inventory;
}

Inventory ProbeClusters(const std::vector<ClusterConfig>& clusters,
                        const ssh::RunnerOptions& options, double deadline_s,
                        const ssh::SpawnFunction& spawn) {
  Inventory inventory;
  inventory.clusters.resize(clusters.size());
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < clusters.size(); i = next++) {
      inventory.clusters[i] = ProbeCluster(clusters[i], options, deadline_s, spawn);
    }
  };
  std::vector<std::thread> threads;
  for (size_t i = 0; i < std::min(clusters.size(), kMaxParallelProbes); ++i) {
    threads.emplace_back(worker);
  }
  for (auto& thread : threads) thread.join();
  return inventory;
}

// ------------------------------------------------------------ persistence

json Inventory::ToJson() const {
  json clusters_json = json::array();
  for (const auto& cluster : clusters) {
    json nodes_json = json::array();
    for (const auto& node : cluster.nodes) {
      json gpus_json = json::array();
      for (const auto& gpu : node.gpus) {
        gpus_json.push_back({{"type", gpu.type}, {"total", gpu.total}, {"used", gpu.used}});
      }
      nodes_json.push_back({{"name", node.name},
                            {"partition", node.partition},
                            {"address", node.address},
                            {"cpus_total", node.cpus_total},
                            {"cpus_allocated", node.cpus_allocated},
                            {"memory_mb", node.memory_mb},
                            {"gpus", gpus_json},
                            {"state", node.state}});
    }
    clusters_json.push_back({{"cluster", cluster.cluster},
                             {"login", cluster.login},
                             {"default_partition", cluster.default_partition},
                             {"tracks_memory", cluster.tracks_memory},
                             {"nodes", nodes_json},
                             {"error", cluster.error}});
  }
  return {{"version", kVersion}, {"clusters", clusters_json}};
}

Inventory Inventory::FromJson(const json& value) {
  try {
    if (!value.is_object() || value.value("version", 0) != kVersion) {
      throw StateError("not a Slurm inventory of version " + std::to_string(kVersion));
    }
    Inventory inventory;
    for (const auto& item : value.at("clusters")) {
      ClusterInventory cluster;
      cluster.cluster = item.at("cluster").get<std::string>();
      cluster.login = item.at("login").get<std::string>();
      cluster.default_partition = item.at("default_partition").get<std::string>();
      cluster.tracks_memory = item.value("tracks_memory", true);
      cluster.error = item.at("error").get<std::string>();
      for (const auto& node_json : item.at("nodes")) {
        NodeInventory node;
        node.name = node_json.at("name").get<std::string>();
        node.partition = node_json.at("partition").get<std::string>();
        node.address = node_json.at("address").get<std::string>();
        node.cpus_total = node_json.at("cpus_total").get<int>();
        node.cpus_allocated = node_json.at("cpus_allocated").get<int>();
        node.memory_mb = node_json.at("memory_mb").get<int>();
        node.state = node_json.at("state").get<std::string>();
        for (const auto& gpu_json : node_json.at("gpus")) {
          node.gpus.push_back({gpu_json.at("type").get<std::string>(),
                               gpu_json.at("total").get<int>(), gpu_json.at("used").get<int>()});
        }
        cluster.nodes.push_back(std::move(node));
      }
      inventory.clusters.push_back(std::move(cluster));
    }
    return inventory;
  } catch (const json::exception& e) {
    throw StateError(fmt::format("malformed Slurm inventory: {}", e.what()));
  }
}

bool Inventory::AnyReady() const {
  return std::any_of(clusters.begin(), clusters.end(),
                     [](const auto& cluster) { return cluster.ready(); });
}

void SaveInventory(const fs::path& path, const Inventory& inventory) {
  files::WriteAtomically(path, inventory.ToJson().dump(2) + "\n");
}

std::optional<Inventory> LoadInventory(const fs::path& path) {
  const auto document = files::ReadJsonFile(path);
  if (!document) return std::nullopt;
  try {
    return Inventory::FromJson(*document);
  } catch (const json::exception&) {
    return std::nullopt;
  } catch (const StateError&) {  // another version's cache
    return std::nullopt;
  }
}

// ------------------------------------------------------------ catalog and reports

std::string InventoryCatalogCsv(const Inventory& inventory) {
  std::string csv =
      "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,"
      "Region,AvailabilityZone\n";
  for (const auto& cluster : inventory.clusters) {
    if (!cluster.ready()) continue;
    // (partition, CPUs, memory, accelerator, count): one per node shape.
    std::set<std::tuple<std::string, int, std::string, std::string, int>> shapes;
    for (const auto& node : cluster.nodes) {
      if (!node.schedulable()) continue;
      const std::string memory = FormatGib(node.memory_mb);
      shapes.insert({node.partition, node.cpus_total, memory, "", 0});
      for (const auto& gpu : node.gpus) {
        if (gpu.total > 0) {
          shapes.insert(
              {node.partition, node.cpus_total, memory, gpu.AcceleratorName(), gpu.total});
        }
      }
    }
    std::set<std::pair<std::string, std::string>> written;  // (partition, type)
    for (const auto& [partition, cpus, memory, accelerator, gpus] : shapes) {
      for (int count = accelerator.empty() ? 0 : 1; count <= gpus; ++count) {
        std::string type = fmt::format("{}CPU--{}GB", cpus, memory);
        if (count > 0) type += fmt::format("--{}:{}", accelerator, count);
        if (!written.insert({partition, type}).second) continue;
        csv += fmt::format("{},{},{},{},{},,0.0,,{},{}\n", type, count > 0 ? accelerator : "",
                           count > 0 ? std::to_string(count) : "", cpus, memory, cluster.cluster,
                           partition);
      }
    }
  }
  return csv;
}

std::optional<std::string> CachedCatalogCsv(const fs::path& state_dir) {
  if (state_dir.empty()) return std::nullopt;
  auto inventory = LoadInventory(InventoryPath(state_dir));
  if (!inventory || !inventory->AnyReady()) return std::nullopt;
  return InventoryCatalogCsv(*inventory);
}

std::string DescribeClusters(const Inventory& inventory) {
  std::string text;
  for (const auto& cluster : inventory.clusters) {
    if (!text.empty()) text += "\n";
    if (!cluster.ready()) {
      text += fmt::format("cluster '{}' ({}): {}", cluster.cluster, cluster.login, cluster.error);
      continue;
    }
    std::set<std::string> names;
    int gpus_total = 0, gpus_free = 0;
    std::set<std::string> counted;  // a node is listed once per partition
    for (const auto& node : cluster.nodes) {
      names.insert(node.name);
      if (!counted.insert(node.name).second) continue;
      gpus_total += node.gpus_total();
      gpus_free += node.gpus_free();
    }
    const auto partitions = cluster.Partitions();
    text += fmt::format("cluster '{}' ({}): {}, {}, {} of {} GPUs free", cluster.cluster,
                        cluster.login, Plural(names.size(), "node"),
                        Plural(partitions.size(), "partition"), gpus_free, gpus_total);
    for (const auto& partition : partitions) {
      std::vector<std::string> node_texts;
      for (const auto& node : cluster.nodes) {
        if (node.partition != partition) continue;
        std::string gpus;
        for (const auto& gpu : node.gpus) {
          gpus +=
              fmt::format(", {} {}/{} free", gpu.AcceleratorName(),
                          node.schedulable() ? std::max(0, gpu.total - gpu.used) : 0, gpu.total);
        }
        node_texts.push_back(fmt::format("{} ({}, {} CPUs, {} GiB{})", node.name, node.state,
                                         node.cpus_total, FormatGib(node.memory_mb), gpus));
      }
      text += fmt::format("\n  partition '{}'{}: {}", partition,
                          partition == cluster.default_partition ? " (default)" : "",
                          fmt::join(node_texts, "; "));
    }
  }
  return text;
}

fs::path InventoryPath(const fs::path& state_dir) { return state_dir / "slurm" / "inventory.json"; }

}  // namespace skycore::slurm
