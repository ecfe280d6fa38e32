#include "infra/kubernetes/inventory.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <future>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string_view>
#include <tuple>
#include <unordered_map>

#include "common/files.h"
#include "common/strings.h"
#include "infra/kubernetes/pods.h"
#include "infra/kubernetes/quantity.h"
#include "skycore/error.h"

namespace skycore::kubernetes {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kGpuResource = "nvidia.com/gpu";
constexpr double kGiB = 1024.0 * 1024 * 1024;

std::string Label(const json& labels, const char* key) {
  if (!labels.is_object() || !labels.contains(key) || !labels[key].is_string()) return {};
  return labels[key].get<std::string>();
}

// GKE: "nvidia-tesla-t4" -> "T4", "nvidia-h100-80gb" -> "H100", "nvidia-l4" -> "L4".
std::string FromGkeValue(const std::string& value) {
  if (value.rfind("nvidia-tesla-", 0) == 0) return strings::Upper(value.substr(13));
  if (value.rfind("nvidia-", 0) == 0) {
    std::string name = strings::Upper(value.substr(7));
    if (name == "H100-80GB") return "H100";
    if (name == "H200-141GB") return "H200";
    return name;
  }
  return value;  // TPUs keep their names
}

// GPU feature discovery: "NVIDIA-H100-80GB-HBM3" -> "H100", matched against
// SkyPilot's canonical names, else the value without vendor prefixes.
std::string FromGfdValue(const std::string& value) {
  // Compiled once: a cluster of GFD-labelled nodes asks this per node.
  static const std::vector<std::pair<std::string, std::regex>> kCanonical = [] {
    std::vector<std::pair<std::string, std::regex>> out;
    for (const char* name : {"A100-80GB", "A100", "A10G", "H100", "K80", "M60", "T4g", "T4", "V100",
                             "A10", "P4000", "P100", "P40", "P4", "L40", "L4"}) {
      std::string pattern = "A100.*-80GB";
      if (std::string_view(name) != "A100-80GB") pattern.assign("\\b").append(name).append("\\b");
      out.emplace_back(name, std::regex(pattern));
    }
    return out;
  }();
  for (const auto& [name, pattern] : kCanonical) {
    if (std::regex_search(value, pattern)) return name;
  }
  std::string upper = strings::Upper(value);
  for (const auto& [from, to] :
       {std::pair<std::string, std::string>{"NVIDIA-", ""}, {"GEFORCE-", ""}, {"RTX-", "RTX"}}) {
    for (size_t at; (at = upper.find(from)) != std::string::npos;)
      upper.replace(at, from.size(), to);
  }
  return upper;
}

double QuantityOr(const json& map, const char* key, double fallback) {
  if (!map.is_object() || !map.contains(key) || !map[key].is_string()) return fallback;
  try {
    return ParseQuantity(map[key].get<std::string>());
  } catch (const Error&) {
    return fallback;
  }
}

// `object[key]` without copying it; an empty object when absent.
const json& Member(const json& object, const char* key) {
  static const json kEmpty = json::object();
  if (!object.is_object()) return kEmpty;
  auto it = object.find(key);
  return it == object.end() ? kEmpty : *it;
}

bool NodeReady(const json& node) {
  const json& conditions = Member(Member(node, "status"), "conditions");
  if (!conditions.is_array()) return false;
  for (const auto& condition : conditions) {
    if (condition.value("type", "") == "Ready") return condition.value("status", "") == "True";
  }
  return false;
}

std::string FormatGib(double gib) { return strings::FormatNumber(std::floor(gib * 10) / 10); }

}  // namespace

std::string GpuNameFromLabels(const json& labels) {
  if (auto v = Label(labels, "skypilot.co/accelerator"); !v.empty()) return strings::Upper(v);
  if (auto v = Label(labels, "cloud.google.com/gke-accelerator"); !v.empty()) {
    return FromGkeValue(v);
  }
  if (auto v = Label(labels, "karpenter.k8s.aws/instance-gpu-name"); !v.empty()) {
    return strings::Upper(v);
  }
  if (auto v = Label(labels, "nvidia.com/gpu.product"); !v.empty()) return FromGfdValue(v);
  return {};
}

ContextInventory BuildInventory(const std::string& context, const json& nodes, const json& pods) {
  ContextInventory out;
  out.context = context;
  static const json kNoItems = json::array();
  const json& items = Member(nodes, "items").is_array() ? Member(nodes, "items") : kNoItems;
  out.nodes.reserve(items.size());
  for (const auto& node : items) {
    NodeInventory entry;
    const json& metadata = Member(node, "metadata");
    entry.name = metadata.value("name", "");
    entry.ready = NodeReady(node);
    const json& allocatable = Member(Member(node, "status"), "allocatable");
    entry.cpus = QuantityOr(allocatable, "cpu", 0);
    entry.memory_gib = QuantityOr(allocatable, "memory", 0) / kGiB;
    entry.gpu_total = static_cast<int>(std::floor(QuantityOr(allocatable, kGpuResource, 0)));
    if (entry.gpu_total > 0) {
      entry.gpu_name = GpuNameFromLabels(Member(metadata, "labels"));
      if (entry.gpu_name.empty()) entry.gpu_name = "GPU";  // unlabelled NVIDIA devices
    }
    out.nodes.push_back(std::move(entry));
  }
  ApplyPods(out, pods);
  return out;
}

