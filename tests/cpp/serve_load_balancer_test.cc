// The SkyServe load balancer against fake replicas on 127.0.0.1: policies,
// streaming without buffering, retries, scale to zero, in-flight accounting
// and TLS. Every wait is bounded: clients use Beast streams with deadlines,
// and counters are polled with a deadline.
// clang-format off
#include <utility>  // first: Boost 1.74's awaitable.hpp uses std::exchange without it
// clang-format on

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "skycore/error.h"
#include "skycore/serve.h"
#include "temp_dir.h"

namespace skycore::serve {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using net::awaitable;
using net::use_awaitable;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;
using std::chrono::milliseconds;

constexpr auto kClientTimeout = std::chrono::seconds(5);

// ------------------------------------------------------------ fake replicas

// A replica on 127.0.0.1 with one io thread. Targets:
//   /hello             "hello from NAME", Content-Length
//   /echo              the request body; X-Seen-Fields lists the field names it got
//   /hold              answers once Release() is called
//   /stream?n=N&ms=M   N chunks "token I from NAME\n", one every M ms
//   /die?n=N           N chunks 20 ms apart, then the connection drops
// With `reset_before_answer`, it reads each request and closes without a byte;
// with `close_after_answer`, it closes each connection after one answer
// without saying so (as a replica whose keep-alive timeout just passed).
class FakeReplica {
 public:
  explicit FakeReplica(std::string name, bool reset_before_answer = false,
                       bool close_after_answer = false)
      : name_(std::move(name)),
        reset_(reset_before_answer),
        close_after_answer_(close_after_answer),
        acceptor_(ioc_, {net::ip::make_address("127.0.0.1"), 0}) {
    net::co_spawn(ioc_, Accept(), net::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~FakeReplica() {
    ioc_.stop();
    thread_.join();
  }
  std::string url() const {
    return fmt::format("http://127.0.0.1:{}", acceptor_.local_endpoint().port());
  }
  int connections() const { return connections_.load(); }
  int held() const { return held_.load(); }
  void Release() {
    net::post(ioc_, [this] {
      released_ = true;
      for (auto& t : holds_) t->cancel();
      holds_.clear();
    });
  }

 private:
  awaitable<void> Accept() {
    for (;;) {
      tcp::socket socket = co_await acceptor_.async_accept(use_awaitable);
      ++connections_;
      net::co_spawn(ioc_, Serve(beast::tcp_stream(std::move(socket))), net::detached);
    }
  }

  static int Param(std::string_view target, std::string_view name, int fallback) {
    auto at = target.find(fmt::format("{}=", name));
    if (at == std::string_view::npos) return fallback;
    return std::atoi(std::string(target.substr(at + name.size() + 1)).c_str());
  }

  awaitable<void> Serve(beast::tcp_stream stream) {
    beast::flat_buffer buffer;
    error_code ec;
    for (;;) {
      http::request<http::string_body> request;
      co_await http::async_read(stream, buffer, request, net::redirect_error(use_awaitable, ec));
      if (ec) co_return;
      if (reset_) {
        stream.socket().set_option(net::socket_base::linger(true, 0), ec);
        stream.close();
        co_return;
      }
      std::string target(request.target());
      if (target.starts_with("/stream") || target.starts_with("/die")) {
        const bool die = target.starts_with("/die");
        const int n = Param(target, "n", 5);
        const int ms = Param(target, "ms", 20);
        std::string head =
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n";
        co_await net::async_write(stream, net::buffer(head),
                                  net::redirect_error(use_awaitable, ec));
        net::steady_timer timer(ioc_);
        for (int i = 0; i < n && !ec; ++i) {
          if (i > 0) {
            timer.expires_after(milliseconds(ms));
            co_await timer.async_wait(net::redirect_error(use_awaitable, ec));
          }
          std::string token = fmt::format("token {} from {}\n", i, name_);
          std::string chunk = fmt::format("{:x}\r\n{}\r\n", token.size(), token);
          co_await net::async_write(stream, net::buffer(chunk),
                                    net::redirect_error(use_awaitable, ec));
        }
        if (ec) co_return;
        if (die) {
          stream.socket().set_option(net::socket_base::linger(true, 0), ec);
          stream.close();
          co_return;
        }
        co_await net::async_write(stream, net::buffer(std::string_view("0\r\n\r\n")),
                                  net::redirect_error(use_awaitable, ec));
        if (ec) co_return;
        continue;
      }
      http::response<http::string_body> response{http::status::ok, 11};
      response.set(http::field::content_type, "text/plain");
      if (target.starts_with("/echo")) {
        std::string names;
        for (const auto& field : request)
          names += fmt::format("{},", std::string(field.name_string()));
        response.set("X-Seen-Fields", names);
        response.set(http::field::connection, "X-Hop");  // hop-by-hop fields back
        response.set("X-Hop", "replica's own");
        response.set(http::field::keep_alive, "timeout=5");
        response.body() = request.body();
      } else if (target.starts_with("/hold")) {
        if (!released_) {
          auto timer = std::make_shared<net::steady_timer>(ioc_, std::chrono::seconds(10));
          holds_.push_back(timer);
          ++held_;
          co_await timer->async_wait(net::redirect_error(use_awaitable, ec));
          --held_;
        }
        response.body() = fmt::format("held by {}", name_);
      } else {
        response.body() = fmt::format("hello from {}", name_);
      }
      response.keep_alive(request.keep_alive());
      response.prepare_payload();
      co_await http::async_write(stream, response, net::redirect_error(use_awaitable, ec));
      if (ec || !request.keep_alive() || close_after_answer_) co_return;
    }
  }

  std::string name_;
  bool reset_;
  bool close_after_answer_;  // keeps alive in words, closes in deeds
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::atomic<int> connections_{0};
  std::atomic<int> held_{0};
  bool released_ = false;  // io thread only
  std::vector<std::shared_ptr<net::steady_timer>> holds_;
};

// A URL nothing listens on: bound, then closed.
std::string RefusingUrl() {
  net::io_context ioc;
  tcp::acceptor acceptor(ioc, {net::ip::make_address("127.0.0.1"), 0});
  auto port = acceptor.local_endpoint().port();
  acceptor.close();
  return fmt::format("http://127.0.0.1:{}", port);
}

// ------------------------------------------------------------ test client

struct Piece {
  Clock::time_point at;
  std::string data;
};

struct Answer {
  error_code error;  // of the request as a whole; empty when complete
  unsigned status = 0;
  std::string body;
  http::fields fields;
  std::vector<Piece> pieces;  // body as it arrived, one entry per read
};

// A keep-alive HTTP/1.1 client to one port. Each call runs its own
// io_context until the operations end; the stream's deadline bounds them.
template <class Stream>
class BasicClient {
 public:
  Answer Request(http::verb verb, std::string target, std::string body = {},
                 const http::fields& extra = {}, std::function<bool(const Piece&)> on_piece = {}) {
    Answer answer;
    http::request<http::string_body> request{verb, target, 11};
    request.set(http::field::host, "127.0.0.1");
    for (const auto& f : extra) request.insert(f.name_string(), f.value());
    request.body() = std::move(body);
    request.prepare_payload();
    net::co_spawn(
        ioc_,
        [&]() -> awaitable<void> {
          error_code& ec = answer.error;
          beast::get_lowest_layer(*stream_).expires_after(kClientTimeout);
          co_await http::async_write(*stream_, request, net::redirect_error(use_awaitable, ec));
          if (ec) co_return;
          http::response_parser<http::buffer_body> parser;
          co_await http::async_read_header(*stream_, buffer_, parser,
                                           net::redirect_error(use_awaitable, ec));
          if (ec) co_return;
          answer.status = parser.get().result_int();
          for (const auto& f : parser.get()) answer.fields.insert(f.name_string(), f.value());
          std::array<char, 4096> piece;
          while (!parser.is_done()) {
            parser.get().body().data = piece.data();
            parser.get().body().size = piece.size();
            co_await http::async_read_some(*stream_, buffer_, parser,
                                           net::redirect_error(use_awaitable, ec));
            if (ec == http::error::need_buffer) ec = {};
            if (ec) co_return;
            std::size_t n = piece.size() - parser.get().body().size;
            if (n == 0) continue;
            answer.pieces.push_back({Clock::now(), std::string(piece.data(), n)});
            answer.body += answer.pieces.back().data;
            if (on_piece && !on_piece(answer.pieces.back())) {
              beast::get_lowest_layer(*stream_).close();  // the client walks away
              co_return;
            }
          }
        },
        net::detached);
    ioc_.restart();
    ioc_.run();
    return answer;
  }

 protected:
  net::io_context ioc_;
  std::unique_ptr<Stream> stream_;
  beast::flat_buffer buffer_;
};

class Client : public BasicClient<beast::tcp_stream> {
 public:
  explicit Client(uint16_t port) {
    stream_ = std::make_unique<beast::tcp_stream>(ioc_);
    stream_->expires_after(kClientTimeout);
    stream_->connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  }
};

Answer Get(uint16_t port, std::string target) {
  return Client(port).Request(http::verb::get, std::move(target));
}

// Polls `ready` (a counter has no event to wait on) until it holds or `limit` passes.
bool WaitUntil(const std::function<bool()>& ready, milliseconds limit = milliseconds(3000)) {
  auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (ready()) return true;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return ready();
}

const ReplicaStats* Find(const LoadBalancerStats& stats, const std::string& url) {
  for (const auto& r : stats.replicas) {
    if (r.url == url) return &r;
  }
  return nullptr;
}

LoadBalancerOptions Options(LoadBalancingPolicy policy = LoadBalancingPolicy::kLeastLoad) {
  LoadBalancerOptions options;
  options.policy = policy;
  options.queue_timeout = std::chrono::seconds(5);
  return options;
}

// ------------------------------------------------------------ tests

TEST(ServeLoadBalancer, PolicyNamesAreSkyPilots) {
  for (auto name : {"round_robin", "least_load", "instance_aware_least_load"}) {
    EXPECT_EQ(LoadBalancingPolicyName(ParseLoadBalancingPolicy(name)), name);
  }
  EXPECT_EQ(LoadBalancerOptions{}.policy, LoadBalancingPolicy::kLeastLoad);  // SkyPilot's default
  try {
    ParseLoadBalancingPolicy("random");
    FAIL() << "expected InvalidTaskError";
  } catch (const InvalidTaskError& e) {
    EXPECT_EQ(e.field_path(), "service.load_balancing_policy");
    EXPECT_EQ(e.suggestions().size(), 3u);
  }
}

TEST(ServeLoadBalancer, RejectsReplicaUrlsThatAreNotHttpHostPort) {
  LoadBalancer lb(Options());
  EXPECT_THROW(lb.SetReplicas(std::vector<std::string>{"https://127.0.0.1:1"}), InvalidTaskError);
  EXPECT_THROW(lb.SetReplicas(std::vector<std::string>{"http://127.0.0.1:0"}), InvalidTaskError);
  EXPECT_THROW(lb.SetReplicas(std::vector<std::string>{"http://:80"}), InvalidTaskError);
  EXPECT_TRUE(lb.Stats().replicas.empty());
}

TEST(ServeLoadBalancer, ProxiesOverPooledKeepAliveConnections) {
  FakeReplica replica("a");
  LoadBalancer lb(Options());
  lb.SetReplicas(std::vector<std::string>{replica.url()});
  Client client(lb.port());
  for (int i = 0; i < 20; ++i) {
    Answer answer = client.Request(http::verb::get, "/hello");
    ASSERT_FALSE(answer.error) << answer.error.message();
    EXPECT_EQ(answer.status, 200u);
    EXPECT_EQ(answer.body, "hello from a");
  }
  EXPECT_EQ(replica.connections(), 1);  // one pooled connection served all 20
  auto stats = lb.Stats();
  EXPECT_EQ(stats.requests_total, 20u);
  EXPECT_EQ(stats.in_flight, 0);
  EXPECT_EQ(stats.replicas.at(0).requests_total, 20u);
  EXPECT_GT(stats.qps, 0.0);
}

TEST(ServeLoadBalancer, PassesBodiesAndDropsHopByHopFields) {
  FakeReplica replica("a");
  LoadBalancer lb(Options());
  lb.SetReplicas(std::vector<std::string>{replica.url()});
  std::string body(300 * 1024, 'x');
  for (std::size_t i = 0; i < body.size(); i += 7) body[i] = static_cast<char>('a' + i % 26);
  http::fields extra;
  extra.set(http::field::connection, "X-Private");
  extra.set("X-Private", "secret");
  extra.set(http::field::keep_alive, "timeout=5");
  extra.set(http::field::te, "trailers");
  extra.set("X-Custom", "kept");
  Answer answer = Client(lb.port()).Request(http::verb::post, "/echo", body, extra);
  ASSERT_FALSE(answer.error) << answer.error.message();
  EXPECT_EQ(answer.status, 200u);
  EXPECT_EQ(answer.body, body);
  std::string seen(answer.fields["X-Seen-Fields"]);
  EXPECT_NE(seen.find("X-Custom,"), std::string::npos) << seen;
  for (auto hop : {"X-Private,", "Keep-Alive,", "TE,", "Connection,"}) {
    EXPECT_EQ(seen.find(hop), std::string::npos) << hop << " reached the replica: " << seen;
  }
  EXPECT_EQ(answer.fields.count("X-Hop"), 0u);
  EXPECT_EQ(answer.fields.count(http::field::keep_alive), 0u);
}

TEST(ServeLoadBalancer, RoundRobinVisitsEveryReplicaInTurn) {
  FakeReplica a("a"), b("b"), c("c");
  LoadBalancer lb(Options(LoadBalancingPolicy::kRoundRobin));
  lb.SetReplicas(std::vector<std::string>{a.url(), b.url(), c.url()});
  std::vector<std::string> order;
  Client client(lb.port());
  for (int i = 0; i < 9; ++i) order.push_back(client.Request(http::verb::get, "/hello").body);
  std::set<std::string> first(order.begin(), order.begin() + 3);
  EXPECT_EQ(first.size(), 3u);
  for (int i = 3; i < 9; ++i) EXPECT_EQ(order[i], order[i - 3]) << i;
}

// Sends /hold requests from threads, each confirmed held before the next.
class Holder {
 public:
  explicit Holder(uint16_t port) : port_(port) {}
  ~Holder() {
    for (auto& t : threads_) t.join();
  }
  void Hold(const LoadBalancer& lb) {
    int before = static_cast<int>(lb.Stats().in_flight);
    threads_.emplace_back([this] {
      Answer answer = Get(port_, "/hold");
      std::lock_guard lock(mu_);
      answers_.push_back(std::move(answer));
    });
    ASSERT_TRUE(WaitUntil([&] { return lb.Stats().in_flight == before + 1; }));
  }
  std::vector<Answer> Join() {
    for (auto& t : threads_) t.join();
    threads_.clear();
    return answers_;
  }

 private:
  uint16_t port_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::vector<Answer> answers_;
};

TEST(ServeLoadBalancer, LeastLoadSendsToTheReplicaWithFewestInFlight) {
  FakeReplica a("a"), b("b");
  LoadBalancer lb(Options(LoadBalancingPolicy::kLeastLoad));
  lb.SetReplicas(std::vector<std::string>{a.url(), b.url()});
  Holder holder(lb.port());
  holder.Hold(lb);
  auto stats = lb.Stats();
  const bool a_busy = Find(stats, a.url())->in_flight == 1;
  const std::string idle_name = a_busy ? "hello from b" : "hello from a";
  Client client(lb.port());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(client.Request(http::verb::get, "/hello").body, idle_name);
  a.Release();
  b.Release();
  auto answers = holder.Join();
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].status, 200u);
  EXPECT_EQ(lb.Stats().in_flight, 0);
}

TEST(ServeLoadBalancer, InstanceAwareLeastLoadWeighsByTargetQps) {
  FakeReplica a("a"), b("b");
  LoadBalancer lb(Options(LoadBalancingPolicy::kInstanceAwareLeastLoad));
  lb.SetReplicas(std::vector<Replica>{{a.url(), 10.0}, {b.url(), 1.0}});
  Holder holder(lb.port());
  // Normalised loads 0/10 vs 0/1, then B at 1/1 stays above A up to 10 requests.
  for (int i = 0; i < 4; ++i) holder.Hold(lb);
  auto stats = lb.Stats();
  EXPECT_EQ(Find(stats, a.url())->in_flight, 3);
  EXPECT_EQ(Find(stats, b.url())->in_flight, 1);
  a.Release();
  b.Release();
  for (const auto& answer : holder.Join()) EXPECT_EQ(answer.status, 200u);
  EXPECT_EQ(lb.Stats().in_flight, 0);
}

TEST(ServeLoadBalancer, RetriesOnAnotherReplicaWhenOneFailsBeforeAnswering) {
  FakeReplica good("good"), resetting("reset", /*reset_before_answer=*/true);
  std::string refusing = RefusingUrl();
  LoadBalancer lb(Options(LoadBalancingPolicy::kRoundRobin));
  lb.SetReplicas(std::vector<std::string>{refusing, resetting.url(), good.url()});
  for (int i = 0; i < 30; ++i) {
    Answer answer = Get(lb.port(), "/hello");
    ASSERT_FALSE(answer.error) << answer.error.message();
    EXPECT_EQ(answer.status, 200u);
    EXPECT_EQ(answer.body, "hello from good");
  }
  auto stats = lb.Stats();
  EXPECT_GT(stats.retries_total, 0u);
  EXPECT_EQ(stats.rejected_total, 0u);
  EXPECT_GT(Find(stats, refusing)->failures_total, 0u);
  EXPECT_GT(Find(stats, resetting.url())->failures_total, 0u);
  EXPECT_EQ(Find(stats, good.url())->failures_total, 0u);
  EXPECT_EQ(stats.in_flight, 0);
}

TEST(ServeLoadBalancer, GivesUpWith502AfterMaxAttempts) {
  FakeReplica r1("r1", true), r2("r2", true), r3("r3", true), r4("r4", true);
  auto options = Options();
  options.max_attempts = 3;
  LoadBalancer lb(options);
  lb.SetReplicas(std::vector<std::string>{r1.url(), r2.url(), r3.url(), r4.url()});
  Answer answer = Get(lb.port(), "/hello");
  ASSERT_FALSE(answer.error) << answer.error.message();
  EXPECT_EQ(answer.status, 502u);
  EXPECT_NE(
      nlohmann::json::parse(answer.body).at("detail").get<std::string>().find("Max retries 3"),
      std::string::npos);
  auto stats = lb.Stats();
  uint64_t attempts = 0;
  for (const auto& r : stats.replicas) attempts += r.requests_total;
  EXPECT_EQ(attempts, 3u);
  EXPECT_EQ(stats.in_flight, 0);
}

TEST(ServeLoadBalancer, StreamsEachTokenAsItArrives) {
  FakeReplica replica("s");
  LoadBalancer lb(Options());
  lb.SetReplicas(std::vector<std::string>{replica.url()});
  constexpr int kTokens = 10;
  const auto start = Clock::now();
  Answer answer = Get(lb.port(), fmt::format("/stream?n={}&ms=20", kTokens));
  ASSERT_FALSE(answer.error) << answer.error.message();
  std::string expected;
  for (int i = 0; i < kTokens; ++i) expected += fmt::format("token {} from s\n", i);
  EXPECT_EQ(answer.body, expected);
  // Buffering would deliver everything at the end in one piece; token by
  // token, the I-th token arrives about I * 20 ms after the first.
  ASSERT_EQ(answer.pieces.size(), static_cast<std::size_t>(kTokens));
  for (int i = 1; i < kTokens; ++i) {
    auto gap = std::chrono::duration_cast<milliseconds>(answer.pieces[i].at - answer.pieces[0].at);
    EXPECT_GE(gap.count(), i * 20 - 8) << "token " << i;
  }
  auto first = std::chrono::duration_cast<milliseconds>(answer.pieces[0].at - start);
  EXPECT_LT(first.count(), 100);
}

TEST(ServeLoadBalancer, ReplicaDyingMidStreamEndsTheResponseWithAnError) {
  FakeReplica dying("d");
  LoadBalancer lb(Options());
  lb.SetReplicas(std::vector<std::string>{dying.url()});
  const auto start = Clock::now();
  Answer answer = Get(lb.port(), "/die?n=3&ms=20");
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));  // ended, not timed out
  EXPECT_EQ(answer.status, 200u);
  EXPECT_TRUE(answer.error) << "a truncated stream must not look complete";
  EXPECT_EQ(answer.body, "token 0 from d\ntoken 1 from d\ntoken 2 from d\n");
  ASSERT_TRUE(WaitUntil([&] { return lb.Stats().in_flight == 0; }));
  EXPECT_EQ(lb.Stats().replicas.at(0).failures_total, 1u);
  EXPECT_EQ(Get(lb.port(), "/hello").body, "hello from d");  // the balancer serves on
}

