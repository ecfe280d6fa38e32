// The SDK on the local infra, end to end: real skyletd daemons, a real SQLite
// state store in a temporary directory, real processes for jobs.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include "infra/local/cluster.h"
#include "skycore/sdk.h"
#include "skycore/yaml.h"
#include "state/sqlite.h"

namespace skycore {
namespace {

namespace fs = std::filesystem;

class CaptureSink : public OutputSink {
 public:
  void Write(std::string_view text) override {
    std::lock_guard lock(mutex_);
    text_.append(text);
  }
  void Step(std::string_view name) override {
    Write(std::string("[step] ") + std::string(name) + "\n");
  }
  std::string text() {
    std::lock_guard lock(mutex_);
    return text_;
  }

 private:
  std::mutex mutex_;
  std::string text_;
};

bool WaitFor(const std::function<bool()>& done, double timeout_s = 20) {
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(static_cast<int>(timeout_s * 1000));
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

class SdkLocalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("skycore-sdk-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    SkyOptions options;
    options.state_dir = root_ / "state";
    options.bin_dir = fs::read_symlink("/proc/self/exe").parent_path();
    sky_ = std::make_unique<Sky>(options);
  }
  void TearDown() override {
    // Whatever a test left running is torn down (agents, jobs).
    if (sky_) {
      NullSink quiet;
      for (const auto& record : sky_->Status()) {
        try {
          sky_->Down(record.name, quiet, true);
        } catch (const Error&) {
        }
      }
    }
    sky_.reset();
    fs::remove_all(root_);
  }

  Dag TaskDag(const std::string& yaml) { return LoadDagYaml(yaml); }

  JobResult Launch(const std::string& yaml, const std::string& cluster, bool detach = false) {
    LaunchOptions options;
    options.cluster_name = cluster;
    options.detach_run = detach;
    return sky_->Launch(TaskDag(yaml), options, sink_);
  }

  fs::path root_;
  std::unique_ptr<Sky> sky_;
  CaptureSink sink_;
};

TEST_F(SdkLocalTest, LaunchRunsTheTaskAndRecordsAnUpCluster) {
  auto result = Launch(
      "name: hello\nenvs:\n  GREETING: hi\nsetup: echo setting-up\n"
      "run: echo \"$GREETING rank=$SKYPILOT_NODE_RANK nodes=$SKYPILOT_NUM_NODES\"\n",
      "dev");
  ASSERT_TRUE(result.job_id.has_value());
  EXPECT_EQ(result.final_status, JobStatus::kSucceeded);
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_NE(sink_.text().find("setting-up"), std::string::npos) << sink_.text();
  EXPECT_NE(sink_.text().find("hi rank=0 nodes=1"), std::string::npos) << sink_.text();
  auto clusters = sky_->Status();
  ASSERT_EQ(clusters.size(), 1u);
  EXPECT_EQ(clusters[0].name, "dev");
  EXPECT_EQ(clusters[0].status, ClusterStatus::kUp);
  ASSERT_TRUE(result.plan.has_value());
  EXPECT_EQ(result.plan->tasks.at(0).chosen.infra, "local");

  // exec on the same cluster: a second job, no setup.
  ExecOptions exec;
  exec.cluster_name = "dev";
  CaptureSink exec_sink;
  auto second = sky_->Exec(TaskDag("run: echo second; exit 3\n"), exec, exec_sink);
  EXPECT_EQ(second.final_status, JobStatus::kFailed);
  EXPECT_EQ(second.exit_code, 3);
  EXPECT_EQ(exec_sink.text().find("setting-up"), std::string::npos);
  auto jobs = sky_->Queue("dev");
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].status, JobStatus::kFailed);
  EXPECT_EQ(jobs[1].status, JobStatus::kSucceeded);
}

TEST_F(SdkLocalTest, MultiNodeJobsGetRanksAndTheirOwnDirectories) {
  auto result = Launch("num_nodes: 2\nrun: echo \"rank=$SKYPILOT_NODE_RANK dir=$(pwd)\"\n", "mn");
  EXPECT_EQ(result.final_status, JobStatus::kSucceeded) << sink_.text();
  EXPECT_NE(sink_.text().find("rank=0 dir=" + (root_ / "state/clusters/mn/node0").string()),
            std::string::npos)
      << sink_.text();
  EXPECT_NE(sink_.text().find("rank=1 dir=" + (root_ / "state/clusters/mn/node1").string()),
            std::string::npos)
      << sink_.text();
}

