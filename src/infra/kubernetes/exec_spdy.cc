#include "infra/kubernetes/exec_spdy.h"

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <set>

#include "skycore/error.h"

namespace skycore::kubernetes::spdy {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using exec_transport::ExecStream;
using net::awaitable;
using net::use_awaitable;

namespace {

constexpr uint32_t kRefusedStream = 3;
constexpr auto kUpgradeTimeout = std::chrono::seconds(30);
// The streams' protocol, as kubectl offers it first (v4: the error stream
// carries a JSON v1 Status, success included).
constexpr const char* kStreamProtocol = "v4.channel.k8s.io";

// One exec over a SPDY/3.1 connection.
class SpdyExecStream final : public ExecStream {
 public:
  SpdyExecStream(net::io_context& io, const ContextCredentials& creds)
      : creds_(creds),
        address_(exec_transport::ParseServer(creds)),
        tls_(exec_transport::MakeTls(creds)),
        stream_(io, tls_),
        watchdog_(io) {}

  awaitable<bool> Open(const ExecTarget& target, const std::vector<std::string>& command,
                       bool with_stdin) override {
    const std::string path = exec_transport::ExecPath(address_, target, command, with_stdin);
    http::response<http::string_body> response;
    try {
      co_await exec_transport::ConnectTls(stream_, address_, creds_);
      // kubectl POSTs a SPDY exec (a websocket one is a GET).
      http::request<http::empty_body> request{http::verb::post, path, 11};
      request.set(http::field::host, address_.host + ":" + address_.port);
      request.set(http::field::connection, "Upgrade");
      request.set(http::field::upgrade, "SPDY/3.1");
      request.set("X-Stream-Protocol-Version", kStreamProtocol);
      request.set(http::field::user_agent, "skycore/kubernetes");
      if (!creds_.token.empty()) request.set(http::field::authorization, "Bearer " + creds_.token);
      request.prepare_payload();
      auto& lowest = beast::get_lowest_layer(stream_);
      lowest.expires_after(kUpgradeTimeout);
      co_await http::async_write(stream_, request, use_awaitable);
      // A 101 has no body: what follows its header in `buffer` is SPDY.
      http::response_parser<http::string_body> parser;
      parser.body_limit(1 << 20);
      beast::flat_buffer buffer;
      co_await http::async_read(stream_, buffer, parser, use_awaitable);
      lowest.expires_never();
      response = parser.release();
      inbox_ = beast::buffers_to_string(buffer.data());
    } catch (const boost::system::system_error& e) {
      throw NetworkError(fmt::format(
          "Kubernetes context '{}': exec (SPDY) in pod {}/{} through {} failed: {}", creds_.context,
          target.namespace_name, target.pod, creds_.server, e.code().message()));
    }
    const int status = static_cast<int>(response.result_int());
    if (status != 101) {
      refusal_ = exec_transport::UpgradeRefused(creds_, target, status, response.body());
      if (status == 401 || status == 403) throw *refusal_;
      co_return false;
    }
    const std::string protocol(response["X-Stream-Protocol-Version"]);
    if (protocol != kStreamProtocol) {
      Abort();
      throw NetworkError(fmt::format(
          "Kubernetes context '{}': the API server answered the SPDY exec with stream protocol "
          "'{}'; skycore speaks {}",
          creds_.context, protocol, kStreamProtocol));
    }
    // The streams, in kubectl's order: the error stream first, so that a
    // failure to start the command has somewhere to go.
    uint32_t next_id = 1;
    auto open = [&](const char* type, int channel) {
      const uint32_t id = next_id;
      next_id += 2;
      channels_[id] = channel;
      outbox_.push_back(EncodeSynStream(id, compressor_.Compress({{"streamtype", type}}), 0));
      return id;
    };
    open("error", exec_transport::kStatus);
    if (with_stdin) stdin_id_ = open("stdin", exec_transport::kStdin);
    open("stdout", exec_transport::kStdout);
    open("stderr", exec_transport::kStderr);
    for (const auto& [id, channel] : channels_) {
      if (channel != exec_transport::kStdin) receiving_.insert(id);
    }
    try {
      co_await Flush();
    } catch (const boost::system::system_error& e) {
      throw NetworkError(
          fmt::format("Kubernetes context '{}': the SPDY exec stream broke while opening: {}",
                      creds_.context, e.code().message()));
    }
    co_return true;
  }

