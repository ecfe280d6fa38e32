#include "kubernetes/allowed_contexts.h"

#include "common/sky_config.h"

namespace skycore::kubernetes {

std::vector<std::string> ReadAllowedContexts(const std::filesystem::path& path) {
  return config::ReadNameList(path, "kubernetes", "allowed_contexts", "context names");
}

std::vector<std::string> ContextsToUse(const Kubeconfig& config,
                                       const std::vector<std::string>& allowed) {
  if (!allowed.empty()) return allowed;
  return {config.current_context};
}

}  // namespace skycore::kubernetes