TEST(ServeLoadBalancer, ClientLeavingMidStreamReleasesTheInFlightCount) {
  FakeReplica replica("s");
  LoadBalancer lb(Options());
  lb.SetReplicas(std::vector<std::string>{replica.url()});
  Answer answer = Client(lb.port()).Request(http::verb::get, "/stream?n=200&ms=20", {}, {},
                                            [](const Piece&) { return false; });
  EXPECT_EQ(answer.pieces.size(), 1u);
  EXPECT_TRUE(WaitUntil([&] { return lb.Stats().in_flight == 0; }));
  EXPECT_EQ(lb.Stats().replicas.at(0).in_flight, 0);
}

TEST(ServeLoadBalancer, ScaleFromZeroQueuesRequestsUntilAReplicaIsReady) {
  LoadBalancer lb(Options());
  std::vector<Answer> answers(3);
  std::vector<std::thread> clients;
  for (auto& answer : answers) clients.emplace_back([&] { answer = Get(lb.port(), "/hello"); });
  ASSERT_TRUE(WaitUntil([&] { return lb.Stats().queued == 3; }));
  FakeReplica replica("late");
  lb.SetReplicas(std::vector<std::string>{replica.url()});
  for (auto& t : clients) t.join();
  for (const auto& answer : answers) {
    EXPECT_FALSE(answer.error) << answer.error.message();
    EXPECT_EQ(answer.body, "hello from late");
  }
  EXPECT_EQ(lb.Stats().queued, 0);
}

