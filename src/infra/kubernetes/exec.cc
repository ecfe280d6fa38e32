#include "infra/kubernetes/exec.h"

// clang-format off
#include <utility>  // first: Boost 1.74's awaitable.hpp uses std::exchange without it
// clang-format on

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/socket_bridge.h"
#include "infra/kubernetes/api_client.h"
#include "infra/kubernetes/exec_spdy.h"
#include "infra/kubernetes/exec_transport.h"
#include "skycore/error.h"

namespace skycore::kubernetes {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;
using net::awaitable;
using net::use_awaitable;

namespace exec_transport {
namespace {
constexpr auto kConnectTimeout = std::chrono::seconds(10);
}  // namespace

ServerAddress ParseServer(const ContextCredentials& creds) {
  std::string rest = creds.server;
  if (rest.rfind("https://", 0) != 0) {
    throw NotSupportedError(fmt::format(
        "Kubernetes context '{}': exec needs an https:// API server, the kubeconfig names {}",
        creds.context, creds.server));
  }
  rest = rest.substr(8);
  ServerAddress address;
  const size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    address.prefix = rest.substr(slash);
    while (!address.prefix.empty() && address.prefix.back() == '/') address.prefix.pop_back();
    rest = rest.substr(0, slash);
  }
  address.port = "443";
  if (!rest.empty() && rest.front() == '[') {  // [IPv6]:port
    const size_t close = rest.find(']');
    address.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') address.port = rest.substr(close + 2);
  } else if (const size_t colon = rest.rfind(':'); colon != std::string::npos) {
    address.host = rest.substr(0, colon);
    address.port = rest.substr(colon + 1);
  } else {
    address.host = rest;
  }
  return address;
}

std::string ExecPath(const ServerAddress& address, const ExecTarget& target,
                     const std::vector<std::string>& command, bool with_stdin) {
  std::string path = fmt::format("{}/api/v1/namespaces/{}/pods/{}/exec?", address.prefix,
                                 UrlEncode(target.namespace_name), UrlEncode(target.pod));
  for (const auto& arg : command) path += "command=" + UrlEncode(arg) + "&";
  if (!target.container.empty()) path += "container=" + UrlEncode(target.container) + "&";
  return path + (with_stdin ? "stdin=true&" : "") + "stdout=true&stderr=true";
}

ssl::context MakeTls(const ContextCredentials& creds) {
  ssl::context tls(ssl::context::tls_client);
  if (creds.insecure_skip_tls_verify) {
    tls.set_verify_mode(ssl::verify_none);
  } else {
    tls.set_verify_mode(ssl::verify_peer);
    if (creds.ca_pem.empty()) {
      tls.set_default_verify_paths();
    } else {
      tls.add_certificate_authority(net::buffer(creds.ca_pem));
    }
  }
  if (!creds.client_cert_pem.empty()) {
    tls.use_certificate_chain(net::buffer(creds.client_cert_pem));
    tls.use_private_key(net::buffer(creds.client_key_pem), ssl::context::pem);
  }
  return tls;
}

// How a stream ends: a close frame, or the server dropping the connection
// after its close frame (our answering close then fails with EPIPE). The
// exit status has arrived before either.
// A server may also send a last frame after its TLS close_notify, which
// OpenSSL reports as "application data after close notify": the stream has
// ended all the same (a missing exit status is still caught by the caller).
bool IsEndOfStream(const boost::system::error_code& code) {
  if (code.category() == net::error::get_ssl_category() &&
      ERR_GET_REASON(static_cast<unsigned long>(code.value())) ==
          SSL_R_APPLICATION_DATA_AFTER_CLOSE_NOTIFY) {
    return true;
  }
  return code == websocket::error::closed || code == net::error::eof ||
         code == net::error::broken_pipe || code == net::error::connection_reset ||
         code == net::ssl::error::stream_truncated || code == net::error::operation_aborted;
}

awaitable<void> ConnectTls(TlsStream& stream, const ServerAddress& address,
                           const ContextCredentials& creds) {
  tcp::resolver resolver(co_await net::this_coro::executor);
  auto endpoints = co_await resolver.async_resolve(address.host, address.port, use_awaitable);
  auto& lowest = beast::get_lowest_layer(stream);
  lowest.expires_after(kConnectTimeout);
  co_await lowest.async_connect(endpoints, use_awaitable);
  lowest.socket().set_option(tcp::no_delay(true));
  boost::system::error_code not_an_address;
  net::ip::make_address(address.host, not_an_address);
  if (not_an_address) {
    // A name, not an address: send it for SNI.
    SSL_set_tlsext_host_name(stream.native_handle(), address.host.c_str());
  }
  if (!creds.insecure_skip_tls_verify) {
    stream.set_verify_callback(ssl::host_name_verification(address.host));
  }
  co_await stream.async_handshake(ssl::stream_base::client, use_awaitable);
  lowest.expires_never();
}

NetworkError UpgradeRefused(const ContextCredentials& creds, const ExecTarget& target, int status,
                            const std::string& body) {
  std::string message = body;
  auto parsed = nlohmann::json::parse(message, nullptr, false);
  if (parsed.is_object() && parsed.contains("message")) message = parsed.value("message", "");
  if (status == 403) {
    return NetworkError(fmt::format(
        "Kubernetes context '{}': user '{}' is not allowed to create pods/exec in namespace "
        "'{}' (HTTP 403 Forbidden, RBAC: {}); ask the cluster admin for a role that allows it",
        creds.context, creds.user_name, target.namespace_name, message));
  }
  return NetworkError(
      fmt::format("Kubernetes context '{}': exec in pod {}/{} refused (HTTP {}): {}", creds.context,
                  target.namespace_name, target.pod, status, message.substr(0, 500)));
}

}  // namespace exec_transport

