// The HTTP transport of skycore's cloud API clients: libcurl handles kept
// open between requests (keep-alive: no new TCP and TLS handshake per call),
// connect and total timeouts on every request, and the one retry loop the
// clients share (bounded attempts, jittered exponential back-off,
// Retry-After honoured).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace skycore::http {

struct HttpExchange {
  std::string method = "POST";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
  long connect_timeout_ms = 5000;
  long total_timeout_ms = 30000;
  std::string user_agent = "skycore";
};

struct HttpAnswer {
  bool transport_ok = false;  // false: no HTTP answer (refused, reset, timed out)
  bool timed_out = false;
  std::string transport_error;  // libcurl's words when !transport_ok
  long status = 0;
  std::string body;
  // Response headers, names lowercased (the last value of a repeated one).
  std::map<std::string, std::string> headers;

  // A header's value; empty when absent. `name` in lowercase.
  std::string Header(const std::string& name) const {
    const auto found = headers.find(name);
    return found == headers.end() ? std::string() : found->second;
  }
};

// A few idle libcurl handles shared by the threads of one client. Each
// request takes one (or makes one when all are busy) and gives it back.
class HttpConnections {
 public:
  HttpConnections();
  ~HttpConnections();
  HttpConnections(const HttpConnections&) = delete;
  HttpConnections& operator=(const HttpConnections&) = delete;

  // Sends `exchange` once. Never throws for what the network does.
  HttpAnswer Perform(const HttpExchange& exchange) const;

 private:
  struct Handle;
  struct HandleDeleter {
    void operator()(Handle* handle) const;
  };
  using HandlePtr = std::unique_ptr<Handle, HandleDeleter>;
  HandlePtr Take() const;
  void Give(HandlePtr handle) const;

  mutable std::mutex mutex_;
  mutable std::vector<HandlePtr> idle_;
};

// A JSON request to a cloud's REST API, authorised by a bearer token: the
// Accept header always, Content-Type when there is a body.
HttpExchange BearerJsonRequest(std::string method, std::string url, std::string body,
                               const std::string& token, std::string user_agent);

// How many times a request is sent and how long to wait between sends.
struct RetryPolicy {
  int max_attempts = 5;  // 1: no retries
  long initial_backoff_ms = 200;
  long max_backoff_ms = 10000;

  // The wait after failed attempt `attempt` (1-based): a random duration in
  // [cap/2, cap], cap = min(max_backoff, initial_backoff * 2^attempt). The
  // jitter keeps parallel provisioning threads from retrying in lockstep.
  std::chrono::milliseconds Backoff(int attempt) const;
  // The server's Retry-After (whole seconds) when it sent one, capped at
  // max_backoff; Backoff(attempt) otherwise.
  std::chrono::milliseconds WaitAfter(const HttpAnswer& answer, int attempt) const;
};

// What a client makes of one answer (or transport failure) in SendWithRetries.
enum class Verdict {
  kDone,     // hand the answer to the caller, whatever it says
  kRetry,    // send again after a wait, while attempts remain
  kRenewed,  // credentials were renewed: send again at once, not counted as an
             // attempt; honoured once per call (a second one counts as kDone)
};

// The options of a cloud client for `sky check`, which must answer quickly
// even when the cloud does not: an endpoint that accepts connections and
// never answers costs two attempts of 8 s (the clouds answer these calls
// within a second), not minutes. `Options` has connect/request timeouts and
// a `retry` policy, as every cloud client's options do.
template <typename Options>
Options CheckOptions() {
  Options options;
  options.connect_timeout_ms = 3000;
  options.request_timeout_ms = 8000;
  options.retry.max_attempts = 2;
  return options;
}

struct RetriedAnswer {
  HttpAnswer answer;  // the last one
  int attempts = 0;   // how many were counted
};

// Sends the exchange `make` builds (called for every attempt, so that each
// carries a fresh token) until `judge` says kDone or max_attempts are spent.
// `before_wait`, when set, hears of every wait before it is slept (e.g. to
// tell the user that the cloud is throttling). Never throws for what the
// network does: the caller turns the last answer into its cloud's error.
RetriedAnswer SendWithRetries(
    const HttpConnections& connections, const RetryPolicy& policy,
    const std::function<HttpExchange()>& make,
    const std::function<Verdict(const HttpAnswer&)>& judge,
    const std::function<void(const HttpAnswer&, std::chrono::milliseconds wait, int next_attempt)>&
        before_wait = nullptr);

}  // namespace skycore::http
