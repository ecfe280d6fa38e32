// Managed jobs: the states, the managed_jobs table (ids under concurrent
// submitters, transitions that apply only from the states they name) and
// the scheduling rule (priority, then strict FIFO, under a limit).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <set>

#include "skycore/jobs.h"
#include "temp_dir.h"

namespace skycore {
namespace {

using testing::TempDir;

class ManagedJobsTest : public ::testing::Test {
 protected:
  StateStoreOptions Options() {
    StateStoreOptions options;
    options.state_dir = dir_.path();
    options.clock = [this] { return now_; };
    return options;
  }
  ManagedJobSubmission Submission(const std::string& name, int priority = 0) {
    ManagedJobSubmission submission;
    submission.name = name;
    submission.user = "alice";
    submission.priority = priority;
    submission.dag_yaml = "run: echo hi\n";
    submission.resources = "1x[cpus=1]";
    return submission;
  }

  TempDir dir_{"managed_jobs"};
  double now_ = 1'700'000'000.0;
};

TEST(ManagedJobStatusTest, NamesAreSkyPilotsAndRoundTrip) {
  const std::vector<std::string> names = {"PENDING",
                                          "STARTING",
                                          "RUNNING",
                                          "RECOVERING",
                                          "CANCELLING",
                                          "SUCCEEDED",
                                          "CANCELLED",
                                          "FAILED",
                                          "FAILED_SETUP",
                                          "FAILED_PRECHECKS",
                                          "FAILED_NO_RESOURCE",
                                          "FAILED_CONTROLLER"};
  for (const auto& name : names) {
    auto status = ParseManagedJobStatus(name);
    ASSERT_TRUE(status.has_value()) << name;
    EXPECT_EQ(ManagedJobStatusName(*status), name);
    const bool terminal = name == "SUCCEEDED" || name == "CANCELLED" || name.starts_with("FAILED");
    EXPECT_EQ(IsTerminal(*status), terminal) << name;
    EXPECT_EQ(IsFailure(*status), name.starts_with("FAILED")) << name;
  }
  EXPECT_FALSE(ParseManagedJobStatus("DONE").has_value());
}

TEST(ManagedJobClusterNameTest, FollowsSkyPilotsRule) {
  EXPECT_EQ(ManagedJobClusterName("train", 7), "train-7");
  EXPECT_EQ(ManagedJobClusterName("My_Job.v2", 12), "my-job-v2-12");
  // Longer than 25: cut to 22 plus a 2-character base-36 MD5 of the whole
  // name (the value SkyPilot 0.14.1 gives).
  EXPECT_EQ(ManagedJobClusterName("a-very-long-managed-job-name-indeed", 3),
            "a-very-long-managed-jo-c1-3");
}

TEST_F(ManagedJobsTest, SubmitRecordsAPendingJobWithAStableTaskId) {
  auto store = ManagedJobStore::Open(Options());
  const ManagedJob job = store->Submit(Submission("train", 5));
  EXPECT_EQ(job.job_id, 1);
  EXPECT_EQ(job.status, ManagedJobStatus::kPending);
  EXPECT_EQ(job.priority, 5);
  EXPECT_EQ(job.submitted_at, now_);
  EXPECT_TRUE(job.run_timestamp.starts_with("sky-"));
  EXPECT_TRUE(job.task_id().starts_with("sky-managed-")) << job.task_id();
  EXPECT_TRUE(job.task_id().ends_with("_train_1-0")) << job.task_id();
  EXPECT_EQ(store->Submit(Submission("second")).job_id, 2);
  EXPECT_EQ(store->Get(1)->task_id(), job.task_id());
}

TEST_F(ManagedJobsTest, SubmitRejectsBadInput) {
  auto store = ManagedJobStore::Open(Options());
  EXPECT_THROW(store->Submit(Submission("")), InvalidTaskError);
  try {
    store->Submit(Submission("x", 1001));
    FAIL() << "priority 1001 accepted";
  } catch (const InvalidTaskError& e) {
    EXPECT_NE(std::string(e.what()).find("between -1000 and 1000, got 1001"), std::string::npos)
        << e.what();
  }
}

TEST_F(ManagedJobsTest, PrecheckFailureIsRecordedFinished) {
  auto store = ManagedJobStore::Open(Options());
  auto submission = Submission("bad");
  submission.precheck_failure = "resources.cpus: bad value";
  const ManagedJob job = store->Submit(submission);
  EXPECT_EQ(job.status, ManagedJobStatus::kFailedPrechecks);
  EXPECT_EQ(job.failure_reason, "resources.cpus: bad value");
  EXPECT_EQ(job.end_at, now_);
  EXPECT_TRUE(store->ListUnfinished().empty());
}

TEST_F(ManagedJobsTest, TransitionsApplyOnlyFromTheirStatesAndTrackDurations) {
  auto store = ManagedJobStore::Open(Options());
  const int64_t id = store->Submit(Submission("train")).job_id;
  // Not started yet: RUNNING does not apply.
  EXPECT_EQ(store->MarkRunning(id, 1)->status, ManagedJobStatus::kPending);
  now_ += 10;
  auto job = store->MarkStarting(id, "train-1");
  EXPECT_EQ(job->status, ManagedJobStatus::kStarting);
  EXPECT_EQ(job->cluster_name, "train-1");
  EXPECT_EQ(job->start_at, now_);
  now_ += 5;  // provisioning: not job duration
  job = store->MarkRunning(id, 3);
  EXPECT_EQ(job->status, ManagedJobStatus::kRunning);
  EXPECT_EQ(job->cluster_job_id, 3);
  now_ += 20;
  job = store->MarkRecovering(id);
  EXPECT_EQ(job->status, ManagedJobStatus::kRecovering);
  EXPECT_EQ(job->recovery_count, 1);
  EXPECT_DOUBLE_EQ(job->job_duration_s, 20);
  EXPECT_FALSE(job->cluster_job_id.has_value());
  now_ += 7;  // recovery: not job duration
  job = store->MarkRunning(id, 1);
  now_ += 3;
  EXPECT_DOUBLE_EQ(job->job_duration_at(now_), 23);
  job = store->MarkFinished(id, ManagedJobStatus::kSucceeded);
  EXPECT_EQ(job->status, ManagedJobStatus::kSucceeded);
  EXPECT_DOUBLE_EQ(job->job_duration_s, 23);
  EXPECT_DOUBLE_EQ(job->total_duration_s(now_ + 100), 45);
  // A final job never changes again.
  EXPECT_EQ(store->RequestCancel(id)->status, ManagedJobStatus::kSucceeded);
  EXPECT_EQ(store->MarkFinished(id, ManagedJobStatus::kFailed)->status,
            ManagedJobStatus::kSucceeded);
  EXPECT_THROW(store->MarkFinished(id, ManagedJobStatus::kRunning), InvalidTaskError);
  EXPECT_FALSE(store->Get(999).has_value());
}

TEST_F(ManagedJobsTest, DetailsShowWhileLaunchingAndClearWhenRunning) {
  auto store = ManagedJobStore::Open(Options());
  const int64_t id = store->Submit(Submission("wait")).job_id;
  // Only a launch in progress has details.
  EXPECT_EQ(store->SetDetails(id, "waiting")->failure_reason, "");
  store->MarkStarting(id, "wait-1");
  auto job = store->SetDetails(id, "Waiting for resources");
  EXPECT_EQ(job->status, ManagedJobStatus::kStarting);
  EXPECT_EQ(job->failure_reason, "Waiting for resources");
  job = store->MarkRunning(id, 1);
  EXPECT_EQ(job->failure_reason, "");
  EXPECT_EQ(store->SetDetails(id, "late")->failure_reason, "");
  store->MarkRecovering(id);
  EXPECT_EQ(store->SetDetails(id, "again")->failure_reason, "again");
  EXPECT_FALSE(store->SetDetails(999, "x").has_value());
}

TEST_F(ManagedJobsTest, CancelOfPendingIsImmediateOfStartedGoesThroughCancelling) {
  auto store = ManagedJobStore::Open(Options());
  const int64_t pending = store->Submit(Submission("a")).job_id;
  const int64_t started = store->Submit(Submission("b")).job_id;
  store->MarkStarting(started, "b-2");
  EXPECT_EQ(store->RequestCancel(pending)->status, ManagedJobStatus::kCancelled);
  EXPECT_EQ(store->RequestCancel(started)->status, ManagedJobStatus::kCancelling);
  // A cancelled PENDING job is never started.
  EXPECT_EQ(store->MarkStarting(pending, "a-1")->status, ManagedJobStatus::kCancelled);
  // CANCELLING does not go back to RUNNING.
  EXPECT_EQ(store->MarkRunning(started, 1)->status, ManagedJobStatus::kCancelling);
  EXPECT_EQ(store->MarkFinished(started, ManagedJobStatus::kCancelled)->status,
            ManagedJobStatus::kCancelled);
}

TEST_F(ManagedJobsTest, ListFiltersAndOrders) {
  auto store = ManagedJobStore::Open(Options());
  store->Submit(Submission("a"));
  auto bob = Submission("b");
  bob.user = "bob";
  store->Submit(bob);
  store->Submit(Submission("a"));
  store->RequestCancel(1);
  std::vector<int64_t> ids;
  for (const auto& job : store->List()) ids.push_back(job.job_id);
  EXPECT_EQ(ids, (std::vector<int64_t>{3, 2, 1}));
  ManagedJobFilter filter;
  filter.names = {"a"};
  filter.skip_finished = true;
  ASSERT_EQ(store->List(filter).size(), 1u);
  EXPECT_EQ(store->List(filter)[0].job_id, 3);
  ManagedJobFilter by_user;
  by_user.user = "bob";
  ASSERT_EQ(store->List(by_user).size(), 1u);
  EXPECT_EQ(store->ListUnfinished().front().job_id, 2);
}

TEST_F(ManagedJobsTest, TwentyConcurrentSubmittersLoseNothing) {
  constexpr int kProcesses = 20;
  constexpr int kEach = 10;
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      int code = 0;
      try {
        StateStoreOptions options;
        options.state_dir = dir_.path();
        auto store = ManagedJobStore::Open(options);
        for (int i = 0; i < kEach; ++i) {
          store->Submit(Submission("p" + std::to_string(p) + "-" + std::to_string(i)));
        }
      } catch (const std::exception& e) {
        fprintf(stderr, "child %d: %s\n", p, e.what());
        code = 1;
      }
      ::_exit(code);
    }
    children.push_back(child);
  }
  for (pid_t child : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  StateStoreOptions options;
  options.state_dir = dir_.path();
  const auto jobs = ManagedJobStore::Open(options)->List();
  ASSERT_EQ(jobs.size(), static_cast<size_t>(kProcesses * kEach));
  std::set<std::string> names;
  std::set<int64_t> ids;
  for (const auto& job : jobs) {
    names.insert(job.name);
    ids.insert(job.job_id);
  }
  EXPECT_EQ(names.size(), jobs.size());
  EXPECT_EQ(*ids.begin(), 1);
  EXPECT_EQ(*ids.rbegin(), kProcesses * kEach);
}

// ------------------------------------------------------------- scheduling

ManagedJob JobWith(int64_t id, int priority, ManagedJobStatus status = ManagedJobStatus::kPending) {
  ManagedJob job;
  job.job_id = id;
  job.priority = priority;
  job.status = status;
  return job;
}

TEST(PickJobsToStartTest, HigherPriorityFirstThenFifoUnderTheLimit) {
  std::vector<ManagedJob> jobs = {JobWith(1, 0), JobWith(2, 10), JobWith(3, 0), JobWith(4, 10),
                                  JobWith(5, -5)};
  EXPECT_EQ(PickJobsToStart(jobs, 10), (std::vector<int64_t>{2, 4, 1, 3, 5}));
  EXPECT_EQ(PickJobsToStart(jobs, 3), (std::vector<int64_t>{2, 4, 1}));
  jobs.push_back(JobWith(6, 0, ManagedJobStatus::kRunning));
  jobs.push_back(JobWith(7, 0, ManagedJobStatus::kCancelling));
  EXPECT_EQ(PickJobsToStart(jobs, 3), (std::vector<int64_t>{2}));
  EXPECT_TRUE(PickJobsToStart(jobs, 2).empty());
}

// A randomized queue drained with a fixed capacity, one job finishing at a
// time: the start order must be exactly by priority, then submission.
TEST(PickJobsToStartTest, RandomizedStartOrderIsPriorityThenFifo) {
  std::mt19937 random(12345);
  for (size_t capacity : {1u, 5u}) {
    std::vector<ManagedJob> jobs;
    for (int64_t id = 1; id <= 500; ++id) {
      jobs.push_back(JobWith(id, static_cast<int>(random() % 7) * 100 - 300));
    }
    std::vector<int64_t> started;
    std::vector<int64_t> active;
    while (started.size() < jobs.size()) {
      for (int64_t id : PickJobsToStart(jobs, capacity)) {
        auto& job = jobs[static_cast<size_t>(id - 1)];
        job.status = ManagedJobStatus::kRunning;
        started.push_back(id);
        active.push_back(id);
      }
      ASSERT_LE(active.size(), capacity);
      ASSERT_FALSE(active.empty());
      // The oldest running one finishes.
      jobs[static_cast<size_t>(active.front() - 1)].status = ManagedJobStatus::kSucceeded;
      active.erase(active.begin());
    }
    std::vector<int64_t> expected(jobs.size());
    for (size_t i = 0; i < expected.size(); ++i) expected[i] = static_cast<int64_t>(i + 1);
    std::stable_sort(expected.begin(), expected.end(), [&](int64_t a, int64_t b) {
      return jobs[static_cast<size_t>(a - 1)].priority > jobs[static_cast<size_t>(b - 1)].priority;
    });
    // Jobs all submitted before the first start: the global order holds.
    EXPECT_EQ(started, expected) << "capacity " << capacity;
  }
}

}  // namespace
}  // namespace skycore
