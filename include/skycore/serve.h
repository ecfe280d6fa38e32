// skycore/serve.h — the SkyServe load balancer.
//
// A LoadBalancer is the HTTP endpoint of one service: it accepts client
// requests on a local port and proxies each to one of the service's ready
// replicas, chosen by a policy named as SkyPilot names them. The controller
// (which launches and probes replicas) tells it which replicas are ready with
// SetReplicas() whenever that changes, and reads its counters with Stats() to
// autoscale.
//
// What a client can rely on:
//  - Responses are streamed: every piece of body a replica sends is written to
//    the client as soon as it arrives (token streaming is never buffered).
//  - A request whose replica fails before answering a single byte (connection
//    refused or reset, closed before the status line) is sent again to another
//    replica, up to `max_attempts` replicas in all. The request body is kept
//    in memory (up to `max_request_body_bytes`) for that reason.
//  - Once part of a response reached the client, a replica that dies ends that
//    response with an error the client sees: the connection is closed before
//    the announced length or the last chunk.
//  - With no ready replica (scale to zero, or all replicas replaced at once) a
//    request waits for one, in a queue of at most `max_queued_requests`, for at
//    most `queue_timeout`; otherwise it is answered 503 with a JSON reason.
//  - A replica removed by SetReplicas gets no new request; the requests it is
//    serving run to their end.
//  - A replica's in-flight count is taken when it is chosen and released when
//    it has answered in full or failed, whatever happens to the client. A
//    client that leaves is noticed at the next write to it: while a request
//    waits in the queue or for the replica's status line, it still counts.
//
// This header is public (the Python SDK and the `sky serve` controller use the
// same class); Boost.Asio stays behind it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace skycore::serve {

// SkyPilot's `load_balancing_policy` values; kLeastLoad is its default.
enum class LoadBalancingPolicy {
  kRoundRobin,              // "round_robin": each replica in turn
  kLeastLoad,               // "least_load": fewest requests in flight
  kInstanceAwareLeastLoad,  // "instance_aware_least_load": in flight / replica's target QPS
};

// "round_robin", "least_load" or "instance_aware_least_load". Throws
// InvalidTaskError (field `service.load_balancing_policy`) naming the valid
// values for anything else.
LoadBalancingPolicy ParseLoadBalancingPolicy(std::string_view name);
std::string_view LoadBalancingPolicyName(LoadBalancingPolicy policy);

// One ready replica as the controller sees it.
struct Replica {
  std::string url;  // "http://10.0.0.5:8080" (http only; a path is ignored)
  // What instance_aware_least_load divides the in-flight count by: the
  // `target_qps_per_replica` of this replica's accelerator. Ignored by the
  // other policies. Non-positive values count as 1, as in SkyPilot.
  double target_qps = 1.0;
};

struct TlsFiles {
  std::string keyfile;   // PEM private key
  std::string certfile;  // PEM certificate chain
};

struct LoadBalancerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0: the system picks one; LoadBalancer::port() tells
  int io_threads = 2;
  LoadBalancingPolicy policy = LoadBalancingPolicy::kLeastLoad;
  int max_attempts = 3;  // replicas tried per request (SkyPilot's LB_MAX_RETRY)
  std::size_t max_queued_requests = 1000;
  std::chrono::milliseconds queue_timeout{std::chrono::seconds(60)};
  // Longest a replica may stay silent (before its status line or between two
  // pieces of body); SkyPilot's DEFAULT_LB_STREAM_TIMEOUT.
  std::chrono::milliseconds response_timeout{std::chrono::seconds(120)};
  std::chrono::milliseconds client_idle_timeout{std::chrono::seconds(75)};
  std::size_t max_request_body_bytes = 64u << 20;
  std::chrono::seconds qps_window{60};  // SkyPilot's AUTOSCALER_QPS_WINDOW_SIZE_SECONDS
  std::optional<TlsFiles> tls;          // HTTPS towards clients when set
};

struct ReplicaStats {
  std::string url;
  int64_t in_flight = 0;        // requests sent and not yet fully answered
  uint64_t requests_total = 0;  // attempts sent to it, failed ones included
  uint64_t failures_total = 0;  // attempts that failed (connect, reset, mid-stream)
};

struct LoadBalancerStats {
  std::vector<ReplicaStats> replicas;  // the ready replicas, in SetReplicas order
  int64_t in_flight = 0;               // all replicas, removed ones still draining included
  int64_t queued = 0;                  // requests waiting for a ready replica now
  uint64_t requests_total = 0;         // client requests received
  uint64_t retries_total = 0;          // attempts after the first
  uint64_t rejected_total = 0;         // answered by the balancer itself (502, 503)
  double qps = 0;                      // requests received over the last qps_window
};

class LoadBalancer {
 public:
  // Binds host:port and starts serving (with no replica: requests queue).
  // Throws NetworkError when the address cannot be bound, IoError when the
  // TLS files cannot be read.
  explicit LoadBalancer(LoadBalancerOptions options);
  ~LoadBalancer();  // Stop()
  LoadBalancer(const LoadBalancer&) = delete;
  LoadBalancer& operator=(const LoadBalancer&) = delete;

  uint16_t port() const;

  // The replicas ready now; callable from any thread at any time. Throws
  // InvalidTaskError for a URL that is not http://host:port.
  void SetReplicas(const std::vector<Replica>& replicas);
  void SetReplicas(const std::vector<std::string>& urls);

  LoadBalancerStats Stats() const;

  // Closes the port and every connection; in-flight requests end abruptly.
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace skycore::serve
