// skycore/jobs.h — managed jobs: `sky jobs launch/queue/logs/cancel`.
//
// A managed job is a task that skycore runs to completion on a cluster of its
// own: the job is queued, a controller launches a cluster for it
// (`<name>-<job_id>`, as SkyPilot names them), follows the job there, records
// how it ended and tears the cluster down. The names, states and fields are
// SkyPilot's (sky/jobs/state.py).
//
// Pieces, each usable alone:
//   - ManagedJobStore: the `managed_jobs` table of the state database
//     (`<state_dir>/state.db`). Submissions from many processes at once get
//     distinct, increasing ids; every transition is one transaction that
//     applies only from the states it names, so a cancel racing with the end
//     of a job cannot overwrite its result.
//   - PickJobsToStart: the scheduling rule. Higher priority first, then strict
//     FIFO by submission (job id) within a priority; at most `max_active` jobs
//     are active (STARTING, RUNNING, RECOVERING or CANCELLING) at once.
//   - the controller: one native daemon per state dir (`sky jobs controller`,
//     started on first use and detached from the `sky` process that started
//     it) drives every job, with one thread per active job. Its state is the
//     table: on start it adopts every job that is not finished, so it can be
//     killed (even with SIGKILL) and restarted without losing or relaunching
//     a job. Clients wake it with SIGUSR1 after a submission or a cancel; it
//     also rescans the table every few seconds.
//
// A job whose cluster is lost (the cluster's backend reports it through
// ClusterBackend::WaitForLoss, watched while the job's log stream is read; or
// the stream breaks and a refresh finds the cluster no longer UP) is
// RECOVERING: the rest of the cluster is torn down and a new one of the same
// name launched, with the same SKYPILOT_TASK_ID. A task that failed (FAILED,
// FAILED_SETUP) on a cluster still UP after
// JobsControllerOptions::failure_grace_s failed by itself: it is restarted the
// same way when `job_recovery.recover_on_exit_codes` lists its exit code or
// fewer than `max_restarts_on_errors` restarts were made (counted per
// controller run, as SkyPilot does), else the job ends FAILED/FAILED_SETUP. A
// launch that finds no capacity is retried with a back-off (the reason in the
// job's failure_reason, shown as DETAILS), then FAILED_NO_RESOURCE.
//
// The SDK's requests (Sky::Submit): "jobs.launch" {"task", "name",
// "priority"} → {"job_ids": [id]}; "jobs.queue" {"skip_finished",
// "all_users", "job_ids"} → [ManagedJobToJson, ...]; "jobs.cancel" {"name",
// "job_ids", "all", "all_users"} → null; "jobs.logs" {"job_id", "name",
// "follow", "controller"} → the job's status name at the end.
//
// Not there yet (later phases): WaitForLoss beyond the local infra (a
// Kubernetes pod watch, the SSH agent's connection, spot interruptions); the
// `job_recovery` strategies are read but EAGER_NEXT_REGION and FAILOVER both
// relaunch wherever the task allows; pipelines of several tasks; secrets (they
// would have to be stored at rest).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "skycore/sdk.h"
#include "skycore/state.h"

namespace skycore {

enum class ManagedJobStatus {
  kPending,     // submitted, waiting for a launch slot
  kStarting,    // its cluster is being launched
  kRunning,     // the task runs on its cluster
  kRecovering,  // the cluster was lost; a new one is being launched
  kCancelling,  // cancel asked; the job and its cluster are being stopped
  kSucceeded,
  kCancelled,
  kFailed,            // the task's run exited non-zero
  kFailedSetup,       // the task's setup exited non-zero
  kFailedPrechecks,   // invalid task or infeasible resources, at submission
  kFailedNoResource,  // no infra had the resources
  kFailedController,  // the controller failed (a bug, or the cluster was lost)
};

// "PENDING", "STARTING", ..., "FAILED_CONTROLLER", as SkyPilot shows them.
const char* ManagedJobStatusName(ManagedJobStatus status) noexcept;
std::optional<ManagedJobStatus> ParseManagedJobStatus(std::string_view name) noexcept;
// SUCCEEDED, CANCELLED and the FAILED* states are final.
bool IsTerminal(ManagedJobStatus status) noexcept;
// The FAILED* states.
bool IsFailure(ManagedJobStatus status) noexcept;

// SkyPilot's job priorities: -1000..1000, 0 unless the task or
// `--priority` says otherwise.
inline constexpr int kManagedJobMinPriority = -1000;
inline constexpr int kManagedJobMaxPriority = 1000;
inline constexpr int kManagedJobDefaultPriority = 0;

// One row of `sky jobs queue`. Times are Unix seconds.
struct ManagedJob {
  int64_t job_id = 0;
  std::string name;
  std::string user;
  int priority = kManagedJobDefaultPriority;
  std::string dag_yaml;   // the task as submitted (DumpDagYaml), run by the controller
  std::string resources;  // what it asked for, as `queue` shows it ("1x[cpus=2]")
  // SkyPilot's run timestamp ("sky-2026-01-02-03-04-05-123456"), fixed at
  // submission: SKYPILOT_TASK_ID is made of it and stays the same across
  // recoveries.
  std::string run_timestamp;
  ManagedJobStatus status = ManagedJobStatus::kPending;
  std::string failure_reason;             // why it failed or was cancelled; empty otherwise
  std::string cluster_name;               // its cluster; set when it starts
  std::optional<int64_t> cluster_job_id;  // the job's id on that cluster
  double submitted_at = 0;
  std::optional<double> start_at;  // when it left PENDING
  std::optional<double> end_at;    // when it reached a final state
  // When the current run on a cluster began (RUNNING); job_duration_s sums
  // the runs that ended, so provisioning and recovery are not counted.
  std::optional<double> last_recovered_at;
  double job_duration_s = 0;
  int recovery_count = 0;

