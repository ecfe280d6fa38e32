// `sky jobs launch/queue/logs/cancel`: managed jobs, as SkyPilot's CLI has
// them, and the hidden `sky jobs controller` that runs the controller daemon.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <optional>

#include "cli/invocation.h"

namespace skycore::cli {

// Adds the `jobs` group to `app`. After app.parse(), the returned function
// runs the parsed sub-command and returns its exit code, or nullopt when none
// was given. Throws skycore::Error like the other commands.
std::function<std::optional<int>()> AddManagedJobCommands(
    CLI::App& app, std::shared_ptr<const Invocation> invocation);

}  // namespace skycore::cli
