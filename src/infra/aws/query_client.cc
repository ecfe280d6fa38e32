#include "infra/aws/query_client.h"

#include <fmt/format.h>

#include <algorithm>
#include <thread>

namespace skycore::aws {
namespace {

using Clock = std::chrono::steady_clock;

// The retryable 5xx codes; other codes with a 5xx (EC2 answers
// InsufficientInstanceCapacity with HTTP 500) are the request's own answer.
bool IsServiceFailureCode(const std::string& code) {
  return code.empty() || code == "InternalError" || code == "InternalFailure" ||
         code == "ServiceUnavailable" || code == "Unavailable" ||
         code == "ServiceUnavailableException";
}

// "https://host:port/path" split into what is signed and sent.
void SplitEndpoint(const std::string& endpoint, std::string* host, std::string* path) {
  const size_t scheme_end = endpoint.find("://");
  const std::string scheme =
      scheme_end == std::string::npos ? "https" : endpoint.substr(0, scheme_end);
  std::string rest = scheme_end == std::string::npos ? endpoint : endpoint.substr(scheme_end + 3);
  const size_t slash = rest.find('/');
  *path = slash == std::string::npos ? "/" : rest.substr(slash);
  *host = rest.substr(0, slash);
  // The default port is not part of the Host header libcurl would send.
  const std::string default_port = scheme == "http" ? ":80" : ":443";
  if (host->size() > default_port.size() &&
      host->compare(host->size() - default_port.size(), default_port.size(), default_port) == 0) {
    host->resize(host->size() - default_port.size());
  }
}

std::string FormBody(const std::string& action, const std::string& version,
                     const QueryParams& params) {
  std::string body = fmt::format("Action={}&Version={}", UriEncode(action), UriEncode(version));
  for (const auto& [key, value] : params) {
    body += '&';
    body += UriEncode(key);
    body += '=';
    body += UriEncode(value);
  }
  return body;
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

bool IsAuthErrorCode(const std::string& code) {
  return code == "AuthFailure" || code == "SignatureDoesNotMatch" ||
         code == "InvalidClientTokenId" || code == "ExpiredToken" ||
         code == "UnrecognizedClientException" || code == "InvalidAccessKeyId" ||
         code == "IncompleteSignature" || code == "MissingAuthenticationToken" ||
         code == "RequestExpired" || code == "AuthFailure.ServiceLinkedRoleCreationNotPermitted" ||
         code == "UnauthorizedOperation" || code == "AccessDenied" ||
         code == "AccessDeniedException" || code == "OptInRequired";
}

bool IsThrottlingCode(const std::string& code) {
  return code == "RequestLimitExceeded" || code == "Throttling" || code == "ThrottlingException" ||
         code == "RequestThrottled" || code == "RequestThrottledException" ||
         code == "TooManyRequestsException" || code == "SlowDown" ||
         code == "PriorRequestNotComplete";
}

pugi::xml_node FindDescendant(pugi::xml_node node, const char* name) {
  return node.find_node([name](pugi::xml_node each) {
    return each.type() == pugi::node_element && std::string_view(each.name()) == name;
  });
}

std::string DescendantText(pugi::xml_node node, const char* name) {
  return FindDescendant(node, name).child_value();
}

AwsErrorDetail ParseErrorDocument(const std::string& body) {
  AwsErrorDetail detail;
  pugi::xml_document document;
  if (!document.load_buffer(body.data(), body.size())) {
    detail.message = body.substr(0, 300);
    return detail;
  }
  const pugi::xml_node error = FindDescendant(document, "Error");
  detail.code = DescendantText(error, "Code");
  detail.message = DescendantText(error, "Message");
  detail.request_id = DescendantText(document, "RequestID");
  if (detail.request_id.empty()) detail.request_id = DescendantText(document, "RequestId");
  return detail;
}

QueryClient::QueryClient(AwsService service, std::string region, std::string endpoint,
                         AwsCredentials credentials, QueryClientOptions options)
    : service_(std::move(service)),
      region_(std::move(region)),
      endpoint_(std::move(endpoint)),
      credentials_(std::move(credentials)),
      options_(std::move(options)),
      signer_(region_, service_.id) {
  SplitEndpoint(endpoint_, &host_, &path_);
}

void QueryClient::ThrowRefused(AwsErrorDetail detail) const {
  std::string fix;
  if (detail.code == "ExpiredToken" || detail.code == "RequestExpired") {
    fix =
        "the session token has expired: renew it (aws sso login, a new AssumeRole) or unset "
        "AWS_SESSION_TOKEN";
  } else if (detail.code == "UnauthorizedOperation" || detail.code == "AccessDenied" ||
             detail.code == "AccessDeniedException") {
    fix = fmt::format(
        "the identity may not call {}:{}; grant it in IAM (SkyPilot's minimal "
        "permissions: https://docs.skypilot.co/en/latest/cloud-setup/cloud-permissions/aws.html)",
        service_.id, detail.action);
  } else if (detail.code == "OptInRequired") {
    fix = fmt::format("the account is not subscribed to {} in {}", service_.name, region_);
  } else if (detail.code == "SignatureDoesNotMatch") {
    fix =
        "the secret access key does not belong to the access key id; check both (or the clock "
        "of this machine)";
  } else {
    fix =
        "check the access key id and secret (`aws sts get-caller-identity` shows which "
        "identity they are), or run `aws configure`";
  }
  std::string message =
      fmt::format("AWS {} {} in {} refused the credentials from {} ({}: {}); {}", service_.name,
                  detail.action, region_, credentials_.source, detail.code, detail.message, fix);
  throw AwsCredentialsRefused(std::move(message), std::move(detail));
}

pugi::xml_document QueryClient::Call(const std::string& action, const QueryParams& params) const {
  const std::string body = FormBody(action, service_.api_version, params);
  SignableRequest request;
  request.method = "POST";
  request.host = host_;
  request.path = path_;
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
  request.payload = body;

  const auto start = Clock::now();
  const int max_attempts = std::max(1, options_.retry.max_attempts);
  AwsErrorDetail last;
  last.service = service_.name;
  last.action = action;
  last.region = region_;
  std::string last_failure;  // "throttled (RequestLimitExceeded)"
  for (int attempt = 1; attempt <= max_attempts; ++attempt) {
    const auto now = options_.now ? options_.now() : std::chrono::system_clock::now();
    const SignedHeaders signed_headers = signer_.Sign(request, credentials_.keys(), AmzDate(now));
    http::HttpExchange exchange;
    exchange.method = "POST";
    exchange.url = endpoint_ + (path_ == "/" ? "/" : "");
    exchange.body = body;
    exchange.connect_timeout_ms = options_.connect_timeout_ms;
    exchange.total_timeout_ms = options_.request_timeout_ms;
    exchange.user_agent = "skycore/aws";
    exchange.headers = {
        fmt::format("Host: {}", host_),
        "Content-Type: application/x-www-form-urlencoded; charset=utf-8",
        fmt::format("X-Amz-Date: {}", signed_headers.amz_date),
        fmt::format("Authorization: {}", signed_headers.authorization),
    };
    if (!signed_headers.security_token.empty()) {
      exchange.headers.push_back(
          fmt::format("X-Amz-Security-Token: {}", signed_headers.security_token));
    }
    http::HttpAnswer answer = connections_.Perform(exchange);
    last.attempts = attempt;
    if (!answer.transport_ok) {
      last.http_status = 0;
      last.code.clear();
      last.message = answer.transport_error;
      last_failure = fmt::format("{} {}: {}", answer.timed_out ? "timed out at" : "cannot reach",
                                 endpoint_, answer.transport_error);
    } else if (answer.status >= 200 && answer.status < 300) {
      pugi::xml_document document;
      if (!document.load_buffer(answer.body.data(), answer.body.size())) {
        last.http_status = answer.status;
        throw AwsApiError(
            fmt::format("AWS {} {} in {}: the answer is not XML ({} bytes from {})", service_.name,
                        action, region_, answer.body.size(), endpoint_),
            last);
      }
      return document;
    } else {
      AwsErrorDetail detail = ParseErrorDocument(answer.body);
      detail.service = service_.name;
      detail.action = action;
      detail.region = region_;
      detail.http_status = answer.status;
      detail.attempts = attempt;
      if (IsAuthErrorCode(detail.code) || (detail.code.empty() && answer.status == 401)) {
        ThrowRefused(std::move(detail));
      }
      const bool throttled = IsThrottlingCode(detail.code) || answer.status == 429;
      const bool service_failure = answer.status >= 500 && IsServiceFailureCode(detail.code);
      if (!throttled && !service_failure) {
        // The message first: the detail is moved into the error after.
        std::string message = fmt::format(
            "AWS {} {} in {}: {}: {}{}", service_.name, action, region_,
            detail.code.empty() ? fmt::format("HTTP {}", answer.status) : detail.code,
            detail.message,
            detail.request_id.empty() ? "" : fmt::format(" (request id {})", detail.request_id));
        throw AwsApiError(std::move(message), std::move(detail));
      }
      last_failure =
          throttled
              ? fmt::format("throttled ({})", detail.code.empty()
                                                  ? fmt::format("HTTP {}", answer.status)
                                                  : detail.code)
              : fmt::format("HTTP {} ({}{})", answer.status,
                            detail.code.empty() ? std::string("no error code") : detail.code,
                            detail.message.empty() ? "" : fmt::format(": {}", detail.message));
      last = std::move(detail);
    }
    if (attempt < max_attempts) {
      std::this_thread::sleep_for(options_.retry.Backoff(attempt));
    }
  }
  throw AwsApiError(
      fmt::format("AWS {} {} in {}: {} {} times over {:.1f} s; giving up", service_.name, action,
                  region_, last_failure, max_attempts, SecondsSince(start)),
      last);
}

}  // namespace skycore::aws
