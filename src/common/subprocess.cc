#include "common/subprocess.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/strings.h"
#include "skycore/error.h"

extern char** environ;

namespace skycore::subprocess {
namespace {

std::vector<char*> Argv(const std::vector<std::string>& args) {
  std::vector<char*> out;
  for (const auto& arg : args) out.push_back(const_cast<char*>(arg.c_str()));
  out.push_back(nullptr);
  return out;
}

// Closes every descriptor above stderr in a freshly forked child.
void CloseInheritedDescriptors() {
#ifdef SYS_close_range
  if (::syscall(SYS_close_range, 3u, ~0u, 0u) == 0) return;
#endif
  long max_fd = ::sysconf(_SC_OPEN_MAX);
  for (long fd = 3; fd < (max_fd > 0 ? max_fd : 1024); ++fd) ::close(static_cast<int>(fd));
}

}  // namespace

std::string FindInPath(const std::string& program) {
  if (program.empty()) return {};
  if (program.find('/') != std::string::npos) {
    return ::access(program.c_str(), X_OK) == 0 ? program : std::string();
  }
  const char* path = std::getenv("PATH");
  for (const auto& dir : strings::Split(path ? path : "/usr/bin:/bin", ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + program;
    struct stat info {};
    if (::stat(candidate.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return {};
}

Result Run(const std::vector<std::string>& argv, double timeout_s, size_t max_output) {
  Result result;
  if (argv.empty()) return result;
  const std::string program = FindInPath(argv[0]);
  if (program.empty()) return result;
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return result;
  auto args = Argv(argv);
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return result;
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    ::dup2(pipe_fds[1], 1);
    ::dup2(pipe_fds[1], 2);
    CloseInheritedDescriptors();
    ::execv(program.c_str(), args.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  result.started = true;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<long>(timeout_s * 1000));
  char buffer[16384];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) {
      result.timed_out = true;
      ::kill(-pid, SIGKILL);
      break;
    }
    pollfd ready{pipe_fds[0], POLLIN, 0};
    int polled = ::poll(&ready, 1, static_cast<int>(std::min<long>(left, 1000)));
    if (polled < 0 && errno == EINTR) continue;
    if (polled <= 0) continue;
    ssize_t size = ::read(pipe_fds[0], buffer, sizeof(buffer));
    if (size < 0 && errno == EINTR) continue;
    if (size <= 0) break;
    if (result.output.size() < max_output) {
      result.output.append(buffer,
                           std::min(static_cast<size_t>(size), max_output - result.output.size()));
    }
  }
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!result.timed_out && WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
    if (result.exit_code == 127 && result.output.empty()) result.started = false;
  }
  return result;
}

int SpawnDaemon(const std::vector<std::string>& argv, const std::string& log_path,
                const std::vector<std::string>& extra_env) {
  if (argv.empty()) throw CommandError("no program to start");
  auto args = Argv(argv);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  for (const auto& kv : extra_env) env_strings.push_back(kv);
  auto envp = Argv(env_strings);
  // The grandchild's pid comes back through a pipe; the middle child exits at
  // once so the daemon is re-parented to init and never becomes our zombie.
  int pid_pipe[2];
  if (::pipe2(pid_pipe, O_CLOEXEC) != 0) {
    throw CommandError(fmt::format("cannot start {}: {}", argv[0], std::strerror(errno)));
  }
  pid_t child = ::fork();
  if (child < 0) {
    ::close(pid_pipe[0]);
    ::close(pid_pipe[1]);
    throw CommandError(fmt::format("cannot start {}: {}", argv[0], std::strerror(errno)));
  }
  if (child == 0) {
    ::setsid();
    pid_t daemon = ::fork();
    if (daemon != 0) {
      int value = daemon;
      (void)!::write(pid_pipe[1], &value, sizeof(value));
      ::_exit(daemon > 0 ? 0 : 1);
    }
    int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (log_fd >= 0) {
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
    }
    CloseInheritedDescriptors();
    ::signal(SIGPIPE, SIG_DFL);
    ::execve(argv[0].c_str(), args.data(), envp.data());
    ::_exit(127);
  }
  ::close(pid_pipe[1]);
  int daemon_pid = -1;
  ssize_t got = -1;
  do {
    got = ::read(pid_pipe[0], &daemon_pid, sizeof(daemon_pid));
  } while (got < 0 && errno == EINTR);
  ::close(pid_pipe[0]);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (got != sizeof(daemon_pid) || daemon_pid <= 0) {
    throw CommandError(fmt::format("cannot start {}", argv[0]));
  }
  return daemon_pid;
}

}  // namespace skycore::subprocess
