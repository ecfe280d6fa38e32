// skyletd end to end: each test starts the real daemon on a temporary socket,
// talks to it through AgentClient, and stops it (by its pid) in teardown.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "skycore/agent.h"
#include "skycore/error.h"

namespace skycore {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

extern "C" char** environ;

// Polls `done` until it holds or `timeout_s` passes.
bool WaitFor(const std::function<bool()>& done, double timeout_s = 20) {
  auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<int>(timeout_s * 1000));
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

bool GroupGone(int pgid) { return ::kill(-pgid, 0) != 0 && errno == ESRCH; }

std::string ReadFile(const fs::path& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// skyletd is built beside this test binary.
std::string SkyletdPath() {
  return (fs::read_symlink("/proc/self/exe").parent_path() / "skyletd").string();
}

struct NodeOptions {
  double cpus = 4;
  int gpus = 0;
  double memory_gib = 8;
};

class AgentDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/skyagent_XXXXXX";
    dir_ = ::mkdtemp(pattern);
    socket_path_ = (dir_ / "agent.sock").string();
  }

  void TearDown() override {
    StopDaemon();
    // Nothing a test started may outlive it.
    for (int pgid : seen_groups_) {
      if (!GroupGone(pgid)) {
        ADD_FAILURE() << "process group " << pgid << " outlived its test";
        ::kill(-pgid, SIGKILL);
      }
    }
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  void StartDaemon(std::vector<NodeOptions> nodes, const std::string& extra_flag = "",
                   const std::string& extra_value = "") {
    json spec = {{"cluster_name", "testcluster"}, {"nodes", json::array()}};
    for (size_t index = 0; index < nodes.size(); ++index) {
      fs::path workdir = dir_ / ("node" + std::to_string(index));
      fs::create_directories(workdir);
      spec["nodes"].push_back({{"ip", "127.0.0." + std::to_string(index + 1)},
                               {"workdir", workdir.string()},
                               {"cpus", nodes[index].cpus},
                               {"gpus", nodes[index].gpus},
                               {"memory_gib", nodes[index].memory_gib}});
    }
    node_spec_ = spec.dump();
    Launch(extra_flag, extra_value);
  }

  void Launch(const std::string& extra_flag = "", const std::string& extra_value = "") {
    std::vector<std::string> args = {SkyletdPath(),
                                     "--socket",
                                     socket_path_,
                                     "--state-dir",
                                     (dir_ / "state").string(),
                                     "--log-root",
                                     dir_.string(),
                                     "--node-spec",
                                     node_spec_,
                                     "--kill-grace-s",
                                     "1"};
    if (!extra_flag.empty()) {
      args.push_back(extra_flag);
      args.push_back(extra_value);
    }
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    ASSERT_EQ(::posix_spawn(&daemon_pid_, argv[0], nullptr, nullptr, argv.data(), environ), 0);
    ASSERT_TRUE(WaitFor([&] {
      try {
        AgentClient(socket_path_, 2).ping();
        return true;
      } catch (const Error&) {
        return false;
      }
    })) << "skyletd did not come up on "
        << socket_path_;
    client_ = std::make_unique<AgentClient>(socket_path_);
  }

  void StopDaemon(int signal = SIGTERM) {
    client_.reset();
    if (daemon_pid_ <= 0) return;
    ::kill(daemon_pid_, signal);
    int status = 0;
    bool exited =
        WaitFor([&] { return ::waitpid(daemon_pid_, &status, WNOHANG) == daemon_pid_; }, 60);
    if (!exited) {
      ADD_FAILURE() << "skyletd did not exit on signal " << signal;
      ::kill(daemon_pid_, SIGKILL);
      ::waitpid(daemon_pid_, &status, 0);
    } else if (signal == SIGTERM) {
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "skyletd status " << status;
    }
    daemon_pid_ = -1;
  }

  JobRecord Status(int64_t job_id) { return client_->job_status({job_id}).at(0); }

  JobStatus WaitUntil(int64_t job_id, const std::function<bool(JobStatus)>& done,
                      double timeout_s = 20) {
    JobStatus status = JobStatus::kInit;
    WaitFor(
        [&] {
          JobRecord record = Status(job_id);
          for (const auto& rank : record.ranks) seen_groups_.push_back(rank.pid);
          status = record.status;
          return done(status);
        },
        timeout_s);
    return status;
  }

  JobStatus WaitTerminal(int64_t job_id) { return WaitUntil(job_id, IsTerminal); }
  JobStatus WaitRunning(int64_t job_id) {
    return WaitUntil(job_id, [](JobStatus status) { return status == JobStatus::kRunning; });
  }

  std::string Logs(int64_t job_id) {
    std::string text;
    client_->tail_logs(job_id, true, [&](const std::string& chunk) {
      text += chunk;
      return true;
    });
    return text;
  }

  static JobSpec Job(const std::string& run) {
    JobSpec spec;
    spec.run = run;
    return spec;
  }

  fs::path dir_;
  std::string socket_path_;
  std::string node_spec_;
  pid_t daemon_pid_ = -1;
  std::unique_ptr<AgentClient> client_;
  std::vector<int> seen_groups_;
};

TEST_F(AgentDaemonTest, GangJobRunsEveryRankWithItsEnvironment) {
  StartDaemon({{}, {}});
  JobSpec spec =
      Job("echo \"rank=$SKYPILOT_NODE_RANK of $SKYPILOT_NUM_NODES in $(basename $PWD) "
          "ips=$(echo $SKYPILOT_NODE_IPS) gpus=$SKYPILOT_NUM_GPUS_PER_NODE "
          "task=$SKYPILOT_TASK_ID greeting=$GREETING token=$TOKEN\"");
  spec.num_nodes = 2;
  spec.name = "gang";
  spec.envs = {{"GREETING", "hello"}};
  spec.secrets = {{"TOKEN", "s3cret"}};
  spec.setup = "echo \"setup rank=$SKYPILOT_SETUP_NODE_RANK ips=$(echo $SKYPILOT_SETUP_NODE_IPS)\"";
  int64_t job_id = client_->submit(spec);
  EXPECT_EQ(WaitTerminal(job_id), JobStatus::kSucceeded);
  std::string log = Logs(job_id);
  EXPECT_NE(log.find("setup rank=0 ips=127.0.0.1 127.0.0.2"), std::string::npos) << log;
  EXPECT_NE(log.find("setup rank=1 ips=127.0.0.1 127.0.0.2"), std::string::npos) << log;
  EXPECT_NE(log.find("rank=0 of 2 in node0 ips=127.0.0.1 127.0.0.2 gpus=0"), std::string::npos)
      << log;
  EXPECT_NE(log.find("rank=1 of 2 in node1"), std::string::npos) << log;
  EXPECT_NE(log.find("greeting=hello token=s3cret"), std::string::npos) << log;
  EXPECT_NE(log.find("(worker1, rank=1, pid="), std::string::npos) << log;

  JobRecord record = Status(job_id);
  EXPECT_EQ(record.name, "gang");
  EXPECT_EQ(record.exit_code, 0);
  std::string dir_name = fs::path(record.log_dir).filename().string();
  EXPECT_EQ(fs::path(record.log_dir).parent_path(), dir_ / "sky_logs");
  EXPECT_EQ(dir_name.rfind("sky-", 0), 0u) << dir_name;
  EXPECT_NE(log.find("task=" + dir_name + "_testcluster_" + std::to_string(job_id)),
            std::string::npos)
      << log;
  EXPECT_EQ(client_->get_log_dir(job_id), record.log_dir);
  std::string rank1 = ReadFile(fs::path(record.log_dir) / "tasks" / "1-worker1.log");
  EXPECT_NE(rank1.find("rank=1 of 2"), std::string::npos) << rank1;
  EXPECT_EQ(rank1.find("rank=0 of 2"), std::string::npos) << rank1;
  // Secrets never come back through the protocol.
  for (const auto& job : client_->queue()) EXPECT_EQ(job.job_id, job_id);
}

TEST_F(AgentDaemonTest, FailingRankStopsTheOthers) {
  StartDaemon({{}, {}});
  JobSpec spec = Job("if [ $SKYPILOT_NODE_RANK = 1 ]; then exit 3; fi; sleep 1000");
  spec.num_nodes = 2;
  int64_t job_id = client_->submit(spec);
  EXPECT_EQ(WaitTerminal(job_id), JobStatus::kFailed);
  JobRecord record = Status(job_id);
  EXPECT_EQ(record.exit_code, 3);
  ASSERT_EQ(record.ranks.size(), 2u);
  EXPECT_TRUE(WaitFor([&] { return GroupGone(record.ranks[0].pid); }));
  EXPECT_NE(Logs(job_id).find("exited with code 3"), std::string::npos);
}

TEST_F(AgentDaemonTest, CancelLeavesNoProcess) {
  StartDaemon({{}});
  int64_t job_id = client_->submit(Job("sleep 1000"));
  ASSERT_EQ(WaitRunning(job_id), JobStatus::kRunning);
  int pgid = Status(job_id).ranks.at(0).pid;
  EXPECT_EQ(client_->cancel({job_id}), std::vector<int64_t>{job_id});
  EXPECT_EQ(Status(job_id).status, JobStatus::kCancelled);
  EXPECT_TRUE(WaitFor([&] { return GroupGone(pgid); }));
  EXPECT_TRUE(WaitFor([&] { return Status(job_id).end_at > 0; }));
  // A second cancel is a no-op, an unknown id an error.
  EXPECT_TRUE(client_->cancel({job_id}).empty());
  EXPECT_THROW(client_->cancel({job_id + 100}), JobNotFoundError);
}

TEST_F(AgentDaemonTest, CancelEscalatesToSigkill) {
  StartDaemon({{}});
  int64_t job_id = client_->submit(Job("trap '' TERM; echo ready; while true; do sleep 0.1; done"));
  ASSERT_EQ(WaitRunning(job_id), JobStatus::kRunning);
  int pgid = Status(job_id).ranks.at(0).pid;
  client_->cancel_all();
  EXPECT_TRUE(WaitFor([&] { return GroupGone(pgid); }));
  EXPECT_EQ(Status(job_id).status, JobStatus::kCancelled);
}

TEST_F(AgentDaemonTest, GpuReservationMakesTheSecondJobWait) {
  StartDaemon({{4, 1, 8}});
  JobSpec first = Job("echo first=$CUDA_VISIBLE_DEVICES; sleep 1000");
  first.gpus_per_node = 1;
  JobSpec second = Job("echo second=$CUDA_VISIBLE_DEVICES gpus=$SKYPILOT_NUM_GPUS_PER_NODE");
  second.gpus_per_node = 1;
  int64_t first_id = client_->submit(first);
  int64_t second_id = client_->submit(second);
  ASSERT_EQ(WaitRunning(first_id), JobStatus::kRunning);
  EXPECT_EQ(Status(second_id).status, JobStatus::kPending);
  // A CPU-only job is not held up by the GPU it does not need... but FIFO keeps
  // it behind the waiting GPU job.
  int64_t third_id = client_->submit(Job("true"));
  EXPECT_EQ(Status(third_id).status, JobStatus::kPending);
  fs::path first_log = fs::path(Status(first_id).log_dir) / "run.log";
  EXPECT_TRUE(WaitFor([&] { return ReadFile(first_log) == "first=0\n"; }));
  client_->cancel({first_id});
  EXPECT_EQ(WaitTerminal(second_id), JobStatus::kSucceeded);
  EXPECT_EQ(WaitTerminal(third_id), JobStatus::kSucceeded);
  EXPECT_NE(Logs(second_id).find("second=0 gpus=1"), std::string::npos);
}

TEST_F(AgentDaemonTest, HigherPriorityRunsFirst) {
  StartDaemon({{1, 0, 0}});
  JobSpec blocker = Job("sleep 1000");
  blocker.cpus_per_node = 1;
  int64_t blocker_id = client_->submit(blocker);
  ASSERT_EQ(WaitRunning(blocker_id), JobStatus::kRunning);
  JobSpec low = Job("true");
  low.cpus_per_node = 1;
  JobSpec high = low;
  high.priority = 10;
  int64_t low_id = client_->submit(low);
  int64_t high_id = client_->submit(high);
  client_->cancel({blocker_id});
  ASSERT_EQ(WaitTerminal(low_id), JobStatus::kSucceeded);
  ASSERT_EQ(WaitTerminal(high_id), JobStatus::kSucceeded);
  EXPECT_LE(Status(high_id).end_at, Status(low_id).start_at);
}

TEST_F(AgentDaemonTest, FailedSetupSkipsRun) {
  StartDaemon({{}});
  JobSpec spec = Job("echo run-ran");
  spec.setup = "echo setting-up; exit 7";
  int64_t job_id = client_->submit(spec);
  EXPECT_EQ(WaitTerminal(job_id), JobStatus::kFailedSetup);
  EXPECT_EQ(Status(job_id).exit_code, 7);
  std::string log = Logs(job_id);
  EXPECT_NE(log.find("setting-up"), std::string::npos);
  EXPECT_EQ(log.find("run-ran"), std::string::npos);
}

TEST_F(AgentDaemonTest, FollowStreamsWhileTheJobRuns) {
  StartDaemon({{}});
  fs::path release = dir_ / "release";
  int64_t job_id = client_->submit(
      Job("echo before; while [ ! -e " + release.string() + " ]; do sleep 0.05; done; echo after"));
  std::string seen;
  AgentClient follower(socket_path_);
  JobStatus end = follower.tail_logs(job_id, true, [&](const std::string& chunk) {
    seen += chunk;
    if (seen.find("before") != std::string::npos) std::ofstream(release).put('x');
    return true;
  });
  EXPECT_EQ(end, JobStatus::kSucceeded);
  EXPECT_EQ(seen, "before\nafter\n");
  // Without follow: what is there now, then the end.
  std::string again;
  client_->tail_logs(job_id, false, [&](const std::string& chunk) {
    again += chunk;
    return true;
  });
  EXPECT_EQ(again, seen);
}

TEST_F(AgentDaemonTest, KilledAgentRecoversItsTable) {
  StartDaemon({{1, 0, 0}});
  JobSpec spec = Job("sleep 1000");
  spec.cpus_per_node = 1;
  int64_t running_id = client_->submit(spec);
  ASSERT_EQ(WaitRunning(running_id), JobStatus::kRunning);
  int pgid = Status(running_id).ranks.at(0).pid;
  JobSpec waiting = Job("echo recovered");
  waiting.cpus_per_node = 1;
  int64_t pending_id = client_->submit(waiting);
  EXPECT_EQ(Status(pending_id).status, JobStatus::kPending);

  StopDaemon(SIGKILL);
  Launch();
  EXPECT_EQ(Status(running_id).status, JobStatus::kFailedDriver);
  EXPECT_TRUE(WaitFor([&] { return GroupGone(pgid); }));
  EXPECT_EQ(WaitTerminal(pending_id), JobStatus::kSucceeded);
  EXPECT_NE(Logs(pending_id).find("recovered"), std::string::npos);
  auto jobs = client_->queue();
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].job_id, pending_id);  // newest first
  EXPECT_EQ(jobs[1].job_id, running_id);
  EXPECT_GT(client_->submit(Job("true")), pending_id);  // ids are never reused
}

