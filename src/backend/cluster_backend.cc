// What every ClusterBackend shares: node shapes and launched resources.
#include "backend/cluster_backend.h"

#include <fmt/format.h>

#include "common/strings.h"
#include "skycore/agent.h"
#include "skycore/error.h"
#include "skycore/yaml.h"

namespace skycore::backend {
using nlohmann::json;

bool ClusterBackend::AgentAlive(const json& handle) {
  try {
    AgentClient(AgentSocket(handle), 5).ping();
    return true;
  } catch (const Error&) {
    return false;
  }
}

void AddPorts(json& config, const Candidate& chosen, const Task& task) {
  // Ports the task opens (its chosen alternative's), for `sky status --endpoints`.
  const auto& alternatives = task.resources().alternatives();
  if (chosen.alternative < alternatives.size()) {
    json asked = ResourcesToConfig(alternatives[chosen.alternative]);
    if (asked.contains("ports")) config["ports"] = asked["ports"];
  }
}

NodeShape ShapeFromHandle(const json& handle) {
  return {handle.value("num_nodes", 1), handle.value("cpus_per_node", 0.0),
          handle.value("memory_gib_per_node", 0.0), handle.value("accelerator", ""),
          handle.value("gpus_per_node", 0)};
}

json LaunchedResourcesOf(const std::string& infra, const NodeShape& shape, const Candidate& chosen,
                         const Task& task) {
  json config = {{"infra", infra},
                 {"cpus", strings::FormatNumber(shape.cpus)},
                 {"memory", strings::FormatNumber(shape.memory_gib)}};
  if (shape.gpus > 0) config["accelerators"] = fmt::format("{}:{}", shape.gpu_name, shape.gpus);
  AddPorts(config, chosen, task);
  return config;
}

}  // namespace skycore::backend
