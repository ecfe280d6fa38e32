// The retry loop every cloud API client sends through: what is retried, how
// often, Retry-After, and the one uncounted resend after a credential renewal.
#include "common/http_client.h"

#include <gtest/gtest.h>

#include <chrono>

#include "scripted_server.h"

namespace skycore::http {
namespace {

using std::chrono::milliseconds;
using testing::ScriptedResponse;
using testing::ScriptedServer;

RetryPolicy Fast(int attempts) { return RetryPolicy{attempts, 1, 4}; }

HttpExchange Get(const ScriptedServer& server) {
  HttpExchange exchange;
  exchange.method = "GET";
  exchange.url = server.url() + "/thing";
  return exchange;
}

Verdict RetryServerErrors(const HttpAnswer& answer) {
  return !answer.transport_ok || answer.status >= 500 ? Verdict::kRetry : Verdict::kDone;
}

TEST(RetryPolicy, BackoffGrowsWithJitterAndStaysUnderTheCap) {
  const RetryPolicy policy{5, 100, 1000};
  for (int i = 0; i < 50; ++i) {
    const auto first = policy.Backoff(1);
    EXPECT_GE(first, milliseconds(100));
    EXPECT_LE(first, milliseconds(200));
    const auto late = policy.Backoff(20);  // no overflow: capped
    EXPECT_GE(late, milliseconds(500));
    EXPECT_LE(late, milliseconds(1000));
  }
}

TEST(RetryPolicy, RetryAfterSecondsAreHonouredUpToTheCap) {
  const RetryPolicy policy{5, 100, 3000};
  HttpAnswer answer;
  answer.headers["retry-after"] = "2";
  EXPECT_EQ(policy.WaitAfter(answer, 1), milliseconds(2000));
  answer.headers["retry-after"] = "60";
  EXPECT_EQ(policy.WaitAfter(answer, 1), milliseconds(3000));
  answer.headers["retry-after"] = "Wed, 21 Oct 2015 07:28:00 GMT";  // a date: back-off instead
  EXPECT_LE(policy.WaitAfter(answer, 1), milliseconds(200));
}

TEST(SendWithRetries, RetriesWhatTheJudgeSaysUntilTheLastAttempt) {
  ScriptedServer server({{503, "busy"}});
  HttpConnections connections;
  const auto [answer, attempts] = SendWithRetries(
      connections, Fast(3), [&] { return Get(server); }, RetryServerErrors);
  EXPECT_EQ(answer.status, 503);
  EXPECT_EQ(attempts, 3);
  EXPECT_EQ(server.seen().size(), 3u);
}

TEST(SendWithRetries, StopsAtTheFirstAnswerThatIsDone) {
  ScriptedServer server({{500, "oops"}, {404, "none"}});
  HttpConnections connections;
  const auto [answer, attempts] = SendWithRetries(
      connections, Fast(5), [&] { return Get(server); }, RetryServerErrors);
  EXPECT_EQ(answer.status, 404);
  EXPECT_EQ(attempts, 2);
}

TEST(SendWithRetries, ARenewalIsResentOnceAndNotCounted) {
  ScriptedServer server({{401, "expired"}, {200, "ok"}});
  HttpConnections connections;
  int built = 0;
  const auto [answer, attempts] = SendWithRetries(
      connections, Fast(1),
      [&] {
        ++built;
        return Get(server);
      },
      [](const HttpAnswer& a) { return a.status == 401 ? Verdict::kRenewed : Verdict::kDone; });
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(attempts, 1);
  EXPECT_EQ(built, 2);  // the exchange is rebuilt: it carries the renewed token
}

TEST(SendWithRetries, ASecondRenewalIsTheAnswer) {
  ScriptedServer server({{401, "refused"}});
  HttpConnections connections;
  const auto [answer, attempts] = SendWithRetries(
      connections, Fast(5), [&] { return Get(server); },
      [](const HttpAnswer& a) { return a.status == 401 ? Verdict::kRenewed : Verdict::kDone; });
  EXPECT_EQ(answer.status, 401);
  EXPECT_EQ(server.seen().size(), 2u);
}

TEST(SendWithRetries, EveryWaitIsToldBeforeItIsSlept) {
  ScriptedServer server({{429, "slow down", 0, "text/plain", {"Retry-After: 0"}}, {200, "ok"}});
  HttpConnections connections;
  std::vector<int> told;
  const auto [answer, attempts] = SendWithRetries(
      connections, Fast(3), [&] { return Get(server); },
      [](const HttpAnswer& a) { return a.status == 429 ? Verdict::kRetry : Verdict::kDone; },
      [&](const HttpAnswer& a, milliseconds wait, int next) {
        EXPECT_EQ(a.status, 429);
        EXPECT_EQ(wait, milliseconds(0));
        told.push_back(next);
      });
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(told, std::vector<int>{2});
}

TEST(SendWithRetries, ATransportFailureIsAnAnswerNotAnException) {
  HttpConnections connections;
  const auto [answer, attempts] = SendWithRetries(
      connections, Fast(2),
      [&] {
        HttpExchange exchange;
        exchange.method = "GET";
        // Port 1 on loopback: nothing listens there, the connection is refused.
        exchange.url = "http://127.0.0.1:1/";
        exchange.connect_timeout_ms = 500;
        return exchange;
      },
      RetryServerErrors);
  EXPECT_FALSE(answer.transport_ok);
  EXPECT_EQ(attempts, 2);
}

}  // namespace
}  // namespace skycore::http
