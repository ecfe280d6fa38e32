// How the agent starts a rank's script: behind RankLauncher, so that remote
// ranks (ssh, srun; see remote_launcher.h) plug in beside the local one. A
// launched rank is a child process of the agent (for a remote rank: the ssh or
// srun client), so its exit is seen through waitpid and its output through a
// pipe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/node_spec.h"

namespace skycore::agent {

struct RankLaunchRequest {
  std::string script;            // bash script
  std::string working_dir;       // cwd of the script (on the rank's node)
  std::vector<std::string> env;  // the whole environment of the script, "KEY=VALUE"
  RankRunner runner;             // the node's: where and how the script runs
};

// What a reaped rank's exit means.
struct RankOutcome {
  int exit_code = 0;  // the script's, as far as it is known
  // Set when the rank did not end by itself but lost its node (the ssh
  // connection dropped, srun reported a node failure): why, e.g.
  // "ssh: connection lost".
  std::optional<std::string> node_lost;
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
  // Called once the launched process `pid` has been reaped with `exit_code`
  // (as a shell reports it: 128+N for signal N). Releases what the launcher
  // held for the rank and says what the exit means.
  virtual RankOutcome Reaped(int pid, int exit_code) {
    (void)pid;
    return RankOutcome{exit_code, std::nullopt};
  }
};

// Runs ranks as local processes: /bin/bash -c SCRIPT with cwd = working_dir,
// stdin from /dev/null, stdout and stderr into one pipe.
class LocalRankLauncher : public RankLauncher {
 public:
  LaunchedRank Launch(const RankLaunchRequest& request) override;
  bool SignalGroup(int pid, int signal) override;
};

// The umask the processes SpawnInNewSession starts get, when the agent runs
// under a stricter one of its own (skyletd creates its files 0600 but gives
// jobs the umask it was started with). Set once, before any spawn.
void SetChildUmask(mode_t mask);

// Starts argv[0] (an absolute path, or a name looked up in the agent's PATH)
// in a new session with `env` as its environment; stdout, and stderr unless
// `stderr_fd` >= 0, go into a fresh pipe whose non-blocking read end is
// returned. stdin is `stdin_fd`, or /dev/null when it is negative. `chdir`
// empty: the agent's cwd. No other descriptor is inherited. Throws
// CommandError saying `what` could not start.
LaunchedRank SpawnInNewSession(const std::vector<std::string>& argv,
                               const std::vector<std::string>& env, const std::string& chdir,
                               int stdin_fd, int stderr_fd, const std::string& what);

// The start time of a process in clock ticks since boot (field 22 of
// /proc/<pid>/stat); nullopt when there is no such process. A pid whose start
// time differs from the recorded one belongs to another process now.
std::optional<uint64_t> ProcessStartTicks(int pid);

// True when the process `pid` started at `start_ticks` still exists (and is
// not a zombie).
bool ProcessAlive(int pid, uint64_t start_ticks);

}  // namespace skycore::agent
