// skyserve-lb: the load balancer of one service as a process, for the serve
// controller to run beside it (as SkyPilot runs one per service).
//
//   skyserve-lb --port 8000 --replica http://10.0.0.5:8080 --replica http://10.0.0.6:8080=2.5
//               [--policy least_load] [--tls-keyfile K --tls-certfile C] [--control-stdin]
//
// `URL=QPS` gives a replica's target QPS (instance_aware_least_load). Once
// listening it prints {"port": P} on one line. With --control-stdin it reads
// one JSON object per line and answers each on stdout:
//   {"replicas": ["http://...", {"url": "http://...", "target_qps": 2}]}  -> {"ok": true}
//   {"stats": true}  -> the counters (in flight per replica, totals, QPS)
// and exits when stdin closes (its controller is gone). Otherwise it serves
// until a signal ends it.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "skycore/error.h"
#include "skycore/serve.h"

namespace {

using skycore::serve::Replica;

Replica ParseReplicaArg(const std::string& arg) {
  auto eq = arg.rfind('=');
  if (eq == std::string::npos) return {arg, 1.0};
  return {arg.substr(0, eq), std::stod(arg.substr(eq + 1))};
}

std::vector<Replica> ParseReplicaJson(const nlohmann::json& list) {
  std::vector<Replica> replicas;
  for (const auto& item : list) {
    if (item.is_string()) {
      replicas.push_back({item.get<std::string>(), 1.0});
    } else {
      replicas.push_back({item.at("url").get<std::string>(), item.value("target_qps", 1.0)});
    }
  }
  return replicas;
}

nlohmann::json StatsJson(const skycore::serve::LoadBalancerStats& stats) {
  nlohmann::json replicas = nlohmann::json::array();
  for (const auto& r : stats.replicas) {
    replicas.push_back({{"url", r.url},
                        {"in_flight", r.in_flight},
                        {"requests_total", r.requests_total},
                        {"failures_total", r.failures_total}});
  }
  return {{"replicas", replicas},
          {"in_flight", stats.in_flight},
          {"queued", stats.queued},
          {"requests_total", stats.requests_total},
          {"retries_total", stats.retries_total},
          {"rejected_total", stats.rejected_total},
          {"qps", stats.qps}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"skyserve-lb: the load balancer in front of a service's replicas"};
  skycore::serve::LoadBalancerOptions options;
  std::string policy = "least_load";
  std::vector<std::string> replica_args;
  std::string keyfile, certfile;
  int queue_timeout_s = 60;
  bool control_stdin = false;
  app.add_option("--host", options.host, "address to listen on")->capture_default_str();
  app.add_option("--port", options.port, "port to listen on (0: any free one)")
      ->capture_default_str();
  app.add_option("--replica", replica_args, "a ready replica, URL or URL=TARGET_QPS (repeatable)");
  app.add_option("--policy", policy, "round_robin, least_load or instance_aware_least_load")
      ->capture_default_str();
  app.add_option("--io-threads", options.io_threads, "threads serving connections")
      ->capture_default_str();
  app.add_option("--max-queued", options.max_queued_requests,
                 "requests that may wait for a first ready replica")
      ->capture_default_str();
  app.add_option("--queue-timeout", queue_timeout_s, "seconds a request waits for a replica")
      ->capture_default_str();
  app.add_option("--tls-keyfile", keyfile, "PEM key: serve HTTPS");
  app.add_option("--tls-certfile", certfile, "PEM certificate chain: serve HTTPS");
  app.add_flag("--control-stdin", control_stdin,
               "read replica updates and stats requests from stdin, one JSON object a line");
  CLI11_PARSE(app, argc, argv);
  try {
    options.policy = skycore::serve::ParseLoadBalancingPolicy(policy);
    options.queue_timeout = std::chrono::seconds(queue_timeout_s);
    if (keyfile.empty() != certfile.empty()) {
      throw skycore::InvalidTaskError("--tls-keyfile and --tls-certfile go together",
                                      skycore::ErrorLocation{"", 0, 0, "service.tls"});
    }
    if (!keyfile.empty()) options.tls = skycore::serve::TlsFiles{keyfile, certfile};
    std::vector<Replica> replicas;
    for (const auto& arg : replica_args) replicas.push_back(ParseReplicaArg(arg));
    skycore::serve::LoadBalancer lb(options);
    lb.SetReplicas(replicas);
    std::cout << nlohmann::json{{"port", lb.port()}}.dump() << std::endl;
    if (!control_stdin) {
      for (;;) ::pause();
    }
    std::string line;
    while (std::getline(std::cin, line)) {
      if (line.empty()) continue;
      nlohmann::json answer;
      try {
        auto command = nlohmann::json::parse(line);
        if (command.contains("replicas")) {
          lb.SetReplicas(ParseReplicaJson(command.at("replicas")));
          answer = {{"ok", true}};
        } else if (command.value("stats", false)) {
          answer = StatsJson(lb.Stats());
        } else {
          answer = {{"error", "expected {\"replicas\": [...]} or {\"stats\": true}"}};
        }
      } catch (const std::exception& e) {
        answer = {{"error", e.what()}};
      }
      std::cout << answer.dump() << std::endl;
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << fmt::format("skyserve-lb: {}\n", e.what());
    return 1;
  }
}
