// `sky ssh up` and `sky ssh down`: preparing the hosts of SSH node pools.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>

namespace skycore::cli {

// Adds `sky ssh` to `app`; the returned function runs it after app.parse()
// (nullopt when it was not given).
std::function<std::optional<int>()> AddSshCommands(CLI::App& app);

}  // namespace skycore::cli
