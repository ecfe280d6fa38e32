#include "infra/gcp/compute_client.h"

#include <fmt/format.h>

#include <algorithm>
#include <thread>

#include "common/strings.h"

namespace skycore::gcp {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

// A list is followed through this many pages at most.
constexpr int kMaxPages = 200;
// An operation is waited on at most this many times (each wait returns when
// it is DONE, or after GCE's two minutes; the fake's after a poll).
constexpr int kMaxWaits = 2000;

std::string PathOf(const std::string& url, const std::string& endpoint) {
  std::string path = url.rfind(endpoint, 0) == 0 ? url.substr(endpoint.size()) : url;
  return path.substr(0, path.find('?'));
}

bool RateLimited(long status, const std::string& reason) {
  return status == 429 ||
         (status == 403 && (reason == "rateLimitExceeded" || reason == "userRateLimitExceeded"));
}

// The last segment of a link (".../zones/us-central1-a" -> "us-central1-a").
std::string LastSegment(const std::string& link) { return link.substr(link.rfind('/') + 1); }

}  // namespace

GcpErrorDetail ParseGcpError(const std::string& body) {
  GcpErrorDetail detail;
  const auto parsed = json::parse(body, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("error")) {
    detail.message = body.substr(0, 300);
    return detail;
  }
  const json& error = parsed["error"];
  if (error.is_string()) {  // OAuth's {"error": "invalid_grant", ...}
    detail.reason = error.get<std::string>();
    detail.message = parsed.value("error_description", "");
    return detail;
  }
  if (!error.is_object()) return detail;
  detail.message = error.value("message", "");
  const json errors = error.value("errors", json::array());
  if (errors.is_array() && !errors.empty() && errors[0].is_object()) {
    detail.reason = errors[0].value("reason", "");
    if (detail.message.empty()) detail.message = errors[0].value("message", "");
  }
  if (detail.reason.empty() && error.contains("status") && error["status"].is_string()) {
    detail.reason = error["status"].get<std::string>();
  }
  return detail;
}

ComputeClient::ComputeClient(std::string endpoint, std::string project,
                             std::shared_ptr<TokenProvider> tokens, ComputeClientOptions options)
    : endpoint_(std::move(endpoint)),
      project_(std::move(project)),
      tokens_(std::move(tokens)),
      options_(options) {
  if (endpoint_.empty() || endpoint_.back() != '/') endpoint_ += '/';
}

std::string ComputeClient::ProjectPath(const std::string& rest) const {
  return fmt::format("projects/{}/{}", project_, rest);
}

ComputeClient::Answer ComputeClient::Send(const std::string& method, const std::string& url,
                                          const std::string& body) const {
  const auto make = [&] {
    http::HttpExchange exchange =
        http::BearerJsonRequest(method, url, body, tokens_->Token().token, "skycore/gcp");
    exchange.connect_timeout_ms = options_.connect_timeout_ms;
    exchange.total_timeout_ms = options_.request_timeout_ms;
    return exchange;
  };
  const auto judge = [&](const http::HttpAnswer& answer) {
    if (!answer.transport_ok || answer.status >= 500 ||
        RateLimited(answer.status, ParseGcpError(answer.body).reason)) {
      return http::Verdict::kRetry;
    }
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
    GcpErrorDetail detail{method,  PathOf(url, endpoint_), "", answer.raw.transport_error, 0, false,
                          attempts};
    throw GcpApiError(fmt::format("Compute Engine at {} did not answer {} {}: {}", endpoint_,
                                  method, detail.path, answer.raw.transport_error),
                      detail);
  }
  answer.body = json::parse(answer.raw.body, nullptr, false);
  return answer;
}

void ComputeClient::Fail(const std::string& method, const std::string& url,
                         const Answer& answer) const {
  GcpErrorDetail detail = ParseGcpError(answer.raw.body);
  detail.method = method;
  detail.path = PathOf(url, endpoint_);
  detail.http_status = answer.status;
  detail.attempts = answer.attempts;
  const std::string what =
      fmt::format("{}{}", detail.reason.empty() ? "" : detail.reason + ": ",
                  detail.message.empty() ? answer.raw.body.substr(0, 300) : detail.message);
  const bool refused =
      answer.status == 401 ||
      (answer.status == 403 &&
       (detail.reason == "forbidden" || detail.reason == "authError" ||
        detail.reason == "accessNotConfigured" || detail.reason == "insufficientPermissions"));
  if (refused) {
    throw GcpCredentialsRefused(
        fmt::format("GCP refused {} {} with the credentials of {} (project {}): HTTP {} {}; check "
                    "the project id and that the account has a role on it (Compute Admin)",
                    method, detail.path, tokens_->SourceName(), project_, answer.status, what),
        detail);
  }
  throw GcpApiError(
      fmt::format("GCP {} {} failed (HTTP {}): {}", method, detail.path, answer.status, what),
      detail);
}

std::optional<json> ComputeClient::Get(const std::string& path) const {
  const std::string url = endpoint_ + path;
  const Answer answer = Send("GET", url, "");
  if (answer.status == 404) return std::nullopt;
  if (answer.status != 200) Fail("GET", url, answer);
  return answer.body;
}

