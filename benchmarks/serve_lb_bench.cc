// The serve load balancer's overhead over a direct connection to a replica.
//
//   serve_lb_bench                 Google Benchmark: one keep-alive client,
//                                  request after request, direct and through
//                                  an in-process LoadBalancer
//   serve_lb_bench --replica       only the fake replica, for a load
//                                  generator (benchmarks/serve_lb.py runs wrk
//                                  against it and against skyserve-lb): prints
//                                  {"port": P} and serves until stdin closes
//
// The replica answers `/` with 13 bytes and `/stream?n=N&ms=M` with N chunks,
// one every M ms, on one io thread.
// clang-format off
#include <utility>  // first: Boost 1.74's awaitable.hpp uses std::exchange without it
// clang-format on

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>

#include "skycore/serve.h"

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;
using net::awaitable;
using net::use_awaitable;

class Replica {
 public:
  Replica() : acceptor_(ioc_, {net::ip::make_address("127.0.0.1"), 0}) {
    net::co_spawn(ioc_, Accept(), net::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~Replica() {
    ioc_.stop();
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  awaitable<void> Accept() {
    for (;;) {
      tcp::socket socket = co_await acceptor_.async_accept(use_awaitable);
      socket.set_option(tcp::no_delay(true));
      net::co_spawn(ioc_, Serve(std::move(socket)), net::detached);
    }
  }

  static int Param(std::string_view target, std::string_view name, int fallback) {
    auto at = target.find(fmt::format("{}=", name));
    if (at == std::string_view::npos) return fallback;
    return std::atoi(std::string(target.substr(at + name.size() + 1)).c_str());
  }

  awaitable<void> Serve(tcp::socket socket) {
    beast::flat_buffer buffer;
    error_code ec;
    static constexpr std::string_view kHello =
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!";
    for (;;) {
      http::request<http::string_body> request;
      co_await http::async_read(socket, buffer, request, net::redirect_error(use_awaitable, ec));
      if (ec) co_return;
      std::string_view target(request.target().data(), request.target().size());
      if (!target.starts_with("/stream")) {
        co_await net::async_write(socket, net::buffer(kHello),
                                  net::redirect_error(use_awaitable, ec));
        if (ec || !request.keep_alive()) co_return;
        continue;
      }
      const int n = Param(target, "n", 5);
      const int ms = Param(target, "ms", 20);
      std::string head =
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n";
      net::steady_timer timer(ioc_);
      for (int i = 0; i < n && !ec; ++i) {
        if (i > 0) {
          timer.expires_after(std::chrono::milliseconds(ms));
          co_await timer.async_wait(net::redirect_error(use_awaitable, ec));
        }
        std::string token = fmt::format("token {}\n", i);
        head += fmt::format("{:x}\r\n{}\r\n", token.size(), token);
        co_await net::async_write(socket, net::buffer(head),
                                  net::redirect_error(use_awaitable, ec));
        head.clear();
      }
      if (ec) co_return;
      co_await net::async_write(socket, net::buffer(std::string_view("0\r\n\r\n")),
                                net::redirect_error(use_awaitable, ec));
      if (ec || !request.keep_alive()) co_return;
    }
  }

  net::io_context ioc_{1};
  tcp::acceptor acceptor_;
  std::thread thread_;
};

// One request after another on one keep-alive connection.
void RoundTrips(benchmark::State& state, uint16_t port) {
  net::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect({net::ip::make_address("127.0.0.1"), port});
  socket.set_option(tcp::no_delay(true));
  beast::flat_buffer buffer;
  http::request<http::empty_body> request{http::verb::get, "/", 11};
  request.set(http::field::host, "127.0.0.1");
  for (auto _ : state) {
    http::write(socket, request);
    http::response<http::string_body> response;
    http::read(socket, buffer, response);
    if (response.body().size() != 13) state.SkipWithError("unexpected answer");
  }
}

void BM_Direct(benchmark::State& state) {
  Replica replica;
  RoundTrips(state, replica.port());
}
BENCHMARK(BM_Direct)->UseRealTime();

void BM_ThroughBalancer(benchmark::State& state) {
  Replica replica;
  skycore::serve::LoadBalancerOptions options;
  options.io_threads = 1;
  skycore::serve::LoadBalancer lb(options);
  lb.SetReplicas(std::vector<std::string>{fmt::format("http://127.0.0.1:{}", replica.port())});
  RoundTrips(state, lb.port());
}
BENCHMARK(BM_ThroughBalancer)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--replica") == 0) {
    Replica replica;
    std::cout << fmt::format("{{\"port\": {}}}", replica.port()) << std::endl;
    std::string line;
    while (std::getline(std::cin, line)) {
    }
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
