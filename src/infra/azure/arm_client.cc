#include "infra/azure/arm_client.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <thread>

#include "common/strings.h"

namespace skycore::azure {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

// A list is followed through this many pages at most.
constexpr int kMaxPages = 200;

bool Retryable(long status) { return status == 429 || status >= 500; }

// The path of an absolute ARM URL, without the query: for messages.
std::string PathOf(const std::string& url) {
  const size_t scheme = url.find("://");
  const size_t start = scheme == std::string::npos ? 0 : url.find('/', scheme + 3);
  if (start == std::string::npos) return url;
  return url.substr(start, url.find('?', start) - start);
}

}  // namespace

std::optional<milliseconds> ParseRetryAfter(const std::string& value) {
  if (value.empty()) return std::nullopt;
  long long seconds = 0;
  if (strings::ParseInt(strings::Trim(value), seconds) && seconds >= 0) {
    return milliseconds(seconds * 1000);
  }
  // An HTTP date: ARM sends seconds; a date is treated as "soon".
  return milliseconds(1000);
}

ArmErrorDetail ParseArmError(const std::string& body) {
  ArmErrorDetail detail;
  const auto parsed = json::parse(body, nullptr, false);
  if (!parsed.is_object()) {
    detail.message = body.substr(0, 300);
    return detail;
  }
  const json error =
      parsed.contains("error") && parsed["error"].is_object() ? parsed["error"] : parsed;
  detail.code = error.value("code", "");
  detail.message = error.value("message", "");
  static const std::vector<std::string> kWrappers = {"DeploymentFailed",
                                                     "InvalidTemplateDeployment", "Conflict"};
  if (std::find(kWrappers.begin(), kWrappers.end(), detail.code) != kWrappers.end()) {
    for (const auto& inner : error.value("details", json::array())) {
      if (inner.is_object() && !inner.value("code", "").empty()) {
        detail.code = inner.value("code", "");
        detail.message = inner.value("message", detail.message);
        break;
      }
    }
  }
  return detail;
}

ArmClient::ArmClient(std::string endpoint, std::string subscription,
                     std::shared_ptr<TokenProvider> tokens, ArmClientOptions options)
    : endpoint_(std::move(endpoint)),
      subscription_(std::move(subscription)),
      tokens_(std::move(tokens)),
      options_(options) {
  while (!endpoint_.empty() && endpoint_.back() == '/') endpoint_.pop_back();
}

std::string ArmClient::SubscriptionPath(const std::string& rest) const {
  return fmt::format("/subscriptions/{}{}", subscription_, rest);
}

std::string ArmClient::Url(const std::string& path, const std::string& api_version) const {
  const std::string base = path.rfind("http", 0) == 0 ? path : endpoint_ + path;
  return fmt::format("{}{}api-version={}", base, base.find('?') == std::string::npos ? '?' : '&',
                     api_version);
}

ArmClient::Answer ArmClient::Send(const std::string& method, const std::string& url,
                                  const std::string& body) const {
  const auto make = [&] {
    http::HttpExchange exchange =
        http::BearerJsonRequest(method, url, body, tokens_->Token().token, "skycore/azure");
    exchange.connect_timeout_ms = options_.connect_timeout_ms;
    exchange.total_timeout_ms = options_.request_timeout_ms;
    return exchange;
  };
  const auto judge = [&](const http::HttpAnswer& answer) {
    if (!answer.transport_ok || Retryable(answer.status)) return http::Verdict::kRetry;
    if (answer.status == 401) {
      // An expired or revoked token: one more try with a fresh one.
      tokens_->Invalidate();
      return http::Verdict::kRenewed;
    }
    return http::Verdict::kDone;
  };
  auto [raw, attempts] = http::SendWithRetries(connections_, options_.retry, make, judge);
  Answer answer;
  answer.raw = std::move(raw);
  answer.status = answer.raw.status;
  answer.attempts = attempts;
  if (!answer.raw.transport_ok) {
    ArmErrorDetail detail{method, PathOf(url), "", answer.raw.transport_error, 0, false, attempts};
    throw ArmApiError(fmt::format("Azure Resource Manager at {} did not answer {} {}: {}",
                                  endpoint_, method, detail.path, answer.raw.transport_error),
                      detail);
  }
  answer.body = json::parse(answer.raw.body, nullptr, false);
  if (answer.status == 401 || answer.status == 403) Fail(method, url, answer);
  return answer;
}

void ArmClient::Fail(const std::string& method, const std::string& url,
                     const Answer& answer) const {
  ArmErrorDetail detail = ParseArmError(answer.raw.body);
  detail.method = method;
  detail.path = PathOf(url);
  detail.http_status = answer.status;
  detail.attempts = answer.attempts;
  const std::string what =
      fmt::format("{}{}", detail.code.empty() ? "" : detail.code + ": ",
                  detail.message.empty() ? answer.raw.body.substr(0, 300) : detail.message);
  static const std::vector<std::string> kAuthCodes = {"InvalidAuthenticationToken",
                                                      "ExpiredAuthenticationToken",
                                                      "InvalidAuthenticationTokenTenant",
                                                      "AuthenticationFailed",
                                                      "AuthorizationFailed",
                                                      "SubscriptionNotFound",
                                                      "InvalidSubscriptionId"};
  if (answer.status == 401 || answer.status == 403 ||
      std::find(kAuthCodes.begin(), kAuthCodes.end(), detail.code) != kAuthCodes.end()) {
    throw ArmCredentialsRefused(
        fmt::format("Azure refused {} {} with the credentials of {} (subscription {}): HTTP {} "
                    "{}; check the subscription id and that the identity has a role on it "
                    "(Contributor)",
                    method, detail.path, tokens_->SourceName(), subscription_, answer.status, what),
        detail);
  }
  throw ArmApiError(
      fmt::format("Azure {} {} failed (HTTP {}): {}", method, detail.path, answer.status, what),
      detail);
}

