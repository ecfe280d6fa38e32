#include "kubernetes/allowed_contexts.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "skycore/error.h"

namespace skycore::kubernetes {

std::vector<std::string> ReadAllowedContexts(const std::filesystem::path& path) {
  std::error_code ec;
  if (path.empty() || !std::filesystem::exists(path, ec)) return {};
  const std::string field = "kubernetes.allowed_contexts";
  YAML::Node root;
  try {
    root = YAML::LoadFile(path.string());
  } catch (const YAML::Exception& e) {
    throw InvalidSkyPilotConfigError(fmt::format("{}: not valid YAML: {}", path.string(), e.msg),
                                     {path.string(), e.mark.line + 1, e.mark.column + 1, ""});
  }
  if (!root.IsMap() || !root["kubernetes"] || !root["kubernetes"].IsMap()) return {};
  const YAML::Node list = root["kubernetes"]["allowed_contexts"];
  if (!list || list.IsNull()) return {};
  auto fail = [&](const YAML::Node& node) -> void {
    throw InvalidSkyPilotConfigError(
        fmt::format("{}: {} must be a list of context names", path.string(), field),
        {path.string(), node.Mark().line + 1, node.Mark().column + 1, field});
  };
  if (!list.IsSequence()) fail(list);
  std::vector<std::string> contexts;
  for (const auto& item : list) {
    if (!item.IsScalar() || item.Scalar().empty()) fail(item);
    contexts.push_back(item.Scalar());
  }
  return contexts;
}

std::vector<std::string> ContextsToUse(const Kubeconfig& config,
                                       const std::vector<std::string>& allowed) {
  if (!allowed.empty()) return allowed;
  return {config.current_context};
}

}  // namespace skycore::kubernetes
