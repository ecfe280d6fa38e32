// Which Kubernetes contexts skycore uses: `kubernetes.allowed_contexts` of
// ~/.sky/config.yaml (SkyPilot's key) when set, else the kubeconfig's
// current context.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "infra/kubernetes/kubeconfig.h"

namespace skycore::kubernetes {

// What `allowed_contexts: all` reads as: every context of the kubeconfig.
// ("*" cannot be mistaken for a context: kubectl cannot select one so named
// from a shell without quoting, and SkyPilot's `all` is a scalar, not a name.)
inline constexpr const char* kEveryContext = "*";

// `kubernetes.allowed_contexts` of the SkyPilot config at `path`: the listed
// names, {kEveryContext} for `all`, empty when the file or the key is absent.
// Throws InvalidSkyPilotConfigError naming the file and field for a malformed
// value.
std::vector<std::string> ReadAllowedContexts(const std::filesystem::path& path);

// The allowed contexts (every context of `config`, in file order, for
// {kEveryContext}), else {current-context} (which may be "": the caller's
// ResolveContext then reports that none is set).
std::vector<std::string> ContextsToUse(const Kubeconfig& config,
                                       const std::vector<std::string>& allowed);

}  // namespace skycore::kubernetes