std::optional<json> ArmClient::Get(const std::string& path, const std::string& api_version) const {
  const std::string url = Url(path, api_version);
  const Answer answer = Send("GET", url, "");
  if (answer.status == 404) {
    const ArmErrorDetail detail = ParseArmError(answer.raw.body);
    if (detail.code == "SubscriptionNotFound") Fail("GET", url, answer);
    return std::nullopt;
  }
  if (answer.status != 200) Fail("GET", url, answer);
  return answer.body;
}

std::vector<json> ArmClient::List(const std::string& path, const std::string& api_version) const {
  std::vector<json> items;
  std::string url = Url(path, api_version);
  for (int page = 0; page < kMaxPages && !url.empty(); ++page) {
    const Answer answer = Send("GET", url, "");
    if (answer.status != 200) Fail("GET", url, answer);
    for (const auto& item : answer.body.value("value", json::array())) items.push_back(item);
    url = answer.body.value("nextLink", "");
  }
  return items;
}

ArmOperation ArmClient::Begin(const std::string& method, const std::string& path,
                              const std::string& api_version, const json& body) const {
  const std::string url = Url(path, api_version);
  const Answer answer = Send(method, url, body.is_null() ? "" : body.dump());
  ArmOperation operation;
  operation.method = method;
  operation.path = path;
  operation.api_version = api_version;
  if (method == "DELETE" && answer.status == 404) {
    operation.done = true;
    return operation;
  }
  if (answer.status < 200 || answer.status > 202) {
    if (answer.status != 204) Fail(method, url, answer);
  }
  operation.body = answer.body.is_discarded() ? json() : answer.body;
  operation.async_url = answer.raw.Header("azure-asyncoperation");
  operation.location_url = answer.raw.Header("location");
  operation.retry_after =
      ParseRetryAfter(answer.raw.Header("retry-after")).value_or(options_.default_poll);
  const bool pending_put =
      method == "PUT" && operation.body.is_object() &&
      !std::set<std::string>{"", "Succeeded"}.count(
          operation.body.value("properties", json::object()).value("provisioningState", ""));
  operation.done = operation.async_url.empty() && operation.location_url.empty() &&
                   (answer.status == 200 || answer.status == 204 || !pending_put);
  return operation;
}

json ArmClient::Wait(const ArmOperation& operation,
                     std::chrono::steady_clock::time_point deadline) const {
  milliseconds wait = operation.retry_after;
  bool done = operation.done;
  while (!done) {
    if (std::chrono::steady_clock::now() + std::min(wait, options_.max_poll) > deadline) {
      ArmErrorDetail detail{operation.method,
                            operation.path,
                            "OperationTimedOut",
                            "did not finish in time",
                            0,
                            true,
                            1};
      throw ArmApiError(
          fmt::format("Azure {} {} did not finish in time", operation.method, operation.path),
          detail);
    }
    std::this_thread::sleep_for(std::min(wait, options_.max_poll));
    if (!operation.async_url.empty()) {
      const Answer answer = Send("GET", operation.async_url, "");
      if (answer.status != 200) Fail("GET", operation.async_url, answer);
      const std::string status = answer.body.value("status", "");
      if (status == "Succeeded") {
        done = true;
      } else if (status == "Failed" || status == "Canceled") {
        ArmErrorDetail detail = ParseArmError(answer.body.contains("error")
                                                  ? json{{"error", answer.body["error"]}}.dump()
                                                  : std::string());
        detail.method = operation.method;
        detail.path = operation.path;
        detail.from_operation = true;
        if (detail.code.empty()) detail.code = status;
        throw ArmApiError(fmt::format("Azure {} {} failed: {}: {}", operation.method,
                                      operation.path, detail.code, detail.message),
                          detail);
      }
      wait = ParseRetryAfter(answer.raw.Header("retry-after")).value_or(options_.default_poll);
    } else if (!operation.location_url.empty()) {
      const Answer answer = Send("GET", operation.location_url, "");
      if (answer.status == 202) {
        wait = ParseRetryAfter(answer.raw.Header("retry-after")).value_or(options_.default_poll);
        continue;
      }
      if (answer.status == 404 && operation.method == "DELETE") break;
      if (answer.status < 200 || answer.status > 204) {
        Fail(operation.method, operation.location_url, answer);
      }
      done = true;
    } else {
      // A PUT answered with a resource still provisioning, and no URL to
      // poll: its provisioningState says when it is done.
      const auto resource = Get(operation.path, operation.api_version);
      const std::string state =
          resource ? resource->value("properties", json::object()).value("provisioningState", "")
                   : "";
      if (state == "Failed" || state == "Canceled") {
        ArmErrorDetail detail{operation.method,
                              operation.path,
                              "ProvisioningFailed",
                              "the resource's provisioningState is " + state,
                              0,
                              true,
                              1};
        throw ArmApiError(fmt::format("Azure {} {} failed: provisioningState {}", operation.method,
                                      operation.path, state),
                          detail);
      }
      done = state.empty() || state == "Succeeded";
      wait = options_.default_poll;
    }
  }
  if (operation.method != "PUT") return nullptr;
  return Get(operation.path, operation.api_version).value_or(operation.body);
}

json ArmClient::Run(const std::string& method, const std::string& path,
                    const std::string& api_version, const json& body,
                    std::chrono::steady_clock::time_point deadline) const {
  return Wait(Begin(method, path, api_version, body), deadline);
}

}  // namespace skycore::azure
