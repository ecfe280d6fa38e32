#include "infra/ssh/inventory.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <sstream>
#include <thread>

#include "common/files.h"
#include "common/strings.h"
#include "infra/local/machine.h"
#include "skycore/error.h"

namespace skycore::ssh {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// One round trip gathers everything; each fact on its own `key=value` line.
// POSIX sh only: the login shell of the host runs it.
constexpr const char* kProbeCommand =
    "printf 'os=%s\\n' \"$(uname -sm 2>/dev/null)\"; "
    "printf 'cpus=%s\\n' \"$(nproc 2>/dev/null)\"; "
    "sed -n 's/^MemTotal:[[:space:]]*\\([0-9]*\\).*/mem_kib=\\1/p' /proc/meminfo 2>/dev/null; "
    "if command -v nvidia-smi >/dev/null 2>&1; then "
    "nvidia-smi --query-gpu=index,name --format=csv,noheader 2>/dev/null | sed 's/^/gpu=/'; fi; "
    "echo probe=done";

constexpr size_t kMaxParallelProbes = 32;

HostInventory ProbeHost(const NodePool& pool, const SshHost& host, const RunnerOptions& options,
                        double deadline_s, const SpawnFunction& spawn) {
  HostInventory inventory;
  inventory.pool = pool.name;
  inventory.name = host.name;
  inventory.address = host.address;
  inventory.port = host.port;
  inventory.user = host.user;
  SshRunner runner(host, options, spawn);
  SshResult result = runner.Run(kProbeCommand, deadline_s);
  switch (result.outcome) {
    case SshOutcome::kOk:
      inventory.reachable = true;
      inventory.authenticated = true;
      break;
    case SshOutcome::kAuthFailed:
    case SshOutcome::kHostKeyMismatch:
      inventory.reachable = true;
      inventory.error = "authentication failed: " + result.error;
      return inventory;
    default:
      inventory.error = "unreachable: " + result.error;
      return inventory;
  }
  ParseProbeOutput(result.output, inventory);
  if (result.exit_code != 0 && inventory.error.empty()) {
    inventory.error =
        fmt::format("the probe exited with {} on {}", result.exit_code, host.Display());
  }
  return inventory;
}

}  // namespace

void ParseProbeOutput(const std::string& output, HostInventory& host) {
  std::istringstream lines(output);
  std::string line;
  bool done = false;
  while (std::getline(lines, line)) {
    const auto equals = line.find('=');
    if (equals == std::string::npos) continue;
    const std::string key = line.substr(0, equals);
    const std::string value(strings::Trim(std::string_view(line).substr(equals + 1)));
    if (key == "os") {
      host.os = value;
    } else if (key == "cpus") {
      double cpus = 0;
      if (strings::ParseDouble(value, cpus) && cpus > 0) host.cpus = cpus;
    } else if (key == "mem_kib") {
      double kib = 0;
      if (strings::ParseDouble(value, kib)) host.memory_gib = kib / (1024.0 * 1024.0);
    } else if (key == "gpu") {
      auto fields = strings::Split(value, ',');
      if (fields.size() < 2) continue;
      ++host.gpu_count;
      if (host.gpu_name.empty()) {
        host.gpu_name = backend::CanonicalGpuName(std::string(strings::Trim(fields[1])));
      }
    } else if (key == "probe" && value == "done") {
      done = true;
    }
  }
  if (!done) {
    host.error = "the probe did not finish (is the login shell a POSIX shell?)";
  } else if (host.cpus <= 0) {
    host.error = "`nproc` found no CPUs (is coreutils installed?)";
  } else if (host.memory_gib <= 0) {
    host.error = "no MemTotal in /proc/meminfo (only Linux hosts are supported)";
  }
}

std::string HostInventory::Describe() const {
  const std::string who = fmt::format("{}@{}:{}", user, address, port);
  const std::string label = name == address ? who : fmt::format("{} ({})", name, who);
  if (!ready()) return fmt::format("{}: {}", label, error);
  std::string gpus =
      gpu_count == 0 ? std::string("no GPUs") : fmt::format("{}x {}", gpu_count, gpu_name);
  return fmt::format("{}: {}, {} CPU{}, {:.1f} GiB memory, {}", label, os,
                     strings::FormatNumber(cpus), cpus == 1 ? "" : "s", memory_gib, gpus);
}

json Inventory::ToJson() const {
  json hosts_json = json::array();
  for (const auto& host : hosts) {
    hosts_json.push_back({{"pool", host.pool},
                          {"name", host.name},
                          {"address", host.address},
                          {"port", host.port},
                          {"user", host.user},
                          {"reachable", host.reachable},
                          {"authenticated", host.authenticated},
                          {"os", host.os},
                          {"cpus", host.cpus},
                          {"memory_gib", host.memory_gib},
                          {"gpu_name", host.gpu_name},
                          {"gpu_count", host.gpu_count},
                          {"error", host.error}});
  }
  return {{"version", kVersion}, {"hosts", hosts_json}};
}

