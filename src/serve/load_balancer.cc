// The SkyServe load balancer (include/skycore/serve.h).
//
// Threading: one io_context per io thread, each run by exactly one thread, so
// everything a client connection owns (its socket, its coroutine, the pool of
// replica connections of that thread) is touched by one thread only and needs
// no strand. What all threads share (the ready replicas, the policy's cursor,
// the waiting queue, the QPS window) sits behind `mu_`; per-replica in-flight
// counts are atomics, changed under `mu_` when a replica is chosen (so that two
// concurrent choices see each other) and released without it.
// clang-format off
#include <utility>  // first: Boost 1.74's awaitable.hpp uses std::exchange without it
// clang-format on

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <deque>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

#include "skycore/error.h"
#include "skycore/serve.h"

namespace skycore::serve {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using net::awaitable;
using net::use_awaitable;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

LoadBalancingPolicy ParseLoadBalancingPolicy(std::string_view name) {
  if (name == "round_robin") return LoadBalancingPolicy::kRoundRobin;
  if (name == "least_load") return LoadBalancingPolicy::kLeastLoad;
  if (name == "instance_aware_least_load") return LoadBalancingPolicy::kInstanceAwareLeastLoad;
  throw InvalidTaskError(fmt::format("unknown load balancing policy '{}'", name),
                         ErrorLocation{"", 0, 0, "service.load_balancing_policy"},
                         {"round_robin", "least_load", "instance_aware_least_load"});
}

std::string_view LoadBalancingPolicyName(LoadBalancingPolicy policy) {
  switch (policy) {
    case LoadBalancingPolicy::kRoundRobin:
      return "round_robin";
    case LoadBalancingPolicy::kLeastLoad:
      return "least_load";
    case LoadBalancingPolicy::kInstanceAwareLeastLoad:
      return "instance_aware_least_load";
  }
  return "least_load";
}

namespace {

constexpr std::size_t kMaxIdlePerReplica = 256;  // per io thread
constexpr auto kConnectTimeout = std::chrono::seconds(5);

struct ReplicaState {
  std::string url;
  std::string host;
  std::string port;
  std::optional<tcp::endpoint> endpoint;  // set when host is a literal address
  double target_qps = 1.0;                // guarded by LoadBalancer::Impl::mu_
  std::atomic<int64_t> in_flight{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> failures{0};
  std::atomic<bool> removed{false};
};
using ReplicaPtr = std::shared_ptr<ReplicaState>;

std::shared_ptr<ReplicaState> ParseReplica(const Replica& replica) {
  auto bad = [&](std::string_view why) {
    return InvalidTaskError(fmt::format("replica URL '{}' {}", replica.url, why),
                            ErrorLocation{"", 0, 0, "replicas"}, {"http://10.0.0.5:8080"});
  };
  constexpr std::string_view kScheme = "http://";
  std::string_view rest = replica.url;
  if (rest.substr(0, kScheme.size()) != kScheme) throw bad("is not http://host:port");
  rest.remove_prefix(kScheme.size());
  rest = rest.substr(0, rest.find('/'));
  auto state = std::make_shared<ReplicaState>();
  state->url = replica.url;
  state->target_qps = replica.target_qps > 0 ? replica.target_qps : 1.0;
  std::string_view host = rest;
  std::string_view port = "80";
  if (auto colon = rest.rfind(':'); colon != std::string_view::npos && rest.back() != ']') {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) throw bad("has no host");
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoi(std::string(port)) == 0 || std::stoi(std::string(port)) > 65535) {
    throw bad("has no valid port (1-65535)");
  }
  state->host = std::string(host);
  state->port = std::string(port);
  error_code ec;
  auto address = net::ip::make_address(state->host, ec);
  if (!ec) state->endpoint = tcp::endpoint(address, static_cast<uint16_t>(std::stoi(state->port)));
  return state;
}

// Fields that describe one connection, not the message (RFC 9110 7.6.1), plus
// those the Connection field names. They are never forwarded: each side of the
// proxy frames its own messages.
void StripHopByHop(http::fields& fields) {
  std::vector<std::string> named;
  for (auto token : http::token_list(fields[http::field::connection])) {
    named.emplace_back(token.data(), token.size());
  }
  for (const auto& name : named) fields.erase(name);
  for (auto f : {http::field::connection, http::field::keep_alive, http::field::proxy_connection,
                 http::field::proxy_authenticate, http::field::proxy_authorization, http::field::te,
                 http::field::trailer, http::field::transfer_encoding, http::field::upgrade}) {
    fields.erase(f);
  }
}

// How one attempt at a replica ended.
enum class Outcome {
  kDone,        // answered in full; the client connection may serve more
  kDoneClose,   // answered in full, framed by closing the connection
  kRetryable,   // the replica failed before a byte of answer: try another
  kStaleRetry,  // a pooled connection was closed by the replica meanwhile
  kMidStream,   // the replica failed after part of the answer went out
  kClientGone,  // the client went away (or stalled past the timeout)
};

struct Waiter {
  std::shared_ptr<net::steady_timer> timer;
};

}  // namespace

class LoadBalancer::Impl {
 public:
  explicit Impl(LoadBalancerOptions options) : options_(std::move(options)) {
    if (options_.io_threads < 1) {
      throw InvalidTaskError("io_threads must be at least 1",
                             ErrorLocation{"", 0, 0, "io_threads"});
    }
    if (options_.max_attempts < 1) {
      throw InvalidTaskError("max_attempts must be at least 1",
                             ErrorLocation{"", 0, 0, "max_attempts"});
    }
    if (options_.tls) LoadTls(*options_.tls);
    for (int i = 0; i < options_.io_threads; ++i) workers_.push_back(std::make_unique<Worker>());
    acceptor_ = std::make_unique<tcp::acceptor>(workers_[0]->ioc);
    error_code ec;
    auto address = net::ip::make_address(options_.host, ec);
    if (ec)
      throw NetworkError(fmt::format("cannot listen on '{}': not an IP address", options_.host));
    tcp::endpoint endpoint(address, options_.port);
    acceptor_->open(endpoint.protocol(), ec);
    if (!ec) acceptor_->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(endpoint, ec);
    if (!ec) acceptor_->listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      throw NetworkError(
          fmt::format("cannot listen on {}:{}: {}", options_.host, options_.port, ec.message()));
    }
    port_ = acceptor_->local_endpoint().port();
    net::co_spawn(workers_[0]->ioc, Accept(), net::detached);
    for (auto& w : workers_) {
      w->thread = std::thread([ioc = &w->ioc] { ioc->run(); });
    }
  }

