// AgentClient: a blocking client of skyletd's JSON-lines protocol.
#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "agent/protocol.h"
#include "skycore/agent.h"
#include "skycore/error.h"

namespace skycore {

using agent::json;

class AgentClient::Connection {
 public:
  Connection(const std::string& socket_path, double timeout_s)
      : socket_path_(socket_path), timeout_ms_(static_cast<int>(timeout_s * 1000)) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof(address.sun_path)) {
      throw NetworkError(fmt::format("the agent socket path {} is longer than {} bytes",
                                     socket_path, sizeof(address.sun_path) - 1));
    }
    std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0 ||
        ::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
      int error = errno;
      if (fd_ >= 0) ::close(fd_);
      fd_ = -1;
      throw NetworkError(fmt::format(
          "cannot reach the agent (skyletd) at {}: {}; is the cluster up? `sky status -r` "
          "refreshes its state",
          socket_path, std::strerror(error)));
    }
  }
  ~Connection() {
    if (fd_ >= 0) ::close(fd_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void Send(json request) {
    request["v"] = kAgentProtocolVersion;
    std::string line = agent::DumpLine(request);
    const char* data = line.data();
    size_t size = line.size();
    while (size > 0) {
      ssize_t sent = ::send(fd_, data, size, MSG_NOSIGNAL);
      if (sent < 0) {
        if (errno == EINTR) continue;
        Broken(std::strerror(errno));
      }
      data += sent;
      size -= static_cast<size_t>(sent);
    }
  }

  // The next reply; throws the agent's error when it reports one.
  json Receive(bool wait_forever = false) { return Parse(ReadLine(wait_forever)); }

  json Parse(const std::string& line) {
    json reply = json::parse(line, nullptr, false);
    if (!reply.is_object()) Broken("the agent sent a line that is not a JSON object");
    int version = reply.value("v", 0);
    if (version != kAgentProtocolVersion) {
      throw NotSupportedError(fmt::format(
          "agent protocol version mismatch: the agent at {} speaks version {}, this client "
          "speaks version {}; use a client and a skyletd from the same skycore release "
          "(restarting the cluster's agent installs the matching one)",
          socket_path_, version, kAgentProtocolVersion));
    }
    if (!reply.value("ok", false)) agent::ThrowReportedError(reply.value("error", json::object()));
    return reply;
  }

  json Call(json request) {
    Send(std::move(request));
    return Receive();
  }

 private:
  [[noreturn]] void Broken(const std::string& why) {
    throw NetworkError(
        fmt::format("lost the connection to the agent at {}: {}", socket_path_, why));
  }

  std::string ReadLine(bool wait_forever) {
    for (;;) {
      if (auto line = TryReadLine(wait_forever ? -1 : timeout_ms_)) return *std::move(line);
      Broken(fmt::format("no reply within {} s", timeout_ms_ / 1000.0));
    }
  }

 public:
  // The next line, or nullopt when none came within timeout_ms (-1: forever).
  std::optional<std::string> TryReadLine(int timeout_ms) {
    for (;;) {
      auto newline = buffer_.find('\n', scanned_);
      if (newline != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        scanned_ = 0;
        return line;
      }
      scanned_ = buffer_.size();
      pollfd ready{fd_, POLLIN, 0};
      int polled = ::poll(&ready, 1, timeout_ms);
      if (polled < 0 && errno == EINTR) continue;
      if (polled == 0) return std::nullopt;
      char chunk[65536];
      ssize_t size = ::recv(fd_, chunk, sizeof(chunk), 0);
      if (size < 0 && errno == EINTR) continue;
      if (size <= 0) Broken(size == 0 ? "the agent closed the connection" : std::strerror(errno));
      buffer_.append(chunk, static_cast<size_t>(size));
    }
  }

  std::string socket_path_;
  int timeout_ms_;
  int fd_ = -1;
  std::string buffer_;
  size_t scanned_ = 0;
};

AgentClient::AgentClient(std::string socket_path, double timeout_s)
    : socket_path_(std::move(socket_path)),
      timeout_s_(timeout_s),
      connection_(std::make_unique<Connection>(socket_path_, timeout_s_)) {}

AgentClient::~AgentClient() = default;

AgentInfo AgentClient::ping() {
  json reply = connection_->Call({{"op", "ping"}});
  AgentInfo info;
  info.protocol_version = reply.value("protocol_version", 0);
  info.version = reply.value("version", "");
  info.pid = reply.value("pid", 0);
  info.cluster_name = reply.value("cluster_name", "");
  info.num_nodes = reply.value("num_nodes", 0);
  return info;
}

int64_t AgentClient::submit(const JobSpec& spec) {
  return connection_->Call({{"op", "submit"}, {"spec", agent::SpecToJson(spec)}})
      .at("job_id")
      .get<int64_t>();
}

namespace {
std::vector<JobRecord> Records(const json& reply) {
  std::vector<JobRecord> records;
  const json& jobs = reply.at("jobs");
  records.reserve(jobs.size());
  for (const auto& job : jobs) records.push_back(agent::RecordFromJson(job));
  return records;
}
}  // namespace

std::vector<JobRecord> AgentClient::queue(bool include_finished) {
  return agent::RecordsFromQueueRows(
      connection_->Call({{"op", "queue"}, {"include_finished", include_finished}}));
}

std::vector<JobRecord> AgentClient::job_status(const std::vector<int64_t>& job_ids) {
  return Records(connection_->Call({{"op", "job_status"}, {"job_ids", job_ids}}));
}

std::vector<int64_t> AgentClient::cancel(const std::vector<int64_t>& job_ids) {
  return connection_->Call({{"op", "cancel"}, {"job_ids", job_ids}})
      .at("cancelled")
      .get<std::vector<int64_t>>();
}

std::vector<int64_t> AgentClient::cancel_all() {
  return connection_->Call({{"op", "cancel"}, {"all", true}})
      .at("cancelled")
      .get<std::vector<int64_t>>();
}

JobStatus AgentClient::tail_logs(int64_t job_id, bool follow,
                                 const std::function<bool(const std::string& chunk)>& on_chunk) {
  connection_->Send({{"op", "tail"}, {"job_id", job_id}, {"follow", follow}});
  for (;;) {
    json message;
    if (follow) {
      // A silent job: give the caller a chance to stop every quarter second.
      auto line = connection_->TryReadLine(250);
      if (!line) {
        if (on_chunk(std::string())) continue;
        connection_ = std::make_unique<Connection>(socket_path_, timeout_s_);
        return job_status({job_id}).at(0).status;
      }
      message = connection_->Parse(*line);
    } else {
      message = connection_->Receive();
    }
    if (message.value("type", "") == "end") {
      return ParseJobStatus(message.value("status", "")).value_or(JobStatus::kFailedDriver);
    }
    if (!on_chunk(message.value("data", ""))) {
      // The rest of the stream is unwanted: drop this connection and open a
      // fresh one so later calls do not read stale log lines.
      connection_ = std::make_unique<Connection>(socket_path_, timeout_s_);
      return job_status({job_id}).at(0).status;
    }
  }
}

std::string AgentClient::get_log_dir(int64_t job_id) {
  return connection_->Call({{"op", "log_dir"}, {"job_id", job_id}})
      .at("log_dir")
      .get<std::string>();
}

void AgentClient::set_autostop(int idle_minutes, bool down, const std::string& wait_for) {
  connection_->Call({{"op", "set_autostop"},
                     {"idle_minutes", idle_minutes},
                     {"down", down},
                     {"wait_for", wait_for}});
}

AutostopStatus AgentClient::get_autostop() {
  return agent::AutostopFromJson(connection_->Call({{"op", "get_autostop"}}).at("autostop"));
}

const char* JobStatusName(JobStatus status) noexcept {
  switch (status) {
    case JobStatus::kInit:
      return "INIT";
    case JobStatus::kPending:
      return "PENDING";
    case JobStatus::kSettingUp:
      return "SETTING_UP";
    case JobStatus::kRunning:
      return "RUNNING";
    case JobStatus::kSucceeded:
      return "SUCCEEDED";
    case JobStatus::kFailed:
      return "FAILED";
    case JobStatus::kFailedSetup:
      return "FAILED_SETUP";
    case JobStatus::kFailedDriver:
      return "FAILED_DRIVER";
    case JobStatus::kCancelled:
      return "CANCELLED";
  }
  return "UNKNOWN";
}

std::optional<JobStatus> ParseJobStatus(const std::string& name) noexcept {
  static constexpr JobStatus kAll[] = {
      JobStatus::kInit,        JobStatus::kPending,      JobStatus::kSettingUp,
      JobStatus::kRunning,     JobStatus::kSucceeded,    JobStatus::kFailed,
      JobStatus::kFailedSetup, JobStatus::kFailedDriver, JobStatus::kCancelled};
  for (JobStatus status : kAll) {
    if (name == JobStatusName(status)) return status;
  }
  return std::nullopt;
}

bool IsTerminal(JobStatus status) noexcept {
  return status == JobStatus::kSucceeded || status == JobStatus::kFailed ||
         status == JobStatus::kFailedSetup || status == JobStatus::kFailedDriver ||
         status == JobStatus::kCancelled;
}

}  // namespace skycore
