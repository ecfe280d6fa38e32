// `sky status`, `stop`, `start`, `down`, `autostop`, `cost-report` and `check`:
// the life cycle of clusters.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>

namespace skycore::cli {

// SkyPilot's --wait-for (what keeps a cluster from being idle) as the agent
// takes it: "jobs" or "none". "jobs_and_ssh" is InvalidTaskError (the agent
// does not count SSH sessions yet); empty (not given) stays empty.
std::string CheckWaitFor(const std::string& wait_for);

// Adds the cluster life-cycle sub-commands to `app`. After app.parse(), the
// returned function runs the parsed one and returns its exit code, or nullopt
// when none was given. Throws skycore::Error like the other commands.
std::function<std::optional<int>()> AddClusterCommands(CLI::App& app);

}  // namespace skycore::cli
