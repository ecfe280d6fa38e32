// A client of AWS's Query APIs (EC2, STS, IAM): form-encoded POSTs signed
// with SigV4, XML answers.
//
// Every request has a connect and a total timeout. Throttling
// (RequestLimitExceeded, Throttling, ThrottlingException, HTTP 429), the
// service's own failures (HTTP 5xx with no error code of the request's own)
// and connection failures are retried a bounded number of times, with
// jittered exponential back-off; RunInstances is only retried with a
// ClientToken (ec2.cc), so a retry cannot create instances twice.
#pragma once

#include <chrono>
#include <functional>
#include <pugixml.hpp>
#include <string>
#include <utility>
#include <vector>

#include "common/http_client.h"
#include "infra/aws/credentials.h"
#include "infra/aws/endpoints.h"
#include "infra/aws/sigv4.h"
#include "skycore/error.h"

namespace skycore::aws {

// Parameters of a Query API call, decoded: {"InstanceId.1", "i-123"}.
using QueryParams = std::vector<std::pair<std::string, std::string>>;

struct QueryClientOptions {
  long connect_timeout_ms = 5000;
  long request_timeout_ms = 30000;
  http::RetryPolicy retry;
  // X-Amz-Date's clock; empty: the system clock.
  std::function<std::chrono::system_clock::time_point()> now;
};

// What AWS said about a failed call.
struct AwsErrorDetail {
  std::string service;  // "EC2"
  std::string action;   // "RunInstances"
  std::string region;
  std::string code;  // "InsufficientInstanceCapacity"; empty without an error document
  std::string message;
  std::string request_id;
  long http_status = 0;  // 0: no HTTP answer
  int attempts = 1;
};

// An AWS API call that failed (after its retries, when retried).
class AwsApiError : public NetworkError {
 public:
  AwsApiError(std::string message, AwsErrorDetail detail)
      : NetworkError(std::move(message)), detail_(std::move(detail)) {}
  const AwsErrorDetail& detail() const { return detail_; }
  const std::string& aws_code() const { return detail_.code; }

 private:
  AwsErrorDetail detail_;
};

// AWS refused the credentials (AuthFailure, SignatureDoesNotMatch,
// InvalidClientTokenId, ExpiredToken, UnrecognizedClientException, ...).
class AwsCredentialsRefused : public InvalidCloudCredentials {
 public:
  AwsCredentialsRefused(std::string message, AwsErrorDetail detail)
      : InvalidCloudCredentials(std::move(message)), detail_(std::move(detail)) {}
  const AwsErrorDetail& detail() const { return detail_; }

 private:
  AwsErrorDetail detail_;
};

// Whether `code` means the credentials were refused.
bool IsAuthErrorCode(const std::string& code);
// Whether `code` means the caller was throttled.
bool IsThrottlingCode(const std::string& code);

// The code, message and request id of an error document (EC2's
// <Response><Errors><Error>, STS and IAM's <ErrorResponse><Error>).
AwsErrorDetail ParseErrorDocument(const std::string& body);

class QueryClient {
 public:
  // `endpoint`: a base URL ("https://ec2.us-east-1.amazonaws.com",
  // "http://127.0.0.1:5000").
  QueryClient(AwsService service, std::string region, std::string endpoint,
              AwsCredentials credentials, QueryClientOptions options = {});

  // Calls `action` and returns its answer. Throws AwsCredentialsRefused when
  // AWS refuses the credentials (naming their source and what to fix),
  // AwsApiError for any other failure. Thread-safe.
  pugi::xml_document Call(const std::string& action, const QueryParams& params) const;

  const AwsService& service() const { return service_; }
  const std::string& region() const { return region_; }
  const std::string& endpoint() const { return endpoint_; }
  const AwsCredentials& credentials() const { return credentials_; }

 private:
  [[noreturn]] void ThrowRefused(AwsErrorDetail detail) const;

  AwsService service_;
  std::string region_;
  std::string endpoint_;
  std::string host_;  // as signed and sent
  std::string path_;
  AwsCredentials credentials_;
  QueryClientOptions options_;
  SigV4Signer signer_;
  http::HttpConnections connections_;
};

// The first child element of `node` named `name` at any depth (Query API
// answers nest their fields in wrappers that differ between APIs).
pugi::xml_node FindDescendant(pugi::xml_node node, const char* name);
// Its text, or "" when absent.
std::string DescendantText(pugi::xml_node node, const char* name);

}  // namespace skycore::aws