namespace {

using WsStream = websocket::stream<exec_transport::TlsStream>;
using exec_transport::ExecStream;
using exec_transport::kStatus;
using exec_transport::kStderr;
using exec_transport::kStdin;
using exec_transport::kStdout;
constexpr int kClose = 255;

// The exit code in a channel-3 Status; -1 (and the message) when the exec
// itself failed.
int ExitCodeOf(const std::string& text, std::string& error) {
  auto status = nlohmann::json::parse(text, nullptr, false);
  if (!status.is_object()) {
    error = "the exec stream sent an unreadable status: " + text.substr(0, 200);
    return -1;
  }
  if (status.value("status", "") == "Success") return 0;
  const auto details = status.value("details", nlohmann::json::object());
  for (const auto& cause : details.value("causes", nlohmann::json::array())) {
    if (cause.value("reason", "") == "ExitCode") {
      try {
        return std::stoi(cause.value("message", ""));
      } catch (const std::exception&) {
        break;
      }
    }
  }
  error = status.value("message", text.substr(0, 300));
  return -1;
}

// One exec websocket.
class WebSocketExecStream final : public ExecStream {
 public:
  WebSocketExecStream(net::io_context& io, const ContextCredentials& creds)
      : creds_(creds),
        address_(exec_transport::ParseServer(creds)),
        tls_(exec_transport::MakeTls(creds)),
        ws_(io, tls_) {}

