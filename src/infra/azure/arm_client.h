// A client of Azure Resource Manager: JSON over HTTPS with a bearer token
// from the credential chain (credentials.h), and ARM's long-running
// operation protocol.
//
// A PUT, POST or DELETE that ARM runs asynchronously answers 201/202 with an
// `Azure-AsyncOperation` URL (an operation status: InProgress, then
// Succeeded, Failed or Canceled with an `error`) and/or a `Location` URL
// (202 while running, 200/204 when done); `Retry-After` says when to ask
// again. Begin starts one, Wait polls it to its end.
//
// Throttling (429), ARM's own failures (5xx) and connection failures are
// retried a bounded number of times with jittered exponential back-off,
// honouring Retry-After; an expired token is renewed once. Every request has
// a connect and a total timeout.
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/http_client.h"
#include "infra/azure/credentials.h"
#include "skycore/error.h"

namespace skycore::azure {

// What ARM said about a failed call.
struct ArmErrorDetail {
  std::string method;
  std::string path;  // without the endpoint and query
  std::string code;  // "AllocationFailed"; empty without an error document
  std::string message;
  long http_status = 0;         // 0: no HTTP answer; the polled status of a failed operation
  bool from_operation = false;  // the long-running operation failed (not the request)
  int attempts = 1;
};

class ArmApiError : public NetworkError {
 public:
  ArmApiError(std::string message, ArmErrorDetail detail)
      : NetworkError(std::move(message)), detail_(std::move(detail)) {}
  const ArmErrorDetail& detail() const { return detail_; }
  const std::string& arm_code() const { return detail_.code; }

 private:
  ArmErrorDetail detail_;
};

// ARM refused the token (InvalidAuthenticationToken, AuthorizationFailed,
// ...) or the subscription is not the caller's.
class ArmCredentialsRefused : public InvalidCloudCredentials {
 public:
  ArmCredentialsRefused(std::string message, ArmErrorDetail detail)
      : InvalidCloudCredentials(std::move(message)), detail_(std::move(detail)) {}
  const ArmErrorDetail& detail() const { return detail_; }

 private:
  ArmErrorDetail detail_;
};

// The code and message of an ARM error document ({"error": {"code",
// "message", "details": [...]}}); a detail's code when the outer one is a
// wrapper ("DeploymentFailed", "InvalidTemplateDeployment").
ArmErrorDetail ParseArmError(const std::string& body);

struct ArmClientOptions {
  long connect_timeout_ms = 5000;
  long request_timeout_ms = 30000;
  http::RetryPolicy retry;
  // How long to wait between polls when ARM sends no Retry-After.
  std::chrono::milliseconds default_poll{1000};
  // Retry-After is honoured up to this (a real operation says 10-60 s; a
  // launch asks often enough to notice a VM that is ready sooner).
  std::chrono::milliseconds max_poll{5000};
};

// A long-running operation ARM accepted.
struct ArmOperation {
  std::string method;
  std::string path;  // the resource's
  std::string api_version;
  std::string async_url;     // Azure-AsyncOperation
  std::string location_url;  // Location
  std::chrono::milliseconds retry_after{0};
  bool done = false;    // ARM finished it synchronously (200/204)
  nlohmann::json body;  // the first answer's body
};

class ArmClient {
 public:
  // `endpoint`: "https://management.azure.com" (or a test's fake).
  ArmClient(std::string endpoint, std::string subscription, std::shared_ptr<TokenProvider> tokens,
            ArmClientOptions options = {});

  const std::string& subscription() const { return subscription_; }
  const std::string& endpoint() const { return endpoint_; }
  TokenProvider& tokens() const { return *tokens_; }

  // "/subscriptions/<sub>" + `rest`.
  std::string SubscriptionPath(const std::string& rest) const;

  // GET; nullopt for 404 (ResourceNotFound, ResourceGroupNotFound, ...).
  std::optional<nlohmann::json> Get(const std::string& path, const std::string& api_version) const;
  // Every item of a list, following nextLink (bounded).
  std::vector<nlohmann::json> List(const std::string& path, const std::string& api_version) const;

  // Starts an operation; throws ArmApiError when ARM refuses it.
  ArmOperation Begin(const std::string& method, const std::string& path,
                     const std::string& api_version, const nlohmann::json& body = nullptr) const;
  // Polls `operation` to its end (or the deadline: ArmApiError "did not
  // finish"). Returns the resource after a PUT; null otherwise. A failed
  // operation throws ArmApiError with its error's code (from_operation).
  nlohmann::json Wait(const ArmOperation& operation,
                      std::chrono::steady_clock::time_point deadline) const;
  // Begin + Wait. A DELETE of what does not exist is done.
  nlohmann::json Run(const std::string& method, const std::string& path,
                     const std::string& api_version, const nlohmann::json& body,
                     std::chrono::steady_clock::time_point deadline) const;

 private:
  struct Answer {
    long status = 0;
    nlohmann::json body;
    http::HttpAnswer raw;
    int attempts = 1;  // sends it took (retries of throttling and 5xx included)
  };
  // One call with retries; throws for transport failures after the retries
  // and for refused credentials. `url` is absolute.
  Answer Send(const std::string& method, const std::string& url, const std::string& body) const;
  [[noreturn]] void Fail(const std::string& method, const std::string& url,
                         const Answer& answer) const;
  std::string Url(const std::string& path, const std::string& api_version) const;

  std::string endpoint_;
  std::string subscription_;
  std::shared_ptr<TokenProvider> tokens_;
  ArmClientOptions options_;
  http::HttpConnections connections_;
};

// Retry-After as a duration (seconds, or an HTTP date); nullopt when absent.
std::optional<std::chrono::milliseconds> ParseRetryAfter(const std::string& value);

}  // namespace skycore::azure
