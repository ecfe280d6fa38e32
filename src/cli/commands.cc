#include "cli/commands.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "cli/catalog_commands.h"
#include "cli/cluster_commands.h"
#include "cli/display.h"
#include "cli/invocation.h"
#include "cli/job_commands.h"
#include "cli/launch_commands.h"
#include "cli/managed_job_commands.h"
#include "cli/ssh_commands.h"
#include "cli/storage_commands.h"
#include "common/strings.h"
#include "skycore/skycore.h"

namespace skycore::cli {
namespace {

int ReportError(const Error& e) {
  std::cerr << "sky: error: " << e.what() << "\n";
  switch (e.code()) {
    case ErrorCode::kInvalidTask:
    case ErrorCode::kInvalidConfig:
      return 2;  // usage and validation errors, as SkyPilot's CLI
    case ErrorCode::kCancelled:
      return kExitInterrupted;
    default:
      return 1;
  }
}

std::string QuoteForDisplay(std::string_view word) {
  if (!word.empty() && word.find_first_of(" \t\n'\"$`\\*?[]{}()<>|;&") == std::string::npos) {
    return std::string(word);
  }
  return strings::ShellQuote(word);
}

// SkyPilot commands that skycore does not have yet: `sky serve ...` says so
// rather than falling through to another command's parsing (or help).
struct Unsupported {
  std::string_view command;  // "jobs", or "gpus label" for a group's member
  std::string_view feature;
  std::string_view hint;
};

constexpr Unsupported kUnsupported[] = {
    {"serve", "SkyServe, model serving", "`sky launch` with resources.ports runs a server."},
    {"volumes", "volumes", ""},
    {"api", "the API server",
     "skycore runs each command locally: there is no server to start, stop or log in to."},
    {"dashboard", "the dashboard", "`sky status` and `sky queue` show clusters and jobs."},
    {"workspace", "workspaces", ""},
    {"debug-dump", "debug dumps", ""},
    {"gpus label", "labelling Kubernetes GPU nodes", ""},
};

int ReportUnsupported(const Unsupported& unsupported) {
  std::cerr << fmt::format("sky: error: `sky {}` ({}) is not supported by skycore yet.{}{}\n",
                           unsupported.command, unsupported.feature,
                           unsupported.hint.empty() ? "" : " ", unsupported.hint);
  return 2;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// "no such command" for `word` under `group` ("sky" or "sky catalog"), with
// the sub-commands of `parent` that look like it.
int ReportUnknownCommand(const CLI::App& parent, const std::string& group,
                         const std::string& word) {
  std::vector<std::string> names;
  std::vector<std::string> close;
  for (const CLI::App* sub : parent.get_subcommands([](const CLI::App*) { return true; })) {
    const std::string& name = sub->get_name();
    names.push_back(name);
    if (EditDistance(word, name) <= std::max<size_t>(1, name.size() / 3) ||
        (word.size() >= 3 && name.starts_with(word))) {
      close.push_back(fmt::format("'{}'", name));
    }
  }
  std::string message = fmt::format("sky: error: no such command '{} {}'.", group, word);
  if (!close.empty()) {
    message += fmt::format(" Did you mean {}?", fmt::join(close, " or "));
  } else {
    message += fmt::format(" The commands are: {}.", fmt::join(names, ", "));
  }
  std::cerr << message << fmt::format("\nRun '{} --help' for help.\n", group);
  return 2;
}

const Unsupported* FindUnsupported(std::string_view command) {
  for (const auto& unsupported : kUnsupported) {
    if (unsupported.command == command) return &unsupported;
  }
  return nullptr;
}

// Checks the command words (`sky WORD [SUBWORD]`) before flag parsing, so an
// unknown or unsupported command is reported as such, never parsed as the
// words of another command. Returns the exit code when it reported one.
std::optional<int> CheckCommandWords(const CLI::App& app, const std::vector<std::string>& args) {
  size_t i = 0;
  while (i < args.size() && args[i].starts_with('-')) ++i;  // sky --help, sky --version
  if (i == args.size()) return std::nullopt;
  const std::string& word = args[i];
  const CLI::App* command = nullptr;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->check_name(word)) command = sub;
  }
  if (command == nullptr) {
    if (const auto* unsupported = FindUnsupported(word)) return ReportUnsupported(*unsupported);
    return ReportUnknownCommand(app, "sky", word);
  }
  // A group (`sky catalog`, `sky gpus`, `sky ssh`): its first word must be
  // one of its sub-commands.
  const auto subcommands = command->get_subcommands([](const CLI::App*) { return true; });
  const bool takes_words =
      !command->get_options([](const CLI::Option* o) { return o->get_positional(); }).empty();
  if (subcommands.empty() || takes_words) return std::nullopt;
  size_t j = i + 1;
  while (j < args.size() && args[j].starts_with('-')) ++j;
  if (j == args.size()) return std::nullopt;
  const std::string& subword = args[j];
  for (const CLI::App* sub : subcommands) {
    if (sub->check_name(subword)) return std::nullopt;
  }
  if (const auto* unsupported = FindUnsupported(fmt::format("{} {}", word, subword))) {
    return ReportUnsupported(*unsupported);
  }
  return ReportUnknownCommand(*command, fmt::format("sky {}", word), subword);
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"sky: run AI and batch jobs on any infra, and pick the cheapest place that fits.",
               "sky"};
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", std::string("skycore ") + Version());
  app.footer("Run 'sky COMMAND --help' for a command's options.");

  // Words after `--` are a command to run (`sky launch -- python train.py`);
  // split them off before flag parsing so they are never read as flags.
  auto invocation = std::make_shared<Invocation>();
  int flag_argc = argc;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--") {
      flag_argc = i;
      invocation->command_words.assign(argv + i + 1, argv + argc);
      break;
    }
  }
  invocation->command_line = "sky";
  for (int i = 1; i < argc; ++i) invocation->command_line += " " + QuoteForDisplay(argv[i]);

  auto run_launch_command = AddLaunchCommands(app, invocation);
  auto run_cluster_command = AddClusterCommands(app);
  auto run_job_command = AddJobCommands(app);
  auto run_catalog_command = AddCatalogCommands(app);
  auto run_ssh_command = AddSshCommands(app);
  auto run_managed_job_command = AddManagedJobCommands(app, invocation);
  auto run_storage_command = AddStorageCommands(app);

  if (auto code = CheckCommandWords(app, std::vector<std::string>(argv + 1, argv + flag_argc))) {
    return *code;
  }
  try {
    app.parse(flag_argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;  // usage errors exit 2, as SkyPilot's CLI does
  }
  try {
    for (const auto& run :
         {run_launch_command, run_cluster_command, run_job_command, run_catalog_command,
          run_ssh_command, run_managed_job_command, run_storage_command}) {
      if (auto code = run()) return *code;
    }
    std::cout << app.help();
    return 0;
  } catch (const Error& e) {
    return ReportError(e);
  } catch (const std::exception& e) {
    std::cerr << "sky: internal error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace skycore::cli
