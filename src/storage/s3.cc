#include "storage/s3.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <pugixml.hpp>

#include "infra/aws/endpoints.h"

namespace skycore::storage {
namespace {

constexpr size_t kDeleteBatch = 1000;  // DeleteObjects' limit per request

std::string Unquote(std::string text) {
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
    text = text.substr(1, text.size() - 2);
  }
  return text;
}

std::string XmlEscape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::array<unsigned char, 16> Md5(const std::string& data) {
  std::array<unsigned char, 16> digest{};
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_md5(), nullptr);
  return digest;
}

std::string Hex(const unsigned char* data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 15];
  }
  return out;
}

// The host and the base path of an endpoint URL ("http://h:1/base" -> "h:1", "/base").
void SplitEndpoint(const std::string& endpoint, std::string* scheme, std::string* host,
                   std::string* base) {
  const size_t after_scheme = endpoint.find("://");
  const size_t host_start = after_scheme == std::string::npos ? 0 : after_scheme + 3;
  *scheme = after_scheme == std::string::npos ? "https" : endpoint.substr(0, after_scheme);
  const size_t slash = endpoint.find('/', host_start);
  *host = endpoint.substr(host_start,
                          slash == std::string::npos ? std::string::npos : slash - host_start);
  *base = slash == std::string::npos ? "" : endpoint.substr(slash);
  while (!base->empty() && base->back() == '/') base->pop_back();
}

bool Retryable(const http::HttpAnswer& answer) {
  if (!answer.transport_ok) return true;
  return answer.status == 503 || answer.status == 500 || answer.status == 502 ||
         answer.status == 504 || answer.status == 429;
}

struct ErrorDocument {
  std::string code;
  std::string message;
};

ErrorDocument ParseError(const std::string& body) {
  ErrorDocument error;
  pugi::xml_document document;
  if (body.empty() || !document.load_buffer(body.data(), body.size())) return error;
  // S3's <Error>; the fixture's injected faults answer in the Query API's form.
  pugi::xml_node node = document.child("Error");
  if (!node) node = document.child("ErrorResponse").child("Error");
  error.code = node.child_value("Code");
  error.message = node.child_value("Message");
  return error;
}

}  // namespace

namespace {

std::string Base64(const std::array<unsigned char, 16>& digest) {
  unsigned char out[32] = {};
  EVP_EncodeBlock(out, digest.data(), static_cast<int>(digest.size()));
  return reinterpret_cast<const char*>(out);
}

// A body's MD5 in both forms, computed once (bodies are parts of 8 MiB and more).
struct BodyDigest {
  std::string base64;  // Content-MD5
  std::string hex;     // the ETag S3 gives back
};

BodyDigest Digest(const std::string& body) {
  const auto digest = Md5(body);
  return {Base64(digest), Hex(digest.data(), digest.size())};
}

}  // namespace

std::string Md5Base64(const std::string& data) { return Base64(Md5(data)); }

std::string Md5Hex(const std::string& data) {
  const auto digest = Md5(data);
  return Hex(digest.data(), digest.size());
}

std::string MultipartEtag(const std::vector<std::string>& part_md5_hex) {
  std::string binary;
  binary.reserve(part_md5_hex.size() * 16);
  for (const auto& hex : part_md5_hex) {
    for (size_t i = 0; i + 1 < hex.size(); i += 2) {
      binary += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    }
  }
  return fmt::format("{}-{}", Md5Hex(binary), part_md5_hex.size());
}

std::optional<std::string> InvalidBucketNameReason(const std::string& name) {
  if (name.size() < 3 || name.size() > 63) {
    return fmt::format("a bucket name has 3 to 63 characters ('{}' has {})", name, name.size());
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
    if (!ok) {
      return fmt::format(
          "a bucket name has only lowercase letters, digits, '.' and '-' ('{}' has '{}')", name, c);
    }
  }
  const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(name.front()) || !alnum(name.back())) {
    return fmt::format("a bucket name starts and ends with a letter or digit ('{}')", name);
  }
  if (name.find("..") != std::string::npos) {
    return fmt::format("a bucket name has no two adjacent periods ('{}')", name);
  }
  return std::nullopt;
}

