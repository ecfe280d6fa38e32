#include "infra/kubernetes/api_client.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <chrono>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

#include "common/strings.h"
#include "skycore/error.h"

namespace skycore::kubernetes {
namespace {

// The RBAC terms of a request: verb, resource and namespace (empty for a
// cluster-scoped one), read from its method and path.
struct RequestShape {
  std::string verb, resource, namespace_name;
};

RequestShape ShapeOf(const std::string& method, const std::string& path) {
  std::vector<std::string> parts;
  std::string_view rest(path);
  rest = rest.substr(0, rest.find('?'));
  while (!rest.empty()) {
    const size_t slash = rest.find('/');
    if (slash != 0) parts.emplace_back(rest.substr(0, slash));
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  // /api/v1/... or /apis/<group>/<version>/...
  size_t at = !parts.empty() && parts[0] == "apis" ? 3 : 2;
  RequestShape shape;
  if (at + 1 < parts.size() && parts[at] == "namespaces" && at + 2 < parts.size()) {
    shape.namespace_name = parts[at + 1];
    at += 2;
  }
  shape.resource = at < parts.size() ? parts[at] : path;
  const bool named = at + 1 < parts.size();
  if (at + 2 < parts.size()) shape.resource += "/" + parts[at + 2];  // a subresource
  if (method == "GET") {
    shape.verb = named ? "get" : "list";
  } else if (method == "POST") {
    shape.verb = "create";
  } else if (method == "PUT") {
    shape.verb = "update";
  } else {
    shape.verb = strings::Lower(method);
  }
  return shape;
}

size_t AppendBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

void SetBlob(CURL* curl, CURLoption option, const std::string& pem) {
  curl_blob blob{const_cast<char*>(pem.data()), pem.size(), CURL_BLOB_COPY};
  curl_easy_setopt(curl, option, &blob);
}

// The Status object's message, else the body's start.
std::string ApiMessage(const std::string& body) {
  auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_object() && parsed.contains("message") && parsed["message"].is_string()) {
    return parsed["message"].get<std::string>();
  }
  return body.substr(0, 300);
}

}  // namespace

struct ApiClient::Connection {
  CURL* handle = nullptr;
};

void ApiClient::ConnectionDeleter::operator()(Connection* connection) const {
  if (connection->handle) curl_easy_cleanup(connection->handle);
  delete connection;
}

ApiClient::ConnectionPtr ApiClient::TakeConnection() const {
  {
    std::lock_guard<std::mutex> lock(connection_mutex_);
    if (idle_connection_) {
      // Options go, the open connection and TLS session stay.
      curl_easy_reset(idle_connection_->handle);
      return std::move(idle_connection_);
    }
  }
  ConnectionPtr connection(new Connection);
  connection->handle = curl_easy_init();
  if (!connection->handle) throw InternalError("curl_easy_init failed");
  return connection;
}

void ApiClient::ReturnConnection(ConnectionPtr connection) const {
  if (!connection) return;
  std::lock_guard<std::mutex> lock(connection_mutex_);
  if (!idle_connection_) idle_connection_ = std::move(connection);
}

ApiClient::ApiClient(ContextCredentials credentials, ApiClientOptions options)
    : credentials_(std::move(credentials)),
      options_(options),
      current_(std::make_shared<const ContextCredentials>(credentials_)) {
  // Once, before any request: curl_easy_init would otherwise do it lazily,
  // racing when one client sends from several threads.
  static const bool curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  (void)curl_ready;
}

nlohmann::json ApiClient::Get(const std::string& path, const JsonFilter& filter) const {
  return Expect(Send("GET", path, nullptr, filter), "GET", path);
}

nlohmann::json ApiClient::Post(const std::string& path, const nlohmann::json& body) const {
  return Expect(Send("POST", path, &body), "POST", path);
}

nlohmann::json ApiClient::Patch(const std::string& path, const nlohmann::json& body) const {
  return Expect(Send("PATCH", path, &body), "PATCH", path);
}

bool ApiClient::Delete(const std::string& path) const {
  ApiResponse response = Send("DELETE", path);
  if (response.status == 404) return false;
  Expect(std::move(response), "DELETE", path);
  return true;
}

std::shared_ptr<const ContextCredentials> ApiClient::Current() const {
  std::lock_guard lock(auth_mutex_);
  return current_;
}

std::shared_ptr<const ContextCredentials> ApiClient::Renew(
    const std::shared_ptr<const ContextCredentials>& rejected) const {
  std::lock_guard lock(auth_mutex_);
  // Held while the plugin runs: concurrent requests that met the same 401
  // wait for one renewal instead of each running the plugin.
  if (current_ == rejected) {
    current_ = std::make_shared<const ContextCredentials>(rejected->renew());
  }
  return current_;
}

nlohmann::json ApiClient::Expect(ApiResponse response, const std::string& method,
                                 const std::string& path) const {
  if (response.status >= 200 && response.status < 300) return std::move(response.body);
  throw NetworkError(fmt::format("Kubernetes context '{}': {} {} failed: HTTP {}: {}",
                                 credentials_.context, method, path, response.status,
                                 response.message));
}

ApiResponse ApiClient::Send(const std::string& method, const std::string& path,
                            const nlohmann::json* body, const JsonFilter& filter) const {
  auto current = Current();
  bool renewed = false;
  const std::string url = current->server + path;
  const std::string payload = body ? body->dump() : std::string();
  // Only requests that cannot have taken effect are retried: all of them on
  // a connection failure, GETs alone on 429 and 5xx.
  const bool idempotent = method == "GET";
  long backoff_ms = options_.retry_backoff_ms;
  std::string last_error;
  for (int attempt = 1; attempt <= std::max(1, options_.max_attempts); ++attempt) {
    // Back to the idle slot however this attempt ends.
    struct Lease {
      const ApiClient* client;
      ConnectionPtr connection;
      ~Lease() { client->ReturnConnection(std::move(connection)); }
    } lease{this, TakeConnection()};
    CURL* handle = lease.connection->handle;
    const ContextCredentials& creds = *current;
    std::string response_body;
    char error_buffer[CURL_ERROR_SIZE] = {0};
    std::unique_ptr<curl_slist, SlistDeleter> headers(
        curl_slist_append(nullptr, "Accept: application/json"));
    if (!creds.token.empty()) {
      headers.reset(
          curl_slist_append(headers.release(), ("Authorization: Bearer " + creds.token).c_str()));
    }
    if (body) {
      // PATCH bodies are JSON merge patches: a partial object, as SkyPilot sends.
      headers.reset(curl_slist_append(
          headers.release(), method == "PATCH" ? "Content-Type: application/merge-patch+json"
                                               : "Content-Type: application/json"));
    }
    curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
    curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, method.c_str());
    if (body) {
      curl_easy_setopt(handle, CURLOPT_POSTFIELDS, payload.c_str());
      curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE, static_cast<long>(payload.size()));
    }
    curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, AppendBody);
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, &response_body);
    curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT, options_.connect_timeout_s);
    curl_easy_setopt(handle, CURLOPT_TIMEOUT, options_.request_timeout_s);
    curl_easy_setopt(handle, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(handle, CURLOPT_USERAGENT, "skycore/kubernetes");
    if (!creds.ca_pem.empty()) SetBlob(handle, CURLOPT_CAINFO_BLOB, creds.ca_pem);
    if (creds.insecure_skip_tls_verify) {
      curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (!creds.client_cert_pem.empty()) {
      SetBlob(handle, CURLOPT_SSLCERT_BLOB, creds.client_cert_pem);
      curl_easy_setopt(handle, CURLOPT_SSLCERTTYPE, "PEM");
      SetBlob(handle, CURLOPT_SSLKEY_BLOB, creds.client_key_pem);
      curl_easy_setopt(handle, CURLOPT_SSLKEYTYPE, "PEM");
    }
    const CURLcode code = curl_easy_perform(handle);
    long status = 0;
    curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
    // The API server answers some requests (a 401 to a POST) before reading
    // their body and then resets the HTTP/2 stream, which libcurl 7.x reports
    // as a partial transfer: the error answer itself is complete.
    const bool answered_early =
        status >= 400 && (code == CURLE_PARTIAL_FILE || code == CURLE_HTTP2_STREAM ||
                          code == CURLE_HTTP2 || code == CURLE_SEND_ERROR);
    if (code != CURLE_OK && !answered_early) {
      last_error = error_buffer[0] ? error_buffer : curl_easy_strerror(code);
      const bool tls = code == CURLE_PEER_FAILED_VERIFICATION || code == CURLE_SSL_CERTPROBLEM ||
                       code == CURLE_SSL_CACERT_BADFILE;
      if (tls) {
        throw NetworkError(fmt::format(
            "Kubernetes context '{}': TLS with {} failed: {}; check the cluster's "
            "certificate-authority and the user's client certificate in your kubeconfig",
            creds.context, creds.server, last_error));
      }
      if (code == CURLE_OPERATION_TIMEDOUT && !idempotent) {
        // The server may have acted on it: the caller must look, not resend.
        throw NetworkError(fmt::format("Kubernetes context '{}': {} {} timed out: {}",
                                       creds.context, method, path, last_error));
      }
    } else {
      if (status >= 200 && status < 300) {
        auto parsed = response_body.empty() ? nlohmann::json::object()
                                            : nlohmann::json::parse(response_body, filter, false);
        if (parsed.is_discarded()) {
          throw NetworkError(fmt::format("Kubernetes context '{}': {} {} returned invalid JSON",
                                         creds.context, method, path));
        }
        return {status, std::move(parsed), ""};
      }
      const std::string message = ApiMessage(response_body);
      if (status == 401 && creds.renew && !renewed) {
        current = Renew(current);
        renewed = true;
        --attempt;  // not a failed attempt: the same request with a new credential
        continue;
      }
      if (status == 401) {
        throw NetworkError(fmt::format(
            "Kubernetes context '{}': the API server at {} rejected the credentials of user "
            "'{}' (HTTP 401 Unauthorized: {}); {}",
            creds.context, creds.server, creds.user_name, message,
            creds.renew ? "its exec credential plugin returned a credential the server does not "
                          "accept; check the plugin's configuration and login"
                        : "refresh them in your kubeconfig"));
      }
      if (status == 403) {
        const RequestShape shape = ShapeOf(method, path);
        throw NetworkError(fmt::format(
            "Kubernetes context '{}': user '{}' is not allowed to {} {} {} ({} {}: HTTP 403 "
            "Forbidden, RBAC: {}). The context's namespace is '{}'; ask the cluster admin for "
            "a role that allows this, or use another context",
            creds.context, creds.user_name, shape.verb, shape.resource,
            shape.namespace_name.empty() ? std::string("cluster-wide")
                                         : fmt::format("in namespace '{}'", shape.namespace_name),
            method, path, message, creds.namespace_name));
      }
      last_error = fmt::format("HTTP {}: {}", status, message);
      if ((status != 429 && status < 500) || !idempotent) {
        auto parsed = nlohmann::json::parse(response_body, nullptr, false);
        return {status, parsed.is_discarded() ? nlohmann::json() : std::move(parsed), message};
      }
    }
    if (attempt < options_.max_attempts) {
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
      backoff_ms *= 2;
    }
  }
  throw NetworkError(fmt::format(
      "Kubernetes context '{}': the API server at {} is unreachable ({}, after {} attempts); "
      "check that the cluster is running and the kubeconfig's server address",
      current->context, current->server, last_error, options_.max_attempts));
}

}  // namespace skycore::kubernetes
