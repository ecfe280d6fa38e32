#include "agent/server.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <functional>
#include <istream>

#include "agent/protocol.h"
#include "skycore/error.h"
#include "skycore/version.h"

namespace skycore::agent {
namespace {

using boost::asio::local::stream_protocol;

constexpr size_t kMaxRequestBytes = 64 << 20;
constexpr size_t kLogChunkBytes = 64 << 10;
constexpr auto kFollowPollInterval = std::chrono::milliseconds(50);

std::vector<int64_t> JobIds(const json& request) {
  std::vector<int64_t> ids;
  if (request.contains("job_ids")) ids = request["job_ids"].get<std::vector<int64_t>>();
  return ids;
}

// One client connection: requests are answered in order; a `tail` streams
// until its end before the next request is read.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(stream_protocol::socket socket, AgentCore& core)
      : socket_(std::move(socket)),
        input_(kMaxRequestBytes),
        core_(core),
        timer_(socket_.get_executor()) {}
  ~Session() {
    if (tail_fd_ >= 0) ::close(tail_fd_);
  }

  void Read() {
    boost::asio::async_read_until(
        socket_, input_, '\n',
        [self = shared_from_this()](const boost::system::error_code& error, size_t) {
          if (error) return;  // the client went away
          std::istream stream(&self->input_);
          std::string line;
          std::getline(stream, line);
          self->Handle(line);
        });
  }

 private:
  void Send(const json& message, std::function<void()> then) {
    output_ = DumpLine(message);
    SendPrepared(std::move(then));
  }

  // Writes output_ as it is.
  void SendPrepared(std::function<void()> then) {
    boost::asio::async_write(socket_, boost::asio::buffer(output_),
                             [self = shared_from_this(), then = std::move(then)](
                                 const boost::system::error_code& error, size_t) {
                               if (!error) then();
                             });
  }

  void Reply(const json& message) {
    Send(message, [this] { Read(); });
  }

  void Handle(const std::string& line) {
    json request = json::parse(line, nullptr, false);
    try {
      if (!request.is_object()) {
        throw InternalError("skyletd received a request line that is not a JSON object");
      }
      int version = request.value("v", 0);
      if (version != kAgentProtocolVersion) {
        throw NotSupportedError(fmt::format(
            "agent protocol version mismatch: skyletd speaks version {}, the client sent version "
            "{}; use a client and a skyletd from the same skycore release (restarting the "
            "cluster's agent installs the matching one)",
            kAgentProtocolVersion, version));
      }
      Dispatch(request.value("op", ""), request);
    } catch (const Error& error) {
      Reply(ErrorReply(error));
    } catch (const json::exception& error) {
      Reply(ErrorReply(InternalError(fmt::format("malformed request: {}", error.what()))));
    }
  }

  void Dispatch(const std::string& op, const json& request) {
    json reply = OkReply();
    if (op == "ping") {
      reply["protocol_version"] = kAgentProtocolVersion;
      reply["version"] = Version();
      reply["pid"] = ::getpid();
      reply["cluster_name"] = core_.node_spec().cluster_name;
      reply["num_nodes"] = core_.node_spec().nodes.size();
    } else if (op == "submit") {
      reply["job_id"] = core_.Submit(SpecFromJson(request.value("spec", json::object())));
    } else if (op == "queue") {
      output_ = QueueRowsJson(core_.records(), request.value("include_finished", true));
      return SendPrepared([this] { Read(); });
    } else if (op == "job_status") {
      auto ids = JobIds(request);
      if (ids.empty()) ids.push_back(core_.LatestJobId());
      json jobs = json::array();
      for (int64_t id : ids) jobs.push_back(RecordToJson(core_.Get(id)));
      reply["jobs"] = std::move(jobs);
    } else if (op == "cancel") {
      reply["cancelled"] =
          request.value("all", false) ? core_.CancelAll() : core_.Cancel(JobIds(request));
    } else if (op == "log_dir") {
      reply["log_dir"] = core_.Get(request.at("job_id").get<int64_t>()).log_dir;
    } else if (op == "set_autostop") {
      core_.SetAutostop(request.value("idle_minutes", -1), request.value("down", false),
                        request.value("wait_for", "jobs"));
    } else if (op == "get_autostop") {
      reply["autostop"] = AutostopToJson(core_.Autostop());
    } else if (op == "tail") {
      StartTail(request.at("job_id").get<int64_t>(), request.value("follow", false));
      return;
    } else {
      throw NotSupportedError(fmt::format("skyletd does not know the operation '{}'", op));
    }
    Reply(reply);
  }

