// A client of Lambda Cloud's REST API v1: JSON over HTTPS with the account's
// API key as a bearer token. Answers are {"data": ...}; errors
// {"error": {"code", "message", "suggestion"?}}, the code naming what went
// wrong ("instance-operations/launch/insufficient-capacity",
// "global/invalid-api-key", "global/quota-exceeded", ...).
//
// The key is read as SkyPilot reads it, with two sources before its file:
//   LAMBDA_API_KEY, then the file named by SKYCORE_LAMBDA_KEYS_FILE, then
//   ~/.lambda_cloud/lambda_keys ("api_key = KEY" lines).
//
// Throttling (429) is retried a bounded number of times with jittered
// exponential back-off, honouring Retry-After (Lambda allows about one
// launch per 10 s); Lambda's own failures (5xx) and connection failures
// likewise, except for a launch, which may have made instances before it
// failed (RunInstances finds them by name when asked again). Every request
// has a connect and a total timeout.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/environment.h"
#include "common/http_client.h"
#include "skycore/error.h"

namespace skycore::lambda {

inline constexpr const char* kDefaultEndpoint = "https://cloud.lambdalabs.com/api/v1";

using EnvLookup = env::Lookup;  // tests pass a map

// The API key and where it came from ("LAMBDA_API_KEY",
// "SKYCORE_LAMBDA_KEYS_FILE=/path", "/home/me/.lambda_cloud/lambda_keys").
struct ApiKey {
  std::string key;
  std::string source;
};

// The `api_key` of a lambda_keys file's text; nullopt when it has none.
std::optional<std::string> ParseLambdaKeys(const std::string& text);

// The first source that has a key. Throws InvalidCloudCredentials naming
// every source tried, or the file that is unreadable or has no api_key (a
// named file that fails is not skipped: it was meant to be used).
ApiKey ResolveApiKey(const EnvLookup& env);

// What Lambda said about a failed call.
struct LambdaErrorDetail {
  std::string method;
  std::string path;  // after the endpoint
  std::string code;  // "global/quota-exceeded"; empty without an error document
  std::string message;
  std::string suggestion;
  long http_status = 0;  // 0: no HTTP answer
  int attempts = 1;
};

class LambdaApiError : public NetworkError {
 public:
  LambdaApiError(std::string message, LambdaErrorDetail detail)
      : NetworkError(std::move(message)), detail_(std::move(detail)) {}
  const LambdaErrorDetail& detail() const { return detail_; }
  const std::string& lambda_code() const { return detail_.code; }

 private:
  LambdaErrorDetail detail_;
};

// Lambda refused the key (global/invalid-api-key, an inactive account).
class LambdaCredentialsRefused : public InvalidCloudCredentials {
 public:
  LambdaCredentialsRefused(std::string message, LambdaErrorDetail detail)
      : InvalidCloudCredentials(std::move(message)), detail_(std::move(detail)) {}
  const LambdaErrorDetail& detail() const { return detail_; }

 private:
  LambdaErrorDetail detail_;
};

// The code, message and suggestion of an error document.
LambdaErrorDetail ParseLambdaError(const std::string& body);

struct LambdaClientOptions {
  long connect_timeout_ms = 5000;
  long request_timeout_ms = 30000;
  // Lambda throttles launches to about one per 10 s: waits grow to 12 s.
  http::RetryPolicy retry{5, 500, 12000};
  // Told each time a throttled request (429) is about to be asked again.
  std::function<void(const std::string&)> on_throttled;
};

// POST /instance-operations/launch's body, as SkyPilot sends it.
nlohmann::json LaunchBody(const std::string& region, const std::string& instance_type,
                          const std::string& ssh_key_name, int quantity, const std::string& name);

class LambdaClient {
 public:
  // `endpoint`: "https://cloud.lambdalabs.com/api/v1" (or a test's fake).
  LambdaClient(std::string endpoint, ApiKey key, LambdaClientOptions options = {});

  const std::string& endpoint() const { return endpoint_; }
  const ApiKey& key() const { return key_; }
  const LambdaClientOptions& options() const { return options_; }

  // {TYPE: {"instance_type": {...}, "regions_with_capacity_available": [...]}}.
  nlohmann::json InstanceTypes() const;
  std::vector<nlohmann::json> ListInstances() const;
  std::vector<nlohmann::json> SshKeys() const;
  void AddSshKey(const std::string& name, const std::string& public_key) const;
  // The ids of the new instances.
  std::vector<std::string> Launch(const std::string& region, const std::string& instance_type,
                                  const std::string& ssh_key_name, int quantity,
                                  const std::string& name) const;
  void Terminate(const std::vector<std::string>& instance_ids) const;
  std::vector<nlohmann::json> FirewallRules() const;
  void SetFirewallRules(const std::vector<nlohmann::json>& rules) const;

  // One call; returns the answer's `data`. Throws LambdaApiError (or
  // LambdaCredentialsRefused) for an error answer, after the retries.
  nlohmann::json Call(const std::string& method, const std::string& path,
                      const nlohmann::json& body = nullptr, bool retry_server_errors = true) const;

 private:
  std::string endpoint_;
  ApiKey key_;
  LambdaClientOptions options_;
  http::HttpConnections connections_;
};

}  // namespace skycore::lambda
