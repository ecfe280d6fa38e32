#include "agent/agent_core.h"

#include <fmt/format.h>
#include <signal.h>

#include <boost/asio/post.hpp>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "agent/agent_core_internal.h"
#include "agent/protocol.h"
#include "common/files.h"
#include "skycore/error.h"

extern char** environ;

namespace skycore::agent {
namespace fs = std::filesystem;

AgentCore::AgentCore(boost::asio::io_context& io, AgentOptions options,
                     std::unique_ptr<RankLauncher> launcher, Clock clock)
    : io_(io),
      options_(std::move(options)),
      launcher_(std::move(launcher)),
      clock_(std::move(clock)),
      table_((files::EnsurePrivateDir(options_.state_dir), options_.state_dir + "/jobs.db")),
      book_(options_.node_spec),
      capacity_(options_.node_spec) {
  for (char** entry = environ; entry && *entry; ++entry) base_env_.emplace_back(*entry);
  try {
    files::EnsurePrivateDir(options_.log_root + "/sky_logs");  // the jobs' logs are private
  } catch (const IoError&) {
    // Each job's log directory is created (or not) when it starts, as before.
  }
  if (auto saved = table_.GetMeta("autostop")) {
    auto value = nlohmann::json::parse(*saved, nullptr, false);
    if (value.is_object()) {
      autostop_ = AutostopFromJson(value);
      autostop_set_at_ = value.value("set_at", 0.0);
    }
  }
  Recover();
}

AgentCore::~AgentCore() = default;

namespace {

// Appends `text` to the run.log of the job whose logs are in `log_dir`.
void AppendNote(const std::string& log_dir, const std::string& text) {
  std::error_code error;
  fs::create_directories(log_dir, error);
  int fd = OpenAppend(log_dir + "/run.log");
  WriteAll(fd, text.data(), text.size());
  if (fd >= 0) ::close(fd);
}

}  // namespace

void AgentCore::Recover() {
  double now = clock_();
  for (auto& record : table_.LoadAll()) {
    if ((record.status == JobStatus::kInit || record.status == JobStatus::kPending) &&
        table_.SecretsLost(table_.LoadSpec(record.job_id), record.job_id)) {
      // Secrets live only in the memory of the agent they were given to.
      record.status = JobStatus::kFailedDriver;
      record.end_at = now;
      table_.Update(record);
      AppendNote(record.log_dir,
                 "skyletd restarted while this job was pending; its secrets were held only in "
                 "the memory of the previous skyletd (never on disk), so it cannot start: marked "
                 "FAILED_DRIVER. Submit it again.\n");
    } else if (record.status == JobStatus::kInit || record.status == JobStatus::kPending) {
      record.status = JobStatus::kPending;
      pending_.emplace(-record.priority, record.job_id);
    } else if (record.status == JobStatus::kSettingUp || record.status == JobStatus::kRunning) {
      // The agent was the job's driver: whatever it left running is unsupervised.
      int survivors = 0;
      for (const auto& rank : record.ranks) {
        if (ProcessAlive(rank.pid, rank.start_ticks)) {
          launcher_->SignalGroup(rank.pid, SIGKILL);
          ++survivors;
        }
      }
      record.status = JobStatus::kFailedDriver;
      record.end_at = now;
      table_.Update(record);
      AppendNote(record.log_dir,
                 fmt::format("skyletd restarted and found this job without its driver ({} rank "
                             "process(es) still alive were killed); marked FAILED_DRIVER.\n",
                             survivors));
    }
    records_.emplace(record.job_id, std::move(record));
  }
  UpdateIdle();
  Schedule();
}

std::string AgentCore::NewRunTimestamp() {
  auto now_us = static_cast<int64_t>(clock_() * 1e6);
  // Strictly increasing, so that two jobs submitted within a microsecond still
  // get their own log directories.
  last_timestamp_us_ = std::max(now_us, last_timestamp_us_ + 1);
  time_t seconds = static_cast<time_t>(last_timestamp_us_ / 1000000);
  std::tm local{};
  ::localtime_r(&seconds, &local);
  char text[64];
  std::strftime(text, sizeof(text), "%Y-%m-%d-%H-%M-%S", &local);
  return fmt::format("sky-{}-{:06d}", text, last_timestamp_us_ % 1000000);
}

int64_t AgentCore::Submit(JobSpec spec) {
  if (spec.num_nodes < 1) throw InvalidTaskError("num_nodes must be at least 1");
  if (spec.cpus_per_node < 0 || spec.gpus_per_node < 0 || spec.memory_gib_per_node < 0) {
    throw InvalidTaskError("a job cannot reserve a negative amount of CPUs, GPUs or memory");
  }
  if (spec.gpus_per_node > 1 &&
      std::abs(spec.gpus_per_node - std::round(spec.gpus_per_node)) > 1e-9) {
    throw InvalidTaskError(fmt::format(
        "{} GPUs per node: only a fraction below 1 or a whole number of GPUs can be reserved",
        spec.gpus_per_node));
  }
  if (auto reason = capacity_.NeverFits(spec)) {
    throw ResourcesUnavailableError(
        fmt::format("cluster {}: {}; ask for less, or launch a larger cluster",
                    options_.node_spec.cluster_name, *reason));
  }
  if (spec.run_timestamp.empty()) spec.run_timestamp = NewRunTimestamp();
  if (spec.run_timestamp.find('/') != std::string::npos || spec.run_timestamp.front() == '.') {
    throw InvalidTaskError(
        fmt::format("run_timestamp '{}' is not a plain directory name", spec.run_timestamp));
  }
  JobRecord record;
  record.name = spec.name;
  record.username = spec.username;
  record.status = JobStatus::kPending;
  record.priority = spec.priority;
  record.num_nodes = spec.num_nodes;
  record.resources = spec.resources;
  record.submitted_at = clock_();
  record.log_dir = options_.log_root + "/sky_logs/" + spec.run_timestamp;
  record.job_id = table_.Insert(spec, record.submitted_at, record.log_dir);
  int64_t job_id = record.job_id;
  pending_.emplace(-record.priority, job_id);
  records_.emplace(job_id, std::move(record));
  UpdateIdle();
  Schedule();
  return job_id;
}

const JobRecord& AgentCore::Get(int64_t job_id) const {
  auto it = records_.find(job_id);
  if (it == records_.end()) {
    throw JobNotFoundError(
        fmt::format("job {} does not exist on cluster {}; `sky queue {}` "
                    "lists its jobs",
                    job_id, options_.node_spec.cluster_name, options_.node_spec.cluster_name));
  }
  return it->second;
}

int64_t AgentCore::LatestJobId() const {
  if (records_.empty()) {
    throw JobNotFoundError(
        fmt::format("cluster {} has no jobs yet", options_.node_spec.cluster_name));
  }
  return records_.rbegin()->first;
}

std::string AgentCore::RunLogPath(int64_t job_id) const { return Get(job_id).log_dir + "/run.log"; }

void AgentCore::SetStatus(JobRecord& record, JobStatus status) { record.status = status; }

void AgentCore::Schedule() {
  // Strict FIFO within priority: the head waits for room and nothing passes it,
  // so a large job is never starved by a stream of small ones.
  while (!pending_.empty() && !shutting_down_) {
    int64_t job_id = pending_.begin()->second;
    JobSpec spec = table_.LoadSpec(job_id);
    auto allocations = book_.TryReserve(spec);
    if (!allocations) return;
    pending_.erase(pending_.begin());
    StartJob(job_id, std::move(*allocations));
  }
}

void AgentCore::Finish(int64_t job_id) {
  auto it = active_.find(job_id);
  if (it == active_.end()) return;
  ActiveJob& job = *it->second;
  if (job.final_status != JobStatus::kSucceeded) {
    // Whatever the ranks left behind in their groups goes with them.
    for (const auto& rank : job.ranks) {
      if (rank->pid > 0) launcher_->SignalGroup(rank->pid, SIGKILL);
    }
  }
  JobRecord& record = records_.at(job_id);
  if (record.status != JobStatus::kCancelled) record.status = job.final_status;
  record.exit_code = job.final_exit_code;
  record.end_at = clock_();
  table_.Update(record);
  book_.Release(job.allocations);
  if (job.kill_timer) job.kill_timer->cancel();
  active_.erase(it);
  UpdateIdle();
  // Not inline: Finish may run inside Schedule (a job that could not start).
  boost::asio::post(io_, [this] { Schedule(); });
}

std::vector<int64_t> AgentCore::Cancel(const std::vector<int64_t>& job_ids) {
  for (int64_t job_id : job_ids) Get(job_id);  // all or nothing on unknown ids
  std::vector<int64_t> cancelled;
  for (int64_t job_id : job_ids) {
    JobRecord& record = records_.at(job_id);
    if (IsTerminal(record.status)) continue;
    cancelled.push_back(job_id);
    record.status = JobStatus::kCancelled;
    auto active = active_.find(job_id);
    if (active == active_.end()) {
      pending_.erase({-record.priority, job_id});
      table_.ForgetSecrets(job_id);
      record.end_at = clock_();
      table_.Update(record);
      continue;
    }
    table_.Update(record);
    ActiveJob& job = *active->second;
    AppendToRunLog(job, "Job cancelled.\n");
    StopRanks(job, JobStatus::kCancelled, -1);
    if (job.AllExited()) Finish(job_id);
  }
  UpdateIdle();
  boost::asio::post(io_, [this] { Schedule(); });
  return cancelled;
}

std::vector<int64_t> AgentCore::CancelAll() {
  std::vector<int64_t> unfinished;
  for (const auto& [job_id, record] : records_) {
    if (!IsTerminal(record.status)) unfinished.push_back(job_id);
  }
  return Cancel(unfinished);
}

void AgentCore::UpdateIdle() {
  bool busy = !pending_.empty() || !active_.empty();
  if (busy) {
    idle_since_ = 0;
  } else if (idle_since_ == 0) {
    idle_since_ = clock_();
  }
}

AutostopStatus AgentCore::Autostop() const {
  AutostopStatus status = autostop_;
  double now = clock_();
  if (status.wait_for == "none") {
    status.is_idle = true;
    status.idle_since = autostop_set_at_;
  } else {
    status.is_idle = idle_since_ > 0;
    status.idle_since = status.is_idle ? std::max(idle_since_, autostop_set_at_) : 0;
  }
  status.idle_for_s = status.is_idle ? std::max(0.0, now - status.idle_since) : 0;
  return status;
}

void AgentCore::SetAutostop(int idle_minutes, bool down, const std::string& wait_for) {
  if (wait_for != "jobs" && wait_for != "none") {
    throw InvalidSkyPilotConfigError(
        fmt::format("autostop wait_for '{}' is not supported; use 'jobs' or 'none'", wait_for));
  }
  autostop_.idle_minutes = idle_minutes < 0 ? -1 : idle_minutes;
  autostop_.down = down;
  autostop_.wait_for = wait_for;
  autostop_.triggered = false;
  autostop_set_at_ = clock_();
  auto saved = AutostopToJson(autostop_);
  saved["set_at"] = autostop_set_at_;
  table_.SetMeta("autostop", saved.dump());
}

void AgentCore::CheckAutostop() {
  if (autostop_.idle_minutes < 0 || autostop_.triggered) return;
  AutostopStatus status = Autostop();
  if (!status.is_idle || status.idle_for_s < autostop_.idle_minutes * options_.autostop_minute_s)
    return;
  autostop_.triggered = true;
  auto saved = AutostopToJson(autostop_);
  saved["set_at"] = autostop_set_at_;
  table_.SetMeta("autostop", saved.dump());
  status.triggered = true;
  if (autostop_hook_) autostop_hook_(status);
}

void AgentCore::Shutdown() {
  shutting_down_ = true;
  for (auto& [job_id, job] : active_) {
    if (!job->stopping) {
      AppendToRunLog(*job, "skyletd is stopping: the job's driver goes with it.\n");
      StopRanks(*job, JobStatus::kFailedDriver, -1);
    }
  }
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(static_cast<int64_t>(options_.kill_grace_s * 1000));
  while (!active_.empty() && std::chrono::steady_clock::now() < deadline) {
    ReapChildren();
    FinishExitedJobs();
    if (!active_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  while (!active_.empty()) {
    for (auto& [job_id, job] : active_) {
      for (const auto& rank : job->ranks) {
        if (!rank->exited) launcher_->SignalGroup(rank->pid, SIGKILL);
      }
    }
    ReapChildren();
    FinishExitedJobs();
    if (!active_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void AgentCore::FinishExitedJobs() {
  // A rank reaped just before the stop signal had its exit handling posted
  // to the event loop, which no longer runs: handle it here, or the job
  // would stay active and the shutdown would wait for it forever.
  std::vector<int64_t> exited;
  for (const auto& [job_id, job] : active_) {
    if (job->AllExited()) exited.push_back(job_id);
  }
  for (int64_t job_id : exited) {
    for (size_t rank = 0; active_.count(job_id) > 0; ++rank) {
      if (rank >= active_.at(job_id)->ranks.size()) {
        Finish(job_id);  // all drained and still here: nothing else will end it
        break;
      }
      AfterRankExit(job_id, rank);
    }
  }
}

}  // namespace skycore::agent
