// The local backend's health watch (ClusterBackend::WaitForLoss): the
// agent's exit, through a pidfd.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "agent/launcher.h"
#include "backend/cluster_backend.h"

namespace skycore {
namespace {

// A child that runs until the test closes its pipe: the stand-in agent.
struct Child {
  pid_t pid = -1;
  int release = -1;

  Child() {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    pid = ::fork();
    if (pid == 0) {
      ::close(fds[1]);
      char byte;
      [[maybe_unused]] auto got = ::read(fds[0], &byte, 1);
      ::_exit(0);
    }
    ::close(fds[0]);
    release = fds[1];
  }
  void Exit() {
    if (release >= 0) ::close(release);
    release = -1;
  }
  void Reap() {
    Exit();
    if (pid > 0) ::waitpid(pid, nullptr, 0);
    pid = -1;
  }
  ~Child() { Reap(); }

  nlohmann::json Handle() const {
    return {{"infra", "local"},
            {"cluster_name", "c"},
            {"agent_pid", pid},
            {"agent_start_ticks", agent::ProcessStartTicks(pid).value_or(0)}};
  }
};

std::unique_ptr<backend::ClusterBackend> Local() {
  return backend::BackendForHandle(nlohmann::json{{"infra", "local"}}, backend::BackendContext{});
}

TEST(LocalHealthTest, AgentExitIsReported) {
  Child agent;
  const auto handle = agent.Handle();
  std::optional<std::string> lost;
  std::thread watch([&] { lost = Local()->WaitForLoss(handle, CancelToken()); });
  agent.Exit();
  watch.join();
  ASSERT_TRUE(lost.has_value());
  // "exited" when the watch saw it go, "is gone" when it was gone first.
  EXPECT_TRUE(*lost == fmt::format("the agent process {} exited", agent.pid) ||
              *lost == fmt::format("the agent process {} is gone", agent.pid))
      << *lost;
}

TEST(LocalHealthTest, StopEndsTheWatchOfALiveAgent) {
  Child agent;
  CancelToken stop;
  std::thread stopper([stop]() mutable {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop.Cancel();
  });
  EXPECT_FALSE(Local()->WaitForLoss(agent.Handle(), stop).has_value());
  stopper.join();
}

TEST(LocalHealthTest, AnAgentAlreadyGoneIsReportedAtOnce) {
  Child agent;
  const auto handle = agent.Handle();
  const int pid = agent.pid;
  agent.Reap();
  const auto lost = Local()->WaitForLoss(handle, CancelToken());
  ASSERT_TRUE(lost.has_value());
  EXPECT_EQ(*lost, fmt::format("the agent process {} is gone", pid));
}

}  // namespace
}  // namespace skycore
