// The managed-jobs controller: one daemon per state dir that starts queued
// jobs, follows each on its own cluster and records how it ended.
//
// The table is the only state: a worker thread per active job reads the job,
// does the next step (launch, follow, tear down) and records it with a
// transition that applies only from the state it expects. A controller that
// was killed therefore resumes every job where its row says it was: a job
// already submitted to its cluster is followed again, never resubmitted.
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "backend/cluster_backend.h"
#include "common/files.h"
#include "infra/local/machine.h"
#include "skycore/jobs.h"
#include "skycore/yaml.h"

namespace skycore {

namespace fs = std::filesystem;

namespace {

fs::path LockPath(const fs::path& state_dir) {
  return ManagedJobsDir(state_dir) / "controller.lock";
}
fs::path PidPath(const fs::path& state_dir) { return ManagedJobsDir(state_dir) / "controller.pid"; }

// Appends to a file; each Step is a timestamped line.
class FileSink : public OutputSink {
 public:
  FileSink(const fs::path& path, bool truncate)
      : out_(path, truncate ? std::ios::trunc : std::ios::app) {
    files::RestrictToOwner(path);
  }
  void Write(std::string_view text) override {
    out_ << text;
    out_.flush();
  }
  void Step(std::string_view name) override { Line(name); }
  void Line(std::string_view text) {
    const std::time_t now = std::time(nullptr);
    std::tm local{};
    ::localtime_r(&now, &local);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &local);
    out_ << stamp << " " << text << "\n";
    out_.flush();
  }

 private:
  std::ofstream out_;
};

// The managed job's final state for its cluster job's.
ManagedJobStatus FinalStatusOf(JobStatus status) {
  switch (status) {
    case JobStatus::kSucceeded:
      return ManagedJobStatus::kSucceeded;
    case JobStatus::kFailedSetup:
      return ManagedJobStatus::kFailedSetup;
    case JobStatus::kCancelled:
      return ManagedJobStatus::kCancelled;
    default:
      return ManagedJobStatus::kFailed;
  }
}

// SkyPilot's user-code failures: the task itself exited non-zero.
bool IsUserCodeFailure(JobStatus status) {
  return status == JobStatus::kFailed || status == JobStatus::kFailedSetup;
}

// What the task's `job_recovery` asks for, with SkyPilot's defaults.
struct RecoveryPolicy {
  std::string strategy = "EAGER_NEXT_REGION";
  int max_restarts_on_errors = 0;
  std::vector<int> recover_on_exit_codes;
};

RecoveryPolicy PolicyOf(const Dag& dag) {
  RecoveryPolicy policy;
  for (const auto& task : dag.tasks()) {
    for (const auto& resources : task->resources().alternatives()) {
      const auto& recovery = resources.spec().job_recovery;
      if (!recovery) continue;
      if (recovery->strategy) policy.strategy = *recovery->strategy;
      if (recovery->max_restarts_on_errors) {
        policy.max_restarts_on_errors = *recovery->max_restarts_on_errors;
      }
      if (!recovery->recover_on_exit_codes.empty()) {
        policy.recover_on_exit_codes = recovery->recover_on_exit_codes;
      }
      return policy;  // SkyPilot reads the first alternative that sets it
    }
  }
  return policy;
}

// SkyPilot's launch back-off (common_utils.Backoff): the first gap, then
// ×1.6 up to 5× the first, each with ±40% jitter.
class Backoff {
 public:
  explicit Backoff(double initial_s) : initial_s_(initial_s), rng_(std::random_device{}()) {}
  double Next() {
    gap_s_ = gap_s_ == 0 ? initial_s_ : std::min(gap_s_ * 1.6, 5 * initial_s_);
    gap_s_ += std::uniform_real_distribution<double>(-0.4 * gap_s_, 0.4 * gap_s_)(rng_);
    return gap_s_;
  }

 private:
  double initial_s_;
  double gap_s_ = 0;
  std::mt19937 rng_;
};

// `text` on one line (an infra's error may list hosts on lines of their
// own), for the DETAILS column of `queue`.
std::string OneLine(std::string_view text) {
  std::string line;
  bool space = false;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    if (c == ' ' && space) continue;
    space = c == ' ';
    line += c;
  }
  return line;
}