TEST(ServeLoadBalancer, AnswersQueuedRequests503AfterTheTimeoutOrWhenTheQueueIsFull) {
  auto options = Options();
  options.queue_timeout = milliseconds(300);
  options.max_queued_requests = 1;
  LoadBalancer lb(options);
  Answer waited;
  const auto start = Clock::now();
  std::thread first([&] { waited = Get(lb.port(), "/hello"); });
  ASSERT_TRUE(WaitUntil([&] { return lb.Stats().queued == 1; }));
  Answer refused = Get(lb.port(), "/hello");  // the queue holds one: refused at once
  EXPECT_EQ(refused.status, 503u);
  EXPECT_NE(refused.body.find("already waiting"), std::string::npos) << refused.body;
  first.join();
  auto waited_for = Clock::now() - start;
  EXPECT_EQ(waited.status, 503u);
  EXPECT_EQ(waited.fields[http::field::content_type], "application/json");
  EXPECT_NE(
      nlohmann::json::parse(waited.body).at("detail").get<std::string>().find("No ready replicas"),
      std::string::npos);
  EXPECT_GE(waited_for, milliseconds(300));
  EXPECT_LT(waited_for, milliseconds(2000));
  auto stats = lb.Stats();
  EXPECT_EQ(stats.rejected_total, 2u);
  EXPECT_EQ(stats.queued, 0);
}