Inventory Inventory::FromJson(const json& value) {
  try {
    if (!value.is_object() || value.value("version", 0) != kVersion) {
      throw StateError("not an SSH inventory of version " + std::to_string(kVersion));
    }
    Inventory inventory;
    for (const auto& item : value.at("hosts")) {
      HostInventory host;
      host.pool = item.at("pool").get<std::string>();
      host.name = item.at("name").get<std::string>();
      host.address = item.at("address").get<std::string>();
      host.port = item.at("port").get<int>();
      host.user = item.at("user").get<std::string>();
      host.reachable = item.at("reachable").get<bool>();
      host.authenticated = item.at("authenticated").get<bool>();
      host.os = item.at("os").get<std::string>();
      host.cpus = item.at("cpus").get<double>();
      host.memory_gib = item.at("memory_gib").get<double>();
      host.gpu_name = item.at("gpu_name").get<std::string>();
      host.gpu_count = item.at("gpu_count").get<int>();
      host.error = item.at("error").get<std::string>();
      inventory.hosts.push_back(std::move(host));
    }
    return inventory;
  } catch (const json::exception& e) {
    throw StateError(fmt::format("malformed SSH inventory: {}", e.what()));
  }
}

bool Inventory::AnyReady() const {
  return std::any_of(hosts.begin(), hosts.end(), [](const auto& host) { return host.ready(); });
}

Inventory ProbePools(const std::vector<NodePool>& pools, const RunnerOptions& options,
                     double deadline_s, const SpawnFunction& spawn) {
  std::vector<std::pair<const NodePool*, const SshHost*>> work;
  for (const auto& pool : pools) {
    for (const auto& host : pool.hosts) work.emplace_back(&pool, &host);
  }
  Inventory inventory;
  inventory.hosts.resize(work.size());
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < work.size(); i = next++) {
      inventory.hosts[i] = ProbeHost(*work[i].first, *work[i].second, options, deadline_s, spawn);
    }
  };
  std::vector<std::thread> threads;
  for (size_t i = 0; i < std::min(work.size(), kMaxParallelProbes); ++i) {
    threads.emplace_back(worker);
  }
  for (auto& thread : threads) thread.join();
  return inventory;
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

std::string InventoryCatalogCsv(const Inventory& inventory) {
  std::string csv =
      "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,"
      "Region,AvailabilityZone\n";
  for (const auto& host : inventory.hosts) {
    if (!host.ready()) continue;
    const std::string cpus = strings::FormatNumber(host.cpus);
    const std::string memory = strings::FormatNumber(std::floor(host.memory_gib * 10) / 10);
    csv += fmt::format("{},,,{},{},,0.0,,{},\n", host.name, cpus, memory, host.pool);
    for (int count = 1; count <= host.gpu_count; ++count) {
      csv += fmt::format("{},{},{},{},{},,0.0,,{},\n", host.name, host.gpu_name, count, cpus,
                         memory, host.pool);
    }
  }
  return csv;
}

std::optional<std::string> CachedPoolsCatalogCsv(const fs::path& state_dir) {
  if (state_dir.empty()) return std::nullopt;
  std::error_code ec;
  if (!fs::exists(NodePoolsPath(state_dir), ec)) return std::nullopt;
  auto inventory = LoadInventory(InventoryPath(state_dir));
  if (!inventory || !inventory->AnyReady()) return std::nullopt;
  return InventoryCatalogCsv(*inventory);
}

std::string DescribePools(const Inventory& inventory) {
  std::vector<std::string> pool_order;
  for (const auto& host : inventory.hosts) {
    if (std::find(pool_order.begin(), pool_order.end(), host.pool) == pool_order.end()) {
      pool_order.push_back(host.pool);
    }
  }
  std::string text;
  for (const auto& pool : pool_order) {
    size_t total = 0, ready = 0;
    std::string lines;
    for (const auto& host : inventory.hosts) {
      if (host.pool != pool) continue;
      ++total;
      if (host.ready()) ++ready;
      lines += "\n  " + host.Describe();
    }
    if (!text.empty()) text += "\n";
    text += fmt::format("pool '{}': {} of {} host{} ready{}", pool, ready, total,
                        total == 1 ? "" : "s", lines);
  }
  return text;
}

fs::path NodePoolsPath(const fs::path& state_dir) { return state_dir / "ssh_node_pools.yaml"; }
fs::path InventoryPath(const fs::path& state_dir) { return state_dir / "ssh" / "inventory.json"; }
fs::path KnownHostsPath(const fs::path& state_dir) { return state_dir / "ssh" / "known_hosts"; }

}  // namespace skycore::ssh
