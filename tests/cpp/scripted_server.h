// A scripted HTTP/1.1 server on 127.0.0.1 for the cloud API clients'
// tests: each request gets the next scripted response (the last repeats).
#pragma once

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace skycore::testing {

struct ScriptedResponse {
  int status = 200;
  std::string body;
  int delay_ms = 0;
  std::string content_type = "text/xml";
  std::vector<std::string> headers = {};  // more response headers, "Name: value"
};

struct SeenRequest {
  std::string method;
  std::string path;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// An HTTP/1.1 server on 127.0.0.1 answering each request with the next
// scripted response (the last one repeats), keeping connections alive.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::vector<ScriptedResponse> script)
      : script_(script.begin(), script.end()) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    ::listen(listen_fd_, 16);
    socklen_t size = sizeof(address);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &size);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedServer() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
    ::close(listen_fd_);
  }

  std::string url() const { return fmt::format("http://127.0.0.1:{}", port_); }
  // A new script (for answers that must name the server's own URL).
  void Script(std::vector<ScriptedResponse> script) {
    std::lock_guard lock(mutex_);
    script_.assign(script.begin(), script.end());
  }
  std::vector<SeenRequest> seen() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }

 private:
  bool Stopping() {
    std::lock_guard lock(mutex_);
    return stopping_;
  }

  void Serve() {
    while (!Stopping()) {
      pollfd listen{listen_fd_, POLLIN, 0};
      if (::poll(&listen, 1, 50) <= 0) continue;
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      ServeConnection(fd);
      ::close(fd);
    }
  }

  // Requests on one connection until the client closes it or another
  // connection waits (a client that gave up opens a new one).
  void ServeConnection(int fd) {
    std::string buffer;
    while (!Stopping()) {
      size_t header_end;
      while ((header_end = buffer.find("\r\n\r\n")) == std::string::npos) {
        if (!ReadMore(fd, buffer)) return;
      }
      SeenRequest request;
      std::string head = buffer.substr(0, header_end);
      buffer.erase(0, header_end + 4);
      std::istringstream lines(head);
      std::string line;
      std::getline(lines, line);
      std::istringstream first(line);
      first >> request.method >> request.path;
      size_t length = 0;
      while (std::getline(lines, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = line.substr(0, colon);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        if (name == "content-length") length = std::stoul(value);
        request.headers[name] = value;
      }
      while (buffer.size() < length) {
        if (!ReadMore(fd, buffer)) return;
      }
      request.body = buffer.substr(0, length);
      buffer.erase(0, length);
      ScriptedResponse response;
      {
        std::unique_lock lock(mutex_);
        seen_.push_back(request);
        response = script_.front();
        if (script_.size() > 1) script_.pop_front();
        if (response.delay_ms > 0) {
          wake_.wait_for(lock, std::chrono::milliseconds(response.delay_ms),
                         [this] { return stopping_; });
          return;  // a delayed answer is never sent: the client has timed out
        }
      }
      std::string extra;
      for (const auto& header : response.headers) extra += header + "\r\n";
      const std::string reply = fmt::format(
          "HTTP/1.1 {} X\r\nContent-Type: {}\r\n{}Content-Length: {}\r\n\r\n{}", response.status,
          response.content_type, extra, response.body.size(), response.body);
      if (::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL) < 0) return;
    }
  }

  bool ReadMore(int fd, std::string& buffer) {
    while (!Stopping()) {
      pollfd poll_fd{fd, POLLIN, 0};
      const int ready = ::poll(&poll_fd, 1, 50);
      if (ready == 0) {
        // Serve a waiting connection rather than an idle kept-alive one.
        pollfd listen{listen_fd_, POLLIN, 0};
        if (::poll(&listen, 1, 0) > 0) return false;
        continue;
      }
      char chunk[4096];
      const ssize_t n = ::read(fd, chunk, sizeof(chunk));
      if (n <= 0) return false;
      buffer.append(chunk, static_cast<size_t>(n));
      return true;
    }
    return false;
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::deque<ScriptedResponse> script_;
  std::vector<SeenRequest> seen_;
};

}  // namespace skycore::testing
