// `sky status`, `stop`, `start`, `down`, `autostop`, `cost-report` and `check`:
// the life cycle of clusters.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>

namespace skycore::cli {

// Adds the cluster life-cycle sub-commands to `app`. After app.parse(), the
// returned function runs the parsed one and returns its exit code, or nullopt
// when none was given. Throws skycore::Error like the other commands.
std::function<std::optional<int>()> AddClusterCommands(CLI::App& app);

}  // namespace skycore::cli
