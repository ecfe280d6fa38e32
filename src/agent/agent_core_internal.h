// What the agent core's two halves share: the runtime state of an active job
// and of each of its ranks, and the append-only log writes both halves do.
// Internal to agent_core.cc (queue, cancel, autostop, shutdown) and
// agent_ranks.cc (rank processes, their output and their exits).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/agent_core.h"

namespace skycore::agent {

inline void WriteAll(int fd, const char* data, size_t size) {
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

inline int OpenAppend(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

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

}  // namespace skycore::agent
