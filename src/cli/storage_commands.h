// `sky storage ls` and `sky storage delete`: the buckets of task storage objects.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>

namespace skycore::cli {

// Adds `sky storage` to `app`; the returned function runs it after app.parse()
// (nullopt when it was not given).
std::function<std::optional<int>()> AddStorageCommands(CLI::App& app);

}  // namespace skycore::cli
