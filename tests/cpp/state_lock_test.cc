// ClusterLock across real processes (fork): contention, the holder's pid in
// the timeout error, release when the holder is killed, and mutual exclusion
// under load. Waits poll with deadlines; nothing sleeps for a fixed time.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>

#include "skycore/state.h"

namespace skycore {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

// A one-way byte channel between a parent and a forked child.
class Channel {
 public:
  Channel() { EXPECT_EQ(::pipe(fds_), 0); }
  ~Channel() {
    for (int fd : fds_) {
      if (fd >= 0) ::close(fd);
    }
  }
  void Send(char c) { EXPECT_EQ(::write(fds_[1], &c, 1), 1); }
  // The next byte, or '\0' when none arrived before the deadline.
  char Receive(milliseconds timeout) {
    pollfd pfd{fds_[0], POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) return '\0';
    char c = '\0';
    return ::read(fds_[0], &c, 1) == 1 ? c : '\0';
  }

 private:
  int fds_[2] = {-1, -1};
};

// Runs body in a child process; the child exits with body's return value
// (1 when it throws).
pid_t Spawn(const std::function<int()>& body) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int code = 1;
    try {
      code = body();
    } catch (const std::exception& error) {
      std::fprintf(stderr, "child %d: %s\n", ::getpid(), error.what());
    }
    ::_exit(code);
  }
  return pid;
}

int WaitExit(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

class StateLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/skycore_lock_XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
};

TEST_F(StateLockTest, SecondLockInTheSameProcessWaitsForTheFirst) {
  auto first = ClusterLock::TryAcquire(dir_, "dev");
  ASSERT_TRUE(first.has_value());
  EXPECT_FALSE(ClusterLock::TryAcquire(dir_, "dev").has_value());
  EXPECT_TRUE(ClusterLock::TryAcquire(dir_, "other").has_value());
  first->Release();
  EXPECT_TRUE(ClusterLock::TryAcquire(dir_, "dev").has_value());
  EXPECT_TRUE(fs::exists(dir_ / "locks" / "dev.lock"));
}

TEST_F(StateLockTest, MovedLockStaysHeldUntilTheNewOwnerGoes) {
  std::optional<ClusterLock> moved;
  {
    ClusterLock lock = ClusterLock::Acquire(dir_, "dev", milliseconds(0));
    moved.emplace(std::move(lock));
  }
  EXPECT_FALSE(ClusterLock::TryAcquire(dir_, "dev").has_value());
  moved.reset();
  EXPECT_TRUE(ClusterLock::TryAcquire(dir_, "dev").has_value());
}

TEST_F(StateLockTest, OtherProcessContendsAndGetsItAfterRelease) {
  Channel locked, release;
  pid_t child = Spawn([&] {
    ClusterLock lock = ClusterLock::Acquire(dir_, "dev", milliseconds(5000));
    locked.Send('L');
    return release.Receive(milliseconds(20000)) == 'R' ? 0 : 2;
  });
  ASSERT_GT(child, 0);
  ASSERT_EQ(locked.Receive(milliseconds(20000)), 'L');

  try {
    ClusterLock::Acquire(dir_, "dev", milliseconds(50));
    FAIL() << "the lock held by the child was taken";
  } catch (const ClusterLockTimeoutError& error) {
    EXPECT_EQ(error.cluster(), "dev");
    EXPECT_EQ(error.holder_pid(), child);
    const std::string message = error.what();
    EXPECT_NE(message.find("'dev'"), std::string::npos) << message;
    EXPECT_NE(message.find("pid " + std::to_string(child)), std::string::npos) << message;
    EXPECT_EQ(error.code(), ErrorCode::kState);
  }

  release.Send('R');
  // Acquire polls until the child lets go.
  ClusterLock lock = ClusterLock::Acquire(dir_, "dev", milliseconds(20000));
  EXPECT_EQ(WaitExit(child), 0);
}

TEST_F(StateLockTest, KilledHolderReleasesTheLock) {
  Channel locked;
  pid_t child = Spawn([&] {
    ClusterLock lock = ClusterLock::Acquire(dir_, "dev", milliseconds(5000));
    locked.Send('L');
    while (true) ::pause();  // held until killed
    return 0;
  });
  ASSERT_GT(child, 0);
  ASSERT_EQ(locked.Receive(milliseconds(20000)), 'L');
  EXPECT_FALSE(ClusterLock::TryAcquire(dir_, "dev").has_value());

  ASSERT_EQ(::kill(child, SIGKILL), 0);
  EXPECT_EQ(WaitExit(child), 128 + SIGKILL);
  auto lock = ClusterLock::Acquire(dir_, "dev", milliseconds(5000));
  EXPECT_EQ(lock.cluster(), "dev");
}

TEST_F(StateLockTest, ProcessesExcludeEachOther) {
  // Each process increments a counter file under the lock; an unlocked
  // read-modify-write would lose increments, and the marker file (created
  // exclusively while inside) catches any overlap directly.
  constexpr int kProcesses = 6;
  constexpr int kIterations = 40;
  const fs::path counter = dir_ / "counter";
  const fs::path inside = dir_ / "inside";
  std::ofstream(counter) << 0;
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    children.push_back(Spawn([&] {
      for (int i = 0; i < kIterations; ++i) {
        ClusterLock lock = ClusterLock::Acquire(dir_, "shared", milliseconds(30000));
        int marker = ::open(inside.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
        if (marker < 0) return 3;  // someone else is inside
        ::close(marker);
        int value = 0;
        std::ifstream(counter) >> value;
        std::ofstream(counter, std::ios::trunc) << value + 1;
        fs::remove(inside);
      }
      return 0;
    }));
  }
  for (pid_t child : children) EXPECT_EQ(WaitExit(child), 0);
  int value = 0;
  std::ifstream(counter) >> value;
  EXPECT_EQ(value, kProcesses * kIterations);
}

TEST_F(StateLockTest, LockPathsAreSafeFileNames) {
  EXPECT_EQ(ClusterLock::LockPath("/s", "dev-1_a.b"), fs::path("/s/locks/dev-1_a.b.lock"));
  EXPECT_EQ(ClusterLock::LockPath("/s", "../x"), fs::path("/s/locks/%2E.%2Fx.lock"));
  EXPECT_EQ(ClusterLock::LockPath("/s", "a b"), fs::path("/s/locks/a%20b.lock"));
}

}  // namespace
}  // namespace skycore