void ApplyPods(ContextInventory& inventory, const json& pods) {
  std::unordered_map<std::string_view, NodeInventory*> index;
  index.reserve(inventory.nodes.size());
  for (auto& node : inventory.nodes) {
    node.cpus_free = node.cpus;
    node.memory_free_gib = node.memory_gib;
    node.gpu_free = node.gpu_total;
    index.emplace(node.name, &node);
  }
  const json& items = Member(pods, "items");
  if (!items.is_array()) return;  // every node's free is its allocatable
  for (const auto& pod : items) {
    const std::string phase = Member(pod, "status").value("phase", "");
    if (phase == "Succeeded" || phase == "Failed") continue;
    const json& spec = Member(pod, "spec");
    auto it = index.find(spec.value("nodeName", ""));
    if (it == index.end()) continue;  // not scheduled yet
    NodeInventory& node = *it->second;
    for (const auto& container : spec.value("containers", json::array())) {
      const json requests =
          container.value("resources", json::object()).value("requests", json::object());
      // Kubernetes defaults requests to limits for extended resources.
      const json limits =
          container.value("resources", json::object()).value("limits", json::object());
      node.cpus_free -= QuantityOr(requests, "cpu", 0);
      node.memory_free_gib -= QuantityOr(requests, "memory", 0) / kGiB;
      node.gpu_free -=
          static_cast<int>(QuantityOr(requests, kGpuResource, QuantityOr(limits, kGpuResource, 0)));
    }
  }
  for (auto& node : inventory.nodes) node.gpu_free = std::max(node.gpu_free, 0);
}

namespace {

// Keeps of a NodeList what BuildInventory reads: each item's metadata.name,
// metadata.labels, status.allocatable and status.conditions. A node object is
// ~4 KB of JSON (managedFields, images, nodeInfo, ...), of which this keeps a
// quarter, so 7,500 nodes parse without building the rest.
JsonFilter NodeListFilter() {
  auto section = std::make_shared<std::string>();  // the item key being read
  return [section](int depth, json::parse_event_t event, json& parsed) {
    if (event != json::parse_event_t::key) return true;
    const auto& key = parsed.get_ref<const std::string&>();
    if (depth == 3) {  // {"items": [{<key>: ...}]}
      *section = key;
      return key == "metadata" || key == "status";
    }
    if (depth == 4) {
      if (*section == "metadata") return key == "name" || key == "labels";
      return key == "allocatable" || key == "conditions";
    }
    return true;
  };
}

// Pods that hold resources: bound to a node and not finished.
json ListBoundPods(const ApiClient& client) {
  return client.Get("/api/v1/pods?fieldSelector=" +
                    UrlEncode("spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed"));
}

}  // namespace

ContextInventory FetchInventory(const ApiClient& client) {
  // The pods are listed while the (much larger) node list arrives and parses.
  auto pods = std::async(std::launch::async, [&client] { return ListBoundPods(client); });
  json nodes;
  try {
    // resourceVersion=0: served from the API server's watch cache, not etcd.
    nodes = client.Get("/api/v1/nodes?resourceVersion=0", NodeListFilter());
  } catch (...) {
    pods.wait();
    throw;
  }
  return BuildInventory(client.credentials().context, nodes, pods.get());
}

void RefreshPods(const ApiClient& client, ContextInventory& inventory) {
  ApplyPods(inventory, ListBoundPods(client));
}

json Inventory::ToJson() const {
  json out = {{"version", kVersion}, {"contexts", json::array()}};
  for (const auto& context : contexts) {
    json nodes = json::array();
    for (const auto& n : context.nodes) {
      nodes.push_back({{"name", n.name},
                       {"ready", n.ready},
                       {"gpu_name", n.gpu_name},
                       {"gpu_total", n.gpu_total},
                       {"gpu_free", n.gpu_free},
                       {"cpus", n.cpus},
                       {"cpus_free", n.cpus_free},
                       {"memory_gib", n.memory_gib},
                       {"memory_free_gib", n.memory_free_gib}});
    }
    out["contexts"].push_back({{"context", context.context},
                               {"error", context.error},
                               {"nodes_listed_at", context.nodes_listed_at},
                               {"nodes", nodes}});
  }
  return out;
}

