// What every sub-command may need to know about how `sky` was invoked.
#pragma once

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

}  // namespace skycore::cli