// Sleeps `seconds` unless the token fires first (CancelledError then).
void SleepUnlessCancelled(double seconds, const CancelToken& cancel, std::string_view what) {
  const auto until = std::chrono::steady_clock::now() +
                     std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         std::chrono::duration<double>(seconds));
  while (std::chrono::steady_clock::now() < until) {
    cancel.ThrowIfCancelled(what);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  cancel.ThrowIfCancelled(what);
}

class Controller {
 public:
  explicit Controller(const JobsControllerOptions& options)
      : options_(options),
        dir_(ManagedJobsDir(options.sky.state_dir)),
        sky_(options.sky),
        store_(ManagedJobStore::Open(StoreOptions(options))) {}

  // The scan: adopt, cancel and start jobs as the table says.
  void Scan() {
    Reap();
    const auto jobs = store_->ListUnfinished();
    std::lock_guard lock(mutex_);
    for (const auto& job : jobs) {
      auto worker = workers_.find(job.job_id);
      if (job.status == ManagedJobStatus::kCancelling) {
        if (worker != workers_.end()) {
          worker->second->cancel.Cancel();
        } else {
          StartWorkerLocked(job.job_id);
        }
      } else if (job.status != ManagedJobStatus::kPending && worker == workers_.end()) {
        StartWorkerLocked(job.job_id);  // adopted after a restart
      }
    }
    for (int64_t job_id : PickJobsToStart(jobs, options_.max_active)) {
      const auto job = std::find_if(jobs.begin(), jobs.end(),
                                    [&](const ManagedJob& j) { return j.job_id == job_id; });
      const auto started =
          store_->MarkStarting(job_id, ManagedJobClusterName(job->name, job->job_id));
      if (started && started->status == ManagedJobStatus::kStarting) StartWorkerLocked(job_id);
    }
  }

  // Stops following jobs (they keep running on their clusters).
  void Stop() {
    stopping_ = true;
    std::map<int64_t, std::unique_ptr<Worker>> workers;
    {
      std::lock_guard lock(mutex_);
      for (auto& [id, worker] : workers_) worker->cancel.Cancel();
      workers.swap(workers_);
    }
    for (auto& [id, worker] : workers) worker->thread.join();
  }

 private:
  struct Worker {
    CancelToken cancel;
    std::atomic<bool> done{false};
    std::thread thread;
  };

  static StateStoreOptions StoreOptions(const JobsControllerOptions& options) {
    StateStoreOptions store;
    store.state_dir = options.sky.state_dir;
    return store;
  }

