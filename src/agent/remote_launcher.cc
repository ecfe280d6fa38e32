#include "agent/remote_launcher.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/strings.h"
#include "skycore/error.h"

extern char** environ;

namespace skycore::agent {
namespace {

// Run by /bin/bash on the node with $1 = working dir, $2 = script, in an
// empty environment; see the header for why it is shaped like this. It first
// reads the rank's environment from stdin (EnvironmentBlock), never from its
// command line: other users of either machine can read a command line (ps). Its stdout is the
// connection's, and its stderr carries only the markers (and errors of the wrapper itself). fd 3
// keeps the connection's stdin for the watchdog: bash gives a background command /dev/null as stdin
// unless it is redirected explicitly. `set -m` (job control) puts the rank in its own process
// group, pgid = $!, and keeps SIGINT and SIGQUIT working in it: without job control a background
// command ignores them, and a script cannot trap a signal ignored on entry.
constexpr const char* kSshWrapper = R"(exec 3<&0
while :; do
  IFS= read -r -d '' entry || exit 1
  [ -z "$entry" ] && break
  export -- "$entry" 2>/dev/null
done
unset entry
if ! cd -- "$1" 2>/dev/null; then
  echo "cannot enter the working directory $1 on $HOSTNAME"
  printf '%s 1\n' skycore-rank-exit >&2
  exit 1
fi
set -m
/bin/bash -c "$2" </dev/null 3<&- 2>&1 &
rank=$!
set +m
printf '%s\n' skycore-rank-started >&2
(
  termed=
  while IFS= read -r sig; do
    case $sig in ''|*[!0-9]*) continue ;; esac
    kill -"$sig" -- -"$rank" 2>/dev/null || kill -"$sig" "$rank" 2>/dev/null
    [ "$sig" = 15 ] && termed=1
  done
  if [ -z "$termed" ]; then
    kill -15 -- -"$rank" 2>/dev/null || kill -15 "$rank" 2>/dev/null
    sleep 3
  fi
  kill -9 -- -"$rank" 2>/dev/null || kill -9 "$rank" 2>/dev/null
) <&3 >/dev/null 2>&1 &
watchdog=$!
wait "$rank"
status=$?
kill -9 -- -"$rank" 2>/dev/null
kill "$watchdog" 2>/dev/null
printf '%s %d\n' skycore-rank-exit "$status" >&2
exit "$status"
)";

int NewMemfd(const char* name) {
  int fd = ::memfd_create(name, MFD_CLOEXEC);
  if (fd < 0) {
    throw CommandError(
        fmt::format("cannot create a buffer for a rank's client errors: {}", std::strerror(errno)));
  }
  return fd;
}

// The last 64 KiB of a memfd (a client's errors are short; a flood is cut).
std::string ReadMemfd(int fd) {
  constexpr off_t kMax = 64 * 1024;
  off_t size = ::lseek(fd, 0, SEEK_END);
  if (size <= 0) return "";
  off_t start = std::max<off_t>(0, size - kMax);
  std::string text(static_cast<size_t>(size - start), '\0');
  ssize_t got = ::pread(fd, text.data(), text.size(), start);
  text.resize(got > 0 ? static_cast<size_t>(got) : 0);
  return text;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  for (const auto& line : strings::Split(text, '\n')) {
    auto trimmed = strings::Trim(line);
    if (!trimmed.empty()) lines.emplace_back(trimmed);
  }
  return lines;
}

std::vector<std::string> AgentEnvironment() {
  std::vector<std::string> env;
  for (char** entry = environ; entry && *entry; ++entry) env.emplace_back(*entry);
  return env;
}

