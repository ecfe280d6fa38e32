// A client of RunPod's GraphQL API (https://api.runpod.io/graphql), and the
// API key it sends.
//
// Every request is one POST of {"query": DOC, "variables": {...}} with the
// key as `Authorization: Bearer KEY`. Documents are constants; everything a
// user wrote (names, images, keys) travels in `variables`, so no user text
// is ever spliced into GraphQL.
//
// RunPod answers a wrong key with HTTP 401, a malformed document with HTTP
// 400, and a field that failed (no capacity, bad input) with HTTP 200,
// `{"errors": [{"message", "extensions": {"code"}}], "data": {field: null}}`.
// Each becomes a typed error carrying RunPod's message. Throttling (429) and
// RunPod's own failures (5xx) are retried a bounded number of times with
// jittered back-off; every request has a connect and a total timeout.
#pragma once

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/environment.h"
#include "common/http_client.h"
#include "skycore/error.h"

namespace skycore::runpod {

using EnvLookup = env::Lookup;  // tests pass a map

inline constexpr const char* kDefaultEndpoint = "https://api.runpod.io/graphql";

// The API key and where it came from.
struct ApiKey {
  std::string key;
  std::string source;  // "RUNPOD_API_KEY", "/path/config.toml ([default] api_key)"
};

// The key, from the first of: RUNPOD_API_KEY; the file named by
// SKYCORE_RUNPOD_CONFIG_FILE; ~/.runpod/config.toml (what `runpod config`
// writes: `[default]` then `api_key = "KEY"`). Throws InvalidCloudCredentials
// naming what was tried when none has a key, or when a named file is
// unreadable or has no key in [default].
ApiKey FindApiKey(const EnvLookup& env);

// `api_key` of the `[default]` table of a config.toml's text; nullopt when
// absent. Understands what the runpod SDK writes (basic and literal strings,
// comments), not all of TOML.
std::optional<std::string> ApiKeyFromToml(const std::string& text);

// What RunPod said about a failed request.
struct RunpodErrorDetail {
  std::string operation;  // the document's root field ("podFindAndDeployOnDemand")
  std::string message;    // RunPod's words; the body's start without an error document
  std::string code;       // extensions.code ("RUNPOD", "GRAPHQL_VALIDATION_FAILED"); may be empty
  long http_status = 0;   // 0: no HTTP answer
  int attempts = 1;
};

class RunpodApiError : public NetworkError {
 public:
  RunpodApiError(std::string message, RunpodErrorDetail detail)
      : NetworkError(std::move(message)), detail_(std::move(detail)) {}
  const RunpodErrorDetail& detail() const { return detail_; }

 private:
  RunpodErrorDetail detail_;
};

// RunPod refused the key (HTTP 401/403, "Unauthorized").
class RunpodCredentialsRefused : public InvalidCloudCredentials {
 public:
  RunpodCredentialsRefused(std::string message, RunpodErrorDetail detail)
      : InvalidCloudCredentials(std::move(message)), detail_(std::move(detail)) {}
  const RunpodErrorDetail& detail() const { return detail_; }

 private:
  RunpodErrorDetail detail_;
};

struct RunpodClientOptions {
  long connect_timeout_ms = 5000;
  long request_timeout_ms = 30000;
  http::RetryPolicy retry{4, 200, 5000};
};

// The request body of a document and its variables (null: none).
std::string RequestBody(const std::string& document, const nlohmann::json& variables);

// The errors of a GraphQL answer's body as one detail (the first error's
// message and code; the others' messages appended).
RunpodErrorDetail ParseRunpodError(const std::string& body);

class RunpodClient {
 public:
  // `endpoint`: the GraphQL URL (kDefaultEndpoint, or a test's fake).
  RunpodClient(std::string endpoint, ApiKey key, RunpodClientOptions options = {});

  const std::string& endpoint() const { return endpoint_; }
  const ApiKey& key() const { return key_; }

  // Runs `document` and returns its `data`. `operation` names the root
  // field for messages. Throws RunpodCredentialsRefused, or RunpodApiError
  // for every other failure (an `errors` entry included, even beside data).
  nlohmann::json Execute(const std::string& operation, const std::string& document,
                         const nlohmann::json& variables = nullptr) const;

 private:
  std::string endpoint_;
  ApiKey key_;
  RunpodClientOptions options_;
  http::HttpConnections connections_;
};

}  // namespace skycore::runpod
