// `sky ssh up` and `sky ssh down`: preparing the hosts of SSH node pools.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>

namespace skycore::cli {

// Adds `sky ssh` to `app`; the returned function runs it after app.parse()
// (nullopt when it was not given).
std::function<std::optional<int>()> AddSshCommands(CLI::App& app);

// `sky show-gpus --infra ssh[/<pool>]`'s per-host table: each ready host's
// GPUs, total and free (not held by a cluster), as the last `sky check ssh`
// found the hosts.
void PrintSshHostGpus(const std::string& pool);

}  // namespace skycore::cli