  awaitable<bool> Open(const ExecTarget& target, const std::vector<std::string>& command,
                       bool with_stdin) override {
    const std::string path = exec_transport::ExecPath(address_, target, command, with_stdin);
    websocket::response_type response;
    // A declined upgrade is an answer rather than a failure: it comes back
    // as an error code, and the caller may try SPDY.
    boost::system::error_code declined;
    try {
      co_await exec_transport::ConnectTls(ws_.next_layer(), address_, creds_);
      ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
      const std::string token = creds_.token;
      ws_.set_option(websocket::stream_base::decorator([token](websocket::request_type& request) {
        request.set(http::field::sec_websocket_protocol, "v5.channel.k8s.io, v4.channel.k8s.io");
        request.set(http::field::user_agent, "skycore/kubernetes");
        if (!token.empty()) request.set(http::field::authorization, "Bearer " + token);
      }));
      co_await ws_.async_handshake(response, address_.host + ":" + address_.port, path,
                                   net::redirect_error(use_awaitable, declined));
      if (declined && declined != websocket::error::upgrade_declined) {
        throw boost::system::system_error(declined);
      }
    } catch (const boost::system::system_error& e) {
      throw NetworkError(fmt::format(
          "Kubernetes context '{}': exec in pod {}/{} through {} failed: {}", creds_.context,
          target.namespace_name, target.pod, creds_.server, e.code().message()));
    }
    if (declined) {
      const int status = static_cast<int>(response.result_int());
      refusal_ = exec_transport::UpgradeRefused(creds_, target, status, response.body());
      if (status == 401 || status == 403) throw *refusal_;
      co_return false;
    }
    v5_ = response[http::field::sec_websocket_protocol] == "v5.channel.k8s.io";
    ws_.binary(true);
    // One frame per message: the server reads frames, and a continuation
    // frame's first byte would be taken for a channel number.
    ws_.auto_fragment(false);
    co_return true;
  }

  NetworkError Refusal() const override { return *refusal_; }
  bool CanCloseStdin() const override { return v5_; }

  void KeepAlive(double idle_s) override {
    auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::client);
    timeouts.idle_timeout = std::chrono::milliseconds(static_cast<long long>(idle_s * 1000));
    timeouts.keep_alive_pings = true;
    ws_.set_option(timeouts);
  }

  awaitable<void> SendStdin(std::string_view data) override {
    // Small messages: API servers limit the size of one they read.
    constexpr size_t kChunk = 32 * 1024;
    for (size_t offset = 0; offset < data.size(); offset += kChunk) {
      const std::string_view piece = data.substr(offset, kChunk);
      std::string frame;
      frame.reserve(piece.size() + 1);
      frame.push_back(static_cast<char>(kStdin));
      frame.append(piece);
      try {
        co_await ws_.async_write(net::buffer(frame), use_awaitable);
      } catch (const boost::system::system_error& e) {
        throw NetworkError(
            fmt::format("Kubernetes context '{}': the exec stream ended while sending stdin: {}",
                        creds_.context, e.code().message()));
      }
    }
  }

  awaitable<void> CloseStdin() override {
    const char frame[2] = {static_cast<char>(kClose), static_cast<char>(kStdin)};
    co_await ws_.async_write(net::buffer(frame, 2), use_awaitable);
  }

  awaitable<bool> Receive(int& channel, std::string& data) override {
    for (;;) {
      buffer_.clear();
      try {
        co_await ws_.async_read(buffer_, use_awaitable);
      } catch (const boost::system::system_error& e) {
        if (exec_transport::IsEndOfStream(e.code())) co_return false;
        throw NetworkError(fmt::format("Kubernetes context '{}': the exec stream broke: {}",
                                       creds_.context, e.code().message()));
      }
      std::string bytes = beast::buffers_to_string(buffer_.data());
      if (bytes.empty()) continue;
      channel = static_cast<unsigned char>(bytes[0]);
      data = bytes.substr(1);
      co_return true;
    }
  }

  void Abort() override {
    boost::system::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

 private:
  const ContextCredentials& creds_;
  exec_transport::ServerAddress address_;
  ssl::context tls_;
  WsStream ws_;
  beast::flat_buffer buffer_;
  bool v5_ = false;
  std::optional<NetworkError> refusal_;  // the upgrade's refusal
};

// An exec's connection in the protocol asked for. `kAuto` is kubectl's way:
// the websocket first and, when the server (or a proxy before it) answers
// the upgrade with anything but 101 save an authentication error, SPDY once.
class ExecConnection {
 public:
  ExecConnection(net::io_context& io, const ContextCredentials& creds, ExecProtocol protocol)
      : io_(io), creds_(creds), protocol_(protocol) {
    if (protocol == ExecProtocol::kSpdy) {
      stream_ = spdy::MakeSpdyExecStream(io, creds);
    } else {
      stream_ = std::make_unique<WebSocketExecStream>(io, creds);
    }
  }

