// The agent's brain: the job table in memory and on disk, the queue, the
// reservations, the life cycle of each job's ranks, logs, and autostop
// bookkeeping. Single-threaded: every method runs on the io_context's thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "agent/job_table.h"
#include "agent/launcher.h"
#include "agent/node_spec.h"
#include "skycore/agent.h"

namespace skycore::agent {

struct AgentOptions {
  std::string state_dir;  // holds jobs.db
  std::string log_root;   // logs go under <log_root>/sky_logs/
  NodeSpec node_spec;
  double kill_grace_s = 5;  // between SIGTERM and SIGKILL on cancel or failure
  // Seconds in an autostop "minute": 60, shorter only in tests of autostop.
  double autostop_minute_s = 60;
};

class AgentCore {
 public:
  using Clock = std::function<double()>;  // Unix seconds
  using AutostopHook = std::function<void(const AutostopStatus&)>;

  // Opens the job table (StateError if unusable) and recovers it: jobs that
  // were SETTING_UP or RUNNING lost their driver, so their surviving processes
  // are killed and they become FAILED_DRIVER; PENDING jobs are queued again.
  AgentCore(boost::asio::io_context& io, AgentOptions options,
            std::unique_ptr<RankLauncher> launcher, Clock clock);
  ~AgentCore();
  AgentCore(const AgentCore&) = delete;
  AgentCore& operator=(const AgentCore&) = delete;

  // Validates and queues a job, then schedules. Returns its id.
  int64_t Submit(JobSpec spec);

  const std::map<int64_t, JobRecord>& records() const { return records_; }
  // JobNotFoundError when absent.
  const JobRecord& Get(int64_t job_id) const;
  // The newest job's id; JobNotFoundError when there is none.
  int64_t LatestJobId() const;
  // Path of the job's run.log (it may not exist yet).
  std::string RunLogPath(int64_t job_id) const;

  // Cancels jobs not yet finished; returns those it cancelled. Unknown ids:
  // JobNotFoundError, and nothing is cancelled.
  std::vector<int64_t> Cancel(const std::vector<int64_t>& job_ids);
  std::vector<int64_t> CancelAll();

  AutostopStatus Autostop() const;
  void SetAutostop(int idle_minutes, bool down, const std::string& wait_for);
  void SetAutostopHook(AutostopHook hook) { autostop_hook_ = std::move(hook); }
  // Runs the hook once when the idle time has passed. Call it periodically.
  void CheckAutostop();

  // Reaps exited children (call on SIGCHLD) and advances their jobs.
  void ReapChildren();

  // Stops every active job (SIGTERM, grace, SIGKILL) and marks it
  // FAILED_DRIVER: the agent is going away. Blocks up to the grace period.
  void Shutdown();

  const NodeSpec& node_spec() const { return options_.node_spec; }

 private:
  struct RankRuntime;
  struct ActiveJob;

  void Schedule();
  void StartJob(int64_t job_id, std::vector<RankAllocation> allocations);
  bool StartPhase(ActiveJob& job, bool setup);
  std::vector<std::string> RankEnvironment(const ActiveJob& job, size_t rank, bool setup) const;
  void ReadOutput(const std::shared_ptr<RankRuntime>& rank, int64_t job_id);
  void WriteOutput(ActiveJob& job, RankRuntime& rank, const char* data, size_t size);
  void DrainOutput(ActiveJob& job, RankRuntime& rank);
  void OnRankExit(int64_t job_id, size_t rank_index, RankOutcome outcome);
  // The rest of a rank's exit, once output already read has been written.
  void AfterRankExit(int64_t job_id, size_t rank_index);
  // During Shutdown: ends the jobs whose ranks have all exited.
  void FinishExitedJobs();
  void StopRanks(ActiveJob& job, JobStatus final_status, int exit_code);
  void Finish(int64_t job_id);
  void AppendToRunLog(ActiveJob& job, const std::string& text);
  void SetStatus(JobRecord& record, JobStatus status);
  void Recover();
  std::string NewRunTimestamp();
  void UpdateIdle();

  boost::asio::io_context& io_;
  AgentOptions options_;
  std::unique_ptr<RankLauncher> launcher_;
  Clock clock_;
  JobTable table_;
  ReservationBook book_;
  ReservationBook capacity_;  // never reserved from: "could it ever fit?"
  std::vector<std::string> base_env_;

  std::map<int64_t, JobRecord> records_;
  std::set<std::pair<int, int64_t>> pending_;  // (-priority, id): FIFO within priority
  std::map<int64_t, std::unique_ptr<ActiveJob>> active_;
  std::map<int, std::pair<int64_t, size_t>> pid_to_rank_;
  int64_t last_timestamp_us_ = 0;
  bool shutting_down_ = false;

  AutostopStatus autostop_;
  double autostop_set_at_ = 0;
  double idle_since_ = 0;  // 0 while busy
  AutostopHook autostop_hook_;
};

}  // namespace skycore::agent