S3Location ParseS3Uri(const std::string& uri) {
  constexpr std::string_view kScheme = "s3://";
  if (!uri.starts_with(kScheme)) {
    throw InvalidTaskError(fmt::format("'{}' is not an S3 URI (s3://bucket/prefix)", uri));
  }
  const std::string rest = uri.substr(kScheme.size());
  const size_t slash = rest.find('/');
  S3Location location;
  location.bucket = rest.substr(0, slash);
  location.prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (location.bucket.empty()) {
    throw InvalidTaskError(fmt::format("'{}' names no bucket (s3://bucket/prefix)", uri));
  }
  if (auto reason = InvalidBucketNameReason(location.bucket)) {
    throw InvalidTaskError(fmt::format("'{}': {}", uri, *reason));
  }
  return location;
}

S3Client::S3Client(aws::AwsCredentials credentials, std::string region, std::string endpoint,
                   S3ClientOptions options)
    : credentials_(std::move(credentials)),
      region_(std::move(region)),
      endpoint_(std::move(endpoint)),
      options_(options),
      signer_(region_, "s3") {
  while (!endpoint_.empty() && endpoint_.back() == '/') endpoint_.pop_back();
}

std::unique_ptr<S3Client> S3Client::FromEnvironment(const env::Lookup& env,
                                                    S3ClientOptions options) {
  aws::CredentialsOptions credentials;
  credentials.env = env;
  std::string region = aws::ResolveRegion(env).value_or("us-east-1");
  return std::make_unique<S3Client>(aws::ResolveCredentials(credentials), std::move(region),
                                    aws::S3EndpointOverride(env), options);
}

S3Url S3Client::Url(const std::string& bucket, const std::string& key) const {
  S3Url url;
  std::string scheme;
  std::string base;
  const bool path_style = !endpoint_.empty() || bucket.find('.') != std::string::npos;
  if (!endpoint_.empty()) {
    SplitEndpoint(endpoint_, &scheme, &url.host, &base);
  } else {
    scheme = "https";
    url.host = fmt::format("s3.{}.amazonaws.com", region_);
  }
  if (path_style) {
    url.path = fmt::format("{}/{}", base, bucket);
    if (!key.empty()) url.path += fmt::format("/{}", key);
  } else {
    url.host = fmt::format("{}.{}", bucket, url.host);
    url.path = fmt::format("/{}", key);
  }
  url.url = fmt::format("{}://{}{}", scheme, url.host, aws::UriEncode(url.path, true));
  return url;
}