  // SKYPILOT_TASK_ID: "sky-managed-<timestamp>_<name>_<job_id>-0".
  std::string task_id() const;
  // From submission to the end (or now).
  double total_duration_s(double now) const;
  // Time spent running the task, excluding provisioning and recovery.
  double job_duration_at(double now) const;
};

// The cluster SkyPilot would launch for the job: the name lower-cased, `.` and
// `_` made `-`, cut to 25 characters with a 2-character hash of the whole
// name when longer, then `-<job_id>`.
std::string ManagedJobClusterName(std::string_view job_name, int64_t job_id);

// What Submit records.
struct ManagedJobSubmission {
  std::string name;  // required
  std::string user;
  int priority = kManagedJobDefaultPriority;
  std::string dag_yaml;
  std::string resources;
  // Set: the job failed its prechecks at submission and is recorded as
  // FAILED_PRECHECKS with this reason (it is never scheduled).
  std::optional<std::string> precheck_failure;
};

struct ManagedJobFilter {
  std::vector<int64_t> job_ids;    // empty: any
  std::vector<std::string> names;  // empty: any
  std::string user;                // empty: any
  bool skip_finished = false;      // only jobs not in a final state
  size_t limit = 0;                // 0: all; newest first
};

class ManagedJobStore {
 public:
  // Opens `<state_dir>/state.db`, migrating it forward as OpenSqliteStateStore does.
  static std::unique_ptr<ManagedJobStore> Open(const StateStoreOptions& options);
  virtual ~ManagedJobStore() = default;

  // Records a PENDING job (FAILED_PRECHECKS with a precheck failure) with the
  // next id, run timestamp and submission time, in one transaction. Throws
  // InvalidTaskError for an empty name or a priority out of range.
  virtual ManagedJob Submit(const ManagedJobSubmission& submission) = 0;
  virtual std::optional<ManagedJob> Get(int64_t job_id) = 0;
  // Newest first.
  virtual std::vector<ManagedJob> List(const ManagedJobFilter& filter = {}) = 0;
  // Jobs not in a final state, oldest first (what the controller adopts).
  virtual std::vector<ManagedJob> ListUnfinished() = 0;

