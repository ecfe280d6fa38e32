// Running a command on a host with the OpenSSH client.
//
// Every connection is made with the same options, whatever ~/.ssh says:
//   -F /dev/null         the pools file already resolved the host (see node_pools.h)
//   BatchMode=yes        never prompt: a missing key fails instead of hanging
//   StrictHostKeyChecking=accept-new, UserKnownHostsFile=<state_dir>/ssh/known_hosts
//                        trust on first use: a host's key is recorded on first
//                        contact and must match afterwards (a changed key is an
//                        error, never silently accepted). skycore keeps its own
//                        known_hosts so it neither reads nor edits ~/.ssh.
//   ConnectTimeout, ControlMaster=auto + ControlPath=<control_dir>/%C +
//   ControlPersist   later commands reuse one connection per host.
// Connection failures (exit 255: refused, timed out, reset) are retried with
// exponential backoff until the deadline; authentication and host-key
// failures are not, since retrying cannot fix them.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/subprocess.h"
#include "infra/ssh/node_pools.h"

namespace skycore::ssh {

struct RunnerOptions {
  std::filesystem::path known_hosts;  // skycore's own known_hosts file
  std::filesystem::path control_dir;  // sockets of shared connections; empty: none
  int control_persist_s = 300;
  int connect_timeout_s = 10;
  int max_attempts = 3;            // connection attempts per command
  double initial_backoff_s = 0.5;  // doubled after each failed attempt
  std::string ssh_program = "ssh";
};

// How a command went. Only kOk means the command ran; its exit code is then
// the command's own.
enum class SshOutcome {
  kOk,
  kUnreachable,      // no connection (refused, timed out, unknown host)
  kAuthFailed,       // the host refused our key
  kHostKeyMismatch,  // the host's key differs from the recorded one
  kTimedOut,         // the deadline passed
  kNoSshClient,      // `ssh` cannot be executed here
};

struct SshResult {
  SshOutcome outcome = SshOutcome::kUnreachable;
  int exit_code = -1;  // the remote command's (kOk only)
  std::string output;  // stdout and stderr together
  int attempts = 0;
  // One line saying what went wrong and with whom (empty for kOk), e.g.
  // "Permission denied (publickey) for root@127.0.0.2:22 with key /k/id".
  std::string error;
};

// Runs a program; subprocess::Run unless a test injects a fake.
using SpawnFunction =
    std::function<subprocess::Result(const std::vector<std::string>& argv, double timeout_s)>;
// Waits between attempts; std::this_thread::sleep_for unless a test injects one.
using SleepFunction = std::function<void(double seconds)>;

class SshRunner {
 public:
  SshRunner(SshHost host, RunnerOptions options, SpawnFunction spawn = {},
            SleepFunction sleep = {});

  // The ssh command line that runs `command` in the host's login shell.
  std::vector<std::string> CommandLine(const std::string& command) const;

  // The same options as one string for `rsync -e`, and the "user@address"
  // that goes before the path (`user@address:/path`).
  std::string RemoteShell() const;
  std::string Destination() const;

  // Forwards the local Unix socket `local` to the host's `remote` over the
  // shared connection (`ssh -O forward -L local:remote`); it lasts as long
  // as that connection. Needs a control directory.
  SshResult ForwardUnixSocket(const std::string& local, const std::string& remote,
                              double deadline_s) const;
  // Ends that forwarding (nothing when there is none).
  void CancelForward(const std::string& local, const std::string& remote) const;

  // Runs `command`, retrying connection failures until `deadline_s` seconds
  // have passed. Never throws; see SshResult.
  SshResult Run(const std::string& command, double deadline_s) const;

  // As Run, but throws NetworkError (with SshResult::error) unless the command
  // ran, and CommandError when it exited non-zero. Returns its output.
  std::string RunOrThrow(const std::string& command, double deadline_s) const;

  const SshHost& host() const noexcept { return host_; }

 private:
  std::vector<std::string> Options() const;  // the argv up to the destination

  SshHost host_;
  RunnerOptions options_;
  SpawnFunction spawn_;
  SleepFunction sleep_;
};

// A short directory for connection sockets, private to this user
// ($TMPDIR is avoided: a socket path must stay under ~100 bytes).
std::filesystem::path DefaultControlDir();

// Prepares `dir` as a 0700 directory owned by us; false (no sharing of
// connections) when that is not possible.
bool PrepareControlDir(const std::filesystem::path& dir);

}  // namespace skycore::ssh