// Regular files under `dir` whose bytes contain `text`.
std::vector<std::string> FilesContaining(const fs::path& dir, const std::string& text) {
  std::vector<std::string> found;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file() && ReadFile(entry.path()).find(text) != std::string::npos) {
      found.push_back(entry.path().string());
    }
  }
  return found;
}

fs::perms Mode(const fs::path& path) { return fs::status(path).permissions() & fs::perms::mask; }

TEST_F(AgentDaemonTest, SecretsReachTheJobButNeverADiskAndStateIsPrivate) {
  StartDaemon({{1, 0, 0}});
  const std::string secret = "v4lue-0f-the-s3cret";
  JobSpec spec = Job("echo ${#TOKEN} chars");
  spec.cpus_per_node = 1;
  spec.secrets = {{"TOKEN", secret}};
  int64_t job_id = client_->submit(spec);
  EXPECT_EQ(WaitTerminal(job_id), JobStatus::kSucceeded);
  EXPECT_NE(Logs(job_id).find(std::to_string(secret.size()) + " chars"), std::string::npos);

  // A job still pending when the agent dies had its secrets only in the
  // agent's memory: after the restart it fails, saying why.
  JobSpec blocker = Job("sleep 1000");
  blocker.cpus_per_node = 1;
  int64_t blocker_id = client_->submit(blocker);
  ASSERT_EQ(WaitRunning(blocker_id), JobStatus::kRunning);
  int64_t pending_id = client_->submit(spec);
  JobSpec plain = Job("echo plain");
  plain.cpus_per_node = 1;
  int64_t plain_id = client_->submit(plain);
  EXPECT_EQ(Status(pending_id).status, JobStatus::kPending);
  const int blocker_group = Status(blocker_id).ranks.at(0).pid;
  StopDaemon(SIGKILL);
  EXPECT_EQ(FilesContaining(dir_, secret), std::vector<std::string>{});
  Launch();
  EXPECT_TRUE(WaitFor([&] { return GroupGone(blocker_group); }));  // the restart killed it
  EXPECT_EQ(Status(pending_id).status, JobStatus::kFailedDriver);
  EXPECT_NE(Logs(pending_id).find("its secrets were held only in the memory"), std::string::npos);
  EXPECT_EQ(WaitTerminal(plain_id), JobStatus::kSucceeded);  // no secrets: it still runs

  StopDaemon();
  EXPECT_EQ(FilesContaining(dir_, secret), std::vector<std::string>{});
  for (const auto& entry : fs::recursive_directory_iterator(dir_)) {
    const auto& path = entry.path();
    if (path.string().find("/node") != std::string::npos) continue;  // the jobs' own workdirs
    if (entry.is_directory()) {
      EXPECT_EQ(Mode(path), fs::perms::owner_all) << path;
    } else if (entry.is_regular_file()) {
      EXPECT_EQ(Mode(path), fs::perms::owner_read | fs::perms::owner_write) << path;
    }
  }
}

