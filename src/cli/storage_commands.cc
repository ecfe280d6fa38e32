#include "cli/storage_commands.h"

#include <fmt/format.h>
#include <fnmatch.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/display.h"
#include "cli/terminal.h"
#include "common/table.h"
#include "skycore/skycore.h"

namespace skycore::cli {
namespace {

// SkyPilot truncates the COMMAND column at this many characters without -v.
constexpr size_t kLastUseTruncLength = 25;

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

int List(bool verbose) {
  const auto records = OpenSky()->StorageLs();
  if (records.empty()) {
    std::cout << "No existing storage.\n";
    return 0;
  }
  const double now = NowSeconds();
  std::vector<std::vector<std::string>> rows = {{"NAME", "UPDATED", "STORE", "COMMAND", "STATUS"}};
  for (const auto& record : records) {
    std::string command = record.last_use;
    if (!verbose && command.size() > kLastUseTruncLength) {
      command = fmt::format("{}...", command.substr(0, kLastUseTruncLength));
    }
    rows.push_back(
        {record.name, TimeAgo(record.updated_at, now), record.store, command, record.status});
  }
  std::cout << FormatTable(rows);
  return 0;
}

int Delete(const std::vector<std::string>& patterns, bool all, bool yes) {
  if (all == !patterns.empty()) {
    std::cerr << "sky: error: Either --all or a name must be specified.\n";
    return 2;
  }
  auto sky = OpenSky();
  const auto records = sky->StorageLs();
  std::vector<std::string> names;
  if (all && records.empty()) {
    std::cout << "No storage(s) to delete.\n";
    return 0;
  }
  for (const auto& record : records) {
    bool match = all;
    for (const auto& pattern : patterns) {
      if (::fnmatch(pattern.c_str(), record.name.c_str(), 0) == 0) match = true;
    }
    if (match) names.push_back(record.name);
  }
  // A name that matches nothing is reported by the delete itself (with close matches).
  for (const auto& pattern : patterns) {
    if (!IsGlob(pattern) && std::find(names.begin(), names.end(), pattern) == names.end()) {
      names.push_back(pattern);
    }
  }
  if (names.empty()) {
    std::cout << "Storage(s) not found (tip: see `sky storage ls`).\n";
    return 0;
  }
  if (!yes &&
      !Confirm(fmt::format("Deleting {} {}: {}. Proceed?", names.size(),
                           names.size() > 1 ? "storages" : "storage", fmt::join(names, ", ")))) {
    std::cerr << "Aborted!\n";
    return 1;
  }
  int exit_code = 0;
  for (const auto& name : names) {
    TerminalSink sink;
    try {
      sky->StorageDelete(name, sink);
    } catch (const Error& e) {
      std::cerr << Style(fmt::format("Error deleting storage {}: {}", name, e.what()), kRed,
                         FancyStderr())
                << "\n";
      exit_code = 1;
    }
  }
  return exit_code;
}

}  // namespace

std::function<std::optional<int>()> AddStorageCommands(CLI::App& app) {
  CLI::App* storage = app.add_subcommand("storage", "SkyPilot Storage CLI.");
  storage->require_subcommand(1);
  auto verbose = std::make_shared<bool>(false);
  CLI::App* ls = storage->add_subcommand("ls", "List storage objects managed by SkyPilot.");
  ls->add_flag("-v,--verbose", *verbose, "Show all information in full.");
  auto names = std::make_shared<std::vector<std::string>>();
  auto all = std::make_shared<bool>(false);
  auto yes = std::make_shared<bool>(false);
  CLI::App* del = storage->add_subcommand("delete", "Delete storage objects.");
  del->add_option("names", *names, "Storage names or glob patterns");
  del->add_flag("-a,--all", *all, "Delete all storage objects.");
  del->add_flag("-y,--yes", *yes, "Skip confirmation prompt.");
  return [=]() -> std::optional<int> {
    if (ls->parsed()) return List(*verbose);
    if (del->parsed()) return Delete(*names, *all, *yes);
    return std::nullopt;
  };
}

}  // namespace skycore::cli
