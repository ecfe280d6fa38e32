// Running a helper program (rsync, nvidia-smi, lspci) with a deadline, and
// starting a daemon that outlives us.
#pragma once

#include <string>
#include <vector>

namespace skycore::subprocess {

struct Result {
  int exit_code = -1;  // -1 when killed by a signal or not started
  bool timed_out = false;
  bool started = false;  // false: the program could not be executed
  std::string output;    // stdout and stderr together (at most max_output bytes)
};

// Runs argv[0] (searched in PATH) with stdin from /dev/null; kills its process
// group at the deadline. Never throws.
Result Run(const std::vector<std::string>& argv, double timeout_s, size_t max_output = 1 << 20);

// Starts argv as a daemon: its own session, stdin /dev/null, stdout and stderr
// appended to `log_path`, no inherited descriptors (a held cluster lock must
// not live on in it). Returns its pid; throws CommandError when it cannot be
// started.
int SpawnDaemon(const std::vector<std::string>& argv, const std::string& log_path,
                const std::vector<std::string>& extra_env = {});

// The full path of `program` found in PATH (or as given when it has a '/');
// empty when not found or not executable.
std::string FindInPath(const std::string& program);

}  // namespace skycore::subprocess
