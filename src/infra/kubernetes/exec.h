// Commands in a pod through the API server's exec subresource: a websocket
// (Boost.Beast over OpenSSL, with the context's TLS material and token)
// speaking `v5.channel.k8s.io`, or `v4.channel.k8s.io` when the server knows
// no better. Each binary message is one channel's bytes, its first byte the
// channel: 0 stdin, 1 stdout, 2 stderr, 3 the final Status (the exit code),
// 255 "close channel N" (v5 only: v4 cannot end stdin, so commands given
// input here read a known number of bytes). When the server or a proxy
// before it refuses the websocket upgrade, the exec goes over SPDY/3.1 as
// kubectl's does (exec_spdy.h).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "infra/kubernetes/kubeconfig.h"

namespace skycore::kubernetes {

// How an exec reaches the pod. kAuto: the websocket, and SPDY/3.1 when the
// upgrade is answered with anything but 101 (an authentication error, 401
// or 403, is reported as it is).
enum class ExecProtocol { kAuto, kWebSocket, kSpdy };

// `SKYCORE_K8S_EXEC_PROTOCOL`'s values: "auto" (or unset/empty),
// "websocket", "spdy" — the analogue of kubectl's
// `KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false`. Throws
// InvalidSkyPilotConfigError for any other.
ExecProtocol ExecProtocolFromName(std::string_view name);
inline constexpr const char* kExecProtocolVariable = "SKYCORE_K8S_EXEC_PROTOCOL";

struct ExecTarget {
  std::string namespace_name;
  std::string pod;
  std::string container;  // empty: the pod's only container
  ExecProtocol protocol = ExecProtocol::kAuto;
};

struct ExecResult {
  int exit_code = 0;  // -1: the command could not be run (see `error`)
  std::string out;
  std::string err;
  std::string error;  // the Status message when the exec itself failed
};

// Runs `command` (an argv; no shell unless it names one) in the pod with
// `input` on its stdin (none when empty). Stdin is not closed after it: the
// command must read a known number of bytes (`head -c N`). Returns whatever exit code the
// command has; throws NetworkError when the server cannot be reached, refuses
// the exec (its status and message: 403, pod not found, not running) or
// `timeout_s` passes.
ExecResult Exec(const ContextCredentials& credentials, const ExecTarget& target,
                const std::vector<std::string>& command, std::string_view input, double timeout_s);

// Runs `command` in the pod as a stream: bytes read from `in_fd` (a pipe,
// socket or terminal) go to its stdin as they arrive, and the end of `in_fd`
// ends its stdin (v5; a v4 stream cannot say so and is cut instead); its
// stdout and stderr are written to `out_fd` and `err_fd` as they arrive.
// Blocks until the command ends and returns its exit code. Throws
// NetworkError when the server cannot be reached or refuses the exec (pod
// not found: 404), or when the stream breaks or ends without an exit status
// (the pod or the API server went away): the caller cannot know how the
// command ended. A stream quiet for half of `idle_timeout_s` is pinged, and
// one that answers nothing, not even the ping, within `idle_timeout_s` is
// taken for broken.
int ExecStreaming(const ContextCredentials& credentials, const ExecTarget& target,
                  const std::vector<std::string>& command, int in_fd, int out_fd, int err_fd,
                  double idle_timeout_s = 30);

// Serves the Unix socket `socket_path` for the rest of this process on a
// background thread: each connection accepted there is bridged to a fresh
// exec of `command` (its stdin and stdout carry the connection's bytes).
// Idempotent per path. Throws IoError when the socket cannot be made.
void ServeExecBridge(const std::filesystem::path& socket_path,
                     const ContextCredentials& credentials, const ExecTarget& target,
                     const std::vector<std::string>& command);

}  // namespace skycore::kubernetes