  NetworkError Refusal() const override { return *refusal_; }
  bool CanCloseStdin() const override { return true; }

  void KeepAlive(double idle_s) override {
    idle_ = std::chrono::milliseconds(static_cast<long long>(idle_s * 1000));
    last_receive_ = std::chrono::steady_clock::now();
    net::co_spawn(watchdog_.get_executor(), Watch(), [](std::exception_ptr) {});
  }

  awaitable<void> SendStdin(std::string_view data) override {
    // Small frames, as on the websocket: the server reads them whole.
    constexpr size_t kChunk = 32 * 1024;
    for (size_t offset = 0; offset < data.size(); offset += kChunk) {
      co_await Write(EncodeData(stdin_id_, data.substr(offset, kChunk), false));
    }
  }

  awaitable<void> CloseStdin() override { co_await Write(EncodeData(stdin_id_, {}, true)); }

  awaitable<bool> Receive(int& channel, std::string& data) override {
    for (;;) {
      // The server has ended every stream it writes: the exec is over.
      if (receiving_.empty()) co_return Finish();
      std::optional<Frame> frame;
      while (!(frame = DecodeFrame(inbox_))) {
        if (!co_await ReadMore()) co_return Finish();
      }
      if (!frame->control) {
        const auto found = channels_.find(frame->stream_id);
        if ((frame->flags & kFlagFin) != 0) receiving_.erase(frame->stream_id);
        if (frame->payload.empty() || found == channels_.end()) continue;
        // No WINDOW_UPDATE in return, as kubectl sends none: the exec servers
        // (spdystream, in the kubelet and in CRI runtimes) keep no window, and
        // a frame written after the server's last one is worse than useless:
        // the server closes with it unread, which resets the connection, and
        // the API server's proxy then drops the exit status still in flight.
        channel = found->second;
        data = std::move(frame->payload);
        co_return true;
      }
      Handle(*frame);
    }
  }

  void Abort() override {
    boost::system::error_code ignored;
    beast::get_lowest_layer(stream_).socket().close(ignored);
    watchdog_.cancel();
  }

 private:
  // A control frame from the server.
  void Handle(const Frame& frame) {
    switch (frame.type) {
      case kSynReply:
      case kHeaders:
        // Decompressed even when unused: the zlib context spans the connection.
        decompressor_.Decompress(std::string_view(frame.payload).substr(4));
        if ((frame.flags & kFlagFin) != 0) receiving_.erase(frame.stream_id);
        break;
      case kSynStream:
        // Exec servers open no streams; refuse any.
        if (frame.payload.size() < 10) throw Malformed("a SYN_STREAM too short");
        decompressor_.Decompress(std::string_view(frame.payload).substr(10));
        Post(EncodeRstStream(frame.stream_id, kRefusedStream));
        break;
      case kRstStream:
        receiving_.erase(frame.stream_id);
        break;
      case kPing:
        if (frame.payload.size() < 4) throw Malformed("a PING too short");
        // Even ids are the server's: answered with the same frame. Odd ones
        // answer ours; their arrival is all the watchdog needs.
        if ((GetU32(frame.payload, 0) & 1) == 0) Post(EncodeControl(kPing, 0, frame.payload));
        break;
      case kGoAway:
        // No new streams; the open ones run to their end.
      case kSettings:
      case kWindowUpdate:
        // Flow control is not used either way (see Receive).
      default:
        break;
    }
  }

