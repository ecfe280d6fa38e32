#include "agent/node_spec.h"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "skycore/error.h"

namespace skycore::agent {
namespace {

using nlohmann::json;
constexpr double kEpsilon = 1e-9;

[[noreturn]] void Invalid(const std::string& field, const std::string& message) {
  throw InvalidSkyPilotConfigError(fmt::format("node spec: {}", message),
                                   ErrorLocation{"", 0, 0, field});
}

std::string RequiredString(const json& runner, const std::string& field, const char* key) {
  if (!runner.contains(key) || !runner[key].is_string() || runner[key].get<std::string>().empty()) {
    Invalid(field + "." + key, fmt::format("this runner needs a non-empty string '{}'", key));
  }
  return runner[key].get<std::string>();
}

std::string OptionalString(const json& runner, const std::string& field, const char* key,
                           std::string fallback) {
  if (!runner.contains(key)) return fallback;
  if (!runner[key].is_string())
    Invalid(field + "." + key, fmt::format("'{}' must be a string", key));
  return runner[key].get<std::string>();
}

std::string OptionalAbsolutePath(const json& runner, const std::string& field, const char* key) {
  std::string path = OptionalString(runner, field, key, "");
  if (!path.empty() && path.front() != '/') {
    // The agent's working directory is nobody's business: say which file is meant.
    Invalid(field + "." + key, fmt::format("'{}' must be an absolute path, not '{}'", key, path));
  }
  return path;
}

RankRunner ParseRunner(const json& runner, const std::string& field) {
  if (!runner.is_object()) Invalid(field, "'runner' must be an object with a 'kind'");
  std::string kind = OptionalString(runner, field, "kind", "");
  RankRunner parsed;
  if (kind == "local") {
    parsed.kind = RankRunner::Kind::kLocal;
  } else if (kind == "ssh") {
    parsed.kind = RankRunner::Kind::kSsh;
    parsed.address = RequiredString(runner, field, "address");
    if (runner.contains("port")) {
      if (!runner["port"].is_number_integer() || runner["port"].get<int64_t>() < 1 ||
          runner["port"].get<int64_t>() > 65535) {
        Invalid(field + ".port", "'port' must be an integer from 1 to 65535");
      }
      parsed.port = runner["port"].get<int>();
    }
    parsed.user = OptionalString(runner, field, "user", "");
    parsed.identity_file = OptionalAbsolutePath(runner, field, "identity_file");
    parsed.known_hosts = OptionalAbsolutePath(runner, field, "known_hosts");
    // A leading '-' would make ssh read the address or user as an option.
    if (parsed.address.front() == '-')
      Invalid(field + ".address", "'address' cannot start with '-'");
    if (!parsed.user.empty() && parsed.user.front() == '-') {
      Invalid(field + ".user", "'user' cannot start with '-'");
    }
  } else if (kind == "srun") {
    parsed.kind = RankRunner::Kind::kSrun;
    parsed.job_id = RequiredString(runner, field, "job_id");
    parsed.node_name = RequiredString(runner, field, "node_name");
    parsed.srun_program = OptionalString(runner, field, "srun", "srun");
    if (parsed.srun_program.empty()) Invalid(field + ".srun", "'srun' cannot be empty");
  } else if (kind == "kubernetes") {
    parsed.kind = RankRunner::Kind::kKubernetes;
    parsed.namespace_name = RequiredString(runner, field, "namespace");
    parsed.pod = RequiredString(runner, field, "pod");
    parsed.container = OptionalString(runner, field, "container", "");
    parsed.kubeconfig = OptionalAbsolutePath(runner, field, "kubeconfig");
    if (parsed.kubeconfig.empty()) RequiredString(runner, field, "kubeconfig");
    parsed.context = OptionalString(runner, field, "context", "");
  } else {
    Invalid(
        field + ".kind",
        fmt::format("runner kind '{}' is not one of 'local', 'ssh', 'srun', 'kubernetes'", kind));
  }
  return parsed;
}

}  // namespace

NodeSpec ParseNodeSpec(const std::string& text) {
  json document = json::parse(text, nullptr, false);
  if (document.is_discarded()) {
    std::ifstream file(text);
    if (!file) Invalid("", fmt::format("'{}' is neither JSON nor a readable file", text));
    std::stringstream content;
    content << file.rdbuf();
    document = json::parse(content.str(), nullptr, false);
    if (document.is_discarded()) Invalid("", fmt::format("{} does not hold valid JSON", text));
  }
  if (!document.is_object()) Invalid("", "must be a JSON object");
  NodeSpec spec;
  try {
    spec.cluster_name = document.value("cluster_name", "local");
    if (document.contains("cluster_info")) {
      spec.cluster_info_json = document["cluster_info"].dump();
    } else {
      spec.cluster_info_json = json{
          {"cluster_name", spec.cluster_name},
          {"cloud", "Local"},
          {"region", nullptr},
          {"zone", nullptr}}.dump();
    }
    if (!document.contains("nodes") || !document["nodes"].is_array() || document["nodes"].empty()) {
      Invalid("nodes", "needs a non-empty list 'nodes'");
    }
    int index = 0;
    for (const auto& item : document["nodes"]) {
      std::string field = fmt::format("nodes[{}]", index++);
      NodeCapacity node;
      node.ip = item.value("ip", "127.0.0.1");
      node.workdir = item.value("workdir", "");
      if (node.workdir.empty()) Invalid(field + ".workdir", "every node needs a 'workdir'");
      node.cpus = item.value("cpus", 1.0);
      node.memory_gib = item.value("memory_gib", 0.0);
      if (item.contains("gpu_ids")) {
        node.gpu_ids = item["gpu_ids"].get<std::vector<int>>();
      } else {
        int gpus = item.value("gpus", 0);
        for (int gpu = 0; gpu < gpus; ++gpu) node.gpu_ids.push_back(gpu);
      }
      if (node.cpus < 0 || node.memory_gib < 0) Invalid(field, "capacities cannot be negative");
      if (item.contains("runner")) node.runner = ParseRunner(item["runner"], field + ".runner");
      spec.nodes.push_back(std::move(node));
    }
  } catch (const json::exception& error) {
    Invalid("", fmt::format("a field has the wrong type: {}", error.what()));
  }
  return spec;
}

ReservationBook::ReservationBook(const NodeSpec& spec) {
  for (const auto& node : spec.nodes) {
    NodeFree free;
    free.cpus = node.cpus;
    free.memory_gib = node.memory_gib;
    free.gpu_free.assign(node.gpu_ids.size(), 1.0);
    free_.push_back(std::move(free));
  }
}

std::optional<std::string> ReservationBook::NeverFits(const JobSpec& spec) const {
  if (spec.num_nodes > static_cast<int>(free_.size())) {
    return fmt::format("the job needs {} nodes but the cluster has {}", spec.num_nodes,
                       free_.size());
  }
  int fitting = 0;
  for (size_t node = 0; node < free_.size(); ++node) {
    if (FitOn(static_cast<int>(node), spec)) ++fitting;
  }
  if (fitting < spec.num_nodes) {
    return fmt::format(
        "no {} node(s) of the cluster have {} CPUs, {} GPUs and {} GiB of memory each",
        spec.num_nodes, spec.cpus_per_node, spec.gpus_per_node, spec.memory_gib_per_node);
  }
  return std::nullopt;
}

std::optional<RankAllocation> ReservationBook::FitOn(int node, const JobSpec& spec) const {
  const NodeFree& free = free_[static_cast<size_t>(node)];
  if (spec.cpus_per_node > free.cpus + kEpsilon) return std::nullopt;
  if (spec.memory_gib_per_node > free.memory_gib + kEpsilon) return std::nullopt;
  RankAllocation allocation;
  allocation.node = node;
  allocation.cpus = spec.cpus_per_node;
  allocation.memory_gib = spec.memory_gib_per_node;
  double gpus = spec.gpus_per_node;
  if (gpus > kEpsilon && gpus < 1) {
    // A fraction shares one GPU: the fullest one it still fits on.
    int best = -1;
    for (size_t gpu = 0; gpu < free.gpu_free.size(); ++gpu) {
      if (free.gpu_free[gpu] + kEpsilon >= gpus &&
          (best < 0 || free.gpu_free[gpu] < free.gpu_free[static_cast<size_t>(best)])) {
        best = static_cast<int>(gpu);
      }
    }
    if (best < 0) return std::nullopt;
    allocation.gpus.emplace_back(best, gpus);
  } else if (gpus >= 1) {
    auto wanted = static_cast<size_t>(std::llround(gpus));
    for (size_t gpu = 0; gpu < free.gpu_free.size() && allocation.gpus.size() < wanted; ++gpu) {
      if (free.gpu_free[gpu] >= 1 - kEpsilon) allocation.gpus.emplace_back(gpu, 1.0);
    }
    if (allocation.gpus.size() < wanted) return std::nullopt;
  }
  return allocation;
}

std::optional<std::vector<RankAllocation>> ReservationBook::TryReserve(const JobSpec& spec) {
  std::vector<RankAllocation> allocations;
  for (size_t node = 0;
       node < free_.size() && static_cast<int>(allocations.size()) < spec.num_nodes; ++node) {
    if (auto allocation = FitOn(static_cast<int>(node), spec)) {
      allocations.push_back(std::move(*allocation));
    }
  }
  if (static_cast<int>(allocations.size()) < spec.num_nodes) return std::nullopt;
  for (const auto& allocation : allocations) {
    NodeFree& free = free_[static_cast<size_t>(allocation.node)];
    free.cpus -= allocation.cpus;
    free.memory_gib -= allocation.memory_gib;
    for (const auto& [gpu, share] : allocation.gpus)
      free.gpu_free[static_cast<size_t>(gpu)] -= share;
  }
  return allocations;
}

void ReservationBook::Release(const std::vector<RankAllocation>& allocations) {
  for (const auto& allocation : allocations) {
    NodeFree& free = free_[static_cast<size_t>(allocation.node)];
    free.cpus += allocation.cpus;
    free.memory_gib += allocation.memory_gib;
    for (const auto& [gpu, share] : allocation.gpus)
      free.gpu_free[static_cast<size_t>(gpu)] += share;
  }
}

}  // namespace skycore::agent
