// `sky show-gpus`, `sky optimize` and `sky catalog refresh`, and the optimizer
// table that `sky launch --dryrun` prints.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>

#include "skycore/dag.h"

namespace skycore::cli {

// Adds the catalog sub-commands to `app`. After app.parse(), call the returned
// function: it runs the parsed catalog sub-command and returns its exit code,
// or nullopt when none of them was given. It throws skycore::Error like the
// other commands.
std::function<std::optional<int>()> AddCatalogCommands(CLI::App& app);

// Optimizes `dag` over the catalog found from the environment and prints the
// optimizer table (and the estimated total) to stdout.
void PrintOptimizerTable(const Dag& dag);

}  // namespace skycore::cli