std::optional<Inventory> Inventory::FromJson(const json& in) {
  try {
    if (!in.is_object() || in.value("version", 0) != kVersion) return std::nullopt;
    Inventory out;
    for (const auto& c : in.at("contexts")) {
      ContextInventory context{
          c.at("context"), c.at("error"), {}, c.value("nodes_listed_at", int64_t{0})};
      for (const auto& n : c.at("nodes")) {
        context.nodes.push_back({n.at("name"), n.at("ready"), n.at("gpu_name"), n.at("gpu_total"),
                                 n.at("gpu_free"), n.at("cpus"), n.at("cpus_free"),
                                 n.at("memory_gib"), n.at("memory_free_gib")});
      }
      out.contexts.push_back(std::move(context));
    }
    return out;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

bool Inventory::AnyReady() const {
  for (const auto& context : contexts) {
    if (!context.error.empty()) continue;
    for (const auto& node : context.nodes) {
      if (node.ready) return true;
    }
  }
  return false;
}

void SaveInventory(const fs::path& path, const Inventory& inventory) {
  files::WriteAtomically(path, inventory.ToJson().dump() + "\n");
}

std::optional<Inventory> LoadInventory(const fs::path& path) {
  const auto document = files::ReadJsonFile(path);
  if (!document) return std::nullopt;
  return Inventory::FromJson(*document);
}

fs::path InventoryPath(const fs::path& state_dir) {
  return state_dir / "kubernetes" / "inventory.json";
}

// GPUs a cluster autoscaler may add nodes of, by SkyPilot's names.
constexpr const char* kAutoscalerGpus[] = {"A10",  "A100", "A100-80GB", "A10G", "B200",
                                           "H100", "H200", "L4",        "L40",  "L40S",
                                           "P100", "T4",   "V100"};
// Figures of a node an autoscaler adds: larger than any ask (the autoscaler,
// not the inventory, decides whether it can).
constexpr const char* kAutoscaledCpus = "100000";
constexpr const char* kAutoscaledMemory = "1000000";
constexpr int kAutoscaledMaxGpus = 16;  // the most one machine sold has

std::string InventoryCatalogCsv(const Inventory& inventory,
                                const std::set<std::string>& autoscaling) {
  // Rows a node could take now come first, those only the capacity allows
  // after: prices tie at 0, and the catalog breaks ties by row order, so
  // `--infra k8s` picks a context with room and keeps the full ones as
  // failover (the inventory may be stale, and the scheduler has the last word).
  std::string with_room, without_room;
  for (const auto& context : inventory.contexts) {
    if (!context.error.empty()) continue;
    struct Shape {
      std::string cpus, memory, gpu;
      int gpus;
      auto operator<=>(const Shape&) const = default;
    };
    // Per shape, the most GPUs and CPUs one of its nodes has free.
    std::map<Shape, std::pair<int, double>> shapes;
    for (const auto& node : context.nodes) {
      if (!node.ready) continue;
      auto& most = shapes[{strings::FormatNumber(std::floor(node.cpus)), FormatGib(node.memory_gib),
                           node.gpu_name, node.gpu_total}];
      most.first = std::max(most.first, node.gpu_free);
      most.second = std::max(most.second, node.cpus_free);
    }
    std::set<std::string> written;
    for (const auto& [shape, most] : shapes) {
      for (int count = 0; count <= shape.gpus; ++count) {
        // SkyPilot's Kubernetes instance type names: "8CPU--32GB[--H100:2]".
        std::string type = fmt::format("{}CPU--{}GB", shape.cpus, shape.memory);
        if (count > 0) type += fmt::format("--{}:{}", shape.gpu, count);
        if (!written.insert(type).second) continue;
        const bool room = count > 0 ? most.first >= count : most.second > 0;
        (room ? with_room : without_room) += fmt::format(
            "{},{},{},{},{},,0.0,,{},\n", type, count > 0 ? shape.gpu : "",
            count > 0 ? std::to_string(count) : "", shape.cpus, shape.memory, context.context);
      }
    }
  }
  std::string autoscaled;
  for (const auto& context : inventory.contexts) {
    if (!context.error.empty() || !autoscaling.count(context.context)) continue;
    // The name is never shown: a candidate carries the type it requests.
    autoscaled += fmt::format("autoscaled-node,,,{},{},,0.0,,{},\n", kAutoscaledCpus,
                              kAutoscaledMemory, context.context);
    for (const char* gpu : kAutoscalerGpus) {
      for (int count = 1; count <= kAutoscaledMaxGpus; ++count) {
        autoscaled += fmt::format("autoscaled-node,{},{},{},{},,0.0,,{},\n", gpu, count,
                                  kAutoscaledCpus, kAutoscaledMemory, context.context);
      }
    }
  }
  return "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,"
         "Region,AvailabilityZone\n" +
         with_room + without_room + autoscaled;
}

std::optional<std::string> CachedCatalogCsv(const fs::path& state_dir) {
  if (state_dir.empty()) return std::nullopt;
  auto inventory = LoadInventory(InventoryPath(state_dir));
  if (!inventory || !inventory->AnyReady()) return std::nullopt;
  std::set<std::string> autoscaling;
  for (const auto& context : inventory->contexts) {
    if (!context.error.empty()) continue;
    try {
      if (!ReadKubernetesConfig(state_dir / "config.yaml", context.context).autoscaler.empty()) {
        autoscaling.insert(context.context);
      }
    } catch (const Error&) {
      // A malformed config is reported, with its field, by the launch.
    }
  }
  return InventoryCatalogCsv(*inventory, autoscaling);
}

}  // namespace skycore::kubernetes
