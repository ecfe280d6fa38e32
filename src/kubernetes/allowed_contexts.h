// Which Kubernetes contexts skycore uses: `kubernetes.allowed_contexts` of
// ~/.sky/config.yaml (SkyPilot's key) when set, else the kubeconfig's
// current context.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "kubernetes/kubeconfig.h"

namespace skycore::kubernetes {

// `kubernetes.allowed_contexts` of the SkyPilot config at `path`; empty when
// the file or the key is absent. Throws InvalidSkyPilotConfigError naming the
// file and field for a malformed value.
std::vector<std::string> ReadAllowedContexts(const std::filesystem::path& path);

// The allowed contexts, else {current-context} (which may be "": the caller's
// ResolveContext then reports that none is set).
std::vector<std::string> ContextsToUse(const Kubeconfig& config,
                                       const std::vector<std::string>& allowed);

}  // namespace skycore::kubernetes
