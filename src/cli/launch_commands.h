// `sky launch` and `sky exec`: run a task on a (new or existing) cluster and
// follow its job, as SkyPilot's CLI does.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <optional>

#include "cli/invocation.h"

namespace skycore::cli {

// Adds `launch` and `exec` to `app`. After app.parse(), the returned function
// runs the parsed one and returns its exit code, or nullopt when neither was
// given. Throws skycore::Error like the other commands.
std::function<std::optional<int>()> AddLaunchCommands(CLI::App& app,
                                                      std::shared_ptr<const Invocation> invocation);

}  // namespace skycore::cli
