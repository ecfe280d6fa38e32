// A minimal Kubernetes API client: JSON requests (GET, POST, PATCH, DELETE)
// over HTTPS (libcurl + OpenSSL) with a context's TLS material held in memory,
// a bearer token, timeouts and bounded retries of transient failures.
#pragma once

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "common/strings.h"
#include "infra/kubernetes/kubeconfig.h"

namespace skycore::kubernetes {

struct ApiClientOptions {
  long connect_timeout_s = 5;
  long request_timeout_s = 20;
  int max_attempts = 3;         // connection failures, 429 and 5xx are retried
  long retry_backoff_ms = 200;  // doubled after each attempt
};

// One API answer that was not an error of transport or authorization.
struct ApiResponse {
  long status = 0;
  nlohmann::json body;  // the object, or the Status object of an API error
  std::string message;  // the Status message of an API error
};

// nlohmann's parser callback: false drops the value just read (for a key, the
// key's whole value), so a large list keeps only the fields a caller reads.
using JsonFilter = nlohmann::json::parser_callback_t;

class ApiClient {
 public:
  explicit ApiClient(ContextCredentials credentials, ApiClientOptions options = {});

  // GETs `path` ("/api/v1/nodes", query already encoded) and parses the body.
  // Throws NetworkError: unreachable server (after retries), TLS failure, or
  // an API error with its HTTP status and the server's message; a 403 names
  // the user, context and namespace (an RBAC denial). A non-empty `filter`
  // prunes a successful body while it is parsed.
  nlohmann::json Get(const std::string& path, const JsonFilter& filter = nullptr) const;

  // POSTs `body` (create) and returns the created object. Errors as Get; a
  // 409 (already exists) or 422 (invalid) throws NetworkError with the
  // server's message.
  nlohmann::json Post(const std::string& path, const nlohmann::json& body) const;
  // PATCHes with a JSON merge patch and returns the object.
  nlohmann::json Patch(const std::string& path, const nlohmann::json& body) const;
  // DELETEs `path`; false when it was already gone (404), so callers can
  // delete idempotently.
  bool Delete(const std::string& path) const;

  // Sends one request and returns any HTTP answer but 401 and 403 (those
  // throw as in Get); only GETs are retried on 429 and 5xx, as a write may
  // have taken effect. A 401 to an exec plugin's credential renews it once
  // (credentials.renew) and sends the request again, as kubectl does: a
  // cached token may have been revoked or have expired early.
  ApiResponse Send(const std::string& method, const std::string& path,
                   const nlohmann::json* body = nullptr, const JsonFilter& filter = nullptr) const;

  // The context, server and user as given (a renewal changes only the
  // token or certificate).
  const ContextCredentials& credentials() const { return credentials_; }

 private:
  nlohmann::json Expect(ApiResponse response, const std::string& method,
                        const std::string& path) const;
  std::shared_ptr<const ContextCredentials> Current() const;
  // Replaces `rejected` (unless another thread already has) with renewed
  // credentials and returns the current ones.
  std::shared_ptr<const ContextCredentials> Renew(
      const std::shared_ptr<const ContextCredentials>& rejected) const;

  // A libcurl handle with the connection it keeps open (api_client.cc).
  struct Connection;
  struct ConnectionDeleter {
    void operator()(Connection* connection) const;
  };
  using ConnectionPtr = std::unique_ptr<Connection, ConnectionDeleter>;
  // The idle handle, or a new one when another request holds it.
  ConnectionPtr TakeConnection() const;
  // Keeps `connection` for the next request (keep-alive: no new TCP and TLS
  // handshake per request), or drops it when one is kept already.
  void ReturnConnection(ConnectionPtr connection) const;

  ContextCredentials credentials_;
  ApiClientOptions options_;
  mutable std::mutex connection_mutex_;
  mutable ConnectionPtr idle_connection_;
  // What requests authenticate with: credentials_ until a 401 renews them.
  mutable std::mutex auth_mutex_;
  mutable std::shared_ptr<const ContextCredentials> current_;
};

// Percent-encodes a query parameter value ("status.phase!=Failed").
using strings::UrlEncode;

}  // namespace skycore::kubernetes
