// skycore/agent.h — the per-cluster job agent (`skyletd`) and its client.
//
// One skyletd runs on each cluster's head. It owns a job table (SQLite, WAL),
// a queue that is FIFO within priority (higher priority first), per-node CPU,
// GPU and memory reservations, gang start of multi-node jobs, process groups,
// cancellation, logs and autostop bookkeeping. Clients talk to it over a Unix
// socket with a versioned JSON-lines protocol (kAgentProtocolVersion); the
// AgentClient below is the C++ side of that protocol.
//
// A job's life: INIT → PENDING (waits until its reservation fits on
// `num_nodes` nodes) → SETTING_UP (the setup script on every rank, if any) →
// RUNNING (the run script on every rank, all started or none) → SUCCEEDED,
// FAILED (a rank exited non-zero: the others are stopped), FAILED_SETUP,
// FAILED_DRIVER (the agent died while the job ran) or CANCELLED.
//
// Logs: <log_root>/sky_logs/<run_timestamp>/run.log holds the output of all
// ranks (lines prefixed with "(head, rank=0, pid=N)" when the job has several
// ranks); tasks/<rank>-<head|workerN>.log holds one rank's output.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace skycore {

// The version of the JSON-lines protocol spoken by this client and by the
// skyletd built with it. A peer with another version is refused with a
// NotSupportedError that names both versions.
inline constexpr int kAgentProtocolVersion = 1;

// SkyPilot's job states, in its spelling.
enum class JobStatus {
  kInit,
  kPending,
  kSettingUp,
  kRunning,
  kSucceeded,
  kFailed,
  kFailedSetup,
  kFailedDriver,
  kCancelled,
};

// "INIT", "PENDING", "SETTING_UP", "RUNNING", "SUCCEEDED", "FAILED",
// "FAILED_SETUP", "FAILED_DRIVER", "CANCELLED".
const char* JobStatusName(JobStatus status) noexcept;
// The inverse of JobStatusName; nullopt for an unknown name.
std::optional<JobStatus> ParseJobStatus(const std::string& name) noexcept;
// True for the states a job never leaves (SUCCEEDED, FAILED*, CANCELLED).
bool IsTerminal(JobStatus status) noexcept;

// What one job asks of the agent. Plain value; the agent validates it on
// submit (InvalidTaskError for a bad spec, ResourcesUnavailableError for a
// reservation no node set could ever satisfy).
struct JobSpec {
  std::string name;      // shown in `sky queue`; may be empty
  std::string username;  // who submitted it
  int num_nodes = 1;     // ranks; each on its own node
  // Reserved on each of the job's nodes. SkyPilot's default demand of a task
  // without resources is half a CPU, so small jobs share a node.
  double cpus_per_node = 0.5;
  double gpus_per_node = 0;  // a fraction below 1 shares one GPU; above 1 must be whole
  double memory_gib_per_node = 0;
  int priority = 0;                            // higher runs first; FIFO among equals
  std::string setup;                           // bash script run on every rank first; may be empty
  std::string run;                             // bash script run on every rank; may be empty
  std::map<std::string, std::string> envs;     // exported to setup and run
  std::map<std::string, std::string> secrets;  // exported to setup and run; never returned
  std::string resources;  // display form for `sky queue`, e.g. "1x[CPU:1]"; may be empty
  // Name of the log directory under sky_logs/ ("sky-2024-01-31-12-00-00-000001").
  // Empty: the agent makes a unique one from the submit time.
  std::string run_timestamp;
};

// One rank's process as recorded in the job table.
struct RankProcess {
  int rank = 0;
  int node = 0;              // index into the node spec
  int pid = 0;               // also the process group id (each rank is a session leader)
  uint64_t start_ticks = 0;  // /proc/<pid>/stat start time, to tell a reused pid
};