  awaitable<bool> ReadMore() {
    std::array<char, 64 * 1024> chunk;
    size_t size = 0;
    try {
      size = co_await stream_.async_read_some(net::buffer(chunk), use_awaitable);
    } catch (const boost::system::system_error& e) {
      if (timed_out_) {
        throw NetworkError(fmt::format(
            "Kubernetes context '{}': the SPDY exec stream went silent: nothing, not even a ping "
            "answer, within {} s",
            creds_.context, static_cast<double>(idle_.count()) / 1000));
      }
      if (exec_transport::IsEndOfStream(e.code())) co_return false;
      throw NetworkError(fmt::format("Kubernetes context '{}': the SPDY exec stream broke: {}",
                                     creds_.context, e.code().message()));
    }
    inbox_.append(chunk.data(), size);
    last_receive_ = std::chrono::steady_clock::now();
    co_return true;
  }

  bool Finish() {
    finished_ = true;
    watchdog_.cancel();
    return false;
  }

  // Pings a stream quiet for half the idle time; cuts one quiet for all of it.
  awaitable<void> Watch() {
    uint32_t ping_id = 1;
    while (!finished_) {
      watchdog_.expires_after(idle_ / 2);
      co_await watchdog_.async_wait(use_awaitable);
      const auto quiet = std::chrono::steady_clock::now() - last_receive_;
      if (quiet >= idle_) {
        timed_out_ = true;
        Abort();
        co_return;
      }
      if (quiet >= idle_ / 2) {
        Post(EncodePing(ping_id));
        ping_id += 2;
      }
    }
  }

  // Frames go out one write at a time, in order, whoever sends them: stdin,
  // window updates and ping answers interleave.
  awaitable<void> Write(std::string frame) {
    outbox_.push_back(std::move(frame));
    try {
      co_await Flush();
    } catch (const boost::system::system_error& e) {
      throw NetworkError(
          fmt::format("Kubernetes context '{}': the exec stream ended while sending stdin: {}",
                      creds_.context, e.code().message()));
    }
  }

  // Sends a frame without waiting for it (the reader must not stall on the
  // writer); a failure shows up on the read side.
  void Post(std::string frame) {
    outbox_.push_back(std::move(frame));
    if (writing_) return;
    net::co_spawn(watchdog_.get_executor(), Flush(), [](std::exception_ptr) {});
  }

  awaitable<void> Flush() {
    if (writing_) co_return;  // the running writer takes it
    writing_ = true;
    try {
      while (!outbox_.empty()) {
        const std::string next = std::move(outbox_.front());
        outbox_.pop_front();
        co_await net::async_write(stream_, net::buffer(next), use_awaitable);
      }
    } catch (...) {
      writing_ = false;
      throw;
    }
    writing_ = false;
  }

  const ContextCredentials& creds_;
  exec_transport::ServerAddress address_;
  net::ssl::context tls_;
  exec_transport::TlsStream stream_;
  net::steady_timer watchdog_;
  HeaderCompressor compressor_;
  HeaderDecompressor decompressor_;
  std::string inbox_;  // bytes read and not yet framed
  std::deque<std::string> outbox_;
  bool writing_ = false;
  std::map<uint32_t, int> channels_;  // stream id -> channel
  std::set<uint32_t> receiving_;      // the streams the server has yet to end
  uint32_t stdin_id_ = 0;
  std::optional<NetworkError> refusal_;  // the upgrade's refusal
  bool finished_ = false;
  bool timed_out_ = false;
  std::chrono::milliseconds idle_{0};
  std::chrono::steady_clock::time_point last_receive_;
};

}  // namespace

std::unique_ptr<ExecStream> MakeSpdyExecStream(net::io_context& io,
                                               const ContextCredentials& creds) {
  return std::make_unique<SpdyExecStream>(io, creds);
}

}  // namespace skycore::kubernetes::spdy
