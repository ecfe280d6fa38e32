// A client of Compute Engine v1: JSON over HTTPS with a bearer token from
// Application Default Credentials (credentials.h), and GCE's operations.
//
// Every mutation answers an Operation (PENDING, RUNNING, then DONE, with an
// `error` when it failed: a stockout or a quota is reported there, not as
// the HTTP status of the call). Wait asks the operation's `wait` method,
// which returns when it is DONE or after a while (GCE: two minutes), until
// it is DONE or the deadline passes.
//
// Throttling (429, 403 rateLimitExceeded), GCE's own failures (5xx) and
// connection failures are retried a bounded number of times with jittered
// exponential back-off, honouring Retry-After; an expired token is renewed
// once. Every request has a connect and a total timeout.
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/http_client.h"
#include "infra/gcp/credentials.h"
#include "skycore/error.h"

namespace skycore::gcp {

// What GCE said about a failed call or operation.
struct GcpErrorDetail {
  std::string method;
  std::string path;    // under the endpoint, without the query
  std::string reason;  // "notFound", "quotaExceeded"; an operation's code: "QUOTA_EXCEEDED"
  std::string message;
  long http_status = 0;         // 0: no HTTP answer
  bool from_operation = false;  // the call was accepted; its operation failed
  int attempts = 1;
};

class GcpApiError : public NetworkError {
 public:
  GcpApiError(std::string message, GcpErrorDetail detail)
      : NetworkError(std::move(message)), detail_(std::move(detail)) {}
  const GcpErrorDetail& detail() const { return detail_; }
  const std::string& reason() const { return detail_.reason; }

 private:
  GcpErrorDetail detail_;
};

// GCE refused the token (401) or the project is not the caller's (403
// forbidden, accessNotConfigured, ...).
class GcpCredentialsRefused : public InvalidCloudCredentials {
 public:
  GcpCredentialsRefused(std::string message, GcpErrorDetail detail)
      : InvalidCloudCredentials(std::move(message)), detail_(std::move(detail)) {}
  const GcpErrorDetail& detail() const { return detail_; }

 private:
  GcpErrorDetail detail_;
};

// The reason and message of an error document ({"error": {"code", "message",
// "errors": [{"reason", "message"}]}}).
GcpErrorDetail ParseGcpError(const std::string& body);

struct ComputeClientOptions {
  long connect_timeout_ms = 5000;
  long request_timeout_ms = 60000;  // `wait` blocks on GCE's side for up to two minutes
  http::RetryPolicy retry;
};

class ComputeClient {
 public:
  // `endpoint`: "https://compute.googleapis.com/compute/v1/" (or a test's fake).
  ComputeClient(std::string endpoint, std::string project, std::shared_ptr<TokenProvider> tokens,
                ComputeClientOptions options = {});

  const std::string& project() const { return project_; }
  const std::string& endpoint() const { return endpoint_; }
  TokenProvider& tokens() const { return *tokens_; }

  // "projects/<project>/" + `rest`: the paths every call below takes.
  std::string ProjectPath(const std::string& rest) const;

  // GET; nullopt for 404.
  std::optional<nlohmann::json> Get(const std::string& path) const;
  // Every item of a list (`items_key`: GCE's `items`, an aggregated list's
  // per-scope lists flattened; the TPU API's `nodes`), following
  // nextPageToken (bounded). `filter` as GCE takes it.
  std::vector<nlohmann::json> List(const std::string& path, const std::string& filter = "",
                                   const std::string& items_key = "items") const;

  // Starts a mutation; returns its Operation. Throws GcpApiError when GCE
  // refuses the call itself.
  nlohmann::json Begin(const std::string& method, const std::string& path,
                       const nlohmann::json& body = nullptr) const;
  // Waits for `operation` to be DONE (or the deadline: GcpApiError
  // "did not finish"); a failed operation throws GcpApiError with its
  // error's code as reason (from_operation).
  void Wait(const nlohmann::json& operation, std::chrono::steady_clock::time_point deadline) const;
  // Polls a google.longrunning Operation (the TPU API's: {"name", "done",
  // "error": {"code", "message"}}) by its name until it is done or the
  // deadline; a failed one throws GcpApiError whose reason is the
  // google.rpc code's name ("RESOURCE_EXHAUSTED"), from_operation.
  void WaitLongRunning(const nlohmann::json& operation,
                       std::chrono::steady_clock::time_point deadline) const;
  // Begin + Wait. A DELETE of what does not exist is done.
  void Run(const std::string& method, const std::string& path, const nlohmann::json& body,
           std::chrono::steady_clock::time_point deadline) const;

 private:
  struct Answer {
    long status = 0;
    nlohmann::json body;
    http::HttpAnswer raw;
    int attempts = 1;  // sends it took (retries of throttling and 5xx included)
  };
  Answer Send(const std::string& method, const std::string& url, const std::string& body) const;
  [[noreturn]] void Fail(const std::string& method, const std::string& url,
                         const Answer& answer) const;

  std::string endpoint_;
  std::string project_;
  std::shared_ptr<TokenProvider> tokens_;
  ComputeClientOptions options_;
  http::HttpConnections connections_;
};

}  // namespace skycore::gcp