http::HttpAnswer S3Client::Send(const Request& request, const std::vector<long>& accepted) const {
  const S3Url url = Url(request.bucket, request.key);
  aws::SignableRequest signable;
  signable.method = request.method;
  signable.host = url.host;
  signable.path = url.path;
  signable.query = request.query;
  signable.headers = request.headers;
  // libcurl would call a body (and an empty POST) a form: S3, and the test
  // fixture's proxy, would then read it as form fields.
  const bool typed = std::any_of(request.headers.begin(), request.headers.end(),
                                 [](const auto& header) { return header.first == "Content-Type"; });
  if (!typed && (request.method == "POST" || !request.body.empty())) {
    signable.headers.emplace_back("Content-Type", "application/octet-stream");
  }
  signable.headers.emplace_back("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
  signable.payload_hash = "UNSIGNED-PAYLOAD";
  std::string query;
  {
    auto sorted = request.query;
    std::sort(sorted.begin(), sorted.end());
    for (const auto& [name, value] : sorted) {
      query += query.empty() ? "?" : "&";
      query += aws::UriEncode(name);
      // A bare subresource ("?uploads", "?delete") is sent without '='.
      if (!value.empty()) query += fmt::format("={}", aws::UriEncode(value));
    }
  }
  const auto make = [&] {
    const aws::SignedHeaders signed_headers =
        signer_.Sign(signable, credentials_.keys(), aws::AmzDate(std::chrono::system_clock::now()));
    http::HttpExchange exchange;
    exchange.method = request.method;
    exchange.url = url.url + query;
    exchange.body = request.body;
    exchange.connect_timeout_ms = options_.connect_timeout_ms;
    exchange.total_timeout_ms = options_.request_timeout_ms;
    exchange.user_agent = "skycore/s3";
    exchange.headers.push_back(fmt::format("Host: {}", url.host));
    for (const auto& [name, value] : signable.headers) {
      exchange.headers.push_back(fmt::format("{}: {}", name, value));
    }
    exchange.headers.push_back(fmt::format("X-Amz-Date: {}", signed_headers.amz_date));
    exchange.headers.push_back(fmt::format("Authorization: {}", signed_headers.authorization));
    if (!signed_headers.security_token.empty()) {
      exchange.headers.push_back(
          fmt::format("X-Amz-Security-Token: {}", signed_headers.security_token));
    }
    return exchange;
  };
  const auto judge = [&](const http::HttpAnswer& answer) {
    return Retryable(answer) ? http::Verdict::kRetry : http::Verdict::kDone;
  };
  http::RetriedAnswer retried = http::SendWithRetries(connections_, options_.retry, make, judge);
  const http::HttpAnswer& answer = retried.answer;
  if (answer.transport_ok && answer.status >= 200 && answer.status < 300) return answer;
  if (answer.transport_ok &&
      std::find(accepted.begin(), accepted.end(), answer.status) != accepted.end()) {
    return answer;
  }
  ThrowAnswer(request, answer, retried.attempts);
}

void S3Client::ThrowAnswer(const Request& request, const http::HttpAnswer& answer,
                           int attempts) const {
  const std::string object = request.key.empty()
                                 ? fmt::format("s3://{}", request.bucket)
                                 : fmt::format("s3://{}/{}", request.bucket, request.key);
  const std::string tries = attempts > 1 ? fmt::format(" after {} attempts", attempts) : "";
  if (!answer.transport_ok) {
    throw S3Error(fmt::format("S3 {} of {}: cannot reach {}{}: {}", request.what, object,
                              endpoint_.empty() ? Url(request.bucket).host : endpoint_, tries,
                              answer.transport_error),
                  "", 0);
  }
  ErrorDocument error = ParseError(answer.body);
  if (error.code.empty()) {
    error.code = answer.status == 404   ? "NotFound"
                 : answer.status == 403 ? "AccessDenied"
                                        : fmt::format("HTTP {}", answer.status);
  }
  std::string fix;
  const std::string bucket_region = answer.Header("x-amz-bucket-region");
  if (!bucket_region.empty() && bucket_region != region_) {
    fix = fmt::format("; the bucket is in {}: set AWS_REGION={}", bucket_region, bucket_region);
  } else if (error.code == "AccessDenied" || error.code == "InvalidAccessKeyId" ||
             error.code == "SignatureDoesNotMatch") {
    fix = fmt::format("; the credentials from {} may not do this", credentials_.source);
  }
  throw S3Error(fmt::format("S3 {} of {} in {}: {}{}{}{}", request.what, object, region_,
                            error.code, error.message.empty() ? "" : ": ", error.message, fix) +
                    tries,
                error.code, answer.status);
}

bool S3Client::BucketExists(const std::string& bucket) const {
  const auto answer = Send({"HEAD", bucket, "", {}, {}, "", "HeadBucket"}, {404});
  return answer.status != 404;
}

void S3Client::CreateBucket(const std::string& bucket) const {
  std::string body;
  // us-east-1 is the default location; naming it is refused.
  if (region_ != "us-east-1") {
    body = fmt::format(
        "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
        region_);
  }
  Send({"PUT", bucket, "", {}, {}, body, "CreateBucket"});
}

void S3Client::DeleteBucket(const std::string& bucket) const {
  Send({"DELETE", bucket, "", {}, {}, "", "DeleteBucket"});
}

std::vector<ObjectInfo> S3Client::List(const std::string& bucket, const std::string& prefix) const {
  std::vector<ObjectInfo> objects;
  std::string token;
  while (true) {
    Request request{"GET", bucket, "", {{"list-type", "2"}}, {}, "", "ListObjectsV2"};
    if (!prefix.empty()) request.query.emplace_back("prefix", prefix);
    if (!token.empty()) request.query.emplace_back("continuation-token", token);
    const auto answer = Send(request);
    pugi::xml_document document;
    if (!document.load_buffer(answer.body.data(), answer.body.size())) {
      throw S3Error(fmt::format("S3 ListObjectsV2 of s3://{}: the answer is not XML", bucket), "",
                    answer.status);
    }
    const pugi::xml_node result = document.child("ListBucketResult");
    for (const auto& node : result.children("Contents")) {
      ObjectInfo object;
      object.key = node.child_value("Key");
      object.size = std::stoull(std::string("0") + node.child_value("Size"));
      object.etag = Unquote(node.child_value("ETag"));
      objects.push_back(std::move(object));
    }
    if (std::string(result.child_value("IsTruncated")) != "true") break;
    token = result.child_value("NextContinuationToken");
    if (token.empty()) break;
  }
  return objects;
}

ObjectInfo S3Client::Head(const std::string& bucket, const std::string& key) const {
  const auto answer = Send({"HEAD", bucket, key, {}, {}, "", "HeadObject"});
  ObjectInfo object;
  object.key = key;
  object.size = std::stoull(std::string("0") + answer.Header("content-length"));
  object.etag = Unquote(answer.Header("etag"));
  return object;
}

std::string S3Client::Get(const std::string& bucket, const std::string& key) const {
  return Send({"GET", bucket, key, {}, {}, "", "GetObject"}).body;
}

std::string S3Client::GetRange(const std::string& bucket, const std::string& key, uint64_t offset,
                               uint64_t length) const {
  if (length == 0) return "";
  Request request{"GET", bucket, key, {}, {}, "", "GetObject"};
  request.headers.emplace_back("Range", fmt::format("bytes={}-{}", offset, offset + length - 1));
  auto body = Send(request).body;
  if (body.size() != length) {
    throw S3Error(fmt::format("S3 GetObject of s3://{}/{}: bytes {}-{} came back as {} bytes",
                              bucket, key, offset, offset + length - 1, body.size()),
                  "IncompleteBody", 206);
  }
  return body;
}

namespace {

// The ETag S3 gave for a body whose MD5 is `md5_hex`; an error when it is another.
void CheckEtag(const http::HttpAnswer& answer, const std::string& md5_hex,
               const std::string& what) {
  const std::string etag = Unquote(answer.Header("etag"));
  if (!etag.empty() && etag != md5_hex) {
    throw S3Error(
        fmt::format("{}: S3 stored a different body (ETag {}, MD5 sent {})", what, etag, md5_hex),
        "BadDigest", answer.status);
  }
}

}  // namespace

std::string S3Client::Put(const std::string& bucket, const std::string& key,
                          const std::string& body) const {
  const BodyDigest digest = Digest(body);
  Request request{"PUT", bucket, key, {}, {{"Content-MD5", digest.base64}}, body, "PutObject"};
  request.headers.emplace_back("Content-Type", "application/octet-stream");
  const auto answer = Send(request);
  CheckEtag(answer, digest.hex, fmt::format("S3 PutObject of s3://{}/{}", bucket, key));
  return digest.hex;
}

std::string S3Client::CreateMultipartUpload(const std::string& bucket,
                                            const std::string& key) const {
  Request request{"POST", bucket, key, {{"uploads", ""}}, {}, "", "CreateMultipartUpload"};
  request.headers.emplace_back("Content-Type", "application/octet-stream");
  const auto answer = Send(request);
  pugi::xml_document document;
  document.load_buffer(answer.body.data(), answer.body.size());
  std::string id = document.child("InitiateMultipartUploadResult").child_value("UploadId");
  if (id.empty()) {
    throw S3Error(fmt::format("S3 CreateMultipartUpload of s3://{}/{}: no UploadId in the answer",
                              bucket, key),
                  "", answer.status);
  }
  return id;
}

std::string S3Client::UploadPart(const std::string& bucket, const std::string& key,
                                 const std::string& upload_id, int part_number,
                                 const std::string& body) const {
  const BodyDigest digest = Digest(body);
  Request request{"PUT",
                  bucket,
                  key,
                  {{"partNumber", std::to_string(part_number)}, {"uploadId", upload_id}},
                  {{"Content-MD5", digest.base64}},
                  body,
                  fmt::format("UploadPart {}", part_number)};
  const auto answer = Send(request);
  CheckEtag(answer, digest.hex,
            fmt::format("S3 UploadPart {} of s3://{}/{}", part_number, bucket, key));
  return digest.hex;
}

void S3Client::CompleteMultipartUpload(const std::string& bucket, const std::string& key,
                                       const std::string& upload_id,
                                       const std::vector<std::string>& part_etags) const {
  std::string body = "<CompleteMultipartUpload>";
  for (size_t i = 0; i < part_etags.size(); ++i) {
    body += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>\"{}\"</ETag></Part>", i + 1,
                        part_etags[i]);
  }
  body += "</CompleteMultipartUpload>";
  const auto answer =
      Send({"POST", bucket, key, {{"uploadId", upload_id}}, {}, body, "CompleteMultipartUpload"});
  // S3 may answer 200 and still fail: the error is then in the body.
  const ErrorDocument error = ParseError(answer.body);
  if (!error.code.empty()) {
    throw S3Error(fmt::format("S3 CompleteMultipartUpload of s3://{}/{}: {}: {}", bucket, key,
                              error.code, error.message),
                  error.code, answer.status);
  }
  std::string etag = Unquote(answer.Header("etag"));
  if (etag.empty()) {
    pugi::xml_document document;
    document.load_buffer(answer.body.data(), answer.body.size());
    etag = Unquote(document.child("CompleteMultipartUploadResult").child_value("ETag"));
  }
  const std::string expected = MultipartEtag(part_etags);
  if (!etag.empty() && etag != expected) {
    throw S3Error(fmt::format("S3 CompleteMultipartUpload of s3://{}/{}: ETag {}, expected {} "
                              "from the parts' MD5s",
                              bucket, key, etag, expected),
                  "BadDigest", answer.status);
  }
}

