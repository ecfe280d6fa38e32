// Ranks on other machines: over OpenSSH, through a Kubernetes pod's exec, or
// as steps of a Slurm allocation through srun, and the launcher that picks
// one per node (RankRunner).
//
// ssh. The rank's process on the agent's machine is the ssh client; on the
// node a small bash wrapper (SshRemoteCommand) starts the script in its own
// process group and watches ssh's stdin. The agent holds the write end
// of that stdin for the rank's lifetime; it writes the rank's environment
// first (EnvironmentBlock), then sends signals through it, one
// number per line, so they travel over the rank's own connection (no second
// connection that could fail on its own). When the stdin ends (the agent killed
// the ssh client or died, the connection dropped, sshd died) the wrapper sends
// the rank's group SIGTERM and 3 s later SIGKILL -- at once if it was sent
// SIGTERM already. So a remote rank never outlives its connection.
// When the script's leader exits, the wrapper SIGKILLs what is left of its
// group: a leftover holding the connection's stdout would keep ssh (and so the
// rank) from ever ending. A process meant to outlive the rank must leave the
// group and its output (setsid, redirection).
//
// ssh exits 255 for its own errors, but also when the remote command does; so
// the wrapper reports the script's exit code on ssh's stderr (a marker line the
// agent reads back from an in-memory file), after a "started" marker. A rank
// whose ssh exits without the exit marker and with 255 lost its node: before
// "started", ssh could not reach the node (or log in); after it, the connection
// dropped. A script that exits 255 is an ordinary failure.
//
// kubernetes. The same wrapper, markers and stdin watchdog as ssh, with
// `skyletd kexec` (this agent's own binary) as the client: it runs the wrapper
// through the API server's exec of the pod and streams stdin, stdout and
// stderr, the end of its stdin ending the wrapper's. A rank whose client ends
// without the exit marker lost its node, whatever the exit code: the stream
// broke or ended early (API server unreachable, pod not found or deleted: a
// deleted pod's processes are killed, wrapper included).
//
// srun. `srun --jobid=J --overlap -N1 -n1 -w NODE --chdir=WD --export=ALL
// --quiet /bin/bash -c SCRIPT` with the request's environment as srun's own;
// the script's stderr is merged into its stdout inside the step, so srun's own
// stderr (kept apart) holds only srun's messages. A non-zero exit with a
// message about a node failure, or about a step or job that cannot be had, is
// a lost node. SIGTERM (and other signals) go to srun, which forwards them to
// the step. srun cannot forward SIGKILL, so SIGKILL becomes two SIGINTs to
// srun, which is srun's own gesture for "kill the step now" (its tasks get
// SIGKILL and srun exits); a SIGKILL asked for again 2 s or more later kills
// srun itself, in case it hangs.
//
// After an agent restart the launcher knows nothing of the ranks it started;
// SignalGroup then signals the local group (the ssh or srun client). For ssh
// that is enough (the dead agent's end of stdin closed already); an srun step
// may outlive a restart until its allocation ends.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/launcher.h"
#include "agent/node_spec.h"

namespace skycore::agent {

// The command the node's login shell runs for an ssh rank: empty the
// environment and run the wrapper, which reads the rank's environment
// (exactly request.env) from stdin, enters the working dir and starts the
// script. No environment value is on a command line: they may be secrets,
// and any user of the machine can read a command line.
std::string SshRemoteCommand(const RankLaunchRequest& request);

// What the launcher writes first into an ssh or kubernetes rank's stdin: each
// "KEY=VALUE" entry ended by a NUL, then an empty entry (one more NUL).
std::string EnvironmentBlock(const std::vector<std::string>& env);

// The whole ssh command line (ssh, its options, destination, remote command).
std::vector<std::string> SshCommandLine(const RankLaunchRequest& request,
                                        const std::string& ssh_program = "ssh");

// The whole `skyletd kexec` command line of a rank on a Kubernetes pod;
// `skyletd` is the agent's binary.
std::vector<std::string> KubernetesCommandLine(const RankLaunchRequest& request,
                                               const std::string& skyletd);

// The whole srun command line.
std::vector<std::string> SrunCommandLine(const RankLaunchRequest& request);

// Markers the ssh wrapper writes on its stderr.
inline constexpr const char* kSshStartedMarker = "skycore-rank-started";
inline constexpr const char* kSshExitMarker = "skycore-rank-exit";

// What an ssh rank's exit means, from ssh's exit code and its stderr.
RankOutcome InterpretSshExit(int exit_code, const std::string& ssh_stderr);
// What a kubernetes rank's exit means, from its client's exit code and stderr.
RankOutcome InterpretKubernetesExit(int exit_code, const std::string& client_stderr);
// What an srun rank's exit means, from srun's exit code and its stderr.
RankOutcome InterpretSrunExit(int exit_code, const std::string& srun_stderr);

// Ranks of ssh and kubernetes nodes: both run the wrapper through a client
// whose stdin carries the signals.
class SshRankLauncher : public RankLauncher {
 public:
  explicit SshRankLauncher(std::string ssh_program = "ssh", std::string skyletd_program = "");
  ~SshRankLauncher() override;
  LaunchedRank Launch(const RankLaunchRequest& request) override;
  // Sends the signal to the remote group through stdin. SIGKILL also closes
  // stdin and SIGKILLs the local ssh client (the wrapper then kills the remote
  // group when it sees the end of stdin, if the line did not get there first).
  bool SignalGroup(int pid, int signal) override;
  RankOutcome Reaped(int pid, int exit_code) override;

 private:
  struct Rank {
    int control_fd = -1;  // our end of ssh's stdin (a socket, so writes never raise SIGPIPE)
    int stderr_fd = -1;   // memfd holding ssh's stderr
    bool kubernetes = false;
  };
  std::string SkyletdProgram() const;

  std::string ssh_program_;
  std::string skyletd_program_;  // empty: this process's own binary
  std::map<int, Rank> ranks_;
};

class SrunRankLauncher : public RankLauncher {
 public:
  ~SrunRankLauncher() override;
  LaunchedRank Launch(const RankLaunchRequest& request) override;
  bool SignalGroup(int pid, int signal) override;
  RankOutcome Reaped(int pid, int exit_code) override;

 private:
  struct Rank {
    int stderr_fd = -1;  // memfd holding srun's stderr
    std::chrono::steady_clock::time_point kill_asked{};
    bool kill_asked_once = false;
  };
  std::map<int, Rank> ranks_;
};

// Starts each rank with the launcher for its node's runner, and routes later
// calls for a pid to the launcher that started it (unknown pids, e.g. from a
// previous agent's job table, are treated as local process groups).
class NodeRankLauncher : public RankLauncher {
 public:
  NodeRankLauncher();
  LaunchedRank Launch(const RankLaunchRequest& request) override;
  bool SignalGroup(int pid, int signal) override;
  RankOutcome Reaped(int pid, int exit_code) override;

 private:
  RankLauncher& For(int pid);

  std::unique_ptr<RankLauncher> local_;
  std::unique_ptr<RankLauncher> ssh_;
  std::unique_ptr<RankLauncher> srun_;
  std::map<int, RankLauncher*> owner_;
};

}  // namespace skycore::agent
