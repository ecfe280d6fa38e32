// AWS Signature Version 4: how every request to an AWS API proves who sent it.
//
// The signature is an HMAC-SHA256 chain over a canonical form of the request
// (method, path, sorted query, the headers that are signed, the payload's
// hash), keyed by a key derived from the secret for one date, region and
// service. The server recomputes it; any difference (a header changed by a
// proxy, the wrong region) is refused with SignatureDoesNotMatch.
//
// See https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace skycore::aws {

// The keys a request is signed with.
struct SigningKeys {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty for long-term keys
};

// One HTTP request as it will be sent.
struct SignableRequest {
  std::string method = "POST";
  std::string host;  // the Host header: "ec2.us-east-1.amazonaws.com", "127.0.0.1:5000"
  std::string path = "/";
  // Query parameters, decoded; they are encoded and sorted when signed.
  std::vector<std::pair<std::string, std::string>> query;
  // Headers besides Host and X-Amz-Date (which are always signed); all are signed.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string payload;
  // The payload's hash as signed, when not computed from `payload`: S3's
  // "UNSIGNED-PAYLOAD" (the body is checked by Content-MD5 instead).
  std::string payload_hash;
};

// What a signed request must carry besides its own headers.
struct SignedHeaders {
  std::string authorization;
  std::string amz_date;        // X-Amz-Date
  std::string security_token;  // X-Amz-Security-Token; empty without a session token
};

// "20150830T123600Z" for `when`.
std::string AmzDate(std::chrono::system_clock::time_point when);

// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

// Percent-encodes as SigV4 requires (RFC 3986 unreserved characters stay);
// '/' stays when `keep_slash` (paths), is encoded otherwise (query, forms).
std::string UriEncode(std::string_view text, bool keep_slash = false);

// Signs requests for one region and service. Thread-safe: the key derived
// for a date is cached (it changes once a day, and deriving it is four of the
// five HMACs of a signature), behind a mutex.
class SigV4Signer {
 public:
  SigV4Signer(std::string region, std::string service);

  const std::string& region() const { return region_; }
  const std::string& service() const { return service_; }

  // The headers that sign `request` at `amz_date` ("YYYYMMDDTHHMMSSZ").
  // With a session token, X-Amz-Security-Token is signed too (the request
  // must send it).
  SignedHeaders Sign(const SignableRequest& request, const SigningKeys& keys,
                     const std::string& amz_date) const;

  // The steps, for tests and for messages that explain a refused signature.
  std::string CanonicalRequest(const SignableRequest& request, const std::string& amz_date,
                               const std::string& session_token,
                               std::string* signed_header_names) const;
  std::string StringToSign(const std::string& amz_date, const std::string& canonical_request) const;

 private:
  using Key = std::array<unsigned char, 32>;
  Key SigningKey(const std::string& secret, const std::string& date) const;

  std::string region_;
  std::string service_;
  // The last derived key and what it was derived for (the secret is compared,
  // never logged: a client whose credentials were renewed derives anew).
  mutable std::mutex key_mutex_;
  mutable std::string key_date_;
  mutable std::string key_secret_;
  mutable Key key_{};
};

}  // namespace skycore::aws