std::vector<json> ComputeClient::List(const std::string& path, const std::string& filter,
                                      const std::string& items_key) const {
  std::vector<json> items;
  std::string token;
  for (int page = 0; page < kMaxPages; ++page) {
    std::string url = endpoint_ + path;
    char separator = url.find('?') == std::string::npos ? '?' : '&';
    if (!filter.empty()) {
      url += fmt::format("{}filter={}", separator, strings::UrlEncode(filter));
      separator = '&';
    }
    if (!token.empty()) url += fmt::format("{}pageToken={}", separator, strings::UrlEncode(token));
    const Answer answer = Send("GET", url, "");
    if (answer.status != 200) Fail("GET", url, answer);
    const json found = answer.body.value(items_key, json::array());
    if (found.is_array()) {
      for (const auto& item : found) items.push_back(item);
    } else if (found.is_object()) {
      // aggregatedList: {"zones/Z": {"instances": [...]}, ...}
      for (const auto& [scope, listed] : found.items()) {
        for (const auto& [kind, values] : listed.items()) {
          if (kind == "warning" || !values.is_array()) continue;
          for (const auto& item : values) items.push_back(item);
        }
      }
    }
    token = answer.body.value("nextPageToken", "");
    if (token.empty()) break;
  }
  return items;
}

json ComputeClient::Begin(const std::string& method, const std::string& path,
                          const json& body) const {
  const std::string url = endpoint_ + path;
  const Answer answer = Send(method, url, body.is_null() ? "" : body.dump());
  if (method == "DELETE" && answer.status == 404) return json{{"status", "DONE"}};
  if (answer.status != 200) Fail(method, url, answer);
  return answer.body;
}

void ComputeClient::Wait(const json& operation,
                         std::chrono::steady_clock::time_point deadline) const {
  json current = operation;
  const std::string name = operation.value("name", "");
  // The operation's own scope: zonal (`zone` is its zone's link) or global.
  const std::string scope = operation.contains("zone") && operation["zone"].is_string()
                                ? "zones/" + LastSegment(operation["zone"].get<std::string>())
                                : "global";
  const std::string target = operation.value("targetLink", "");
  const std::string what = fmt::format("{} {}", operation.value("operationType", "operation"),
                                       target.empty() ? name : PathOf(target, endpoint_));
  for (int waits = 0; current.value("status", "") != "DONE"; ++waits) {
    if (name.empty()) return;  // nothing to wait for (a DELETE of what was gone)
    if (std::chrono::steady_clock::now() >= deadline || waits >= kMaxWaits) {
      GcpErrorDetail detail{"POST", name, "OPERATION_TIMEOUT", "did not finish in time", 0,
                            true,   1};
      throw GcpApiError(fmt::format("GCP {} did not finish in time", what), detail);
    }
    const std::string url =
        endpoint_ + ProjectPath(fmt::format("{}/operations/{}/wait", scope, name));
    const Answer answer = Send("POST", url, "");
    if (answer.status != 200) Fail("POST", url, answer);
    current = answer.body;
  }
  const json error = current.value("error", json());
  if (!error.is_object()) return;
  const json errors = error.value("errors", json::array());
  GcpErrorDetail detail;
  detail.method = "POST";
  detail.path = target.empty() ? name : PathOf(target, endpoint_);
  detail.from_operation = true;
  detail.http_status = current.value("httpErrorStatusCode", 0L);
  if (errors.is_array() && !errors.empty() && errors[0].is_object()) {
    detail.reason = errors[0].value("code", "");
    detail.message = errors[0].value("message", "");
  }
  if (detail.message.empty()) detail.message = current.value("httpErrorMessage", "");
  throw GcpApiError(fmt::format("GCP {} failed: {}: {}", what, detail.reason, detail.message),
                    detail);
}

void ComputeClient::WaitLongRunning(const json& operation,
                                    std::chrono::steady_clock::time_point deadline) const {
  static const char* const kRpcCodes[] = {"OK",
                                          "CANCELLED",
                                          "UNKNOWN",
                                          "INVALID_ARGUMENT",
                                          "DEADLINE_EXCEEDED",
                                          "NOT_FOUND",
                                          "ALREADY_EXISTS",
                                          "PERMISSION_DENIED",
                                          "RESOURCE_EXHAUSTED",
                                          "FAILED_PRECONDITION",
                                          "ABORTED",
                                          "OUT_OF_RANGE",
                                          "UNIMPLEMENTED",
                                          "INTERNAL",
                                          "UNAVAILABLE",
                                          "DATA_LOSS",
                                          "UNAUTHENTICATED"};
  json current = operation;
  const std::string name = operation.value("name", "");
  const json metadata = operation.value("metadata", json::object());
  const std::string what =
      fmt::format("{} {}", metadata.is_object() ? metadata.value("verb", "operation") : "operation",
                  metadata.is_object() ? metadata.value("target", name) : name);
  milliseconds wait(200);
  for (int polls = 0; !current.value("done", false); ++polls) {
    if (name.empty()) return;
    if (std::chrono::steady_clock::now() + wait > deadline || polls >= kMaxWaits) {
      GcpErrorDetail detail{"GET", name, "OPERATION_TIMEOUT", "did not finish in time", 0, true, 1};
      throw GcpApiError(fmt::format("GCP {} did not finish in time", what), detail);
    }
    std::this_thread::sleep_for(wait);
    wait = std::min(wait * 2, milliseconds(2000));
    const std::string url = endpoint_ + name;
    const Answer answer = Send("GET", url, "");
    if (answer.status != 200) Fail("GET", url, answer);
    current = answer.body;
  }
  const json error = current.value("error", json());
  if (!error.is_object()) return;
  const int code = error.value("code", 2);
  GcpErrorDetail detail;
  detail.method = "GET";
  detail.path = name;
  detail.from_operation = true;
  detail.reason = code >= 0 && code <= 16 ? kRpcCodes[code] : "UNKNOWN";
  detail.message = error.value("message", "");
  throw GcpApiError(fmt::format("GCP {} failed: {}: {}", what, detail.reason, detail.message),
                    detail);
}

void ComputeClient::Run(const std::string& method, const std::string& path, const json& body,
                        std::chrono::steady_clock::time_point deadline) const {
  Wait(Begin(method, path, body), deadline);
}

}  // namespace skycore::gcp