  void StartTail(int64_t job_id, bool follow) {
    core_.Get(job_id);  // JobNotFoundError before anything is streamed
    tail_job_ = job_id;
    tail_follow_ = follow;
    tail_offset_ = 0;
    tail_carry_.clear();
    TailStep();
  }

  void TailStep() {
    JobStatus status;
    std::string path;
    try {
      status = core_.Get(tail_job_).status;
      path = core_.RunLogPath(tail_job_);
    } catch (const Error& error) {
      return Reply(ErrorReply(error));
    }
    if (tail_fd_ < 0) tail_fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    std::string chunk = std::move(tail_carry_);
    tail_carry_.clear();
    if (tail_fd_ >= 0) {
      size_t old_size = chunk.size();
      chunk.resize(old_size + kLogChunkBytes);
      ssize_t size = ::pread(tail_fd_, chunk.data() + old_size, kLogChunkBytes,
                             static_cast<off_t>(tail_offset_));
      chunk.resize(old_size + static_cast<size_t>(std::max<ssize_t>(size, 0)));
      if (size > 0) tail_offset_ += static_cast<size_t>(size);
    }
    bool finished = IsTerminal(status) || !tail_follow_;
    bool more_now = chunk.size() >= kLogChunkBytes;
    if (!finished || more_now) {
      // Keep a character split by the chunk border for the next chunk.
      size_t whole = Utf8CompletePrefix(chunk);
      tail_carry_ = chunk.substr(whole);
      chunk.resize(whole);
    }
    if (!chunk.empty()) {
      json message = OkReply();
      message["type"] = "log";
      message["data"] = std::move(chunk);
      return Send(message, [this] { TailStep(); });
    }
    if (finished && !more_now && tail_carry_.empty()) {
      if (tail_fd_ >= 0) ::close(tail_fd_);
      tail_fd_ = -1;
      json message = OkReply();
      message["type"] = "end";
      message["status"] = JobStatusName(status);
      return Reply(message);
    }
    timer_.expires_after(kFollowPollInterval);
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& error) {
      if (!error) self->TailStep();
    });
  }

  stream_protocol::socket socket_;
  boost::asio::streambuf input_;
  AgentCore& core_;
  boost::asio::steady_timer timer_;
  std::string output_;
  int64_t tail_job_ = 0;
  bool tail_follow_ = false;
  size_t tail_offset_ = 0;
  std::string tail_carry_;
  int tail_fd_ = -1;
};

}  // namespace

AgentServer::AgentServer(boost::asio::io_context& io, AgentCore& core, std::string socket_path)
    : io_(io), core_(core), socket_path_(std::move(socket_path)), acceptor_(io) {}

AgentServer::~AgentServer() { Stop(); }

void AgentServer::Start() {
  if (::access(socket_path_.c_str(), F_OK) == 0) {
    stream_protocol::socket probe(io_);
    boost::system::error_code error;
    probe.connect(stream_protocol::endpoint(socket_path_), error);
    if (!error) {
      throw StateError(
          fmt::format("another skyletd already serves {}; stop it first or pick another --socket",
                      socket_path_));
    }
    ::unlink(socket_path_.c_str());
  }
  boost::system::error_code error;
  stream_protocol::endpoint endpoint(socket_path_);
  acceptor_.open(endpoint.protocol(), error);
  if (!error) acceptor_.bind(endpoint, error);
  if (!error) acceptor_.listen(boost::asio::socket_base::max_listen_connections, error);
  if (error) {
    throw IoError(fmt::format("skyletd cannot listen on {}: {}", socket_path_, error.message()));
  }
  ::fcntl(acceptor_.native_handle(), F_SETFD, FD_CLOEXEC);
  Accept();
}

void AgentServer::Stop() {
  if (!acceptor_.is_open()) return;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  ::unlink(socket_path_.c_str());
}

void AgentServer::Accept() {
  acceptor_.async_accept(
      [this](const boost::system::error_code& error, stream_protocol::socket socket) {
        if (error == boost::asio::error::operation_aborted) return;
        if (!error) {
          ::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);
          std::make_shared<Session>(std::move(socket), core_)->Read();
        }
        Accept();
      });
}

}  // namespace skycore::agent
