// What the two exec transports share: the exec URL, the TLS connection to the
// API server, and the interface exec.cc drives either through. The websocket
// transport lives in exec.cc, the SPDY/3.1 one in exec_spdy.cc; both hand up
// the same channels (0 stdin, 1 stdout, 2 stderr, 3 the final Status).
#pragma once

// clang-format off
#include <utility>  // first: Boost 1.74's awaitable.hpp uses std::exchange without it
// clang-format on

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "infra/kubernetes/exec.h"
#include "infra/kubernetes/kubeconfig.h"
#include "skycore/error.h"

namespace skycore::kubernetes::exec_transport {

using boost::asio::awaitable;
using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

inline constexpr int kStdin = 0, kStdout = 1, kStderr = 2, kStatus = 3;

struct ServerAddress {
  std::string host;
  std::string port;
  std::string prefix;  // a path the API is served under ("" mostly)
};

// The host, port and path prefix of the context's https:// server; throws
// NotSupportedError for any other scheme.
ServerAddress ParseServer(const ContextCredentials& creds);

// The exec subresource's path and query for `command`.
std::string ExecPath(const ServerAddress& address, const ExecTarget& target,
                     const std::vector<std::string>& command, bool with_stdin);

// A TLS client context with the context's CA (or the system's) and client
// certificate.
boost::asio::ssl::context MakeTls(const ContextCredentials& creds);

// Resolves, connects (within 10 s) and does the TLS handshake, with SNI and
// host name verification unless the context skips verification. Throws
// boost::system::system_error.
awaitable<void> ConnectTls(TlsStream& stream, const ServerAddress& address,
                           const ContextCredentials& creds);

// The error for an exec whose upgrade the server answered with `status`
// instead of 101: a 403 names the RBAC permission, anything else the status
// and the server's message (a v1 Status's `message`, or the body).
NetworkError UpgradeRefused(const ContextCredentials& creds, const ExecTarget& target, int status,
                            const std::string& body);

// Whether `code` is how a stream ends rather than breaks: EOF, a reset or
// truncated TLS after the exit status, our own abort.
bool IsEndOfStream(const boost::system::error_code& code);

// One exec connection, whatever carries it.
class ExecStream {
 public:
  virtual ~ExecStream() = default;

  // Connects and upgrades. False when the server answered the upgrade with
  // a status other than 101 that is no authentication error: the other
  // protocol may fare better, and `Refusal()` is the error to report if not.
  // Throws NetworkError for anything else (unreachable, 401, 403).
  virtual awaitable<bool> Open(const ExecTarget& target, const std::vector<std::string>& command,
                               bool with_stdin) = 0;
  virtual NetworkError Refusal() const = 0;

  // Whether the end of stdin can be told to the command (websocket v5 and
  // SPDY can, websocket v4 cannot).
  virtual bool CanCloseStdin() const = 0;

  // Ends the stream (a NetworkError in Receive) when nothing arrives within
  // `idle_s`, pinging it at half of that where the protocol allows.
  virtual void KeepAlive(double idle_s) = 0;

  virtual awaitable<void> SendStdin(std::string_view data) = 0;
  virtual awaitable<void> CloseStdin() = 0;

  // The next channel's bytes; false once the stream has ended.
  virtual awaitable<bool> Receive(int& channel, std::string& data) = 0;

  // Closes the connection at once; pending operations end.
  virtual void Abort() = 0;
};

}  // namespace skycore::kubernetes::exec_transport
