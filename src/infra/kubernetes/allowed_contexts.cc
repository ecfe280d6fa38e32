#include "infra/kubernetes/allowed_contexts.h"

#include "common/sky_config.h"

namespace skycore::kubernetes {

std::vector<std::string> ReadAllowedContexts(const std::filesystem::path& path) {
  return config::ReadNameList(path, "kubernetes", "allowed_contexts", "context names (or all)",
                              /*all_word=*/"all", kEveryContext);
}

std::vector<std::string> ContextsToUse(const Kubeconfig& config,
                                       const std::vector<std::string>& allowed) {
  if (allowed.size() == 1 && allowed.front() == kEveryContext) return config.context_names;
  if (!allowed.empty()) return allowed;
  return {config.current_context};
}

}  // namespace skycore::kubernetes