// A row of the job table, as `sky queue` shows it. Never holds secrets.
struct JobRecord {
  int64_t job_id = 0;
  std::string name;
  std::string username;
  JobStatus status = JobStatus::kInit;
  int priority = 0;
  int num_nodes = 1;
  std::string resources;
  double submitted_at = 0;         // Unix seconds
  double start_at = 0;             // when SETTING_UP/RUNNING began; 0 = not yet
  double end_at = 0;               // when it reached a terminal state; 0 = not yet
  int exit_code = -1;              // of the failing (or last) rank; -1 = unknown / not finished
  std::string log_dir;             // absolute path of the job's log directory
  std::vector<RankProcess> ranks;  // the live or last processes, one per rank
};

// Autostop settings and the agent's idleness. "Idle" means no job is
// PENDING, SETTING_UP or RUNNING (wait_for "jobs"), or always (wait_for
// "none": the clock starts when autostop is set).
struct AutostopStatus {
  int idle_minutes = -1;  // -1 = autostop off
  bool down = false;      // tear down instead of stop
  std::string wait_for = "jobs";
  bool is_idle = false;
  double idle_since = 0;   // Unix seconds; 0 while busy
  double idle_for_s = 0;   // 0 while busy
  bool triggered = false;  // the stop hook has run since autostop was last set
};

// What ping returns.
struct AgentInfo {
  int protocol_version = 0;
  std::string version;  // skycore version of the agent
  int pid = 0;
  std::string cluster_name;
  int num_nodes = 0;
};

// A connection to one skyletd. Not thread-safe: use one client per thread.
// Every method throws: NetworkError when the agent cannot be reached or the
// connection breaks, NotSupportedError on a protocol version mismatch, and the
// agent's own typed errors (JobNotFoundError, InvalidTaskError, ...).
class AgentClient {
 public:
  // Connects to the agent's Unix socket. `timeout_s` bounds the connect and
  // each reply (but not the wait between chunks of a followed log).
  explicit AgentClient(std::string socket_path, double timeout_s = 30);
  ~AgentClient();
  AgentClient(const AgentClient&) = delete;
  AgentClient& operator=(const AgentClient&) = delete;

  // Checks the agent is alive and speaks our protocol version.
  AgentInfo ping();

  // Queues a job; returns its id (ids increase and are never reused).
  int64_t submit(const JobSpec& spec);

  // All jobs, newest first. `include_finished` false keeps only jobs not in a
  // terminal state.
  std::vector<JobRecord> queue(bool include_finished = true);

  // The records of the given ids, in that order; empty ids = the latest job.
  // JobNotFoundError names any id that does not exist.
  std::vector<JobRecord> job_status(const std::vector<int64_t>& job_ids);

  // Cancels the given jobs (SIGTERM to each rank's process group, SIGKILL
  // after the agent's grace period). Jobs already finished are left as they
  // are. Returns the ids that were cancelled. JobNotFoundError for an
  // unknown id.
  std::vector<int64_t> cancel(const std::vector<int64_t>& job_ids);
  // Cancels every job not yet finished; returns their ids.
  std::vector<int64_t> cancel_all();

  // Streams the job's run.log to `on_chunk` (raw bytes as written). With
  // `follow`, keeps streaming until the job reaches a terminal state (tail -f
  // semantics); otherwise returns at the end of what is written now.
  // `on_chunk` returning false stops early; while a followed job is silent it
  // is called with an empty chunk every quarter second, so a caller can stop.
  // Returns the job's status at the end.
  JobStatus tail_logs(int64_t job_id, bool follow,
                      const std::function<bool(const std::string& chunk)>& on_chunk);

  // Absolute path of the job's log directory on the agent's machine.
  std::string get_log_dir(int64_t job_id);

  // Sets autostop: after `idle_minutes` idle (see AutostopStatus) the agent
  // runs its stop hook once. idle_minutes < 0 turns it off.
  void set_autostop(int idle_minutes, bool down, const std::string& wait_for = "jobs");
  AutostopStatus get_autostop();

 private:
  class Connection;
  std::string socket_path_;
  double timeout_s_;
  std::unique_ptr<Connection> connection_;
};

}  // namespace skycore
