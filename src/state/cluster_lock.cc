// ClusterLock: an flock on <state_dir>/locks/<cluster>.lock. The kernel drops
// an flock when its holder dies, so there is no stale-lock cleanup; the file
// itself is never deleted (unlinking a lock file races with a waiter that has
// it open).
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "common/files.h"
#include "skycore/state.h"

namespace skycore {

namespace {

std::optional<int> ReadHolderPid(int fd) {
  char buffer[32] = {};
  ssize_t n = ::pread(fd, buffer, sizeof buffer - 1, 0);
  if (n <= 0) return std::nullopt;
  char* end = nullptr;
  long pid = std::strtol(buffer, &end, 10);
  if (end == buffer || pid <= 0) return std::nullopt;
  return static_cast<int>(pid);
}

void WriteHolderPid(int fd) {
  const std::string text = fmt::format("{}\n", ::getpid());
  // Best effort: the pid only improves error messages.
  if (::ftruncate(fd, 0) == 0) {
    [[maybe_unused]] ssize_t written = ::pwrite(fd, text.data(), text.size(), 0);
  }
}

int OpenLockFile(const std::filesystem::path& state_dir, const std::string& cluster) {
  const auto path = ClusterLock::LockPath(state_dir, cluster);
  try {
    files::EnsurePrivateDir(path.parent_path());
  } catch (const IoError& error) {
    throw IoError(fmt::format("Cannot create the lock directory {}: {}.",
                              path.parent_path().string(), error.message()));
  }
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw IoError(fmt::format("Cannot open the lock file {} of cluster '{}': {}.", path.string(),
                              cluster, std::strerror(errno)));
  }
  return fd;
}

// true: locked; false: held by someone else.
bool TryLock(int fd) {
  while (true) {
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return true;
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) return false;
    throw IoError(fmt::format("flock failed: {}.", std::strerror(errno)));
  }
}

}  // namespace

std::filesystem::path ClusterLock::LockPath(const std::filesystem::path& state_dir,
                                            const std::string& cluster) {
  std::string file;
  for (unsigned char c : cluster) {
    bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_' || (c == '.' && !file.empty());
    file += safe ? std::string(1, static_cast<char>(c)) : fmt::format("%{:02X}", c);
  }
  return state_dir / "locks" / (file + ".lock");
}

std::optional<ClusterLock> ClusterLock::TryAcquire(const std::filesystem::path& state_dir,
                                                   const std::string& cluster) {
  int fd = OpenLockFile(state_dir, cluster);
  try {
    if (!TryLock(fd)) {
      ::close(fd);
      return std::nullopt;
    }
  } catch (...) {
    ::close(fd);
    throw;
  }
  WriteHolderPid(fd);
  return ClusterLock(fd, cluster);
}

ClusterLock ClusterLock::Acquire(const std::filesystem::path& state_dir, const std::string& cluster,
                                 std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto deadline = start + timeout;
  int fd = OpenLockFile(state_dir, cluster);
  // Poll with a growing interval: quick hand-over for short critical
  // sections, little CPU for long ones.
  auto interval = std::chrono::milliseconds(1);
  try {
    while (!TryLock(fd)) {
      const auto now = Clock::now();
      if (now >= deadline) {
        const auto holder = ReadHolderPid(fd);
        const double waited_s = std::chrono::duration<double>(now - start).count();
        ::close(fd);
        throw ClusterLockTimeoutError(
            cluster, holder,
            fmt::format("Cluster '{}' is locked by another sky process{}; gave up after {:.1f} s. "
                        "Another launch, start, stop or down of this cluster is in progress: "
                        "wait for it to finish and retry.",
                        cluster, holder ? fmt::format(" (pid {})", *holder) : std::string(),
                        waited_s));
      }
      std::this_thread::sleep_for(std::min<Clock::duration>(interval, deadline - now));
      interval = std::min(interval * 2, std::chrono::milliseconds(50));
    }
  } catch (const ClusterLockTimeoutError&) {
    throw;
  } catch (...) {
    ::close(fd);
    throw;
  }
  WriteHolderPid(fd);
  return ClusterLock(fd, cluster);
}

ClusterLock::ClusterLock(ClusterLock&& other) noexcept
    : fd_(other.fd_), cluster_(std::move(other.cluster_)) {
  other.fd_ = -1;
}

ClusterLock& ClusterLock::operator=(ClusterLock&& other) noexcept {
  if (this != &other) {
    Release();
    fd_ = other.fd_;
    cluster_ = std::move(other.cluster_);
    other.fd_ = -1;
  }
  return *this;
}

ClusterLock::~ClusterLock() { Release(); }

void ClusterLock::Release() noexcept {
  if (fd_ < 0) return;
  // Clear the pid before unlocking, so a waiter never blames a finished holder.
  [[maybe_unused]] int rc = ::ftruncate(fd_, 0);
  ::close(fd_);
  fd_ = -1;
}

}  // namespace skycore
