// `sky queue`, `sky logs` and `sky cancel`: the jobs of a cluster.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>

namespace skycore::cli {

// Adds `queue`, `logs` and `cancel` to `app`. After app.parse(), the returned
// function runs the parsed one and returns its exit code, or nullopt when none
// was given. Throws skycore::Error like the other commands.
std::function<std::optional<int>()> AddJobCommands(CLI::App& app);

}  // namespace skycore::cli