TEST_F(AgentDaemonTest, ClearErrors) {
  StartDaemon({{2, 0, 4}});
  EXPECT_THROW(client_->job_status({42}), JobNotFoundError);
  JobSpec too_big = Job("true");
  too_big.gpus_per_node = 1;
  try {
    client_->submit(too_big);
    ADD_FAILURE() << "an impossible reservation was accepted";
  } catch (const ResourcesUnavailableError& error) {
    EXPECT_NE(std::string(error.what()).find("testcluster"), std::string::npos) << error.what();
  }
  JobSpec two_nodes = Job("true");
  two_nodes.num_nodes = 2;
  EXPECT_THROW(client_->submit(two_nodes), ResourcesUnavailableError);
  JobSpec odd_gpus = Job("true");
  odd_gpus.gpus_per_node = 1.5;
  EXPECT_THROW(client_->submit(odd_gpus), InvalidTaskError);
  EXPECT_THROW(AgentClient((dir_ / "missing.sock").string()), NetworkError);
}

TEST_F(AgentDaemonTest, ProtocolVersionMismatchIsAClearError) {
  StartDaemon({{}});
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", socket_path_.c_str());
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  std::string request = "{\"v\": 999, \"op\": \"ping\"}\n";
  ASSERT_EQ(::write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  std::string reply;
  char byte;
  while (::read(fd, &byte, 1) == 1 && byte != '\n') reply.push_back(byte);
  ::close(fd);
  json parsed = json::parse(reply);
  EXPECT_FALSE(parsed["ok"].get<bool>());
  EXPECT_EQ(parsed["error"]["code"], "NotSupported");
  std::string message = parsed["error"]["message"];
  EXPECT_NE(message.find("version 1"), std::string::npos) << message;
  EXPECT_NE(message.find("version 999"), std::string::npos) << message;
}

TEST_F(AgentDaemonTest, ClientRefusesAnAgentOfAnotherVersion) {
  // A stand-in agent that answers every line with protocol version 999.
  std::string path = (dir_ / "old.sock").string();
  int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", path.c_str());
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(::listen(listener, 1), 0);
  std::thread agent([listener] {
    int fd = ::accept(listener, nullptr, nullptr);
    char byte;
    while (::read(fd, &byte, 1) == 1 && byte != '\n') {
    }
    std::string reply = "{\"v\": 999, \"ok\": true}\n";
    EXPECT_EQ(::write(fd, reply.data(), reply.size()), static_cast<ssize_t>(reply.size()));
    ::close(fd);
  });
  try {
    AgentClient(path, 5).ping();
    ADD_FAILURE() << "a version-999 agent was accepted";
  } catch (const NotSupportedError& error) {
    EXPECT_NE(std::string(error.what()).find("version 999"), std::string::npos) << error.what();
  }
  agent.join();
  ::close(listener);
}

TEST_F(AgentDaemonTest, AutostopRunsTheHookOnceIdle) {
  fs::path marker = dir_ / "autostopped";
  StartDaemon({{}}, "--autostop-hook", "echo down=$SKYPILOT_AUTOSTOP_DOWN > " + marker.string());
  EXPECT_EQ(client_->get_autostop().idle_minutes, -1);
  int64_t job_id = client_->submit(Job("sleep 1000"));
  ASSERT_EQ(WaitRunning(job_id), JobStatus::kRunning);
  client_->set_autostop(0, true);
  AutostopStatus busy = client_->get_autostop();
  EXPECT_FALSE(busy.is_idle);
  EXPECT_EQ(busy.idle_minutes, 0);
  EXPECT_TRUE(busy.down);
  client_->cancel({job_id});
  EXPECT_TRUE(WaitFor([&] { return ReadFile(marker) == "down=1\n"; }));
  AutostopStatus idle = client_->get_autostop();
  EXPECT_TRUE(idle.is_idle);
  EXPECT_TRUE(idle.triggered);
  EXPECT_GT(idle.idle_since, 0);
}

}  // namespace
}  // namespace skycore