void S3Client::AbortMultipartUpload(const std::string& bucket, const std::string& key,
                                    const std::string& upload_id) const {
  Send({"DELETE", bucket, key, {{"uploadId", upload_id}}, {}, "", "AbortMultipartUpload"}, {404});
}

void S3Client::DeleteObjects(const std::string& bucket,
                             const std::vector<std::string>& keys) const {
  for (size_t start = 0; start < keys.size(); start += kDeleteBatch) {
    const size_t end = std::min(keys.size(), start + kDeleteBatch);
    std::string body = "<Delete><Quiet>true</Quiet>";
    for (size_t i = start; i < end; ++i) {
      body += fmt::format("<Object><Key>{}</Key></Object>", XmlEscape(keys[i]));
    }
    body += "</Delete>";
    Request request{"POST", bucket, "", {{"delete", ""}}, {}, body, "DeleteObjects"};
    request.headers.emplace_back("Content-MD5", Md5Base64(body));
    request.headers.emplace_back("Content-Type", "application/xml");
    const auto answer = Send(request);
    pugi::xml_document document;
    document.load_buffer(answer.body.data(), answer.body.size());
    const pugi::xml_node failed = document.child("DeleteResult").child("Error");
    if (failed) {
      throw S3Error(fmt::format("S3 DeleteObjects of s3://{}: {} not deleted: {}: {}", bucket,
                                failed.child_value("Key"), failed.child_value("Code"),
                                failed.child_value("Message")),
                    failed.child_value("Code"), answer.status);
    }
  }
}

void S3Client::DeleteBucketAndObjects(const std::string& bucket) const {
  std::vector<std::string> keys;
  for (auto& object : List(bucket, "")) keys.push_back(std::move(object.key));
  DeleteObjects(bucket, keys);
  DeleteBucket(bucket);
}

}  // namespace skycore::storage
