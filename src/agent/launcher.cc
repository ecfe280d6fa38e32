#include "agent/launcher.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "skycore/error.h"

namespace skycore::agent {
namespace {

// Owns posix_spawn's attribute and file-action objects.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attributes);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

std::optional<mode_t> child_umask;

}  // namespace

void SetChildUmask(mode_t mask) { child_umask = mask; }

LaunchedRank SpawnInNewSession(const std::vector<std::string>& argv,
                               const std::vector<std::string>& env, const std::string& chdir,
                               int stdin_fd, int stderr_fd, const std::string& what) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    throw CommandError(fmt::format("cannot create an output pipe: {}", std::strerror(errno)));
  }
  SpawnSetup setup;
  // A new session: the rank leads its own process group, so cancel reaches
  // everything it started, and a terminal signal to the agent does not.
  posix_spawnattr_setflags(&setup.attributes,
                           POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  sigset_t signals;
  sigemptyset(&signals);
  posix_spawnattr_setsigmask(&setup.attributes, &signals);
  sigfillset(&signals);
  posix_spawnattr_setsigdefault(&setup.attributes, &signals);
  if (stdin_fd >= 0) {
    posix_spawn_file_actions_adddup2(&setup.actions, stdin_fd, 0);
  } else {
    posix_spawn_file_actions_addopen(&setup.actions, 0, "/dev/null", O_RDONLY, 0);
  }
  posix_spawn_file_actions_adddup2(&setup.actions, pipe_fds[1], 1);
  posix_spawn_file_actions_adddup2(&setup.actions, stderr_fd >= 0 ? stderr_fd : pipe_fds[1], 2);
  // Above all, no other rank's descriptors: a remote rank ends when the write
  // end of its stdin closes, so no other child may hold a copy.
  posix_spawn_file_actions_addclosefrom_np(&setup.actions, 3);
  if (!chdir.empty()) posix_spawn_file_actions_addchdir_np(&setup.actions, chdir.c_str());

  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  envp.reserve(env.size() + 1);
  for (const auto& entry : env) envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);

  pid_t pid = 0;
  // posix_spawnp searches the agent's PATH (not envp's) for a bare name.
  // posix_spawn has no umask attribute: the child inherits the agent's at
  // the spawn (the agent is single-threaded, so nothing else creates files
  // meanwhile).
  const mode_t own_umask = child_umask ? ::umask(*child_umask) : 0;
  int rc =
      ::posix_spawnp(&pid, args[0], &setup.actions, &setup.attributes, args.data(), envp.data());
  if (child_umask) ::umask(own_umask);
  ::close(pipe_fds[1]);
  if (rc != 0) {
    ::close(pipe_fds[0]);
    throw CommandError(fmt::format("cannot start {}: {}", what, std::strerror(rc)));
  }
  int flags = ::fcntl(pipe_fds[0], F_GETFL);
  ::fcntl(pipe_fds[0], F_SETFL, flags | O_NONBLOCK);
  LaunchedRank launched;
  launched.pid = pid;
  launched.start_ticks = ProcessStartTicks(pid).value_or(0);
  launched.output_fd = pipe_fds[0];
  return launched;
}

LaunchedRank LocalRankLauncher::Launch(const RankLaunchRequest& request) {
  return SpawnInNewSession({"/bin/bash", "-c", request.script}, request.env, request.working_dir,
                           -1, -1, fmt::format("the rank's script in {}", request.working_dir));
}

bool LocalRankLauncher::SignalGroup(int pid, int signal) {
  if (pid <= 1) return false;  // never signal init or "every process"
  return ::kill(-pid, signal) == 0;
}

std::optional<uint64_t> ProcessStartTicks(int pid) {
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string text;
  if (!stat || !std::getline(stat, text)) return std::nullopt;
  // The command name may hold spaces and parentheses: fields resume after the last ')'.
  auto close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  // Field 3 (state) is the first after ')'; starttime is field 22.
  for (int index = 3; index < 22; ++index) {
    if (!(fields >> field)) return std::nullopt;
    if (index == 3 && field == "Z") return std::nullopt;  // a zombie has already exited
  }
  uint64_t start_ticks = 0;
  if (!(fields >> start_ticks)) return std::nullopt;
  return start_ticks;
}

bool ProcessAlive(int pid, uint64_t start_ticks) {
  auto ticks = ProcessStartTicks(pid);
  return ticks && *ticks == start_ticks;
}

}  // namespace skycore::agent
