#include "infra/aws/sigv4.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <ctime>

#include "skycore/error.h"

namespace skycore::aws {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

std::string Hex(const unsigned char* data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 0xf];
  }
  return out;
}

std::array<unsigned char, 32> Hmac(const unsigned char* key, size_t key_size,
                                   std::string_view data) {
  std::array<unsigned char, 32> out{};
  unsigned int size = 0;
  if (HMAC(EVP_sha256(), key, static_cast<int>(key_size),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(),
           &size) == nullptr) {
    throw InternalError("HMAC-SHA256 failed in OpenSSL");
  }
  return out;
}

// Header values are signed trimmed, with inner runs of spaces as one.
std::string TrimmedValue(std::string_view value) {
  std::string out;
  bool space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

std::string LowerAscii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

std::string AmzDate(std::chrono::system_clock::time_point when) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char buffer[20];
  std::strftime(buffer, sizeof(buffer), "%Y%m%dT%H%M%SZ", &tm);
  return buffer;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return Hex(digest, sizeof(digest));
}

std::string UriEncode(std::string_view text, bool keep_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  for (unsigned char c : text) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 0xf]);
    }
  }
  return out;
}

SigV4Signer::SigV4Signer(std::string region, std::string service)
    : region_(std::move(region)), service_(std::move(service)) {}

std::string SigV4Signer::CanonicalRequest(const SignableRequest& request,
                                          const std::string& amz_date,
                                          const std::string& session_token,
                                          std::string* signed_header_names) const {
  std::vector<std::pair<std::string, std::string>> query;
  query.reserve(request.query.size());
  for (const auto& [key, value] : request.query) {
    query.emplace_back(UriEncode(key), UriEncode(value));
  }
  std::sort(query.begin(), query.end());

  std::vector<std::pair<std::string, std::string>> headers;
  headers.reserve(request.headers.size() + 3);
  headers.emplace_back("host", TrimmedValue(request.host));
  headers.emplace_back("x-amz-date", amz_date);
  if (!session_token.empty()) headers.emplace_back("x-amz-security-token", session_token);
  for (const auto& [name, value] : request.headers) {
    headers.emplace_back(LowerAscii(name), TrimmedValue(value));
  }
  // Stable: repeated headers keep their order and are joined with ','.
  std::stable_sort(headers.begin(), headers.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });

  std::string canonical;
  canonical.reserve(256 + request.payload.size() / 8);
  canonical += request.method;
  canonical += '\n';
  canonical += request.path.empty() ? std::string("/") : UriEncode(request.path, true);
  canonical += '\n';
  for (size_t i = 0; i < query.size(); ++i) {
    if (i > 0) canonical += '&';
    canonical += query[i].first;
    canonical += '=';
    canonical += query[i].second;
  }
  canonical += '\n';
  std::string names;
  for (size_t i = 0; i < headers.size(); ++i) {
    const bool repeated = i > 0 && headers[i].first == headers[i - 1].first;
    if (repeated) {
      canonical.pop_back();  // the previous value's newline
      canonical += ',';
    } else {
      if (!names.empty()) names += ';';
      names += headers[i].first;
      canonical += headers[i].first;
      canonical += ':';
    }
    canonical += headers[i].second;
    canonical += '\n';
  }
  canonical += '\n';
  canonical += names;
  canonical += '\n';
  canonical += request.payload_hash.empty() ? Sha256Hex(request.payload) : request.payload_hash;
  if (signed_header_names != nullptr) *signed_header_names = std::move(names);
  return canonical;
}

std::string SigV4Signer::StringToSign(const std::string& amz_date,
                                      const std::string& canonical_request) const {
  return fmt::format("{}\n{}\n{}/{}/{}/aws4_request\n{}", kAlgorithm, amz_date,
                     amz_date.substr(0, 8), region_, service_, Sha256Hex(canonical_request));
}

SigV4Signer::Key SigV4Signer::SigningKey(const std::string& secret, const std::string& date) const {
  std::lock_guard lock(key_mutex_);
  if (key_date_ == date && key_secret_ == secret) return key_;
  const std::string seed = fmt::format("AWS4{}", secret);
  Key key = Hmac(reinterpret_cast<const unsigned char*>(seed.data()), seed.size(), date);
  key = Hmac(key.data(), key.size(), region_);
  key = Hmac(key.data(), key.size(), service_);
  key = Hmac(key.data(), key.size(), "aws4_request");
  key_date_ = date;
  key_secret_ = secret;
  key_ = key;
  return key;
}

SignedHeaders SigV4Signer::Sign(const SignableRequest& request, const SigningKeys& keys,
                                const std::string& amz_date) const {
  if (amz_date.size() != 16) {
    throw InternalError(
        fmt::format("SigV4: '{}' is not an X-Amz-Date (YYYYMMDDTHHMMSSZ)", amz_date));
  }
  std::string signed_names;
  const std::string canonical =
      CanonicalRequest(request, amz_date, keys.session_token, &signed_names);
  const std::string to_sign = StringToSign(amz_date, canonical);
  const Key key = SigningKey(keys.secret_access_key, amz_date.substr(0, 8));
  const auto signature = Hmac(key.data(), key.size(), to_sign);
  SignedHeaders out;
  out.amz_date = amz_date;
  out.security_token = keys.session_token;
  out.authorization =
      fmt::format("{} Credential={}/{}/{}/{}/aws4_request, SignedHeaders={}, Signature={}",
                  kAlgorithm, keys.access_key_id, amz_date.substr(0, 8), region_, service_,
                  signed_names, Hex(signature.data(), signature.size()));
  return out;
}

}  // namespace skycore::aws