  // The transitions. Each applies only from the states named and returns the
  // job as stored after it: compare its status to see whether it applied.
  // nullopt: no such job.
  // PENDING → STARTING, recording the cluster name and start_at.
  virtual std::optional<ManagedJob> MarkStarting(int64_t job_id,
                                                 const std::string& cluster_name) = 0;
  // STARTING or RECOVERING → RUNNING on the cluster's job cluster_job_id
  // (clearing the details).
  virtual std::optional<ManagedJob> MarkRunning(int64_t job_id, int64_t cluster_job_id) = 0;
  // STARTING or RECOVERING: what the launch waits for (`queue` shows it as
  // DETAILS, in the failure_reason field, until the job runs or ends).
  virtual std::optional<ManagedJob> SetDetails(int64_t job_id, const std::string& details) = 0;
  // RUNNING → RECOVERING (recovery_count + 1, the run's time added to the job
  // duration, the cluster job forgotten).
  virtual std::optional<ManagedJob> MarkRecovering(int64_t job_id) = 0;
  // Any non-final state → `status` (a final one) with the reason; sets end_at.
  virtual std::optional<ManagedJob> MarkFinished(int64_t job_id, ManagedJobStatus status,
                                                 const std::string& failure_reason = "") = 0;
  // A cancel: PENDING → CANCELLED at once (it never launches); STARTING,
  // RUNNING or RECOVERING → CANCELLING (the controller stops it); others
  // unchanged.
  virtual std::optional<ManagedJob> RequestCancel(int64_t job_id) = 0;
};

// ------------------------------------------------------------ the scheduler

// The PENDING jobs of `unfinished` to start now, in start order: as many as
// leave at most max_active jobs active, by priority (higher first), then job
// id (lower first).
std::vector<int64_t> PickJobsToStart(const std::vector<ManagedJob>& unfinished, size_t max_active);
// $SKYCORE_JOBS_MAX_ACTIVE when set (a positive integer), else 4 per CPU of
// this machine.
size_t DefaultMaxActiveJobs();

// ------------------------------------------------------------ the client

struct ManagedJobLaunchOptions {
  std::string name;             // empty: the Dag's or its task's name, else "sky-cmd"
  std::optional<int> priority;  // empty: the task's resources.priority, else 0
  std::string user;             // empty: $USER
};

// `sky jobs launch`: checks the task as `sky launch` would (one task, no
// secrets, some enabled infra can run it), queues it and starts the
// controller unless one runs. A task that fails a check is recorded as
// FAILED_PRECHECKS and the check's error is rethrown unchanged. A process
// that submitted the same task (same name, same dumped YAML) in the last
// 10 s skips the optimizer's check: it passed then.
ManagedJob LaunchManagedJob(Sky& sky, Dag dag, const ManagedJobLaunchOptions& options = {});
// Records a job whose task could not even be loaded as FAILED_PRECHECKS.
ManagedJob RecordPrecheckFailure(Sky& sky, const std::string& name, const std::string& resources,
                                 const Error& error);
// `sky jobs cancel`: asks each job to stop (ManagedJobStore::RequestCancel)
// and wakes the controller; the jobs as they are after the request, in the
// order given. JobNotFoundError for an unknown id (before anything is asked).
std::vector<ManagedJob> CancelManagedJobs(Sky& sky, const std::vector<int64_t>& job_ids);
// `sky jobs logs`: writes the job's output (with `controller`, what the
// controller did for it) to `out`; with `follow`, until the job is final.
// Returns the job as it is at the end. JobNotFoundError; CancelledError when
// `cancel` fires.
ManagedJob TailManagedJobLogs(Sky& sky, int64_t job_id, bool follow, bool controller,
                              OutputSink& out, const CancelToken& cancel = {});
// A job as the SDK's `sky.jobs.queue` returns it (SkyPilot's field names:
// job_id, job_name, status, submitted_at, recovery_count, failure_reason, ...).
nlohmann::json ManagedJobToJson(const ManagedJob& job);
// The `sky` program that runs the controller: in SkyOptions::bin_dir, beside
// this program, then on $PATH.
std::filesystem::path JobsControllerProgram(const SkyOptions& options);
// The managed-jobs store of the Sky's state dir.
std::unique_ptr<ManagedJobStore> OpenManagedJobStore(const Sky& sky);

// ------------------------------------------------------------ the controller

// `<state_dir>/managed_jobs`: the controller's pid and lock files, its log,
// and each job's logs (`<id>.log`: the task's output; `<id>.controller.log`:
// the launches and teardowns of its clusters).
std::filesystem::path ManagedJobsDir(const std::filesystem::path& state_dir);

struct JobsControllerOptions {
  SkyOptions sky;
  size_t max_active = DefaultMaxActiveJobs();
  // How often the table is rescanned when no client woke the controller.
  double rescan_interval_s = 2.0;
  // A launch that finds no capacity (ResourcesUnavailableError) is retried
  // after an exponential back-off, SkyPilot's: the first gap, then ×1.6 each
  // time up to 5× the first, each ±40% at random. After max_launch_attempts
  // launches (of one start or one recovery) the job is FAILED_NO_RESOURCE.
  double launch_retry_gap_s = 60;  // SkyPilot's RETRY_INIT_GAP_SECONDS
  int max_launch_attempts = 240;   // SkyPilot's cap for a recovery (4 h at 60 s)
  // A task that failed (FAILED, FAILED_SETUP) is told apart from a lost
  // cluster by refreshing its cluster this long after the failure, as
  // SkyPilot does (its grace period is 5 s).
  double failure_grace_s = 5;
};

// Overrides the options above from the environment the controller inherits:
// $SKYCORE_JOBS_RETRY_GAP_S, $SKYCORE_JOBS_MAX_LAUNCH_ATTEMPTS,
// $SKYCORE_JOBS_FAILURE_GRACE_S (values that do not parse are ignored).
void ReadJobsControllerEnvironment(JobsControllerOptions& options);

// Runs the controller until SIGTERM or SIGINT; returns 0 then, or 3 at once
// when another controller holds this state dir. Adopts every unfinished job
// first. Jobs keep running on their clusters while it is stopped.
int RunJobsController(const JobsControllerOptions& options);

// The pid of the controller holding this state dir, if one runs.
std::optional<int> JobsControllerPid(const std::filesystem::path& state_dir);
// Starts `<sky> jobs controller` detached (its own session, output to
// `managed_jobs/controller.log`) unless one runs; returns its pid once it
// holds the state dir. CommandError when it does not start within 10 s.
int EnsureJobsController(const std::filesystem::path& state_dir,
                         const std::filesystem::path& sky_program);
// Wakes the controller to rescan the table now (no-op when none runs).
void NotifyJobsController(const std::filesystem::path& state_dir);

}  // namespace skycore
