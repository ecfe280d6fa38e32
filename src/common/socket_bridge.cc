#include "common/socket_bridge.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>

#include "skycore/error.h"

extern char** environ;

namespace skycore::bridge {
namespace {

// The paths this process serves (a process-wide resource, like its file
// descriptors): served once each, removed at exit.
class Served {
 public:
  ~Served() {
    std::lock_guard lock(mutex_);
    for (const auto& path : paths_) ::unlink(path.c_str());
  }
  bool Claim(const std::string& path) {
    std::lock_guard lock(mutex_);
    return paths_.insert(path).second;
  }
  void Release(const std::string& path) {
    std::lock_guard lock(mutex_);
    paths_.erase(path);
  }

 private:
  std::mutex mutex_;
  std::set<std::string> paths_;
};

Served& ServedPaths() {
  static Served served;
  return served;
}

}  // namespace

void ServeUnixSocket(const std::filesystem::path& socket_path, std::function<void(int)> handle) {
  const std::string path = socket_path.string();
  if (!ServedPaths().Claim(path)) return;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path)) {
    ServedPaths().Release(path);
    throw IoError(fmt::format("the socket path {} is too long", path));
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  ::unlink(path.c_str());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 ||
      ::chmod(path.c_str(), 0600) != 0 || ::listen(fd, 64) != 0) {
    const int error = errno;
    if (fd >= 0) ::close(fd);
    ServedPaths().Release(path);
    throw IoError(fmt::format("cannot serve the socket {}: {}", path, std::strerror(error)));
  }
  std::thread([fd, handle = std::move(handle)] {
    for (;;) {
      const int connection = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (connection < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;
      }
      std::thread([handle, connection] {
        try {
          handle(connection);
        } catch (const std::exception&) {
          // The peer sees its connection end; whoever connected says why.
        }
      }).detach();
    }
  }).detach();
}

std::function<void(int)> SpawnPerConnection(std::vector<std::string> argv) {
  return [argv = std::move(argv)](int connection) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, connection, 0);
    posix_spawn_file_actions_adddup2(&actions, connection, 1);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    pid_t pid = 0;
    const int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(connection);  // the child holds it now
    if (rc != 0) return;
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  };
}

}  // namespace skycore::bridge
