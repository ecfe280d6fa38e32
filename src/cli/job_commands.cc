#include "cli/job_commands.h"

#include <fmt/format.h>

#include <iostream>

#include "cli/display.h"
#include "cli/interrupt.h"
#include "cli/invocation.h"
#include "cli/terminal.h"
#include "common/strings.h"
#include "skycore/skycore.h"

namespace skycore::cli {
namespace {

struct QueueFlags {
  std::vector<std::string> clusters;
  bool skip_finished = false;
  bool all_users = false;
  std::string output = "table";  // or "json": {cluster: [job, ...]}, as SkyPilot's
};

struct LogsFlags {
  std::string cluster;
  std::vector<int64_t> job_ids;
  bool no_follow = false;
  bool status = false;
  bool sync_down = false;
};

struct CancelFlags {
  std::string cluster;
  std::vector<int64_t> job_ids;
  bool all = false;
  bool yes = false;
};

// The clusters a name or glob stands for; a plain name is returned as is (the
// SDK reports a missing one).
std::vector<std::string> ExpandClusterNames(Sky& sky, const std::string& name_or_glob) {
  if (!IsGlob(name_or_glob)) return {name_or_glob};
  std::vector<std::string> names;
  for (const auto& record : sky.Status({name_or_glob})) names.push_back(record.name);
  return names;
}

// ------------------------------------------------------------------ queue

std::string FormatJobQueue(const std::vector<JobRecord>& jobs, double now_s) {
  const bool fancy = FancyStdout();
  std::vector<std::vector<std::string>> rows = {
      {"ID", "NAME", "USER", "SUBMITTED", "STARTED", "DURATION", "RESOURCES", "STATUS", "LOG"}};
  for (const auto& job : jobs) {
    const double end_s = job.end_at > 0 ? job.end_at : now_s;
    rows.push_back({std::to_string(job.job_id), job.name.empty() ? "-" : job.name,
                    job.username.empty() ? "-" : job.username, TimeAgo(job.submitted_at, now_s),
                    TimeAgo(job.start_at, now_s), Duration(job.start_at, end_s),
                    job.resources.empty() ? "-" : job.resources,
                    ColoredStatus(JobStatusName(job.status), fancy),
                    job.log_dir.empty() ? "-" : TildePath(job.log_dir)});
  }
  return FormatTable(rows);
}

int Queue(const QueueFlags& flags) {
  auto sky = OpenSky();
  const bool fancy_err = FancyStderr();
  const bool as_json = strings::Lower(flags.output) == "json";
  if (!as_json) {
    std::cerr << Style("Fetching and parsing job queue...", kCyan, fancy_err) << std::endl;
  }
  std::vector<std::string> clusters;
  if (flags.clusters.empty()) {
    for (const auto& record : sky->Status()) clusters.push_back(record.name);
  } else {
    for (const auto& name : flags.clusters) {
      for (auto& match : ExpandClusterNames(*sky, name)) clusters.push_back(std::move(match));
    }
  }
  if (clusters.empty() && !as_json) {
    std::cout << "No existing clusters.\n";
    return 0;
  }
  if (!as_json) {
    std::cerr << "Fetching job queue for: " << fmt::format("{}", fmt::join(clusters, ", "))
              << std::endl;
  }
  const std::string user_str = flags.all_users ? "all users" : "current user";
  int exit_code = 0;
  nlohmann::json records = nlohmann::json::object();
  for (const auto& cluster : clusters) {
    try {
      const auto jobs = sky->Queue(cluster, /*all=*/!flags.skip_finished);
      if (as_json) {
        auto& list = records[cluster] = nlohmann::json::array();
        for (const auto& job : jobs) list.push_back(JobRecordToJson(job));
        continue;
      }
      std::cout << fmt::format("\nJob queue of {} on cluster {}\n", user_str, cluster)
                << FormatJobQueue(jobs, NowSeconds()) << std::flush;
    } catch (const CancelledError&) {
      throw;
    } catch (const Error& e) {
      // JSON on stdout stays parseable: the failure goes to stderr.
      (as_json ? std::cerr : std::cout)
          << fmt::format(
                 "{}\n  {}\n",
                 Style(fmt::format("Failed to get the job queue for cluster '{}'.", cluster),
                       kYellow, FancyStdout()),
                 e.what())
          << std::flush;
      // A cluster the user named explicitly that cannot be queried is an error;
      // one of "all clusters" that is stopped is not.
      if (!flags.clusters.empty()) exit_code = 1;
    }
  }
  if (as_json) std::cout << records.dump(2) << std::endl;
  return exit_code;
}

// ------------------------------------------------------------------- logs

int LogsStatus(Sky& sky, const LogsFlags& flags) {
  std::vector<JobRecord> jobs;
  try {
    jobs = sky.JobStatuses(flags.cluster, flags.job_ids);
  } catch (const JobNotFoundError& e) {
    std::cout << Style(e.message(), kRed, FancyStdout()) << "\n";
    return kExitJobNotFound;
  }
  if (jobs.empty()) {
    std::cout << Style(fmt::format("No job found on cluster '{}'.", flags.cluster), kRed,
                       FancyStdout())
              << "\n";
    return kExitJobNotFound;
  }
  const JobRecord& job = jobs.front();
  std::cout << fmt::format("Job {}: {}\n", job.job_id, JobStatusName(job.status));
  return JobStatusExitCode(job.status);
}

int LogsSyncDown(Sky& sky, const LogsFlags& flags) {
  std::vector<std::optional<int64_t>> ids;
  if (flags.job_ids.empty()) ids.push_back(std::nullopt);
  for (int64_t id : flags.job_ids) ids.push_back(id);
  for (const auto& id : ids) {
    const auto path = sky.DownloadLogs(flags.cluster, id);
    std::cout << Style(fmt::format("Job {} logs: {}", id ? std::to_string(*id) : "(latest)",
                                   TildePath(path.string())),
                       kCyan, FancyStdout())
              << "\n";
  }
  return 0;
}

int Logs(const LogsFlags& flags) {
  if (flags.status && flags.sync_down) {
    throw InvalidTaskError(
        "Both --sync-down and --status are specified (ambiguous). To fix: specify at most one "
        "of them.");
  }
  if (flags.job_ids.size() > 1 && !flags.sync_down) {
    throw InvalidTaskError(fmt::format(
        "Cannot stream logs of multiple jobs (IDs: {}). Pass -s/--sync-down to download the "
        "logs instead.",
        fmt::join(flags.job_ids, ", ")));
  }
  auto sky = OpenSky();
  if (flags.status) return LogsStatus(*sky, flags);
  if (flags.sync_down) return LogsSyncDown(*sky, flags);

  std::optional<int64_t> job_id;
  if (!flags.job_ids.empty()) job_id = flags.job_ids.front();
  const std::string job_str = job_id ? fmt::format("job {}", *job_id) : "the last job";
  std::cerr << Style(fmt::format("Tailing logs of {} on cluster '{}'...", job_str, flags.cluster),
                     kYellow, FancyStderr())
            << std::endl;
  CancelToken cancel;
  InterruptGuard guard(cancel);
  TerminalSink sink;
  JobStatus status;
  try {
    status = sky->TailLogs(flags.cluster, job_id, !flags.no_follow, sink, cancel);
  } catch (const CancelledError&) {
    sink.Message("Interrupted: stopped following the logs; the job keeps running.");
    return kExitInterrupted;
  }
  if (guard.interrupted()) {
    sink.Message("Interrupted: stopped following the logs; the job keeps running.");
    return kExitInterrupted;
  }
  return JobStatusExitCode(status);
}

// ----------------------------------------------------------------- cancel

int Cancel(const CancelFlags& flags) {
  auto sky = OpenSky();
  const auto clusters = ExpandClusterNames(*sky, flags.cluster);
  if (clusters.empty()) {
    throw ClusterDoesNotExist(fmt::format("No clusters match pattern: '{}'.", flags.cluster));
  }
  if (clusters.size() > 1 && !flags.job_ids.empty()) {
    throw InvalidTaskError(fmt::format(
        "Cannot specify job IDs when cluster pattern matches multiple clusters. Pattern '{}' "
        "matches: {}",
        flags.cluster, fmt::join(clusters, ", ")));
  }
  std::string identity;
  if (flags.job_ids.empty() && !flags.all) {
    std::cerr << Style("No job IDs or --all provided; cancelling the latest running job.", kYellow,
                       FancyStderr())
              << "\n";
    identity = "the latest running job";
  } else {
    if (flags.all) identity = "all your jobs";
    if (!flags.job_ids.empty()) {
      identity += fmt::format("{}job{} {}", identity.empty() ? "" : " and ",
                              flags.job_ids.size() > 1 ? "s" : "", fmt::join(flags.job_ids, " "));
    }
  }
  identity += fmt::format(" on cluster(s): {}", fmt::join(clusters, ", "));
  if (!flags.yes && !Confirm(fmt::format("Cancelling {}. Proceed?", identity))) {
    std::cerr << "Aborted!\n";
    return 1;
  }
  for (const auto& cluster : clusters) {
    const auto cancelled = sky->Cancel(cluster, flags.job_ids, flags.all);
    if (cancelled.empty()) {
      std::cout << fmt::format("No jobs to cancel on cluster '{}'.\n", cluster);
    } else {
      std::cout << Style(fmt::format("Cancelled job ID{} on cluster '{}': {}.",
                                     cancelled.size() > 1 ? "s" : "", cluster,
                                     fmt::join(cancelled, ", ")),
                         kGreen, FancyStdout())
                << "\n";
    }
  }
  return 0;
}

}  // namespace

std::function<std::optional<int>()> AddJobCommands(CLI::App& app) {
  auto queue_flags = std::make_shared<QueueFlags>();
  CLI::App* queue = app.add_subcommand(
      "queue", "Show the job queue of clusters (all clusters when none is named).");
  queue->add_option("clusters", queue_flags->clusters, "Cluster names or glob patterns");
  queue->add_flag("-s,--skip-finished", queue_flags->skip_finished,
                  "Show only pending and running jobs");
  queue->add_flag("-u,--all-users", queue_flags->all_users, "Show the jobs of all users");
  queue
      ->add_option("-o,--output", queue_flags->output,
                   "table, or json: {cluster: [job, ...]} [default: table]")
      ->check(CLI::IsMember({"table", "json"}, CLI::ignore_case));

  auto logs_flags = std::make_shared<LogsFlags>();
  CLI::App* logs = app.add_subcommand(
      "logs",
      "Tail the log of a job (the latest job when no JOB_ID is given).\n\n"
      "With --status, print the job's status and exit with 0 when it SUCCEEDED, 100 when it "
      "failed, 101 when it has not finished, 102 when there is no such job and 103 when it was "
      "cancelled. With --sync-down, download the logs to ~/sky_logs.");
  logs->add_option("cluster", logs_flags->cluster, "Cluster name")->required();
  logs->add_option("job_ids", logs_flags->job_ids, "Job ID (several with --sync-down)");
  logs->add_flag("--no-follow", logs_flags->no_follow,
                 "Print the log so far and exit [default: follow]");
  logs->add_flag(
      "--follow", [flags = logs_flags](int64_t) { flags->no_follow = false; },
      "Follow the log until the job finishes (the default)");
  logs->add_flag("--status", logs_flags->status,
                 "Do not show logs; exit with a code for the job's status (0: succeeded)");
  logs->add_flag("-s,--sync-down", logs_flags->sync_down,
                 "Download the job's logs to the local machine");

  auto cancel_flags = std::make_shared<CancelFlags>();
  CLI::App* cancel = app.add_subcommand(
      "cancel",
      "Cancel jobs on a cluster: the given JOB_IDS, all jobs (-a), or the latest running job.");
  cancel->add_option("cluster", cancel_flags->cluster, "Cluster name or glob pattern")->required();
  cancel->add_option("job_ids", cancel_flags->job_ids, "Job IDs (see `sky queue`)");
  cancel->add_flag("-a,--all", cancel_flags->all, "Cancel all your jobs on the cluster");
  cancel->add_flag("-y,--yes", cancel_flags->yes, "Skip the confirmation prompt");

  SplitHelp(*logs);

  return [=]() -> std::optional<int> {
    if (queue->parsed()) return Queue(*queue_flags);
    if (logs->parsed()) return Logs(*logs_flags);
    if (cancel->parsed()) return Cancel(*cancel_flags);
    return std::nullopt;
  };
}

}  // namespace skycore::cli