TEST(ServeLoadBalancer, RemovedReplicaFinishesItsRequestsAndGetsNoNewOnes) {
  FakeReplica a("a"), b("b");
  LoadBalancer lb(Options());
  lb.SetReplicas(std::vector<std::string>{a.url()});
  Holder holder(lb.port());
  holder.Hold(lb);
  ASSERT_TRUE(WaitUntil([&] { return a.held() == 1; }));
  lb.SetReplicas(std::vector<std::string>{b.url()});
  EXPECT_EQ(Get(lb.port(), "/hello").body, "hello from b");
  EXPECT_EQ(lb.Stats().in_flight, 1);  // a's request, still running
  a.Release();
  auto answers = holder.Join();
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].body, "held by a");
  EXPECT_EQ(lb.Stats().in_flight, 0);
}

TEST(ServeLoadBalancer, PooledConnectionsTheReplicaClosedAreReplacedUnseen) {
  FakeReplica replica("a", /*reset_before_answer=*/false, /*close_after_answer=*/true);
  LoadBalancer lb(Options());
  lb.SetReplicas(std::vector<std::string>{replica.url()});
  Client client(lb.port());
  for (int i = 0; i < 10; ++i) {
    Answer answer = client.Request(http::verb::get, "/hello");
    ASSERT_FALSE(answer.error) << answer.error.message();
    EXPECT_EQ(answer.body, "hello from a");
  }
  auto stats = lb.Stats();
  EXPECT_EQ(stats.retries_total, 0u);
  EXPECT_EQ(stats.rejected_total, 0u);
  EXPECT_EQ(stats.replicas.at(0).failures_total, 0u);
  EXPECT_EQ(replica.connections(), 10);
  EXPECT_EQ(stats.in_flight, 0);
}

