// How the agent starts a rank's script: behind RankLauncher, so that remote
// ranks (ssh, kubectl exec) can plug in beside the local one. A launched rank
// is a child process of the agent (for a remote rank: the ssh/kubectl client),
// so its exit is seen through waitpid and its output through a pipe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace skycore::agent {

struct RankLaunchRequest {
  std::string script;            // bash script
  std::string working_dir;       // cwd of the script
  std::vector<std::string> env;  // the whole environment, "KEY=VALUE"
};

struct LaunchedRank {
  int pid = 0;               // leader of the rank's own process group
  uint64_t start_ticks = 0;  // identity of the process (see ProcessStartTicks)
  int output_fd = -1;        // read end of the rank's stdout+stderr; non-blocking, owned by caller
};

class RankLauncher {
 public:
  virtual ~RankLauncher() = default;
  // Starts the script in a new session (so a new process group). Throws
  // CommandError naming the working dir when it cannot be started.
  virtual LaunchedRank Launch(const RankLaunchRequest& request) = 0;
  // Sends `signal` to the rank's whole process group. False when no process
  // of the group is left.
  virtual bool SignalGroup(int pid, int signal) = 0;
};

// Runs ranks as local processes: /bin/bash -c SCRIPT with cwd = working_dir,
// stdin from /dev/null, stdout and stderr into one pipe.
class LocalRankLauncher : public RankLauncher {
 public:
  LaunchedRank Launch(const RankLaunchRequest& request) override;
  bool SignalGroup(int pid, int signal) override;
};

// The start time of a process in clock ticks since boot (field 22 of
// /proc/<pid>/stat); nullopt when there is no such process. A pid whose start
// time differs from the recorded one belongs to another process now.
std::optional<uint64_t> ProcessStartTicks(int pid);

// True when the process `pid` started at `start_ticks` still exists (and is
// not a zombie).
bool ProcessAlive(int pid, uint64_t start_ticks);

}  // namespace skycore::agent
