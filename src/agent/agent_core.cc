#include "agent/agent_core.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "agent/protocol.h"
#include "common/files.h"
#include "skycore/error.h"

extern char** environ;

namespace skycore::agent {
namespace fs = std::filesystem;

namespace {

std::string RankName(size_t rank) { return rank == 0 ? "head" : fmt::format("worker{}", rank); }

void WriteAll(int fd, const char* data, size_t size) {
  while (size > 0 && fd >= 0) {
    ssize_t written = ::write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      return;  // a full disk must not stop the job; the rank's output is lost
    }
    data += written;
    size -= static_cast<size_t>(written);
  }
}

int OpenAppend(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

// Appends `text` to the run.log of the job whose logs are in `log_dir`.
void AppendNote(const std::string& log_dir, const std::string& text) {
  std::error_code error;
  fs::create_directories(log_dir, error);
  int fd = OpenAppend(log_dir + "/run.log");
  WriteAll(fd, text.data(), text.size());
  if (fd >= 0) ::close(fd);
}

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

struct AgentCore::RankRuntime {
  size_t rank = 0;
  int pid = 0;
  uint64_t start_ticks = 0;
  bool exited = true;
  int exit_code = 0;
  std::optional<std::string> node_lost;  // why, when the rank's transport failed
  std::unique_ptr<boost::asio::posix::stream_descriptor> output;
  std::array<char, 16384> buffer{};
  std::string partial_line;  // run.log prefixes whole lines when the job has several ranks
  int rank_log_fd = -1;
  ~RankRuntime() {
    if (rank_log_fd >= 0) ::close(rank_log_fd);
  }
};

struct AgentCore::ActiveJob {
  int64_t job_id = 0;
  JobSpec spec;
  std::vector<RankAllocation> allocations;
  bool in_setup = false;
  std::vector<std::shared_ptr<RankRuntime>> ranks;
  int run_log_fd = -1;
  bool stopping = false;
  JobStatus final_status = JobStatus::kSucceeded;
  int final_exit_code = 0;
  std::unique_ptr<boost::asio::steady_timer> kill_timer;
  ~ActiveJob() {
    if (run_log_fd >= 0) ::close(run_log_fd);
  }
  bool AllExited() const {
    for (const auto& rank : ranks) {
      if (!rank->exited) return false;
    }
    return true;
  }
};

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

void AgentCore::StartJob(int64_t job_id, std::vector<RankAllocation> allocations) {
  auto job = std::make_unique<ActiveJob>();
  job->job_id = job_id;
  job->spec = table_.LoadSpec(job_id);
  table_.ForgetSecrets(job_id);  // the job holds them now, in memory too
  job->allocations = std::move(allocations);
  JobRecord& record = records_.at(job_id);
  std::error_code error;
  fs::create_directories(record.log_dir + "/tasks", error);
  job->run_log_fd = OpenAppend(record.log_dir + "/run.log");
  for (size_t rank = 0; rank < job->allocations.size(); ++rank) {
    auto runtime = std::make_shared<RankRuntime>();
    runtime->rank = rank;
    runtime->rank_log_fd =
        OpenAppend(fmt::format("{}/tasks/{}-{}.log", record.log_dir, rank, RankName(rank)));
    job->ranks.push_back(std::move(runtime));
  }
  record.start_at = clock_();
  job->in_setup = !job->spec.setup.empty();
  record.status = job->in_setup ? JobStatus::kSettingUp : JobStatus::kRunning;
  ActiveJob& started = *job;
  active_.emplace(job_id, std::move(job));
  if (!StartPhase(started, started.in_setup)) return;
  table_.Update(record);
}

bool AgentCore::StartPhase(ActiveJob& job, bool setup) {
  JobRecord& record = records_.at(job.job_id);
  const std::string& script = setup ? job.spec.setup : job.spec.run;
  record.ranks.clear();
  // Gang start: every rank is launched, or the ones already launched are
  // stopped and the job fails.
  for (size_t index = 0; index < job.ranks.size(); ++index) {
    RankRuntime& rank = *job.ranks[index];
    const NodeCapacity& node =
        options_.node_spec.nodes[static_cast<size_t>(job.allocations[index].node)];
    RankLaunchRequest request;
    request.script = script.empty() ? ":" : script;
    request.working_dir = node.workdir;
    request.env = RankEnvironment(job, index, setup);
    request.runner = node.runner;
    LaunchedRank launched;
    try {
      launched = launcher_->Launch(request);
    } catch (const Error& error) {
      AppendToRunLog(job, fmt::format("rank {} could not start: {}\n", index, error.message()));
      StopRanks(job, setup ? JobStatus::kFailedSetup : JobStatus::kFailed, -1);
      table_.Update(record);
      if (job.AllExited()) Finish(job.job_id);
      return false;
    }
    rank.pid = launched.pid;
    rank.start_ticks = launched.start_ticks;
    rank.exited = false;
    rank.exit_code = 0;
    rank.node_lost.reset();
    rank.partial_line.clear();
    rank.output = std::make_unique<boost::asio::posix::stream_descriptor>(io_, launched.output_fd);
    pid_to_rank_[launched.pid] = {job.job_id, index};
    record.ranks.push_back(RankProcess{static_cast<int>(index), job.allocations[index].node,
                                       launched.pid, launched.start_ticks});
    ReadOutput(job.ranks[index], job.job_id);
  }
  return true;
}

std::vector<std::string> AgentCore::RankEnvironment(const ActiveJob& job, size_t rank,
                                                    bool setup) const {
  std::map<std::string, std::string> env;
  for (const auto& entry : base_env_) {
    auto equals = entry.find('=');
    if (equals != std::string::npos) env[entry.substr(0, equals)] = entry.substr(equals + 1);
  }
  for (const auto& [key, value] : job.spec.envs) env[key] = value;
  for (const auto& [key, value] : job.spec.secrets) env[key] = value;
  const NodeSpec& nodes = options_.node_spec;
  const JobRecord& record = records_.at(job.job_id);
  env["SKYPILOT_NUM_NODES"] = std::to_string(job.ranks.size());
  env["SKYPILOT_NUM_GPUS_PER_NODE"] =
      std::to_string(static_cast<int>(std::ceil(job.spec.gpus_per_node - 1e-9)));
  env["SKYPILOT_TASK_ID"] = fmt::format("{}_{}_{}", fs::path(record.log_dir).filename().string(),
                                        nodes.cluster_name, job.job_id);
  env["SKYPILOT_CLUSTER_INFO"] = nodes.cluster_info_json;
  const RankAllocation& allocation = job.allocations[rank];
  if (setup) {
    // Setup addresses the cluster's nodes, whose ranks and IPs never change.
    std::string ips;
    for (const auto& node : nodes.nodes) ips += (ips.empty() ? "" : "\n") + node.ip;
    env["SKYPILOT_SETUP_NODE_RANK"] = std::to_string(allocation.node);
    env["SKYPILOT_SETUP_NODE_IPS"] = ips;
  } else {
    std::string ips;
    for (const auto& each : job.allocations) {
      ips += (ips.empty() ? "" : "\n") + nodes.nodes[static_cast<size_t>(each.node)].ip;
    }
    env["SKYPILOT_NODE_RANK"] = std::to_string(rank);
    env["SKYPILOT_NODE_IPS"] = ips;
    if (!allocation.gpus.empty()) {
      std::string devices;
      const auto& gpu_ids = nodes.nodes[static_cast<size_t>(allocation.node)].gpu_ids;
      for (const auto& [gpu, share] : allocation.gpus) {
        devices += (devices.empty() ? "" : ",") + std::to_string(gpu_ids[static_cast<size_t>(gpu)]);
      }
      env["CUDA_VISIBLE_DEVICES"] = devices;
    }
  }
  std::vector<std::string> entries;
  entries.reserve(env.size());
  for (const auto& [key, value] : env) entries.push_back(key + "=" + value);
  return entries;
}

void AgentCore::ReadOutput(const std::shared_ptr<RankRuntime>& rank, int64_t job_id) {
  if (!rank->output) return;
  rank->output->async_read_some(
      boost::asio::buffer(rank->buffer),
      [this, rank, job_id](const boost::system::error_code& error, size_t size) {
        if (error || !rank->output) return;  // EOF, or closed by DrainOutput
        auto it = active_.find(job_id);
        if (it == active_.end()) return;
        WriteOutput(*it->second, *rank, rank->buffer.data(), size);
        ReadOutput(rank, job_id);
      });
}

void AgentCore::WriteOutput(ActiveJob& job, RankRuntime& rank, const char* data, size_t size) {
  WriteAll(rank.rank_log_fd, data, size);
  if (job.ranks.size() == 1) {
    WriteAll(job.run_log_fd, data, size);
    return;
  }
  rank.partial_line.append(data, size);
  size_t start = 0;
  std::string lines;
  for (size_t newline; (newline = rank.partial_line.find('\n', start)) != std::string::npos;
       start = newline + 1) {
    lines += fmt::format("({}, rank={}, pid={}) ", RankName(rank.rank), rank.rank, rank.pid);
    lines.append(rank.partial_line, start, newline + 1 - start);
  }
  rank.partial_line.erase(0, start);
  WriteAll(job.run_log_fd, lines.data(), lines.size());
}

void AgentCore::DrainOutput(ActiveJob& job, RankRuntime& rank) {
  if (!rank.output) return;
  // The rank has exited: take what is left in the pipe now. A background
  // process that still holds the pipe loses its later output.
  char buffer[16384];
  for (;;) {
    ssize_t size = ::read(rank.output->native_handle(), buffer, sizeof(buffer));
    if (size <= 0) break;
    WriteOutput(job, rank, buffer, static_cast<size_t>(size));
  }
  if (!rank.partial_line.empty()) WriteOutput(job, rank, "\n", 1);
  boost::system::error_code ignored;
  rank.output->close(ignored);
  rank.output.reset();
}

void AgentCore::AppendToRunLog(ActiveJob& job, const std::string& text) {
  WriteAll(job.run_log_fd, text.data(), text.size());
}

void AgentCore::ReapChildren() {
  int status = 0;
  pid_t pid;
  while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
    auto it = pid_to_rank_.find(pid);
    if (it == pid_to_rank_.end()) continue;  // e.g. an autostop hook
    auto [job_id, rank] = it->second;
    pid_to_rank_.erase(it);
    OnRankExit(job_id, rank, launcher_->Reaped(pid, DecodeWaitStatus(status)));
  }
}

void AgentCore::OnRankExit(int64_t job_id, size_t rank_index, RankOutcome outcome) {
  auto it = active_.find(job_id);
  if (it == active_.end()) return;
  RankRuntime& rank = *it->second->ranks[rank_index];
  rank.exited = true;
  rank.exit_code = outcome.exit_code;
  rank.node_lost = std::move(outcome.node_lost);
  if (shutting_down_) {
    AfterRankExit(job_id, rank_index);
    return;
  }
  // The reactor may already have read the rank's last output into a read
  // handler that is queued but has not run: finish the rank after the
  // handlers queued so far, or that output would be dropped.
  const int pid = rank.pid;
  boost::asio::post(io_, [this, job_id, rank_index, pid] {
    auto job = active_.find(job_id);
    // Skip if the job ended meanwhile or the rank slot runs a newer process.
    if (job == active_.end() || job->second->ranks[rank_index]->pid != pid) return;
    AfterRankExit(job_id, rank_index);
  });
}

void AgentCore::AfterRankExit(int64_t job_id, size_t rank_index) {
  auto it = active_.find(job_id);
  if (it == active_.end()) return;
  ActiveJob& job = *it->second;
  RankRuntime& rank = *job.ranks[rank_index];
  const int exit_code = rank.exit_code;
  DrainOutput(job, rank);
  if (!job.stopping && rank.node_lost) {
    // The script did not fail: the machinery did. Like a lost driver, it is
    // the cluster's failure, not the job's.
    const NodeCapacity& node =
        options_.node_spec.nodes[static_cast<size_t>(job.allocations[rank_index].node)];
    AppendToRunLog(
        job, fmt::format("rank {} lost its node {} ({}){}\n", rank_index, node.ip, *rank.node_lost,
                         job.ranks.size() > 1 ? "; stopping the other ranks" : ""));
    StopRanks(job, JobStatus::kFailedDriver, exit_code);
  } else if (!job.stopping && exit_code != 0) {
    AppendToRunLog(job, fmt::format("{} of rank {} exited with code {}{}\n",
                                    job.in_setup ? "Setup" : "Job", rank_index, exit_code,
                                    job.ranks.size() > 1 ? "; stopping the other ranks" : ""));
    StopRanks(job, job.in_setup ? JobStatus::kFailedSetup : JobStatus::kFailed, exit_code);
  }
  // A rank is done once its exit is processed (its output drained): only then
  // may the job move on, or a pending continuation would touch the next phase.
  for (const auto& other : job.ranks) {
    if (!other->exited || other->output) return;
  }
  if (job.stopping) {
    Finish(job_id);
  } else if (job.in_setup) {
    job.in_setup = false;
    JobRecord& record = records_.at(job_id);
    record.status = JobStatus::kRunning;
    if (StartPhase(job, false)) table_.Update(record);
  } else {
    job.final_status = JobStatus::kSucceeded;
    job.final_exit_code = 0;
    Finish(job_id);
  }
}

void AgentCore::StopRanks(ActiveJob& job, JobStatus final_status, int exit_code) {
  if (job.stopping) return;
  job.stopping = true;
  job.final_status = final_status;
  job.final_exit_code = exit_code;
  for (const auto& rank : job.ranks) {
    if (!rank->exited) launcher_->SignalGroup(rank->pid, SIGTERM);
  }
  job.kill_timer = std::make_unique<boost::asio::steady_timer>(io_);
  job.kill_timer->expires_after(
      std::chrono::milliseconds(static_cast<int64_t>(options_.kill_grace_s * 1000)));
  int64_t job_id = job.job_id;
  job.kill_timer->async_wait([this, job_id](const boost::system::error_code& error) {
    if (error) return;
    auto it = active_.find(job_id);
    if (it == active_.end()) return;
    for (const auto& rank : it->second->ranks) {
      if (!rank->exited) launcher_->SignalGroup(rank->pid, SIGKILL);
    }
  });
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
