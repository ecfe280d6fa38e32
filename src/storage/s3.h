// A client of Amazon S3's REST API (and of what speaks it: moto, MinIO),
// signed with skycore's own SigV4 and sent over libcurl handles kept alive.
//
// Requests go to the endpoint the AWS infra uses (AWS_ENDPOINT_URL_S3, then
// AWS_ENDPOINT_URL): a custom endpoint is addressed path-style
// (http://127.0.0.1:5000/bucket/key), since emulators serve no per-bucket
// host names; AWS itself virtual-hosted (https://bucket.s3.region.amazonaws.com/key),
// except for bucket names with dots, which TLS certificates do not cover.
//
// Every request is retried a bounded number of times when the transport
// fails, S3 throttles (503 SlowDown) or fails on its side (5xx); other
// answers are errors at once. Bodies are sent with Content-MD5, so S3
// refuses a body damaged on the way, and a single-part ETag is compared with
// the MD5 computed here. Thread-safe: one client serves a transfer's threads.
//
// Internal (not under include/skycore/): the transfer engine (transfer.h),
// launch and `sky storage` are its only users; its shape will change when
// GCS and Azure Blob join.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/http_client.h"
#include "infra/aws/credentials.h"
#include "infra/aws/sigv4.h"
#include "skycore/error.h"

namespace skycore::storage {

// A bucket and a key prefix: "s3://bucket/a/b" is {"bucket", "a/b"}.
struct S3Location {
  std::string bucket;
  std::string prefix;  // no leading '/'; may be empty
};

// Parses "s3://bucket[/prefix]". Throws InvalidTaskError naming the URI
// when it is not one (another scheme, no bucket, a bucket name S3 refuses).
S3Location ParseS3Uri(const std::string& uri);

// Whether `name` is a valid S3 bucket name (3-63 characters of lowercase
// letters, digits, '.' and '-', starting and ending with a letter or digit);
// the reason when it is not.
std::optional<std::string> InvalidBucketNameReason(const std::string& name);

// One object of a listing.
struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
  std::string etag;  // without quotes
};

// An S3 answer that is an error (after retries when retried): the code and
// message S3 gave, the HTTP status (0: no answer at all).
class S3Error : public NetworkError {
 public:
  S3Error(std::string message, std::string code, long http_status)
      : NetworkError(std::move(message)), code_(std::move(code)), http_status_(http_status) {}
  const std::string& code() const { return code_; }
  long http_status() const { return http_status_; }

 private:
  std::string code_;
  long http_status_;
};

struct S3ClientOptions {
  long connect_timeout_ms = 5000;
  // A part of 64 MiB at 1 MiB/s still arrives.
  long request_timeout_ms = 120000;
  http::RetryPolicy retry;
};

// Where a request goes, as built for a bucket and key (tests check it).
struct S3Url {
  std::string url;   // what curl is given, path percent-encoded
  std::string host;  // the Host header
  std::string path;  // decoded, for the signer
};

class S3Client {
 public:
  // `endpoint`: a custom endpoint ("http://127.0.0.1:5000"), or empty for AWS.
  S3Client(aws::AwsCredentials credentials, std::string region, std::string endpoint,
           S3ClientOptions options = {});

  // Credentials, region and endpoint as the AWS infra reads them from `env`
  // (region us-east-1 when none is configured, as the AWS CLI's S3 calls).
  // (Heap-allocated: a client owns a connection pool, which does not move.)
  static std::unique_ptr<S3Client> FromEnvironment(const env::Lookup& env,
                                                   S3ClientOptions options = {});

  const std::string& region() const { return region_; }
  const std::string& endpoint() const { return endpoint_; }
  // Where the credentials came from, for messages.
  const std::string& credential_source() const { return credentials_.source; }

  S3Url Url(const std::string& bucket, const std::string& key = "") const;

  // HEAD bucket: true when it exists and is ours; false when it does not
  // exist; S3Error when it is someone else's (403) or S3 cannot be reached.
  bool BucketExists(const std::string& bucket) const;
  void CreateBucket(const std::string& bucket) const;
  // The bucket must be empty (see DeleteObjects).
  void DeleteBucket(const std::string& bucket) const;

  // Every object under `prefix` (ListObjectsV2, all pages), in key order.
  std::vector<ObjectInfo> List(const std::string& bucket, const std::string& prefix) const;
  ObjectInfo Head(const std::string& bucket, const std::string& key) const;

  // The whole object, or `length` bytes from `offset`.
  std::string Get(const std::string& bucket, const std::string& key) const;
  std::string GetRange(const std::string& bucket, const std::string& key, uint64_t offset,
                       uint64_t length) const;

  // Uploads `body` as one object; returns its ETag, checked to be its MD5.
  std::string Put(const std::string& bucket, const std::string& key, const std::string& body) const;

  // Multipart upload: create, parts (numbered from 1; each returns its
  // ETag, checked to be the part's MD5), complete with every part's ETag in
  // order, or abort (S3 drops the parts it holds).
  std::string CreateMultipartUpload(const std::string& bucket, const std::string& key) const;
  std::string UploadPart(const std::string& bucket, const std::string& key,
                         const std::string& upload_id, int part_number,
                         const std::string& body) const;
  void CompleteMultipartUpload(const std::string& bucket, const std::string& key,
                               const std::string& upload_id,
                               const std::vector<std::string>& part_etags) const;
  void AbortMultipartUpload(const std::string& bucket, const std::string& key,
                            const std::string& upload_id) const;

  // Deletes `keys` in batches of 1000 (DeleteObjects' limit); S3Error
  // naming the first key it could not delete.
  void DeleteObjects(const std::string& bucket, const std::vector<std::string>& keys) const;

  // Every object under the bucket, then the bucket.
  void DeleteBucketAndObjects(const std::string& bucket) const;

 private:
  struct Request {
    std::string method;
    std::string bucket;
    std::string key;
    std::vector<std::pair<std::string, std::string>> query;  // decoded
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::string what;  // "PutObject" in messages
  };
  // Sends with retries; throws S3Error for an error answer unless its status
  // is in `accepted`.
  http::HttpAnswer Send(const Request& request, const std::vector<long>& accepted = {}) const;
  [[noreturn]] void ThrowAnswer(const Request& request, const http::HttpAnswer& answer,
                                int attempts) const;

  aws::AwsCredentials credentials_;
  std::string region_;
  std::string endpoint_;  // empty: AWS
  S3ClientOptions options_;
  aws::SigV4Signer signer_;
  http::HttpConnections connections_;
};

// Base64 of the MD5 of `data` (the Content-MD5 header) and its hex form
// (a single-part ETag).
std::string Md5Base64(const std::string& data);
std::string Md5Hex(const std::string& data);
// Hex MD5 of the concatenated binary MD5s of the parts, "-N": the ETag S3
// gives a multipart object of N parts with these hex MD5s.
std::string MultipartEtag(const std::vector<std::string>& part_md5_hex);

}  // namespace skycore::storage