  void Reap() {
    std::lock_guard lock(mutex_);
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (it->second->done) {
        it->second->thread.join();
        it = workers_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void StartWorkerLocked(int64_t job_id) {
    auto worker = std::make_unique<Worker>();
    Worker* raw = worker.get();
    raw->thread = std::thread([this, job_id, raw] {
      try {
        Drive(job_id, raw->cancel);
      } catch (const std::exception& e) {
        // A bug or an unusable state store: the job cannot be driven further.
        if (!stopping_) {
          try {
            store_->MarkFinished(job_id, ManagedJobStatus::kFailedController,
                                 fmt::format("controller error: {}", e.what()));
          } catch (const std::exception&) {
          }
        }
      }
      raw->done = true;
    });
    workers_.emplace(job_id, std::move(worker));
  }

  // One job, from wherever its row says it is to a final state.
  void Drive(int64_t job_id, const CancelToken& cancel) {
    auto job = store_->Get(job_id);
    if (!job || IsTerminal(job->status)) return;
    FileSink log(dir_ / fmt::format("{}.controller.log", job_id), /*truncate=*/false);
    if (job->status == ManagedJobStatus::kCancelling) return CancelJob(*job, log);
    // Counted per controller run, as SkyPilot's executor counts them.
    int restarts_on_errors = 0;
    try {
      const RecoveryPolicy policy = PolicyOf(LoadDagYaml(job->dag_yaml));
      while (true) {
        if (!job->cluster_job_id) {
          job = StartOnCluster(*job, log, cancel);
          if (!job) return;  // finished or being cancelled: done here
        } else {
          log.Line(fmt::format("Following job {} on cluster {} (job {} there).", job_id,
                               job->cluster_name, *job->cluster_job_id));
        }
        const auto final_status = Follow(*job, log, cancel);
        if (final_status) {
          if (!IsUserCodeFailure(*final_status)) return Finish(*job, *final_status, log);
          // A task that failed because its cluster went away is a preemption;
          // with the cluster still UP after the grace period, the task's own
          // code failed (SkyPilot's rule).
          SleepUnlessCancelled(options_.failure_grace_s, cancel, "the job was cancelled");
          if (!ClusterLost(job->cluster_name, log)) {
            const int exit_code = ExitCodeOf(*job);
            const auto restart = RestartOnError(policy, exit_code, restarts_on_errors);
            if (!restart) return Finish(*job, *final_status, log);
            log.Line(fmt::format("Job {} {} on a healthy cluster ({}); restarting it: {}.", job_id,
                                 JobStatusName(*final_status),
                                 exit_code > 0 ? fmt::format("exit code {}", exit_code)
                                               : std::string("no exit code"),
                                 *restart));
          } else {
            log.Line(fmt::format("Job {} {} and cluster {} is no longer UP: preempted.", job_id,
                                 JobStatusName(*final_status), job->cluster_name));
          }
        }
        // The cluster is gone (preempted, its nodes killed), or the task is
        // restarted on errors: a new cluster.
        job = store_->MarkRecovering(job_id);
        if (job->status != ManagedJobStatus::kRecovering) {
          if (job->status == ManagedJobStatus::kCancelling) return CancelJob(*job, log);
          return;
        }
        log.Line(fmt::format("Cluster {} was lost; recovering job {} (recovery {}).",
                             job->cluster_name, job_id, job->recovery_count));
      }
    } catch (const CancelledError&) {
      if (stopping_) return;  // followed again by the next controller
      CancelJob(*store_->Get(job_id), log);
    } catch (const ResourcesUnavailableError& e) {
      Fail(*job, ManagedJobStatus::kFailedNoResource, e.what(), log);
    } catch (const InvalidTaskError& e) {
      Fail(*job, ManagedJobStatus::kFailedPrechecks, e.what(), log);
    } catch (const Error& e) {
      if (stopping_) return;
      Fail(*job, ManagedJobStatus::kFailedController, e.what(), log);
    }
  }

  // Whether a task that failed on a healthy cluster is restarted, and why;
  // SkyPilot's should_restart_on_failure: an exit code listed in
  // recover_on_exit_codes always restarts (not counted); otherwise each
  // failure counts, up to max_restarts_on_errors.
  static std::optional<std::string> RestartOnError(const RecoveryPolicy& policy, int exit_code,
                                                   int& restarts) {
    const auto& codes = policy.recover_on_exit_codes;
    if (exit_code > 0 && std::find(codes.begin(), codes.end(), exit_code) != codes.end()) {
      return fmt::format("exit code {} is in recover_on_exit_codes", exit_code);
    }
    ++restarts;
    if (restarts > policy.max_restarts_on_errors) return std::nullopt;
    return fmt::format("restart {} of max_restarts_on_errors {}", restarts,
                       policy.max_restarts_on_errors);
  }

  // The exit code the cluster recorded for the job's run; 0 when unknown.
  int ExitCodeOf(const ManagedJob& job) {
    try {
      auto jobs = sky_.JobStatuses(job.cluster_name, {*job.cluster_job_id});
      if (!jobs.empty()) return jobs.front().exit_code;
    } catch (const Error&) {
    }
    return 0;
  }

  // Launches (STARTING) or relaunches (RECOVERING) the job's cluster and
  // records the job RUNNING there; nullopt when the job needs nothing more
  // from this thread (it had nothing to run, or is being cancelled).
  std::optional<ManagedJob> StartOnCluster(const ManagedJob& job, FileSink& log,
                                           const CancelToken& cancel) {
    if (job.status == ManagedJobStatus::kRecovering) {
      // What is left of the lost cluster goes first, so its old job is
      // never taken for the new one.
      TearDown(job.cluster_name, log);
    }
    const auto cluster_job_id = SubmitToCluster(job, log, cancel);
    if (!cluster_job_id) {
      // Nothing to run (no `run` command): done once the cluster is set up.
      TearDown(job.cluster_name, log);
      store_->MarkFinished(job.job_id, ManagedJobStatus::kSucceeded);
      return std::nullopt;
    }
    auto running = store_->MarkRunning(job.job_id, *cluster_job_id);
    if (running->status != ManagedJobStatus::kRunning) {
      if (running->status == ManagedJobStatus::kCancelling) CancelJob(*running, log);
      return std::nullopt;
    }
    log.Line(fmt::format("Job {} runs as job {} of cluster {}.", job.job_id, *cluster_job_id,
                         job.cluster_name));
    return running;
  }

  // Follows the cluster's health as its infra reports it (the backend's
  // WaitForLoss) while the job's log stream is read: a loss the infra reports
  // stops the stream at once. `follow` fires on the job's cancel too.
  class HealthWatch {
   public:
    HealthWatch(Controller& controller, const std::string& cluster, const CancelToken& cancel)
        : cancel_(cancel) {
      nlohmann::json handle;
      if (auto record = controller.sky_.state().GetCluster(cluster)) handle = record->handle;
      backend::BackendContext context;
      context.options = controller.sky_.options();
      context.machine = []() -> const backend::LocalMachine& {
        static const backend::LocalMachine machine = backend::DiscoverLocalMachine(
            [](const std::string& name) -> std::optional<std::string> {
              const char* value = std::getenv(name.c_str());
              return value ? std::optional<std::string>(value) : std::nullopt;
            });
        return machine;
      };
      std::shared_ptr<backend::ClusterBackend> backend;
      try {
        if (handle.is_object()) backend = backend::BackendForHandle(handle, context);
      } catch (const Error&) {
      }
      if (backend) {
        watcher_ = std::thread([this, backend, handle] {
          std::optional<std::string> lost;
          try {
            lost = backend->WaitForLoss(handle, stop_);
          } catch (const std::exception&) {
          }
          if (lost) {
            std::lock_guard lock(mutex_);
            lost_ = lost;
            follow_.Cancel();
          }
        });
      }
      linker_ = std::thread([this] {
        while (!stop_.cancelled()) {
          if (cancel_.cancelled()) follow_.Cancel();
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      });
    }
    ~HealthWatch() {
      stop_.Cancel();
      if (watcher_.joinable()) watcher_.join();
      linker_.join();
    }
    const CancelToken& follow() const { return follow_; }
    std::optional<std::string> lost() {
      std::lock_guard lock(mutex_);
      return lost_;
    }
    // What the infra reports within `wait` (a stream that just broke: the
    // infra's word on why usually follows within milliseconds).
    std::optional<std::string> LostWithin(std::chrono::milliseconds wait) {
      const auto until = std::chrono::steady_clock::now() + wait;
      while (watcher_.joinable() && std::chrono::steady_clock::now() < until) {
        if (auto found = lost()) return found;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      return lost();
    }

   private:
    CancelToken cancel_, follow_, stop_;
    std::mutex mutex_;
    std::optional<std::string> lost_;
    std::thread watcher_, linker_;
  };

  // Streams the job's output until it ends on its cluster: its final status,
  // or nullopt when the cluster was lost (the infra reported it, or the
  // stream broke and a refresh finds the cluster no longer UP). A stream
  // that breaks while the cluster is still UP is followed again.
  std::optional<JobStatus> Follow(const ManagedJob& job, FileSink& log, const CancelToken& cancel) {
    constexpr int kMaxBrokenStreams = 50;
    for (int broken = 0;; ++broken) {
      std::string why;
      HealthWatch health(*this, job.cluster_name, cancel);
      try {
        // The task's output, from its start: following the job again
        // rewrites the file rather than appending a second copy.
        FileSink output(dir_ / fmt::format("{}.log", job.job_id), /*truncate=*/true);
        const JobStatus status = sky_.TailLogs(job.cluster_name, *job.cluster_job_id,
                                               /*follow=*/true, output, health.follow());
        if (cancel.cancelled()) throw CancelledError("the job's log stream was stopped");
        if (IsTerminal(status)) return status;
        if (auto lost = health.lost()) {
          log.Line(fmt::format("Cluster {} lost a node: {}.", job.cluster_name, *lost));
          return std::nullopt;
        }
        why = fmt::format("the stream ended with the job {}", JobStatusName(status));
      } catch (const Error& e) {
        // CancelledError included: the stream stopped for the job's cancel
        // or for a loss the infra reported.
        if (cancel.cancelled()) throw CancelledError("the job's log stream was stopped");
        if (auto lost = health.LostWithin(std::chrono::milliseconds(200))) {
          log.Line(fmt::format("Cluster {} lost a node: {}.", job.cluster_name, *lost));
          return std::nullopt;
        }
        why = e.message();
      }
      if (ClusterLost(job.cluster_name, log)) return std::nullopt;
      if (broken == kMaxBrokenStreams) {
        throw CommandError(fmt::format("following job {} on cluster {} failed {} times: {}",
                                       job.job_id, job.cluster_name, broken + 1, why));
      }
      log.Line(fmt::format("Following job {} again: {}.", job.job_id, why));
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  // Whether the cluster is gone: its record refreshed from the infra (an
  // agent that died makes a local cluster INIT; nodes that are gone remove it).
  bool ClusterLost(const std::string& cluster, FileSink& log) {
    try {
      const auto records = sky_.Status({cluster}, /*refresh=*/true);
      return records.empty() || records.front().status != ClusterStatus::kUp;
    } catch (const Error& e) {
      log.Line(fmt::format("Checking cluster {}: {}", cluster, e.message()));
      return false;
    }
  }

  // Launches the job's cluster and submits the task there; the cluster's job
  // id. A cluster that already has the job (the previous controller submitted
  // it and died before recording so) is not given it again.
  std::optional<int64_t> SubmitToCluster(const ManagedJob& job, FileSink& log,
                                         const CancelToken& cancel) {
    if (auto cluster = sky_.state().GetCluster(job.cluster_name);
        cluster && cluster->status == ClusterStatus::kUp) {
      try {
        auto jobs = sky_.Queue(job.cluster_name, /*all=*/true);
        if (!jobs.empty()) {
          log.Line(fmt::format("Cluster {} already runs the job (job {} there).", job.cluster_name,
                               jobs.front().job_id));
          return jobs.front().job_id;
        }
      } catch (const Error& e) {
        log.Line(fmt::format("Cluster {} did not answer ({}); launching it again.",
                             job.cluster_name, e.message()));
      }
    }
    Dag dag = LoadDagYaml(job.dag_yaml);
    const std::string task_id = job.task_id();
    for (const auto& task : dag.tasks()) {
      task->update_envs({
          {"SKYPILOT_TASK_ID", task_id},
          {"SKYPILOT_TASK_IDS", task_id},
          {"SKYPILOT_MANAGED_JOB_ID", std::to_string(job.job_id)},
          {"SKYPILOT_JOB_RANK", "0"},
      });
    }
    LaunchOptions options;
    options.cluster_name = job.cluster_name;
    options.detach_run = true;
    options.command_line = fmt::format("sky jobs launch (managed job {})", job.job_id);
    Backoff backoff(options_.launch_retry_gap_s);
    for (int attempt = 1;; ++attempt) {
      log.Line(
          fmt::format("Launching cluster {} for managed job {}.", job.cluster_name, job.job_id));
      try {
        JobResult result = sky_.Launch(dag, options, log, cancel);
        return result.job_id;
      } catch (const ResourcesUnavailableError& e) {
        // What the failed launch made goes, so the next one may go elsewhere.
        TearDown(job.cluster_name, log);
        if (attempt >= options_.max_launch_attempts) {
          throw ResourcesUnavailableError(fmt::format(
              "Resources unavailable: failed to launch cluster {} after {} attempt{}: {}",
              job.cluster_name, attempt, attempt == 1 ? "" : "s", OneLine(e.message())));
        }
        const double gap = backoff.Next();
        const std::string details =
            fmt::format("Waiting for resources (launch {} of {} failed; retrying in {:.0f} s): {}",
                        attempt, options_.max_launch_attempts, gap, OneLine(e.message()));
        log.Line(details);
        const auto waiting = store_->SetDetails(job.job_id, details);
        if (waiting && waiting->status == ManagedJobStatus::kCancelling) {
          throw CancelledError("the job was cancelled while waiting for resources");
        }
        SleepUnlessCancelled(gap, cancel, "the job was cancelled while waiting for resources");
      }
    }
  }

  void Finish(const ManagedJob& job, JobStatus final_status, FileSink& log) {
    ManagedJobStatus status = FinalStatusOf(final_status);
    std::string reason;
    if (status == ManagedJobStatus::kCancelled) {
      // Cancelled on the cluster itself (`sky cancel`), not through `sky jobs cancel`.
      reason = "the job was cancelled on its cluster";
    } else if (IsFailure(status)) {
      const int exit_code = ExitCodeOf(job);
      reason = fmt::format("the task's {} failed{} (job status {})",
                           status == ManagedJobStatus::kFailedSetup ? "setup" : "run",
                           exit_code > 0 ? fmt::format(" with exit code {}", exit_code) : "",
                           JobStatusName(final_status));
    }
    log.Line(fmt::format("Job {} finished on its cluster: {}.", job.job_id,
                         JobStatusName(final_status)));
    TearDown(job.cluster_name, log);
    store_->MarkFinished(job.job_id, status, reason);
  }

  void Fail(const ManagedJob& job, ManagedJobStatus status, const std::string& reason,
            FileSink& log) {
    log.Line(
        fmt::format("Job {} failed ({}): {}", job.job_id, ManagedJobStatusName(status), reason));
    TearDown(job.cluster_name, log);
    store_->MarkFinished(job.job_id, status, reason);
  }

  void CancelJob(const ManagedJob& job, FileSink& log) {
    log.Line(fmt::format("Cancelling job {}.", job.job_id));
    if (job.cluster_job_id) {
      try {
        sky_.Cancel(job.cluster_name, {*job.cluster_job_id});
      } catch (const Error& e) {
        log.Line(fmt::format("Cancelling job {} on cluster {}: {}", *job.cluster_job_id,
                             job.cluster_name, e.message()));
      }
    }
    TearDown(job.cluster_name, log);
    store_->MarkFinished(job.job_id, ManagedJobStatus::kCancelled);
  }

  // Tears the cluster down; the record goes even when its nodes cannot be
  // reached, so nothing stays listed for a job that ended.
  void TearDown(const std::string& cluster, FileSink& log) {
    if (cluster.empty() || !sky_.state().GetCluster(cluster)) return;
    log.Line(fmt::format("Tearing down cluster {}.", cluster));
    try {
      sky_.Down(cluster, log, /*purge=*/true);
    } catch (const Error& e) {
      log.Line(fmt::format("Tearing down cluster {} failed: {}", cluster, e.message()));
    }
  }

  JobsControllerOptions options_;
  fs::path dir_;
  Sky sky_;
  std::unique_ptr<ManagedJobStore> store_;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::map<int64_t, std::unique_ptr<Worker>> workers_;
};

int wake_pipe[2] = {-1, -1};

std::optional<double> EnvNumber(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  char* end = nullptr;
  const double parsed = std::strtod(value, &end);
  if (end == value || *end != '\0' || !(parsed >= 0)) return std::nullopt;
  return parsed;
}

void OnSignal(int signal) {
  const char byte = static_cast<char>(signal);
  [[maybe_unused]] const auto written = ::write(wake_pipe[1], &byte, 1);
}

}  // namespace

fs::path ManagedJobsDir(const fs::path& state_dir) { return state_dir / "managed_jobs"; }

void ReadJobsControllerEnvironment(JobsControllerOptions& options) {
  if (auto gap = EnvNumber("SKYCORE_JOBS_RETRY_GAP_S")) options.launch_retry_gap_s = *gap;
  if (auto attempts = EnvNumber("SKYCORE_JOBS_MAX_LAUNCH_ATTEMPTS"); attempts && *attempts >= 1) {
    options.max_launch_attempts = static_cast<int>(std::min(*attempts, 1e9));
  }
  if (auto grace = EnvNumber("SKYCORE_JOBS_FAILURE_GRACE_S")) options.failure_grace_s = *grace;
}

std::optional<int> JobsControllerPid(const fs::path& state_dir) {
  const int fd = ::open(LockPath(state_dir).c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  const bool held = ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);  // also releases the lock when we took it
  if (!held) return std::nullopt;
  const auto text = files::ReadText(PidPath(state_dir));
  if (!text) return std::nullopt;
  try {
    const int pid = std::stoi(*text);
    return pid > 0 ? std::optional<int>(pid) : std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void NotifyJobsController(const fs::path& state_dir) {
  if (auto pid = JobsControllerPid(state_dir)) ::kill(*pid, SIGUSR1);
}

int EnsureJobsController(const fs::path& state_dir, const fs::path& sky_program) {
  if (auto pid = JobsControllerPid(state_dir)) return *pid;
  const fs::path dir = ManagedJobsDir(state_dir);
  files::EnsurePrivateDir(dir);
  // One starter at a time: clients that find no controller together wait
  // for the first one's instead of each starting one that loses the race.
  struct StartLock {
    int fd;
    ~StartLock() {
      if (fd >= 0) ::close(fd);
    }
  } start_lock{::open((dir / "controller.start.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)};
  if (start_lock.fd >= 0) {
    while (::flock(start_lock.fd, LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  if (auto pid = JobsControllerPid(state_dir)) return *pid;
  // Everything the child needs is made before fork: between fork and exec
  // only async-signal-safe calls (the caller may be a threaded Python).
  const std::string program = sky_program.string();
  const std::string state = state_dir.string();
  const std::string log_path = (dir / "controller.log").string();
  const char* argv[] = {program.c_str(), "jobs",        "controller",
                        "--state-dir",   state.c_str(), nullptr};
  const pid_t child = ::fork();
  if (child < 0) throw CommandError(fmt::format("fork failed: {}", std::strerror(errno)));
  if (child == 0) {
    // Its own session, and a grandchild: the daemon outlives the caller and
    // is never the caller's zombie.
    ::setsid();
    if (::fork() != 0) ::_exit(0);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    if (log_fd >= 0) {
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
    }
    // Nothing else of the caller's: a pipe the caller's own caller reads
    // must see its end when the caller exits, not when the daemon does.
    ::close_range(3, ~0U, 0);
    ::execv(argv[0], const_cast<char* const*>(argv));
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto pid = JobsControllerPid(state_dir)) return *pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw CommandError(fmt::format(
      "the managed-jobs controller ({} jobs controller) did not start within 10 s; see {}", program,
      log_path));
}

int RunJobsController(const JobsControllerOptions& options) {
  // Signals reach the loop through a pipe (the handler only writes a byte):
  // no signal is blocked, so the programs the controller starts (agents,
  // rsync, ssh) inherit a clean signal mask and default handlers.
  if (::pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    throw IoError(fmt::format("cannot create a pipe: {}", std::strerror(errno)));
  }
  struct sigaction action {};
  action.sa_handler = OnSignal;
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  for (int signal : {SIGUSR1, SIGTERM, SIGINT, SIGHUP}) ::sigaction(signal, &action, nullptr);

  const fs::path& state_dir = options.sky.state_dir;
  files::EnsurePrivateDir(ManagedJobsDir(state_dir));
  const int lock_fd = ::open(LockPath(state_dir).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) {
    throw IoError(
        fmt::format("cannot open {}: {}", LockPath(state_dir).string(), std::strerror(errno)));
  }
  // A client probing for a controller (JobsControllerPid) holds the lock for
  // an instant: only a lock held for 200 ms is another controller's.
  bool locked = false;
  for (int attempt = 0; attempt < 20 && !locked; ++attempt) {
    locked = ::flock(lock_fd, LOCK_EX | LOCK_NB) == 0;
    if (!locked) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!locked) {
    ::close(lock_fd);
    return 3;  // another controller drives this state dir
  }
  files::WriteAtomically(PidPath(state_dir), std::to_string(::getpid()));
  fmt::print("managed-jobs controller {} started (at most {} active jobs)\n", ::getpid(),
             options.max_active);
  std::fflush(stdout);

  Controller controller(options);
  const int timeout_ms = static_cast<int>(options.rescan_interval_s * 1000);
  bool stop = false;
  while (!stop) {
    try {
      controller.Scan();
    } catch (const std::exception& e) {
      // The next scan tries again (the database was busy for too long, no
      // thread could be started).
      fmt::print(stderr, "scan failed: {}\n", e.what());
    }
    pollfd wake{wake_pipe[0], POLLIN, 0};
    if (::poll(&wake, 1, timeout_ms) > 0) {
      char signals[64];
      ssize_t n = 0;
      while ((n = ::read(wake_pipe[0], signals, sizeof signals)) > 0) {
        for (ssize_t i = 0; i < n; ++i) stop = stop || signals[i] != SIGUSR1;
      }
    }
  }
  fmt::print("managed-jobs controller {} stopping; jobs keep running\n", ::getpid());
  std::fflush(stdout);
  controller.Stop();
  std::error_code ec;
  fs::remove(PidPath(state_dir), ec);
  ::close(lock_fd);
  return 0;
}

}  // namespace skycore
