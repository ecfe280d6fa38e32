// The HTTP transport of skycore's cloud API clients: libcurl handles kept
// open between requests (keep-alive: no new TCP and TLS handshake per call),
// connect and total timeouts on every request.
#pragma once

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

}  // namespace skycore::http
