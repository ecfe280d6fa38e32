#include "cli/commands.h"

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "cli/catalog_commands.h"
#include "cli/cluster_commands.h"
#include "cli/display.h"
#include "cli/invocation.h"
#include "cli/job_commands.h"
#include "cli/launch_commands.h"
#include "cli/ssh_commands.h"
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

  try {
    app.parse(flag_argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;  // usage errors exit 2, as SkyPilot's CLI does
  }
  try {
    for (const auto& run : {run_launch_command, run_cluster_command, run_job_command,
                            run_catalog_command, run_ssh_command}) {
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
