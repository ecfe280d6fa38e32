// A minimal Kubernetes API client: GET of JSON over HTTPS (libcurl + OpenSSL)
// with a context's TLS material held in memory, a bearer token, timeouts and
// bounded retries of transient failures.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "kubernetes/kubeconfig.h"

namespace skycore::kubernetes {

struct ApiClientOptions {
  long connect_timeout_s = 5;
  long request_timeout_s = 20;
  int max_attempts = 3;         // connection failures, 429 and 5xx are retried
  long retry_backoff_ms = 200;  // doubled after each attempt
};

class ApiClient {
 public:
  explicit ApiClient(ContextCredentials credentials, ApiClientOptions options = {});

  // GETs `path` ("/api/v1/nodes", query already encoded) and parses the body.
  // Throws NetworkError: unreachable server (after retries), TLS failure, or
  // an API error with its HTTP status and the server's message; a 403 names
  // the user, context and namespace (an RBAC denial).
  nlohmann::json Get(const std::string& path) const;

  const ContextCredentials& credentials() const { return credentials_; }

 private:
  ContextCredentials credentials_;
  ApiClientOptions options_;
};

// Percent-encodes a query parameter value ("status.phase!=Failed").
std::string UrlEncode(std::string_view text);

}  // namespace skycore::kubernetes
