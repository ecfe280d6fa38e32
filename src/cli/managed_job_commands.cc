#include "cli/managed_job_commands.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include "cli/display.h"
#include "cli/task_flags.h"
#include "cli/terminal.h"
#include "common/strings.h"
#include "sdk/cluster_ops.h"
#include "skycore/jobs.h"
#include "skycore/skycore.h"

namespace skycore::cli {
namespace {

namespace fs = std::filesystem;

struct JobsLaunchFlags {
  TaskFlags task;
  bool yes = false;
  bool detach_run = false;
};

struct JobsQueueFlags {
  bool all = false;
  bool refresh = false;
  bool skip_finished = false;
  bool all_users = false;
};

struct JobsLogsFlags {
  std::optional<int64_t> job_id;
  std::string name;
  bool controller = false;
  bool no_follow = false;
  bool follow = false;
};

struct JobsCancelFlags {
  std::vector<int64_t> job_ids;
  std::string name;
  bool all = false;
  bool yes = false;
};

struct ControllerFlags {
  std::string state_dir;
  std::optional<size_t> max_active;
};

std::string CurrentUserName() { return sdk_internal::CurrentUser(); }

std::unique_ptr<ManagedJobStore> OpenJobStore(const Sky& sky) { return OpenManagedJobStore(sky); }

// Job output goes to stdout as it comes.
class StdoutSink : public OutputSink {
 public:
  void Write(std::string_view text) override { std::cout << text << std::flush; }
};

int ExitCodeOf(ManagedJobStatus status) {
  if (status == ManagedJobStatus::kSucceeded) return 0;
  if (status == ManagedJobStatus::kCancelled) return kExitJobCancelled;
  if (IsFailure(status)) return kExitJobFailed;
  return kExitJobNotFinished;
}

// ------------------------------------------------------------------ launch

int JobsLaunch(JobsLaunchFlags flags, const Invocation& invocation) {
  flags.task.entrypoint.insert(flags.task.entrypoint.end(), invocation.command_words.begin(),
                               invocation.command_words.end());
  if (flags.task.entrypoint.empty()) {
    throw InvalidTaskError("missing the task: give a task YAML or a command (`-- CMD`).");
  }
  auto sky = OpenSky();
  std::optional<Dag> dag;
  try {
    dag = LoadEntrypoint(flags.task);
  } catch (const Error& e) {
    // The error `sky launch` gives, recorded as the job's failure.
    std::string name = flags.task.name;
    if (auto yaml = YamlEntrypoint(flags.task); name.empty() && yaml) {
      name = fs::path(*yaml).stem().string();
    }
    const ManagedJob job = RecordPrecheckFailure(*sky, name, "-", e);
    std::cerr << fmt::format("Managed job {} ('{}'): {}\n", job.job_id, job.name,
                             ManagedJobStatusName(job.status));
    throw;
  }
  ManagedJobLaunchOptions options;
  options.name = flags.task.name;
  if (options.name.empty() && !dag->name() && !dag->tasks().empty() &&
      !dag->tasks().front()->name()) {
    if (auto yaml = YamlEntrypoint(flags.task)) options.name = fs::path(*yaml).stem().string();
  }
  if (!flags.yes && !Confirm("Launching a managed job. Proceed?")) {
    std::cerr << "Aborted!\n";
    return 1;
  }
  ManagedJob job;
  try {
    job = LaunchManagedJob(*sky, *dag, options);
  } catch (const Error&) {
    auto store = OpenJobStore(*sky);
    ManagedJobFilter latest;
    latest.limit = 1;
    for (const auto& failed : store->List(latest)) {
      if (failed.status == ManagedJobStatus::kFailedPrechecks) {
        std::cerr << fmt::format("Managed job {} ('{}'): {}\n", failed.job_id, failed.name,
                                 ManagedJobStatusName(failed.status));
      }
    }
    throw;
  }
  std::cout << fmt::format("Managed job ID: {}\n", job.job_id) << std::flush;
  if (flags.detach_run) {
    std::cout << fmt::format(
        "📋 Useful Commands\n├── To cancel the job:\t\tsky jobs cancel {0}\n"
        "├── To stream job logs:\t\tsky jobs logs {0}\n"
        "└── To view all managed jobs:\tsky jobs queue\n",
        job.job_id);
    return 0;
  }
  StdoutSink out;
  const ManagedJob ended = TailManagedJobLogs(*sky, job.job_id, /*follow=*/true,
                                              /*controller=*/false, out);
  std::cerr << fmt::format("Managed job {} finished: {}{}\n", ended.job_id,
                           ManagedJobStatusName(ended.status),
                           ended.failure_reason.empty() ? "" : " (" + ended.failure_reason + ")");
  return ExitCodeOf(ended.status);
}

// ------------------------------------------------------------------- queue

std::string FormatManagedJobQueue(const std::vector<ManagedJob>& jobs, double now_s) {
  const bool fancy = FancyStdout();
  std::vector<std::vector<std::string>> rows = {{"ID", "TASK", "NAME", "REQUESTED", "SUBMITTED",
                                                 "TOT. DURATION", "JOB DURATION", "#RECOVERIES",
                                                 "STATUS", "DETAILS"}};
  for (const auto& job : jobs) {
    const double end = job.end_at.value_or(now_s);
    const double job_duration = job.job_duration_at(now_s);
    rows.push_back(
        {std::to_string(job.job_id), "-", job.name, job.resources.empty() ? "-" : job.resources,
         TimeAgo(job.submitted_at, now_s), Duration(job.submitted_at, end),
         job_duration > 0 ? Duration(1, 1 + job_duration) : "-", std::to_string(job.recovery_count),
         ColoredStatus(ManagedJobStatusName(job.status), fancy),
         job.failure_reason.empty() ? "-" : job.failure_reason});
  }
  return FormatTable(rows);
}

int JobsQueue(const JobsQueueFlags& flags) {
  auto sky = OpenSky();
  auto store = OpenJobStore(*sky);
  ManagedJobFilter filter;
  filter.skip_finished = flags.skip_finished;
  if (!flags.all_users) filter.user = CurrentUserName();
  if (flags.refresh) {
    // A controller that died is started again: it adopts the unfinished jobs.
    if (!store->ListUnfinished().empty()) {
      EnsureJobsController(sky->options().state_dir, JobsControllerProgram(sky->options()));
    }
  }
  const auto jobs = store->List(filter);
  if (jobs.empty()) {
    std::cout << (flags.skip_finished ? "No in-progress managed jobs.\n" : "No managed jobs.\n");
    return 0;
  }
  size_t in_progress = 0;
  for (const auto& job : jobs) in_progress += IsTerminal(job.status) ? 0 : 1;
  std::cout << fmt::format("Managed jobs\nIn progress jobs: {}\n", in_progress)
            << FormatManagedJobQueue(jobs, NowSeconds()) << std::flush;
  return 0;
}

// -------------------------------------------------------------------- logs

int64_t ResolveOne(ManagedJobStore& store, std::optional<int64_t> job_id, const std::string& name) {
  if (job_id && !name.empty()) throw InvalidTaskError("give a job ID or -n NAME, not both.");
  if (job_id) return *job_id;
  ManagedJobFilter filter;
  if (!name.empty()) filter.names = {name};
  filter.limit = 1;
  const auto jobs = store.List(filter);
  if (jobs.empty()) {
    throw JobNotFoundError(name.empty() ? std::string("No managed jobs.")
                                        : fmt::format("No managed job named '{}'.", name));
  }
  return jobs.front().job_id;
}

int JobsLogs(const JobsLogsFlags& flags) {
  auto sky = OpenSky();
  auto store = OpenJobStore(*sky);
  const int64_t job_id = ResolveOne(*store, flags.job_id, flags.name);
  StdoutSink out;
  const ManagedJob job = TailManagedJobLogs(*sky, job_id, !flags.no_follow, flags.controller, out);
  if (!flags.no_follow) {
    std::cerr << fmt::format("Managed job {}: {}\n", job.job_id, ManagedJobStatusName(job.status));
    return ExitCodeOf(job.status);
  }
  return 0;
}

// ------------------------------------------------------------------ cancel

int JobsCancel(const JobsCancelFlags& flags) {
  const int given =
      (!flags.job_ids.empty() ? 1 : 0) + (!flags.name.empty() ? 1 : 0) + (flags.all ? 1 : 0);
  if (given != 1) {
    throw InvalidTaskError("give job IDs, -n NAME or -a/--all (exactly one of them).");
  }
  auto sky = OpenSky();
  auto store = OpenJobStore(*sky);
  std::vector<int64_t> ids = flags.job_ids;
  if (!flags.name.empty() || flags.all) {
    ManagedJobFilter filter;
    filter.skip_finished = true;
    if (!flags.name.empty()) filter.names = {flags.name};
    if (flags.all) filter.user = CurrentUserName();
    for (const auto& job : store->List(filter)) ids.push_back(job.job_id);
    if (ids.empty()) {
      std::cout << "No managed jobs to cancel.\n";
      return 0;
    }
  }
  if (!flags.yes && !Confirm(fmt::format("Cancelling managed job{} {}. Proceed?",
                                         ids.size() == 1 ? "" : "s", fmt::join(ids, ", ")))) {
    std::cerr << "Aborted!\n";
    return 1;
  }
  std::map<int64_t, ManagedJobStatus> before;
  for (int64_t id : ids) {
    if (auto job = store->Get(id)) before[id] = job->status;
  }
  for (const auto& job : CancelManagedJobs(*sky, ids)) {
    if (IsTerminal(before[job.job_id])) {
      std::cout << fmt::format("Managed job {} already finished ({}).\n", job.job_id,
                               ManagedJobStatusName(job.status));
    } else if (job.status == ManagedJobStatus::kCancelled) {
      std::cout << fmt::format("Managed job {} cancelled.\n", job.job_id);
    } else {
      std::cout << fmt::format("Cancelling managed job {}.\n", job.job_id);
    }
  }
  return 0;
}

int RunController(const ControllerFlags& flags) {
  JobsControllerOptions options;
  options.sky = SkyOptions::FromEnvironment(LookupEnv);
  if (!flags.state_dir.empty()) options.sky.state_dir = flags.state_dir;
  if (flags.max_active) options.max_active = *flags.max_active;
  ReadJobsControllerEnvironment(options);
  const int code = RunJobsController(options);
  if (code == 3) std::cerr << "another managed-jobs controller runs for this state directory\n";
  return code;
}

}  // namespace

std::function<std::optional<int>()> AddManagedJobCommands(
    CLI::App& app, std::shared_ptr<const Invocation> invocation) {
  CLI::App* jobs = app.add_subcommand(
      "jobs",
      "Managed jobs: tasks that run to completion on a cluster of their own.\n\n"
      "`sky jobs launch` queues a task; a controller on this machine (started on first use, "
      "surviving the `sky` command) launches a cluster for it, follows it, records how it "
      "ended and tears the cluster down. Jobs start by priority, then in submission order.");
  jobs->require_subcommand(0, 1);

  auto launch_flags = std::make_shared<JobsLaunchFlags>();
  CLI::App* launch = jobs->add_subcommand(
      "launch",
      "Queue a task as a managed job.\n\n"
      "ENTRYPOINT is a task YAML, or a command (`sky jobs launch -- python train.py`). The task "
      "is checked first (its YAML, and that some enabled infra can run it): a task that fails "
      "is recorded as FAILED_PRECHECKS with the error `sky launch` would give. Unless -d, the "
      "job's output is followed until it ends and the command exits 0 when it SUCCEEDED, 100 "
      "when it failed, 103 when it was cancelled.");
  launch
      ->add_option("entrypoint", launch_flags->task.entrypoint,
                   "Task YAML file, or a command to run")
      ->expected(0, -1);
  AddTaskOptions(*launch, launch_flags->task);
  launch->add_option("--priority", launch_flags->task.priority,
                     "Priority from -1000 to 1000 (default 0, or the task's "
                     "resources.priority): higher starts first; equal ones in submission order");
  launch->add_flag("-y,--yes", launch_flags->yes, "Skip the confirmation prompt");
  launch->add_flag("-d,--detach-run", launch_flags->detach_run,
                   "Return once the job is queued; do not follow its output");

  auto queue_flags = std::make_shared<JobsQueueFlags>();
  CLI::App* queue = jobs->add_subcommand(
      "queue",
      "Show managed jobs, newest first.\n\n"
      "TOT. DURATION runs from submission to the end; JOB DURATION counts only the time the "
      "task ran (not provisioning or recovery). DETAILS says why a job failed.");
  queue->add_flag("-a,--all", queue_flags->all, "Show every column (all are shown already)");
  queue->add_flag("-r,--refresh", queue_flags->refresh,
                  "Start the controller again if it is not running and jobs are unfinished");
  queue->add_flag("-s,--skip-finished", queue_flags->skip_finished,
                  "Show only jobs that have not finished");
  queue->add_flag("-u,--all-users", queue_flags->all_users, "Show every user's jobs");

  auto logs_flags = std::make_shared<JobsLogsFlags>();
  CLI::App* logs = jobs->add_subcommand(
      "logs",
      "Show a managed job's output (the latest job's without an ID).\n\n"
      "Follows the output until the job ends, then exits as `sky jobs launch` does. "
      "--controller shows what the controller did for the job instead (launches, teardowns).");
  logs->add_option("job_id", logs_flags->job_id, "Managed job ID");
  logs->add_option("-n,--name", logs_flags->name, "The latest managed job of this name");
  logs->add_flag("--controller", logs_flags->controller, "Show the controller's log of the job");
  logs->add_flag("--no-follow", logs_flags->no_follow,
                 "Print the output so far and return (default: follow it until the job ends)");
  logs->add_flag("--follow", logs_flags->follow)->group("");  // the default, as SkyPilot's

  auto cancel_flags = std::make_shared<JobsCancelFlags>();
  CLI::App* cancel = jobs->add_subcommand(
      "cancel",
      "Cancel managed jobs.\n\n"
      "A PENDING job is cancelled at once and never launched; a started one becomes "
      "CANCELLING while the controller stops it and tears its cluster down, then CANCELLED.");
  cancel->add_option("job_ids", cancel_flags->job_ids, "Managed job IDs");
  cancel->add_option("-n,--name", cancel_flags->name, "Cancel the unfinished jobs of this name");
  cancel->add_flag("-a,--all", cancel_flags->all, "Cancel all your unfinished managed jobs");
  cancel->add_flag("-y,--yes", cancel_flags->yes, "Skip the confirmation prompt");

  auto controller_flags = std::make_shared<ControllerFlags>();
  CLI::App* controller =
      jobs->add_subcommand("controller", "Run the managed-jobs controller (started on demand)");
  controller->group("");  // hidden: `sky jobs launch` starts it
  controller->add_option("--state-dir", controller_flags->state_dir, "The state directory");
  controller->add_option("--max-active", controller_flags->max_active,
                         "At most this many jobs active at once");

  for (CLI::App* command : {jobs, launch, queue, logs, cancel}) SplitHelp(*command);

  return [=]() -> std::optional<int> {
    if (launch->parsed()) return JobsLaunch(*launch_flags, *invocation);
    if (queue->parsed()) return JobsQueue(*queue_flags);
    if (logs->parsed()) return JobsLogs(*logs_flags);
    if (cancel->parsed()) return JobsCancel(*cancel_flags);
    if (controller->parsed()) return RunController(*controller_flags);
    if (jobs->parsed()) {
      std::cout << jobs->help();
      return 0;
    }
    return std::nullopt;
  };
}

}  // namespace skycore::cli