// Writes the rank's environment into its client's stdin. The socket's buffer
// holds far more than an environment, so this does not wait for the client;
// a client that exited early (EPIPE) is reported when it is reaped.
void SendEnvironment(int control_fd, const std::vector<std::string>& env) {
  const std::string block = EnvironmentBlock(env);
  int size = static_cast<int>(std::min<size_t>(block.size() + 4096, 16u << 20));
  ::setsockopt(control_fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  timeval timeout{10, 0};  // never wedge the agent on a client that does not read
  ::setsockopt(control_fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  size_t sent = 0;
  while (sent < block.size()) {
    ssize_t wrote = ::send(control_fd, block.data() + sent, block.size() - sent, MSG_NOSIGNAL);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return;
    sent += static_cast<size_t>(wrote);
  }
}

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

std::string SshRemoteCommand(const RankLaunchRequest& request) {
  // The login shell only execs env: everything else happens in bash, whatever
  // the user's shell is, as long as it reads POSIX single quotes.
  // The environment follows on stdin (EnvironmentBlock).
  std::string command = "exec env -i --";
  // --norc: bash run with a socket as stdin takes itself for an rsh/ssh
  // session and would read ~/.bashrc (Debian's does), adding to the environment.
  command += " /bin/bash --norc --noprofile -c ";
  command += strings::ShellQuote(kSshWrapper);
  command += " skycore-rank ";
  command += strings::ShellQuote(request.working_dir);
  command += ' ';
  command += strings::ShellQuote(request.script);
  return command;
}

std::string EnvironmentBlock(const std::vector<std::string>& env) {
  std::string block;
  for (const auto& entry : env) {
    // An entry holding a NUL cannot be in an environment; one without a name
    // is not an assignment.
    if (entry.find('=') == std::string::npos || entry.front() == '=' ||
        entry.find('\0') != std::string::npos) {
      continue;
    }
    block += entry;
    block += '\0';
  }
  block += '\0';
  return block;
}

std::vector<std::string> SshCommandLine(const RankLaunchRequest& request,
                                        const std::string& ssh_program) {
  const RankRunner& runner = request.runner;
  std::vector<std::string> argv = {ssh_program, "-F", "/dev/null", "-T"};
  if (!runner.identity_file.empty()) {
    // Only this key: keys from an ssh-agent could use up the server's
    // authentication attempts first.
    argv.insert(argv.end(), {"-i", runner.identity_file, "-o", "IdentitiesOnly=yes"});
  }
  argv.insert(argv.end(), {"-p", std::to_string(runner.port), "-o", "BatchMode=yes", "-o",
                           "StrictHostKeyChecking=accept-new"});
  if (!runner.known_hosts.empty()) {
    argv.insert(argv.end(), {"-o", "UserKnownHostsFile=" + runner.known_hosts});
  }
  // ServerAlive: a node that vanishes without closing the connection is
  // noticed within about 6 s.
  argv.insert(argv.end(), {"-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=2", "-o",
                           "ServerAliveCountMax=3", "-o", "LogLevel=ERROR"});
  argv.push_back(runner.user.empty() ? runner.address : runner.user + "@" + runner.address);
  argv.push_back(SshRemoteCommand(request));
  return argv;
}

std::vector<std::string> KubernetesCommandLine(const RankLaunchRequest& request,
                                               const std::string& skyletd) {
  const RankRunner& runner = request.runner;
  std::vector<std::string> argv = {skyletd,           "kexec",       "--kubeconfig",
                                   runner.kubeconfig, "--namespace", runner.namespace_name,
                                   "--pod",           runner.pod};
  if (!runner.context.empty()) argv.insert(argv.end(), {"--context", runner.context});
  if (!runner.container.empty()) argv.insert(argv.end(), {"--container", runner.container});
  // No login shell here: env runs bash directly, with an empty environment;
  // the rank's follows on stdin (EnvironmentBlock).
  argv.insert(argv.end(), {"--", "env", "-i", "--"});
  argv.insert(argv.end(), {"/bin/bash", "--norc", "--noprofile", "-c", kSshWrapper, "skycore-rank",
                           request.working_dir, request.script});
  return argv;
}

std::vector<std::string> SrunCommandLine(const RankLaunchRequest& request) {
  const RankRunner& runner = request.runner;
  // `exec 2>&1` first: the script's stderr joins its stdout inside the step,
  // so srun's own stderr holds only srun's messages.
  return {runner.srun_program,
          "--jobid=" + runner.job_id,
          "--overlap",
          "-N1",
          "-n1",
          "-w",
          runner.node_name,
          "--chdir=" + request.working_dir,
          "--export=ALL",
          "--quiet",
          "/bin/bash",
          "-c",
          "exec 2>&1\n" + request.script};
}

namespace {

// What the rank wrapper said on stderr (kSshStartedMarker, kSshExitMarker)
// and the transport's own last line.
struct RankMarkers {
  bool started = false;
  std::optional<int> script_exit;
  std::string detail;
};

RankMarkers ParseRankMarkers(const std::string& transport_stderr) {
  RankMarkers markers;
  for (const auto& line : Lines(transport_stderr)) {
    if (line == kSshStartedMarker) {
      markers.started = true;
    } else if (line.rfind(std::string(kSshExitMarker) + " ", 0) == 0) {
      long long code = 0;
      if (strings::ParseInt(line.substr(std::strlen(kSshExitMarker) + 1), code)) {
        markers.script_exit = static_cast<int>(code);
      }
    } else {
      markers.detail = line;
    }
  }
  return markers;
}

}  // namespace

RankOutcome InterpretSshExit(int exit_code, const std::string& ssh_stderr) {
  const RankMarkers markers = ParseRankMarkers(ssh_stderr);
  if (markers.script_exit) return RankOutcome{*markers.script_exit, std::nullopt};
  if (exit_code != 255) return RankOutcome{exit_code, std::nullopt};
  // ssh's last word, e.g. "Connection to x closed by remote host."
  std::string why = markers.started ? "ssh: connection lost" : "ssh: could not reach the node";
  if (!markers.detail.empty()) why += ": " + markers.detail;
  return RankOutcome{exit_code, why};
}

RankOutcome InterpretKubernetesExit(int exit_code, const std::string& client_stderr) {
  const RankMarkers markers = ParseRankMarkers(client_stderr);
  if (markers.script_exit) return RankOutcome{*markers.script_exit, std::nullopt};
  // The client's last word, e.g. "skyletd kexec: ... refused (HTTP 404)".
  std::string why = markers.started ? "kubernetes exec: the stream to the pod ended early"
                                    : "kubernetes exec: could not run in the pod";
  if (!markers.detail.empty()) why += ": " + markers.detail;
  return RankOutcome{exit_code, why};
}

RankOutcome InterpretSrunExit(int exit_code, const std::string& srun_stderr) {
  if (exit_code == 0) return RankOutcome{0, std::nullopt};
  for (const auto& line : Lines(srun_stderr)) {
    std::string lower = strings::Lower(line);
    if (lower.find("node failure") != std::string::npos ||
        lower.find("node_fail") != std::string::npos ||
        lower.find("unable to create step") != std::string::npos ||
        lower.find("invalid job id") != std::string::npos ||
        // The allocation itself ended under the step (scancel of the job,
        // its time limit): "*** STEP 5.0 ON n1 CANCELLED AT ... ***".
        (lower.find("*** step") != std::string::npos &&
         (lower.find("cancelled at") != std::string::npos ||
          lower.find("due to time limit") != std::string::npos))) {
      std::string why = line;
      if (why.rfind("srun: error: ", 0) == 0) why = why.substr(13);
      if (why.rfind("srun: ", 0) == 0) why = why.substr(6);
      return RankOutcome{exit_code, "srun: " + why};
    }
  }
  return RankOutcome{exit_code, std::nullopt};
}

// ---------------------------------------------------------------- ssh

SshRankLauncher::SshRankLauncher(std::string ssh_program, std::string skyletd_program)
    : ssh_program_(std::move(ssh_program)), skyletd_program_(std::move(skyletd_program)) {}

SshRankLauncher::~SshRankLauncher() {
  for (auto& [pid, rank] : ranks_) {
    CloseFd(rank.control_fd);
    CloseFd(rank.stderr_fd);
  }
}

LaunchedRank SshRankLauncher::Launch(const RankLaunchRequest& request) {
  int control[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, control) != 0) {
    throw CommandError(
        fmt::format("cannot create the control channel of an ssh rank: {}", std::strerror(errno)));
  }
  Rank rank;
  rank.control_fd = control[0];
  rank.kubernetes = request.runner.kind == RankRunner::Kind::kKubernetes;
  try {
    rank.stderr_fd = NewMemfd("ssh-rank-stderr");
    LaunchedRank launched =
        rank.kubernetes
            ? SpawnInNewSession(KubernetesCommandLine(request, SkyletdProgram()),
                                AgentEnvironment(), "", control[1], rank.stderr_fd,
                                fmt::format("skyletd kexec to pod {}/{} for a rank",
                                            request.runner.namespace_name, request.runner.pod))
            : SpawnInNewSession(SshCommandLine(request, ssh_program_), AgentEnvironment(), "",
                                control[1], rank.stderr_fd,
                                fmt::format("ssh to {} for a rank", request.runner.address));
    ::close(control[1]);
    // Only we write; the wrapper never answers on stdin.
    ::shutdown(rank.control_fd, SHUT_RD);
    SendEnvironment(rank.control_fd, request.env);
    ranks_[launched.pid] = rank;
    return launched;
  } catch (...) {
    ::close(control[1]);
    CloseFd(rank.control_fd);
    CloseFd(rank.stderr_fd);
    throw;
  }
}

std::string SshRankLauncher::SkyletdProgram() const {
  if (!skyletd_program_.empty()) return skyletd_program_;
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) {
    throw CommandError(
        fmt::format("cannot find the agent's own binary to run `skyletd kexec`: {}", ec.message()));
  }
  return self.string();
}