  awaitable<void> Open(const ExecTarget& target, const std::vector<std::string>& command,
                       bool with_stdin) {
    bool opened = co_await stream_->Open(target, command, with_stdin);
    if (!opened && protocol_ == ExecProtocol::kAuto) {
      stream_->Abort();
      stream_ = spdy::MakeSpdyExecStream(io_, creds_);
      opened = co_await stream_->Open(target, command, with_stdin);
    }
    if (!opened) throw stream_->Refusal();
  }

  // The stream, once opened here (opening it directly skips the fallback).
  ExecStream* operator->() { return stream_.get(); }

 private:
  net::io_context& io_;
  const ContextCredentials& creds_;
  ExecProtocol protocol_;
  std::unique_ptr<ExecStream> stream_;
};

// Bridges the connected socket `fd` to one exec of `command` until either
// side ends.
void BridgeConnection(const ContextCredentials& creds, const ExecTarget& target,
                      const std::vector<std::string>& command, int fd) {
  net::io_context io;
  ExecConnection socket(io, creds, target.protocol);
  net::local::stream_protocol::socket local(io);
  local.assign(net::local::stream_protocol(), fd);
  auto end_both = [&] {
    boost::system::error_code ignored;
    local.close(ignored);
    socket->Abort();
  };
  auto upstream = [&]() -> awaitable<void> {
    std::array<char, 32 * 1024> buffer;
    for (;;) {
      size_t size = 0;
      try {
        size = co_await local.async_read_some(net::buffer(buffer), use_awaitable);
      } catch (const boost::system::system_error&) {
        break;
      }
      co_await socket->SendStdin(std::string_view(buffer.data(), size));
    }
    // The client hung up: the end of stdin ends `skyletd --connect`, and the
    // stream with it. A v4 stream cannot say so: it is cut.
    if (socket->CanCloseStdin()) {
      co_await socket->CloseStdin();
    } else {
      end_both();
    }
  };
  auto downstream = [&]() -> awaitable<void> {
    int channel = 0;
    std::string data;
    while (co_await socket->Receive(channel, data)) {
      if (channel == kStdout && !data.empty()) {
        co_await net::async_write(local, net::buffer(data), use_awaitable);
      }
    }
  };
  net::co_spawn(
      io,
      [&]() -> awaitable<void> {
        co_await socket.Open(target, command, true);
        net::co_spawn(io, upstream(), [](std::exception_ptr) {});
        co_await downstream();
      },
      [&](std::exception_ptr) { end_both(); });
  io.run();
}

// The bridges this process serves, by socket path: they live as long as the
// process (a CLI command or an SDK session), and their sockets go with it.
}  // namespace

ExecProtocol ExecProtocolFromName(std::string_view name) {
  if (name.empty() || name == "auto") return ExecProtocol::kAuto;
  if (name == "websocket") return ExecProtocol::kWebSocket;
  if (name == "spdy") return ExecProtocol::kSpdy;
  throw InvalidSkyPilotConfigError(
      fmt::format("{}='{}': expected auto, websocket or spdy", kExecProtocolVariable, name));
}

ExecResult Exec(const ContextCredentials& credentials, const ExecTarget& target,
                const std::vector<std::string>& command, std::string_view input, double timeout_s) {
  net::io_context io;
  ExecConnection socket(io, credentials, target.protocol);
  ExecResult result;
  bool have_status = false, done = false;
  std::exception_ptr failure;
  net::co_spawn(
      io,
      [&]() -> awaitable<void> {
        // No stdin without input, and no "close stdin" after it: a command
        // that is done may have ended the stream before such a frame
        // arrives, and the write would fail (EPIPE) with its output unread.
        co_await socket.Open(target, command, !input.empty());
        co_await socket->SendStdin(input);
        int channel = 0;
        std::string data;
        while (co_await socket->Receive(channel, data)) {
          if (channel == kStdout) {
            result.out += data;
          } else if (channel == kStderr) {
            result.err += data;
          } else if (channel == kStatus) {
            result.exit_code = ExitCodeOf(data, result.error);
            have_status = true;
          }
        }
      },
      [&](std::exception_ptr error) {
        failure = error;
        done = true;
      });
  io.run_for(std::chrono::milliseconds(static_cast<long long>(timeout_s * 1000)));
  if (!done) {
    socket->Abort();
    io.restart();
    io.run();
    throw NetworkError(
        fmt::format("Kubernetes context '{}': `{}` in pod {}/{} did not finish within {} s",
                    credentials.context, command.empty() ? "" : command.back().substr(0, 80),
                    target.namespace_name, target.pod, timeout_s));
  }
  if (failure) std::rethrow_exception(failure);
  if (!have_status) {
    throw NetworkError(fmt::format(
        "Kubernetes context '{}': the exec stream of pod {}/{} ended without an exit status",
        credentials.context, target.namespace_name, target.pod));
  }
  return result;
}

