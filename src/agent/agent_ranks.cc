// The rank half of the agent core: starting a job's ranks phase by phase
// (setup, then run), their environment, their output into the logs, and
// what their exits do to the job.
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>

#include <boost/asio/post.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>

#include "agent/agent_core.h"
#include "agent/agent_core_internal.h"
#include "skycore/error.h"

namespace skycore::agent {
namespace fs = std::filesystem;

namespace {

std::string RankName(size_t rank) { return rank == 0 ? "head" : fmt::format("worker{}", rank); }

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

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
  // A managed job brings its own, stable across the clusters it runs on
  // (as SkyPilot's backend keeps the controller's value).
  if (!job.spec.envs.contains("SKYPILOT_TASK_ID")) {
    env["SKYPILOT_TASK_ID"] = fmt::format("{}_{}_{}", fs::path(record.log_dir).filename().string(),
                                          nodes.cluster_name, job.job_id);
  }
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

}  // namespace skycore::agent