  ~Impl() { Stop(); }

  uint16_t port() const { return port_; }

  void Stop() {
    std::lock_guard stop_lock(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
    for (auto& w : workers_) w->ioc.stop();
    for (auto& w : workers_) {
      if (w->thread.joinable()) w->thread.join();
    }
    // Sockets before their io_context; the io_contexts then destroy the
    // suspended coroutines, whose guards release their in-flight counts.
    acceptor_.reset();
    {
      std::lock_guard lock(mu_);
      waiters_.clear();  // their timers belong to the io_contexts
    }
    for (auto& w : workers_) w->pools.clear();
    workers_.clear();
  }

  void SetReplicas(const std::vector<Replica>& replicas) {
    std::vector<ReplicaPtr> parsed;
    for (const auto& r : replicas) {
      if (std::none_of(parsed.begin(), parsed.end(),
                       [&](const ReplicaPtr& p) { return p->url == r.url; })) {
        parsed.push_back(ParseReplica(r));
      }
    }
    bool any_removed = false;
    {
      std::lock_guard lock(mu_);
      std::vector<ReplicaPtr> next;
      for (auto& p : parsed) {
        auto it = std::find_if(ready_.begin(), ready_.end(),
                               [&](const ReplicaPtr& r) { return r->url == p->url; });
        if (it != ready_.end()) {
          (*it)->target_qps = p->target_qps;  // same replica: keeps its in-flight count
          next.push_back(*it);
        } else {
          next.push_back(p);
        }
      }
      bool same_set = next.size() == ready_.size() &&
                      std::all_of(next.begin(), next.end(), [&](const ReplicaPtr& r) {
                        return std::find(ready_.begin(), ready_.end(), r) != ready_.end();
                      });
      for (auto& old : ready_) {
        if (std::find(next.begin(), next.end(), old) == next.end()) {
          old->removed = true;
          any_removed = true;
        }
      }
      ready_ = std::move(next);
      if (!same_set) {
        // As SkyPilot: a new set starts the round from a random replica, so a
        // controller that flaps the set does not always load the first one.
        rr_order_ = ready_;
        std::shuffle(rr_order_.begin(), rr_order_.end(), rng_);
        rr_index_ = 0;
        tie_index_ = 0;
      }
      if (!ready_.empty()) {
        for (auto& w : waiters_)
          net::post(w->timer->get_executor(), [t = w->timer] { t->cancel(); });
        waiters_.clear();
      }
    }
    if (any_removed) {
      // Idle connections to removed replicas are closed by their own thread.
      std::lock_guard stop_lock(stop_mu_);  // workers_ lives until Stop()
      if (stopped_) return;
      for (auto& w : workers_) {
        net::post(w->ioc, [worker = w.get()] {
          std::erase_if(worker->pools,
                        [](const auto& entry) { return entry.second.replica->removed.load(); });
        });
      }
    }
  }

  LoadBalancerStats Stats() {
    LoadBalancerStats stats;
    std::lock_guard lock(mu_);
    for (auto& r : ready_) {
      stats.replicas.push_back(
          {r->url, r->in_flight.load(), r->requests.load(), r->failures.load()});
    }
    stats.in_flight = in_flight_total_.load();
    stats.queued = static_cast<int64_t>(waiters_.size());
    stats.requests_total = requests_total_.load();
    stats.retries_total = retries_total_.load();
    stats.rejected_total = rejected_total_.load();
    PruneArrivalsLocked(NowSeconds());
    uint64_t recent = 0;
    for (auto& [sec, count] : arrivals_) recent += count;
    stats.qps = static_cast<double>(recent) / static_cast<double>(options_.qps_window.count());
    return stats;
  }

 private:
  struct Pool {
    ReplicaPtr replica;
    std::vector<std::unique_ptr<beast::tcp_stream>> idle;
  };
  // One io thread: its io_context and its connections to replicas. Members
  // are destroyed in reverse order: pooled sockets before their io_context.
  struct Worker {
    net::io_context ioc{1};
    net::executor_work_guard<net::io_context::executor_type> guard = net::make_work_guard(ioc);
    std::unordered_map<const ReplicaState*, Pool> pools;
    std::thread thread;
  };

  // Holds one in-flight count on a replica for as long as an attempt lives;
  // the destructor is the only place that releases it, so errors, timeouts,
  // client disconnects and Stop() all release it exactly once.
  class InFlight {
   public:
    InFlight(Impl* lb, ReplicaPtr replica) : lb_(lb), replica_(std::move(replica)) {}
    InFlight(InFlight&& other) noexcept : lb_(other.lb_), replica_(std::move(other.replica_)) {}
    InFlight& operator=(InFlight&& other) noexcept {
      std::swap(lb_, other.lb_);
      std::swap(replica_, other.replica_);
      return *this;
    }
    ~InFlight() {
      if (replica_) {
        replica_->in_flight.fetch_sub(1);
        lb_->in_flight_total_.fetch_sub(1);
      }
    }
    const ReplicaPtr& replica() const { return replica_; }

   private:
    Impl* lb_;
    ReplicaPtr replica_;
  };

  void LoadTls(const TlsFiles& files) {
    tls_ = std::make_unique<ssl::context>(ssl::context::tls_server);
    tls_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                      ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    error_code ec;
    tls_->use_certificate_chain_file(files.certfile, ec);
    if (ec) {
      throw IoError(
          fmt::format("cannot load TLS certificate from {}: {}", files.certfile, ec.message()),
          ErrorLocation{files.certfile, 0, 0, "service.tls.certfile"});
    }
    tls_->use_private_key_file(files.keyfile, ssl::context::pem, ec);
    if (ec) {
      throw IoError(fmt::format("cannot load TLS key from {}: {}", files.keyfile, ec.message()),
                    ErrorLocation{files.keyfile, 0, 0, "service.tls.keyfile"});
    }
  }

  static int64_t NowSeconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch())
        .count();
  }

  void PruneArrivalsLocked(int64_t now) {
    while (!arrivals_.empty() && arrivals_.front().first <= now - options_.qps_window.count()) {
      arrivals_.pop_front();
    }
  }

  // Picks a replica not in `tried` and takes an in-flight count on it, or
  // returns an empty guard. Caller holds mu_.
  std::optional<InFlight> SelectLocked(const std::vector<ReplicaPtr>& tried) {
    auto usable = [&](const ReplicaPtr& r) {
      return std::find(tried.begin(), tried.end(), r) == tried.end();
    };
    const std::size_t n = ready_.size();
    ReplicaPtr chosen;
    if (options_.policy == LoadBalancingPolicy::kRoundRobin) {
      for (std::size_t k = 0; k < n && !chosen; ++k) {
        std::size_t i = (rr_index_ + k) % n;
        if (usable(rr_order_[i])) {
          chosen = rr_order_[i];
          rr_index_ = (i + 1) % n;
        }
      }
    } else {
      // Loads are read once: other threads release counts without mu_.
      const bool weighted = options_.policy == LoadBalancingPolicy::kInstanceAwareLeastLoad;
      std::vector<double> load(n);
      double best = std::numeric_limits<double>::infinity();
      for (std::size_t i = 0; i < n; ++i) {
        load[i] = static_cast<double>(ready_[i]->in_flight.load());
        if (weighted) load[i] /= ready_[i]->target_qps;
        if (usable(ready_[i])) best = std::min(best, load[i]);
      }
      // Ties rotate from a cursor over all ready replicas, as in SkyPilot, so
      // an idle service does not send everything to the first replica.
      for (std::size_t k = 0; k < n && !chosen; ++k) {
        std::size_t i = (tie_index_ + k) % n;
        if (usable(ready_[i]) && load[i] == best) {
          chosen = ready_[i];
          tie_index_ = (i + 1) % n;
        }
      }
    }
    if (!chosen) return std::nullopt;
    chosen->in_flight.fetch_add(1);
    in_flight_total_.fetch_add(1);
    return InFlight(this, std::move(chosen));
  }

  awaitable<void> Accept() {
    std::size_t next = 0;
    for (;;) {
      Worker& w = *workers_[next++ % workers_.size()];
      error_code ec;
      // Accepted straight onto the io_context of the thread that will own it.
      tcp::socket socket =
          co_await acceptor_->async_accept(w.ioc, net::redirect_error(use_awaitable, ec));
      if (ec == net::error::operation_aborted || !acceptor_->is_open()) co_return;
      if (ec) continue;  // e.g. EMFILE: the next accept may succeed
      socket.set_option(tcp::no_delay(true), ec);
      net::co_spawn(w.ioc, Connection(std::move(socket), &w), net::detached);
    }
  }

  awaitable<void> Connection(tcp::socket socket, Worker* w) {
    beast::tcp_stream stream(std::move(socket));
    try {
      if (!tls_) {
        co_await Serve(stream, *w);
        co_return;
      }
      beast::ssl_stream<beast::tcp_stream> tls_stream(std::move(stream), *tls_);
      beast::get_lowest_layer(tls_stream).expires_after(options_.client_idle_timeout);
      error_code ec;
      co_await tls_stream.async_handshake(ssl::stream_base::server,
                                          net::redirect_error(use_awaitable, ec));
      if (ec) co_return;
      co_await Serve(tls_stream, *w);
    } catch (const std::exception&) {
      // Only allocation failures reach here; the connection is dropped.
    }
  }

  template <class Stream>
  awaitable<void> Serve(Stream& stream, Worker& w) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(64 * 1024);
      parser.body_limit(options_.max_request_body_bytes);
      beast::get_lowest_layer(stream).expires_after(options_.client_idle_timeout);
      error_code ec;
      co_await http::async_read_header(stream, buffer, parser,
                                       net::redirect_error(use_awaitable, ec));
      if (ec == http::error::body_limit) {  // a Content-Length over the limit
        co_await Reply(
            stream, parser.get().version(), false, http::status::payload_too_large,
            fmt::format("Request body exceeds {} bytes.", options_.max_request_body_bytes));
        break;
      }
      if (ec) break;
      if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
        // The body is read here, before any replica is chosen (retries resend
        // it), so the client is told to go on at once.
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        co_await net::async_write(stream, net::buffer(kContinue),
                                  net::redirect_error(use_awaitable, ec));
        if (ec) break;
      }
      if (!parser.is_done()) {  // a GET has no body: no trip through the scheduler
        co_await http::async_read(stream, buffer, parser, net::redirect_error(use_awaitable, ec));
      }
      if (ec == http::error::body_limit) {
        co_await Reply(
            stream, parser.get().version(), false, http::status::payload_too_large,
            fmt::format("Request body exceeds {} bytes.", options_.max_request_body_bytes));
        break;
      }
      if (ec) break;
      http::request<http::string_body> request = parser.release();
      Outcome outcome = co_await Proxy(stream, request, w);
      if (outcome != Outcome::kDone) break;
    }
    // A plain close (no TLS close_notify): after a failed stream the client
    // must see a truncated body, not a clean end.
    error_code ignored;
    beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(stream).close();
  }

  // Answers the client from the balancer itself (no replica answered).
  template <class Stream>
  awaitable<bool> Reply(Stream& stream, unsigned version, bool keep_alive, http::status status,
                        std::string detail) {
    rejected_total_.fetch_add(1);
    http::response<http::string_body> response{status, version};
    response.set(http::field::content_type, "application/json");
    response.body() = nlohmann::json{{"detail", std::move(detail)}}.dump();
    response.keep_alive(keep_alive);
    response.prepare_payload();
    beast::get_lowest_layer(stream).expires_after(options_.client_idle_timeout);
    error_code ec;
    co_await http::async_write(stream, response, net::redirect_error(use_awaitable, ec));
    co_return !ec && keep_alive;
  }

  template <class Stream>
  awaitable<Outcome> Proxy(Stream& client, http::request<http::string_body>& request, Worker& w) {
    requests_total_.fetch_add(1);
    const unsigned client_version = request.version();
    const bool client_keep_alive = request.keep_alive();
    StripHopByHop(request.base());
    request.erase(http::field::expect);  // the body is here already
    request.version(11);
    request.prepare_payload();
    const auto deadline = Clock::now() + options_.queue_timeout;
    std::vector<ReplicaPtr> tried;  // owned: a freed replica's address cannot come back
    int attempts = 0;
    bool stale_retry_used = false;
    bool counted = false;
    for (;;) {
      std::optional<InFlight> slot;
      std::shared_ptr<Waiter> waiter;
      std::string reject;
      http::status reject_status = http::status::service_unavailable;
      {
        std::lock_guard lock(mu_);
        if (!counted) {
          counted = true;
          int64_t now = NowSeconds();
          if (arrivals_.empty() || arrivals_.back().first != now) arrivals_.emplace_back(now, 0);
          ++arrivals_.back().second;
          PruneArrivalsLocked(now);
        }
        slot = SelectLocked(tried);
        if (!slot) {
          if (!ready_.empty()) {
            reject_status = http::status::bad_gateway;
            reject = fmt::format("All {} attempted replicas failed before answering.", attempts);
          } else if (Clock::now() >= deadline) {
            reject = fmt::format(
                "No ready replicas within {} ms. Use `sky serve status` to check the replicas.",
                options_.queue_timeout.count());
          } else if (waiters_.size() >= options_.max_queued_requests) {
            reject = fmt::format("No ready replicas, and {} requests are already waiting for one.",
                                 options_.max_queued_requests);
          } else {
            waiter = std::make_shared<Waiter>();
            waiter->timer = std::make_shared<net::steady_timer>(w.ioc, deadline);
            waiters_.push_back(waiter);
          }
        }
      }
      if (!reject.empty()) {
        bool keep = co_await Reply(client, client_version, client_keep_alive, reject_status,
                                   std::move(reject));
        co_return keep ? Outcome::kDone : Outcome::kDoneClose;
      }
      if (waiter) {
        // Woken by SetReplicas (cancel) or the deadline; either way look again.
        error_code ignored;
        co_await waiter->timer->async_wait(net::redirect_error(use_awaitable, ignored));
        std::lock_guard lock(mu_);
        std::erase(waiters_, waiter);
        continue;
      }
      ++attempts;
      if (attempts > 1) retries_total_.fetch_add(1);
      const ReplicaPtr replica = slot->replica();  // a copy: Forward releases `slot`
      replica->requests.fetch_add(1);
      Outcome outcome =
          co_await Forward(client, request, client_version, client_keep_alive, w, replica, slot);
      if (outcome == Outcome::kStaleRetry && !stale_retry_used) {
        // A kept-alive connection the replica had closed: its siblings are
        // likely closed too. Not the replica's fault; try it once more afresh.
        stale_retry_used = true;
        w.pools.erase(replica.get());
        --attempts;
        continue;
      }
      if (outcome == Outcome::kRetryable || outcome == Outcome::kStaleRetry) {
        replica->failures.fetch_add(1);
        tried.push_back(replica);
        slot.reset();  // released before the client hears of it
        if (attempts >= options_.max_attempts) {
          bool keep = co_await Reply(
              client, client_version, client_keep_alive, http::status::bad_gateway,
              fmt::format("Max retries {} exceeded: no replica answered.", attempts));
          co_return keep ? Outcome::kDone : Outcome::kDoneClose;
        }
        continue;
      }
      if (outcome == Outcome::kMidStream) replica->failures.fetch_add(1);
      co_return outcome;
    }
  }

  // A connection to `replica` owned by this thread: a pooled one, or a new one.
  awaitable<std::unique_ptr<beast::tcp_stream>> Checkout(Worker& w, const ReplicaPtr& replica,
                                                         bool& reused, error_code& ec) {
    if (auto it = w.pools.find(replica.get()); it != w.pools.end() && !it->second.idle.empty()) {
      auto stream = std::move(it->second.idle.back());
      it->second.idle.pop_back();
      reused = true;
      co_return stream;
    }
    reused = false;
    auto stream = std::make_unique<beast::tcp_stream>(w.ioc);
    stream->expires_after(kConnectTimeout);
    if (replica->endpoint) {
      co_await stream->async_connect(*replica->endpoint, net::redirect_error(use_awaitable, ec));
    } else {
      tcp::resolver resolver(w.ioc);
      auto endpoints = co_await resolver.async_resolve(replica->host, replica->port,
                                                       net::redirect_error(use_awaitable, ec));
      if (!ec) co_await stream->async_connect(endpoints, net::redirect_error(use_awaitable, ec));
    }
    if (ec) co_return nullptr;
    stream->socket().set_option(tcp::no_delay(true), ec);
    ec = {};
    co_return stream;
  }

  void CheckIn(Worker& w, const ReplicaPtr& replica, std::unique_ptr<beast::tcp_stream> stream) {
    if (replica->removed) return;
    auto& pool = w.pools[replica.get()];
    pool.replica = replica;
    if (pool.idle.size() < kMaxIdlePerReplica) pool.idle.push_back(std::move(stream));
  }

  // Sends `request` to `replica` and relays its answer to `client` piece by
  // piece as it arrives. Releases `slot` (the replica's in-flight count) as
  // soon as the replica has answered in full, before the last piece goes to
  // the client: a client that has its whole answer sees the count released.
  template <class Stream>
  awaitable<Outcome> Forward(Stream& client, http::request<http::string_body>& request,
                             unsigned client_version, bool client_keep_alive, Worker& w,
                             const ReplicaPtr& replica, std::optional<InFlight>& slot) {
    error_code ec;
    bool reused = false;
    auto upstream = co_await Checkout(w, replica, reused, ec);
    if (!upstream) co_return Outcome::kRetryable;
    // A kept-alive connection that fails at once was likely closed by the
    // replica while idle; one that timed out was not.
    auto not_answered = [&] {
      return reused && ec != beast::error::timeout ? Outcome::kStaleRetry : Outcome::kRetryable;
    };
    upstream->expires_after(options_.response_timeout);
    co_await http::async_write(*upstream, request, net::redirect_error(use_awaitable, ec));
    if (ec) co_return not_answered();

    beast::flat_buffer upstream_buffer;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    if (request.method() == http::verb::head) parser.skip(true);
    co_await http::async_read_header(*upstream, upstream_buffer, parser,
                                     net::redirect_error(use_awaitable, ec));
    if (ec) co_return not_answered();
    auto finish_if_done = [&] {
      if (!parser.is_done() || !upstream) return;
      // Reusable only if the replica keeps it open and sent nothing beyond
      // the response.
      if (parser.keep_alive() && upstream_buffer.size() == 0) {
        CheckIn(w, replica, std::move(upstream));
      }
      upstream.reset();
      slot.reset();
    };

    // The client's response: the replica's status and end-to-end fields,
    // framed for this client. A body of unknown length is chunked for an
    // HTTP/1.1 client, ended by closing for an HTTP/1.0 one.
    const auto& upstream_response = parser.get();
    http::response<http::buffer_body> response;
    response.version(client_version);
    response.result(upstream_response.result_int());
    response.reason(upstream_response.reason());
    for (const auto& field : upstream_response) response.insert(field.name_string(), field.value());
    StripHopByHop(response.base());
    bool keep_alive = client_keep_alive;
    if (!parser.is_done() && !parser.content_length()) {
      response.erase(http::field::content_length);
      if (client_version >= 11) {
        response.chunked(true);
      } else {
        keep_alive = false;
      }
    }
    response.keep_alive(keep_alive);
    response.body().data = nullptr;
    response.body().more = !parser.is_done();
    http::response_serializer<http::buffer_body> serializer{response};
    auto& client_socket = beast::get_lowest_layer(client);
    std::array<char, 16 * 1024> piece;
    bool header_sent = false;
    for (;;) {
      std::size_t n = 0;
      // Before the header goes out, only a piece already received with it is
      // read (no wait): header and a small body then leave in one write.
      if (!parser.is_done() && (header_sent || upstream_buffer.size() > 0)) {
        parser.get().body().data = piece.data();
        parser.get().body().size = piece.size();
        upstream->expires_after(options_.response_timeout);
        // read_some, not read: read would wait to fill `piece` and hold tokens back.
        co_await http::async_read_some(*upstream, upstream_buffer, parser,
                                       net::redirect_error(use_awaitable, ec));
        if (ec == http::error::need_buffer) ec = {};
        if (ec) co_return Outcome::kMidStream;
        n = piece.size() - parser.get().body().size;
        if (n == 0 && !parser.is_done() && header_sent) continue;
      }
      response.body().data = n ? piece.data() : nullptr;
      response.body().size = n;
      response.body().more = !parser.is_done();
      finish_if_done();
      client_socket.expires_after(options_.response_timeout);
      co_await http::async_write(client, serializer, net::redirect_error(use_awaitable, ec));
      if (ec == http::error::need_buffer) ec = {};
      if (ec) co_return Outcome::kClientGone;
      header_sent = true;
      if (serializer.is_done()) break;
    }
    co_return keep_alive ? Outcome::kDone : Outcome::kDoneClose;
  }

  LoadBalancerOptions options_;
  uint16_t port_ = 0;
  std::unique_ptr<ssl::context> tls_;

  std::mutex mu_;
  std::vector<ReplicaPtr> ready_;     // SetReplicas order
  std::vector<ReplicaPtr> rr_order_;  // ready_, shuffled when the set changes
  std::size_t rr_index_ = 0;
  std::size_t tie_index_ = 0;
  std::mt19937 rng_{std::random_device{}()};
  std::vector<std::shared_ptr<Waiter>> waiters_;
  std::deque<std::pair<int64_t, uint64_t>> arrivals_;  // (second, requests received in it)

  std::atomic<int64_t> in_flight_total_{0};
  std::atomic<uint64_t> requests_total_{0};
  std::atomic<uint64_t> retries_total_{0};
  std::atomic<uint64_t> rejected_total_{0};

  std::mutex stop_mu_;
  bool stopped_ = false;
  // Last: destroyed first, while everything their coroutines use still exists.
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<tcp::acceptor> acceptor_;
};

LoadBalancer::LoadBalancer(LoadBalancerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
LoadBalancer::~LoadBalancer() = default;
uint16_t LoadBalancer::port() const { return impl_->port(); }
void LoadBalancer::SetReplicas(const std::vector<Replica>& replicas) {
  impl_->SetReplicas(replicas);
}
void LoadBalancer::SetReplicas(const std::vector<std::string>& urls) {
  std::vector<Replica> replicas;
  for (const auto& url : urls) replicas.push_back({url, 1.0});
  impl_->SetReplicas(replicas);
}
LoadBalancerStats LoadBalancer::Stats() const { return impl_->Stats(); }
void LoadBalancer::Stop() { impl_->Stop(); }

}  // namespace skycore::serve