TEST_F(SdkLocalTest, WorkdirIsSyncedHonouringSkyignore) {
  fs::path work = root_ / "work";
  fs::create_directories(work / "skipme");
  std::ofstream(work / "data.txt") << "payload\n";
  std::ofstream(work / "skipme" / "x") << "x\n";
  std::ofstream(work / ".skyignore") << "skipme\n";
  auto result = Launch(
      "workdir: " + work.string() + "\nrun: cat data.txt; ls skipme || echo no-skipme\n", "wd");
  EXPECT_EQ(result.final_status, JobStatus::kSucceeded) << sink_.text();
  EXPECT_NE(sink_.text().find("payload"), std::string::npos) << sink_.text();
  EXPECT_NE(sink_.text().find("no-skipme"), std::string::npos) << sink_.text();
}

TEST_F(SdkLocalTest, FailedSetupIsReportedWithItsOutput) {
  auto result = Launch("setup: echo broken-setup; exit 4\nrun: echo never\n", "bad");
  EXPECT_EQ(result.final_status, JobStatus::kFailedSetup);
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(sink_.text().find("broken-setup"), std::string::npos);
  EXPECT_EQ(sink_.text().find("never"), std::string::npos);
}

TEST_F(SdkLocalTest, CancelStopStartDownAndErrors) {
  auto result = Launch("run: sleep 600\n", "life", /*detach=*/true);
  ASSERT_TRUE(result.job_id);
  EXPECT_TRUE(
      WaitFor([&] { return sky_->JobStatuses("life").at(0).status == JobStatus::kRunning; }));
  auto cancelled = sky_->Cancel("life", {*result.job_id});
  EXPECT_EQ(cancelled, std::vector<int64_t>{*result.job_id});
  EXPECT_TRUE(
      WaitFor([&] { return sky_->JobStatuses("life").at(0).status == JobStatus::kCancelled; }));

  NullSink quiet;
  sky_->Stop("life", quiet);
  EXPECT_EQ(sky_->Status({"life"}).at(0).status, ClusterStatus::kStopped);
  EXPECT_THROW(sky_->Queue("life"), ClusterNotUpError);
  sky_->Stop("life", quiet);  // idempotent
  sky_->Start("life", quiet);
  EXPECT_EQ(sky_->Status({"life"}).at(0).status, ClusterStatus::kUp);
  EXPECT_EQ(sky_->Queue("life").size(), 1u);  // the job table survives a stop
  sky_->Down("life", quiet);
  EXPECT_TRUE(sky_->Status().empty());
  EXPECT_FALSE(fs::exists(root_ / "state/clusters/life"));
  try {
    sky_->Down("lif", quiet);
    FAIL() << "down of an unknown cluster must fail";
  } catch (const ClusterDoesNotExist& e) {
    EXPECT_NE(std::string(e.what()).find("'lif'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(sky_->CostReport().size(), 1u);
}

TEST_F(SdkLocalTest, AKilledAgentIsSeenByRefreshAndDownLeavesNoOrphans) {
  auto result = Launch("run: sleep 600\n", "crash", true);
  ASSERT_TRUE(
      WaitFor([&] { return sky_->JobStatuses("crash").at(0).status == JobStatus::kRunning; }));
  auto job = sky_->JobStatuses("crash").at(0);
  ASSERT_FALSE(job.ranks.empty());
  const int job_pid = job.ranks[0].pid;
  auto cluster = backend::LocalCluster::FromHandle(sky_->Status({"crash"}).at(0).handle);
  ASSERT_EQ(::kill(cluster.agent_pid, SIGKILL), 0);
  ASSERT_TRUE(WaitFor([&] { return !backend::LocalAgentAlive(cluster); }));
  EXPECT_EQ(sky_->Status({"crash"}, /*refresh=*/true).at(0).status, ClusterStatus::kInit);
  EXPECT_EQ(::kill(-job_pid, 0), 0) << "the job outlives its agent until down";
  NullSink quiet;
  sky_->Down("crash", quiet);
  EXPECT_TRUE(WaitFor([&] { return ::kill(-job_pid, 0) != 0; })) << "orphan job left running";
  EXPECT_TRUE(sky_->Status().empty());
}

// The window a concurrent `sky exec` or `sky status` used to see as INIT: a
// relaunch of an UP cluster after its backend confirmed the nodes and the
// agent, before the launch recorded the cluster UP again. A trigger in the
// state database stops the relaunch exactly there (as a crash there would),
// so what exec and status see in that window is checked deterministically.
TEST_F(SdkLocalTest, ARelaunchStoppedBeforeItRecordsTheClusterUpLeavesAHealthyClusterUp) {
  ASSERT_EQ(Launch("run: echo first\n", "busy").final_status, JobStatus::kSucceeded)
      << sink_.text();
  state_internal::Database db(root_ / "state" / "state.db", std::chrono::seconds(30));
  db.Prepare(
        "CREATE TRIGGER stop_the_relaunch BEFORE UPDATE ON clusters "
        "WHEN NEW.last_use = 'relaunch' "
        "BEGIN SELECT RAISE(ABORT, 'injected fault: the relaunch stops here'); END")
      .Run();
  LaunchOptions relaunch;
  relaunch.cluster_name = "busy";
  relaunch.command_line = "relaunch";
  EXPECT_THROW(sky_->Launch(TaskDag("run: echo again\n"), relaunch, sink_), Error);
  db.Prepare("DROP TRIGGER stop_the_relaunch").Run();

  EXPECT_EQ(sky_->Status({"busy"}).at(0).status, ClusterStatus::kUp);
  EXPECT_EQ(sky_->Status({"busy"}, /*refresh=*/true).at(0).status, ClusterStatus::kUp);
  ExecOptions exec;
  exec.cluster_name = "busy";
  CaptureSink exec_sink;
  auto job = sky_->Exec(TaskDag("run: echo after\n"), exec, exec_sink);
  EXPECT_EQ(job.final_status, JobStatus::kSucceeded) << exec_sink.text();
}

// A sink that holds the operation writing to it at its first step whose name
// starts with `hold_at`, until Release().
class HoldingSink : public CaptureSink {
 public:
  explicit HoldingSink(std::string hold_at) : hold_at_(std::move(hold_at)) {}
  void Step(std::string_view name) override {
    CaptureSink::Step(name);
    if (name.substr(0, hold_at_.size()) != hold_at_) return;
    std::unique_lock lock(mutex_);
    held_ = true;
    changed_.notify_all();
    changed_.wait_for(lock, std::chrono::seconds(60), [&] { return released_; });
  }
  bool WaitUntilHeld() {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(60), [&] { return held_; });
  }
  void Release() {
    std::lock_guard lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }

 private:
  std::string hold_at_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool held_ = false;
  bool released_ = false;
};

TEST_F(SdkLocalTest, ExecAndStatusDuringARelaunchThatReSyncsSeeTheClusterUp) {
  fs::path work = root_ / "work";
  fs::create_directories(work);
  std::ofstream(work / "data.txt") << "payload\n";
  const std::string task = "workdir: " + work.string() + "\nrun: cat data.txt\n";
  ASSERT_EQ(Launch(task, "busy").final_status, JobStatus::kSucceeded) << sink_.text();

  HoldingSink relaunch_sink("Syncing workdir");
  std::exception_ptr relaunch_error;
  std::thread relaunch([&] {
    try {
      LaunchOptions options;
      options.cluster_name = "busy";
      options.detach_run = true;
      sky_->Launch(TaskDag(task), options, relaunch_sink);
    } catch (...) {
      relaunch_error = std::current_exception();
    }
  });
  ASSERT_TRUE(relaunch_sink.WaitUntilHeld()) << relaunch_sink.text();
  EXPECT_EQ(sky_->Status({"busy"}).at(0).status, ClusterStatus::kUp);
  EXPECT_EQ(sky_->Status({"busy"}, /*refresh=*/true).at(0).status, ClusterStatus::kUp);
  ExecOptions exec;
  exec.cluster_name = "busy";
  CaptureSink exec_sink;
  std::optional<JobResult> job;
  try {
    job = sky_->Exec(TaskDag("run: echo during\n"), exec, exec_sink);
  } catch (const Error& error) {
    ADD_FAILURE() << "exec during the relaunch: " << error.what();
  }
  relaunch_sink.Release();
  relaunch.join();
  if (relaunch_error) std::rethrow_exception(relaunch_error);
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(job->final_status, JobStatus::kSucceeded) << exec_sink.text();
}

// A cluster that another operation is bringing up (INIT, its lock held): exec
// waits for that operation and then runs on the cluster it left UP.
TEST_F(SdkLocalTest, ExecWaitsForTheOperationBringingTheClusterUp) {
  ASSERT_EQ(Launch("run: echo first\n", "busy").final_status, JobStatus::kSucceeded);
  auto lock = ClusterLock::Acquire(root_ / "state", "busy", std::chrono::seconds(10));
  sky_->state().SetClusterStatus("busy", ClusterStatus::kInit);

  CaptureSink exec_sink;
  std::optional<JobResult> job;
  std::exception_ptr exec_error;
  std::atomic<bool> exec_returned{false};
  std::thread exec([&] {
    try {
      ExecOptions options;
      options.cluster_name = "busy";
      job = sky_->Exec(TaskDag("run: echo after-the-wait\n"), options, exec_sink);
    } catch (...) {
      exec_error = std::current_exception();
    }
    exec_returned = true;
  });
  // Exec must not return (with an error, before the fix) while the lock is held.
  const bool waited =
      WaitFor([&] {
        return exec_returned ||
               exec_sink.text().find("Waiting for another operation") != std::string::npos;
      }) &&
      !exec_returned;
  sky_->state().SetClusterStatus("busy", ClusterStatus::kUp);
  lock.Release();
  exec.join();
  EXPECT_TRUE(waited) << exec_sink.text();
  if (exec_error) std::rethrow_exception(exec_error);
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(job->final_status, JobStatus::kSucceeded) << exec_sink.text();
  EXPECT_NE(exec_sink.text().find("after-the-wait"), std::string::npos) << exec_sink.text();
}

TEST_F(SdkLocalTest, ATaskThatDoesNotFitTheClusterIsAMismatch) {
  Launch("run: echo hi\n", "small");
  ExecOptions exec;
  exec.cluster_name = "small";
  EXPECT_THROW(sky_->Exec(TaskDag("num_nodes: 3\nrun: echo hi\n"), exec, sink_),
               ResourcesMismatchError);
  EXPECT_THROW(
      sky_->Exec(TaskDag("resources:\n  accelerators: H100:1\nrun: echo hi\n"), exec, sink_),
      ResourcesMismatchError);
  exec.cluster_name = "nope";
  EXPECT_THROW(sky_->Exec(TaskDag("run: echo hi\n"), exec, sink_), ClusterDoesNotExist);
}

TEST_F(SdkLocalTest, RequestsRunInTheBackgroundAndCanBeCancelled) {
  std::string id = sky_->Submit(
      "launch", {{"task", "run: for i in 1 2 3; do echo line$i; done\n"}, {"cluster_name", "req"}});
  CaptureSink out;
  auto result = sky_->StreamAndGet(id, out);
  EXPECT_EQ(result["job_id"], 1);
  EXPECT_EQ(result["status"], "SUCCEEDED");
  EXPECT_NE(out.text().find("line3"), std::string::npos) << out.text();
  auto record = sky_->state().GetRequest(id);
  ASSERT_TRUE(record);
  EXPECT_EQ(record->status, RequestStatus::kSucceeded);

  // A followed launch of a long job: api_cancel stops following, the job stays.
  std::string long_id =
      sky_->Submit("exec", {{"task", "run: echo started; sleep 600\n"}, {"cluster_name", "req"}});
  ASSERT_TRUE(WaitFor([&] { return sky_->Queue("req").size() == 2; }));
  EXPECT_TRUE(sky_->ApiCancel(long_id));
  EXPECT_THROW(sky_->Get(long_id, 10), CancelledError);
  EXPECT_EQ(sky_->state().GetRequest(long_id)->status, RequestStatus::kCancelled);

  EXPECT_THROW(sky_->Submit("lanch", {}), InvalidTaskError);
  EXPECT_THROW(sky_->Submit("queue", {{"cluster_name", 3}}), InvalidTaskError);
  std::string missing = sky_->Submit("queue", {{"cluster_name", "nope"}});
  EXPECT_THROW(sky_->Get(missing), ClusterDoesNotExist);
}

TEST_F(SdkLocalTest, ExecRequestsTakeDryrunAndDownAndOptimizeIsARequest) {
  Launch("run: echo up\n", "ex", /*detach=*/true);
  const size_t jobs = sky_->Queue("ex").size();
  auto dry = sky_->Get(sky_->Submit(
      "exec", {{"task", "run: echo never\n"}, {"cluster_name", "ex"}, {"dryrun", true}}));
  EXPECT_TRUE(dry["job_id"].is_null());
  EXPECT_EQ(sky_->Queue("ex").size(), jobs);  // nothing ran
  EXPECT_THROW(sky_->Get(sky_->Submit(
                   "exec", {{"task", "run: echo\n"}, {"cluster_name", "nope"}, {"dryrun", true}})),
               ClusterDoesNotExist);

  // down: an autodown after 0 idle minutes, so the cluster goes once its jobs end.
  auto ran = sky_->Get(sky_->Submit("exec", {{"task", "run: echo last\n"},
                                             {"cluster_name", "ex"},
                                             {"down", true},
                                             {"detach_run", true}}));
  EXPECT_TRUE(ran["job_id"].is_number_integer());
  auto record = sky_->state().GetCluster("ex");
  if (record) {
    EXPECT_EQ(record->autostop_idle_minutes, 0);
    EXPECT_TRUE(record->autostop_down);
  }

  auto plan = sky_->Get(sky_->Submit("optimize", {{"task", "run: echo\n"}, {"minimize", "TIME"}}));
  EXPECT_EQ(plan["minimize"], "TIME");
  ASSERT_EQ(plan["tasks"].size(), 1u);
  EXPECT_FALSE(plan["tasks"][0]["chosen"]["infra"].get<std::string>().empty());
  EXPECT_FALSE(plan["table"].get<std::string>().empty());
  EXPECT_THROW(sky_->Submit("optimize", {{"task", "run: echo\n"}, {"minimize", "SPEED"}}),
               InvalidTaskError);
}

TEST_F(SdkLocalTest, ConcurrentLaunchesOfOneNameMakeOneCluster) {
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    ids.push_back(sky_->Submit("launch", {{"task", "run: echo hi\n"}, {"cluster_name", "same"}}));
  }
  for (const auto& id : ids) EXPECT_EQ(sky_->Get(id)["status"], "SUCCEEDED");
  EXPECT_EQ(sky_->Status().size(), 1u);
  EXPECT_EQ(sky_->Queue("same").size(), 4u);
}

// GPUs as `SKYCORE_LOCAL_GPUS` declares them (this machine may have none):
// the optimizer places a GPU task on the local infra and the job sees the
// devices it reserved.
TEST_F(SdkLocalTest, GpuJobsSeeTheDevicesTheyReserved) {
  ::setenv("SKYCORE_LOCAL_GPUS", "H100:2", 1);
  SkyOptions options = sky_->options();
  sky_ = std::make_unique<Sky>(options);
  sky_->catalog();  // discovers the machine now, while the variable is set
  ::unsetenv("SKYCORE_LOCAL_GPUS");
  auto result = Launch(
      "resources:\n  accelerators: H100:1\n"
      "run: echo \"cvd=$CUDA_VISIBLE_DEVICES gpus=$SKYPILOT_NUM_GPUS_PER_NODE\"\n",
      "gpu");
  EXPECT_EQ(result.final_status, JobStatus::kSucceeded) << sink_.text();
  EXPECT_NE(sink_.text().find("cvd=0 gpus=1"), std::string::npos) << sink_.text();
  EXPECT_EQ(result.plan->tasks.at(0).chosen.accelerator_name, "H100");
  ExecOptions exec;
  exec.cluster_name = "gpu";
  EXPECT_THROW(sky_->Exec(TaskDag("resources:\n  accelerators: H100:4\nrun: echo\n"), exec, sink_),
               ResourcesMismatchError);
}

}  // namespace
}  // namespace skycore