bool SshRankLauncher::SignalGroup(int pid, int signal) {
  if (pid <= 1) return false;
  auto it = ranks_.find(pid);
  if (it == ranks_.end()) return ::kill(-pid, signal) == 0;
  Rank& rank = it->second;
  if (rank.control_fd >= 0 && signal != 0) {
    std::string line = std::to_string(signal) + "\n";
    // MSG_DONTWAIT: a wedged connection must not block the agent; a line
    // that does not fit is dropped, and the end of stdin still stops the rank.
    (void)::send(rank.control_fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  if (signal == SIGKILL) {
    CloseFd(rank.control_fd);
    return ::kill(-pid, SIGKILL) == 0;
  }
  return ::kill(-pid, 0) == 0;
}

RankOutcome SshRankLauncher::Reaped(int pid, int exit_code) {
  auto it = ranks_.find(pid);
  if (it == ranks_.end()) return RankOutcome{exit_code, std::nullopt};
  std::string errors = ReadMemfd(it->second.stderr_fd);
  const bool kubernetes = it->second.kubernetes;
  CloseFd(it->second.control_fd);
  CloseFd(it->second.stderr_fd);
  ranks_.erase(it);
  return kubernetes ? InterpretKubernetesExit(exit_code, errors)
                    : InterpretSshExit(exit_code, errors);
}

// ---------------------------------------------------------------- srun

SrunRankLauncher::~SrunRankLauncher() {
  for (auto& [pid, rank] : ranks_) CloseFd(rank.stderr_fd);
}

LaunchedRank SrunRankLauncher::Launch(const RankLaunchRequest& request) {
  Rank rank;
  rank.stderr_fd = NewMemfd("srun-rank-stderr");
  try {
    // srun's environment is the script's: --export=ALL passes it on.
    LaunchedRank launched = SpawnInNewSession(
        SrunCommandLine(request), request.env, "", -1, rank.stderr_fd,
        fmt::format("{} for a rank on {}", request.runner.srun_program, request.runner.node_name));
    ranks_[launched.pid] = rank;
    return launched;
  } catch (...) {
    CloseFd(rank.stderr_fd);
    throw;
  }
}

bool SrunRankLauncher::SignalGroup(int pid, int signal) {
  if (pid <= 1) return false;
  auto it = ranks_.find(pid);
  if (it == ranks_.end() || signal != SIGKILL) return ::kill(-pid, signal) == 0;
  Rank& rank = it->second;
  auto now = std::chrono::steady_clock::now();
  if (rank.kill_asked_once && now - rank.kill_asked >= std::chrono::seconds(2)) {
    return ::kill(-pid, SIGKILL) == 0;
  }
  if (!rank.kill_asked_once) {
    rank.kill_asked_once = true;
    rank.kill_asked = now;
    // Two interrupts within a second: srun kills the step and exits.
    ::kill(pid, SIGINT);
    ::kill(pid, SIGINT);
  }
  return ::kill(-pid, 0) == 0;
}

RankOutcome SrunRankLauncher::Reaped(int pid, int exit_code) {
  auto it = ranks_.find(pid);
  if (it == ranks_.end()) return RankOutcome{exit_code, std::nullopt};
  std::string errors = ReadMemfd(it->second.stderr_fd);
  CloseFd(it->second.stderr_fd);
  ranks_.erase(it);
  return InterpretSrunExit(exit_code, errors);
}

// ---------------------------------------------------------------- per node

NodeRankLauncher::NodeRankLauncher()
    : local_(std::make_unique<LocalRankLauncher>()),
      ssh_(std::make_unique<SshRankLauncher>()),
      srun_(std::make_unique<SrunRankLauncher>()) {}

LaunchedRank NodeRankLauncher::Launch(const RankLaunchRequest& request) {
  RankLauncher* launcher = local_.get();
  if (request.runner.kind == RankRunner::Kind::kSsh ||
      request.runner.kind == RankRunner::Kind::kKubernetes) {
    launcher = ssh_.get();
  }
  if (request.runner.kind == RankRunner::Kind::kSrun) launcher = srun_.get();
  LaunchedRank launched = launcher->Launch(request);
  owner_[launched.pid] = launcher;
  return launched;
}

RankLauncher& NodeRankLauncher::For(int pid) {
  auto it = owner_.find(pid);
  return it == owner_.end() ? *local_ : *it->second;
}

bool NodeRankLauncher::SignalGroup(int pid, int signal) {
  return For(pid).SignalGroup(pid, signal);
}

RankOutcome NodeRankLauncher::Reaped(int pid, int exit_code) {
  RankOutcome outcome = For(pid).Reaped(pid, exit_code);
  owner_.erase(pid);
  return outcome;
}

}  // namespace skycore::agent