int ExecStreaming(const ContextCredentials& credentials, const ExecTarget& target,
                  const std::vector<std::string>& command, int in_fd, int out_fd, int err_fd,
                  double idle_timeout_s) {
  net::io_context io;
  ExecConnection socket(io, credentials, target.protocol);
  net::posix::stream_descriptor input(io);
  const int input_copy = ::dup(in_fd);
  if (input_copy < 0) {
    throw IoError(fmt::format("cannot read the exec's input: {}", std::strerror(errno)));
  }
  input.assign(input_copy);
  int exit_code = -1;
  bool have_status = false;
  std::string status_error;
  std::exception_ptr failure;
  auto upstream = [&]() -> awaitable<void> {
    std::array<char, 32 * 1024> buffer;
    for (;;) {
      size_t size = 0;
      try {
        size = co_await input.async_read_some(net::buffer(buffer), use_awaitable);
      } catch (const boost::system::system_error&) {
        break;  // the end of the input (or an input that cannot be read)
      }
      co_await socket->SendStdin(std::string_view(buffer.data(), size));
    }
    if (socket->CanCloseStdin()) {
      co_await socket->CloseStdin();
    } else {
      socket->Abort();
    }
  };
  net::co_spawn(
      io,
      [&]() -> awaitable<void> {
        co_await socket.Open(target, command, true);
        socket->KeepAlive(idle_timeout_s);
        net::co_spawn(io, upstream(), [](std::exception_ptr) {});
        int channel = 0;
        std::string data;
        while (co_await socket->Receive(channel, data)) {
          // Blocking writes: the reader downstream sets the pace.
          if (channel == kStdout || channel == kStderr) {
            const int fd = channel == kStdout ? out_fd : err_fd;
            for (size_t offset = 0; offset < data.size();) {
              const ssize_t written = ::write(fd, data.data() + offset, data.size() - offset);
              if (written < 0 && errno == EINTR) continue;
              if (written <= 0) break;  // nobody reads: drop the rest
              offset += static_cast<size_t>(written);
            }
          } else if (channel == kStatus) {
            exit_code = ExitCodeOf(data, status_error);
            have_status = true;
          }
        }
      },
      [&](std::exception_ptr error) {
        failure = error;
        // The input's reader may still wait: nothing is left to send.
        io.stop();
      });
  io.run();
  if (failure) std::rethrow_exception(failure);
  if (!have_status) {
    throw NetworkError(fmt::format(
        "Kubernetes context '{}': the exec stream of pod {}/{} ended without an exit status "
        "(the pod or the API server went away)",
        credentials.context, target.namespace_name, target.pod));
  }
  if (exit_code < 0) {
    throw NetworkError(fmt::format("Kubernetes context '{}': exec in pod {}/{} failed: {}",
                                   credentials.context, target.namespace_name, target.pod,
                                   status_error));
  }
  return exit_code;
}

void ServeExecBridge(const std::filesystem::path& socket_path,
                     const ContextCredentials& credentials, const ExecTarget& target,
                     const std::vector<std::string>& command) {
  bridge::ServeUnixSocket(socket_path, [credentials, target, command](int connection) {
    BridgeConnection(credentials, target, command, connection);
  });
}

}  // namespace skycore::kubernetes
