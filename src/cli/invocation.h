// What every sub-command may need to know about how `sky` was invoked.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace skycore::cli {

struct Invocation {
  // Words after `--` (`sky launch -- python train.py`), never parsed as flags.
  std::vector<std::string> command_words;
  // The whole command line ("sky launch -c dev task.yaml"), recorded as a
  // cluster's last use.
  std::string command_line;
};

// Keeps a sub-command's one-line summary in `sky --help` and moves the rest
// of its description (after a blank line) to the end of `sky COMMAND --help`.
inline void SplitHelp(CLI::App& command) {
  const std::string text = command.get_description();
  const auto blank = text.find("\n\n");
  if (blank == std::string::npos) return;
  command.description(text.substr(0, blank));
  command.footer("\n" + text.substr(blank + 2));
}

}  // namespace skycore::cli