// Sends raw bytes on a new connection and reads until the balancer closes it.
std::string RawExchange(uint16_t port, std::string request) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  std::string received;
  net::co_spawn(
      ioc,
      [&]() -> awaitable<void> {
        error_code ec;
        stream.expires_after(kClientTimeout);
        co_await stream.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port),
                                      net::redirect_error(use_awaitable, ec));
        if (ec) co_return;
        co_await net::async_write(stream, net::buffer(request),
                                  net::redirect_error(use_awaitable, ec));
        std::array<char, 4096> piece;
        while (!ec) {
          std::size_t n = co_await stream.async_read_some(net::buffer(piece),
                                                          net::redirect_error(use_awaitable, ec));
          received.append(piece.data(), n);
        }
      },
      net::detached);
  ioc.run();
  return received;
}

TEST(ServeLoadBalancer, FramesForTheClientsHttpVersionAndMethod) {
  FakeReplica replica("a");
  LoadBalancer lb(Options());
  lb.SetReplicas(std::vector<std::string>{replica.url()});
  // HTTP/1.0 cannot take chunks: the stream ends with the connection.
  std::string old = RawExchange(lb.port(), "GET /stream?n=2&ms=5 HTTP/1.0\r\n\r\n");
  EXPECT_TRUE(old.starts_with("HTTP/1.0 200")) << old;
  EXPECT_EQ(old.find("chunked"), std::string::npos) << old;
  EXPECT_TRUE(old.ends_with("\r\n\r\ntoken 0 from a\ntoken 1 from a\n")) << old;
  // HEAD: the replica's length, no body.
  std::string head =
      RawExchange(lb.port(), "HEAD /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(head.starts_with("HTTP/1.1 200")) << head;
  EXPECT_NE(head.find("Content-Length: 12"), std::string::npos) << head;
  EXPECT_TRUE(head.ends_with("\r\n\r\n")) << head;
  EXPECT_TRUE(WaitUntil([&] { return lb.Stats().in_flight == 0; }));
}

TEST(ServeLoadBalancer, RefusesBodiesOverTheLimitWith413) {
  FakeReplica replica("a");
  auto options = Options();
  options.max_request_body_bytes = 1024;
  LoadBalancer lb(options);
  lb.SetReplicas(std::vector<std::string>{replica.url()});
  Answer answer = Client(lb.port()).Request(http::verb::post, "/echo", std::string(4096, 'x'));
  EXPECT_EQ(answer.status, 413u);
  EXPECT_EQ(lb.Stats().replicas.at(0).requests_total, 0u);
}

class TlsClient : public BasicClient<beast::ssl_stream<beast::tcp_stream>> {
 public:
  explicit TlsClient(uint16_t port) : context_(ssl::context::tls_client) {
    context_.set_verify_mode(ssl::verify_none);  // the test's self-signed certificate
    stream_ = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ioc_, context_);
    beast::get_lowest_layer(*stream_).expires_after(kClientTimeout);
    beast::get_lowest_layer(*stream_).connect(
        tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    stream_->handshake(ssl::stream_base::client);
  }

 private:
  ssl::context context_;
};

TEST(ServeLoadBalancer, TerminatesTls) {
  testing::TempDir dir("serve_tls");
  std::string key = (dir.path() / "key.pem").string();
  std::string cert = (dir.path() / "cert.pem").string();
  std::string command = fmt::format(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -keyout {} -out {} "
      ">/dev/null 2>&1",
      key, cert);
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  FakeReplica replica("a");
  auto options = Options();
  options.tls = TlsFiles{key, cert};
  LoadBalancer lb(options);
  lb.SetReplicas(std::vector<std::string>{replica.url()});
  TlsClient client(lb.port());
  Answer answer = client.Request(http::verb::get, "/hello");
  ASSERT_FALSE(answer.error) << answer.error.message();
  EXPECT_EQ(answer.body, "hello from a");
  answer = client.Request(http::verb::get, "/stream?n=3&ms=5");
  EXPECT_EQ(answer.body, "token 0 from a\ntoken 1 from a\ntoken 2 from a\n");

  options.tls = TlsFiles{key, (dir.path() / "missing.pem").string()};
  EXPECT_THROW(LoadBalancer{options}, IoError);
}

}  // namespace
}  // namespace skycore::serve
