// The S3 client and transfer engine without S3: signing, addressing, part
// planning, checksums, and a multipart upload against a scripted server
// (one failed part retried alone; a part that keeps failing aborts the upload).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>

#include "infra/aws/sigv4.h"
#include "scripted_server.h"
#include "storage/s3.h"
#include "storage/transfer.h"
#include "temp_dir.h"

namespace skycore::storage {
namespace {

using testing::ScriptedResponse;
using testing::ScriptedServer;

aws::AwsCredentials TestCredentials() {
  aws::AwsCredentials credentials;
  credentials.access_key_id = "AKIAIOSFODNN7EXAMPLE";
  credentials.secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  credentials.source = "test";
  return credentials;
}

// AWS's documented example: GET /test.txt of examplebucket with a Range header.
TEST(S3Signing, MatchesAwsDocumentedGetObjectExample) {
  aws::SigV4Signer signer("us-east-1", "s3");
  aws::SignableRequest request;
  request.method = "GET";
  request.host = "examplebucket.s3.amazonaws.com";
  request.path = "/test.txt";
  const std::string empty_hash = aws::Sha256Hex("");
  request.headers = {{"Range", "bytes=0-9"}, {"x-amz-content-sha256", empty_hash}};
  request.payload_hash = empty_hash;
  const auto signed_headers = signer.Sign(request, TestCredentials().keys(), "20130524T000000Z");
  EXPECT_EQ(signed_headers.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(S3Signing, UnsignedPayloadIsSignedAsSuch) {
  aws::SigV4Signer signer("us-east-1", "s3");
  aws::SignableRequest request;
  request.method = "PUT";
  request.host = "h";
  request.path = "/b/k";
  request.payload = "body";
  request.payload_hash = "UNSIGNED-PAYLOAD";
  std::string names;
  const std::string canonical = signer.CanonicalRequest(request, "20130524T000000Z", "", &names);
  EXPECT_TRUE(canonical.ends_with("\nUNSIGNED-PAYLOAD")) << canonical;
}

TEST(S3Url, CustomEndpointIsPathStyle) {
  S3Client client(TestCredentials(), "us-west-2", "http://127.0.0.1:5000/");
  const S3Url url = client.Url("my-bucket", "a dir/file+1.txt");
  EXPECT_EQ(url.host, "127.0.0.1:5000");
  EXPECT_EQ(url.path, "/my-bucket/a dir/file+1.txt");
  EXPECT_EQ(url.url, "http://127.0.0.1:5000/my-bucket/a%20dir/file%2B1.txt");
  EXPECT_EQ(client.Url("my-bucket").url, "http://127.0.0.1:5000/my-bucket");
}

TEST(S3Url, AwsIsVirtualHostedExceptDottedBuckets) {
  S3Client client(TestCredentials(), "eu-west-1", "");
  EXPECT_EQ(client.Url("data", "x/y").url, "https://data.s3.eu-west-1.amazonaws.com/x/y");
  EXPECT_EQ(client.Url("data.example.com", "x").url,
            "https://s3.eu-west-1.amazonaws.com/data.example.com/x");
}

TEST(S3Uri, ParsesBucketAndPrefix) {
  const auto location = ParseS3Uri("s3://my-bucket/a/b/");
  EXPECT_EQ(location.bucket, "my-bucket");
  EXPECT_EQ(location.prefix, "a/b/");
  EXPECT_EQ(ParseS3Uri("s3://my-bucket").prefix, "");
}

TEST(S3Uri, RefusesWhatIsNotAnS3Uri) {
  EXPECT_THROW(ParseS3Uri("gs://bucket"), InvalidTaskError);
  EXPECT_THROW(ParseS3Uri("s3://"), InvalidTaskError);
  try {
    ParseS3Uri("s3://My_Bucket/x");
    FAIL();
  } catch (const InvalidTaskError& e) {
    EXPECT_NE(std::string(e.what()).find("lowercase"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(InvalidBucketNameReason("ab").has_value());
  EXPECT_TRUE(InvalidBucketNameReason("-abc").has_value());
  EXPECT_FALSE(InvalidBucketNameReason("sky-data.1").has_value());
}

TEST(PlanParts, SplitsIntoPartSizeAndAShorterLast) {
  const auto parts = PlanParts(40'000'000, 8ull << 20);
  ASSERT_EQ(parts.size(), 5u);
  EXPECT_EQ(parts[0].number, 1);
  EXPECT_EQ(parts[4].number, 5);
  EXPECT_EQ(parts[4].offset, 4 * (8ull << 20));
  EXPECT_EQ(parts[4].length, 40'000'000 - 4 * (8ull << 20));
  uint64_t sum = 0;
  for (const auto& part : parts) sum += part.length;
  EXPECT_EQ(sum, 40'000'000u);
}

TEST(PlanParts, KeepsS3sLimits) {
  EXPECT_EQ(PlanParts(12ull << 20, 1 << 20)[0].length, kMinPartSize);  // at least 5 MiB
  const auto parts = PlanParts(200ull << 30, 8ull << 20);              // 200 GiB
  EXPECT_LE(parts.size(), static_cast<size_t>(kMaxParts));
  EXPECT_EQ(PlanParts(0, 8ull << 20).size(), 1u);
}

TEST(Progress, SaysBytesRateAndTimeLeft) {
  EXPECT_EQ(FormatProgress({10ull << 20, 40ull << 20, 2.0}),
            "10.0 MiB / 40.0 MiB  5.0 MiB/s  ETA 6 s");
  EXPECT_EQ(FormatProgress({40ull << 20, 40ull << 20, 4.0}), "40.0 MiB / 40.0 MiB  10.0 MiB/s");
}

TEST(Checksums, Md5FormsAndMultipartEtag) {
  EXPECT_EQ(Md5Base64("hello"), "XUFAKrxLKna5cZ2REBfFkg==");
  EXPECT_EQ(Md5Hex("a"), "0cc175b9c0f1b6a831c399e269772661");
  EXPECT_EQ(MultipartEtag({Md5Hex("a"), Md5Hex("b")}), "96e024ba2074fe77e8e965ba43a704be-2");
}

std::string Quoted(const std::string& text) { return fmt::format("\"{}\"", text); }

struct MultipartFixture {
  testing::TempDir dir{"s3"};
  std::string data;
  std::vector<UploadItem> items;
  TransferOptions options;

  MultipartFixture() {
    data.resize(11 << 20);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 % 251);
    std::ofstream(dir.path() / "big.bin", std::ios::binary) << data;
    items = {{dir.path() / "big.bin", "data/big.bin", data.size()}};
    options.parallelism = 1;  // the scripted server answers in order
    options.part_size = kMinPartSize;
    options.multipart_threshold = kMinPartSize;
  }
  std::string Part(int i) const {
    return data.substr(static_cast<size_t>(i) * kMinPartSize, kMinPartSize);
  }
};

S3ClientOptions FastRetries() {
  S3ClientOptions options;
  options.retry.initial_backoff_ms = 1;
  options.retry.max_backoff_ms = 2;
  options.retry.max_attempts = 3;
  return options;
}

TEST(Upload, RetriesTheFailedPartAlone) {
  MultipartFixture f;
  const std::vector<std::string> md5s = {Md5Hex(f.Part(0)), Md5Hex(f.Part(1)), Md5Hex(f.Part(2))};
  ScriptedServer server({
      {200,
       "<InitiateMultipartUploadResult><UploadId>U1</UploadId></InitiateMultipartUploadResult>"},
      {200, "", 0, "text/xml", {fmt::format("ETag: {}", Quoted(md5s[0]))}},
      {503, "<Error><Code>SlowDown</Code><Message>Reduce</Message></Error>"},
      {200, "", 0, "text/xml", {fmt::format("ETag: {}", Quoted(md5s[1]))}},
      {200, "", 0, "text/xml", {fmt::format("ETag: {}", Quoted(md5s[2]))}},
      {200, fmt::format("<CompleteMultipartUploadResult><ETag>{}</ETag>"
                        "</CompleteMultipartUploadResult>",
                        Quoted(MultipartEtag(md5s)))},
  });
  S3Client client(TestCredentials(), "us-east-1", server.url(), FastRetries());
  const auto summary = Upload(client, "bkt", f.items, f.options);
  EXPECT_EQ(summary.bytes, f.data.size());
  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 6u);
  EXPECT_EQ(seen[0].path, "/bkt/data/big.bin?uploads");
  EXPECT_EQ(seen[1].path, "/bkt/data/big.bin?partNumber=1&uploadId=U1");
  EXPECT_EQ(seen[2].path, "/bkt/data/big.bin?partNumber=2&uploadId=U1");
  EXPECT_EQ(seen[3].path, "/bkt/data/big.bin?partNumber=2&uploadId=U1");  // only part 2 again
  EXPECT_EQ(seen[4].path, "/bkt/data/big.bin?partNumber=3&uploadId=U1");
  EXPECT_EQ(seen[3].headers.at("content-md5"), Md5Base64(f.Part(1)));
  EXPECT_EQ(seen[3].body, f.Part(1));
  EXPECT_EQ(seen[5].method, "POST");
  EXPECT_NE(
      seen[5].body.find(fmt::format("<PartNumber>3</PartNumber><ETag>{}</ETag>", Quoted(md5s[2]))),
      std::string::npos);
  EXPECT_EQ(seen[5].headers.at("x-amz-content-sha256"), "UNSIGNED-PAYLOAD");
}

TEST(Upload, APartThatKeepsFailingAbortsTheUpload) {
  MultipartFixture f;
  ScriptedServer server({
      {200,
       "<InitiateMultipartUploadResult><UploadId>U2</UploadId></InitiateMultipartUploadResult>"},
      {400, "<Error><Code>InvalidDigest</Code><Message>bad</Message></Error>"},
      {204, ""},
  });
  S3Client client(TestCredentials(), "us-east-1", server.url(), FastRetries());
  try {
    Upload(client, "bkt", f.items, f.options);
    FAIL() << "expected S3Error";
  } catch (const S3Error& e) {
    EXPECT_EQ(e.code(), "InvalidDigest");
    EXPECT_NE(std::string(e.what()).find("UploadPart 1 of s3://bkt/data/big.bin"),
              std::string::npos)
        << e.what();
  }
  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[2].method, "DELETE");
  EXPECT_EQ(seen[2].path, "/bkt/data/big.bin?uploadId=U2");
}

TEST(Upload, AWrongEtagIsAnError) {
  testing::TempDir dir("s3");
  std::ofstream(dir.path() / "small.txt") << "hello";
  ScriptedServer server({{200, "", 0, "text/xml", {"ETag: \"00000000000000000000000000000000\""}}});
  S3Client client(TestCredentials(), "us-east-1", server.url(), FastRetries());
  EXPECT_THROW(Upload(client, "bkt", {{dir.path() / "small.txt", "small.txt", 5}}, {}), S3Error);
  ASSERT_EQ(server.seen().size(), 1u);
  EXPECT_EQ(server.seen()[0].headers.at("content-md5"), Md5Base64("hello"));
}

TEST(DeleteObjects, SendsBatchesOfAThousandWithContentMd5) {
  ScriptedServer server({{200, "<DeleteResult></DeleteResult>"}});
  S3Client client(TestCredentials(), "us-east-1", server.url(), FastRetries());
  std::vector<std::string> keys;
  for (int i = 0; i < 1001; ++i) keys.push_back(fmt::format("k/{}&<{}>", i, i));
  client.DeleteObjects("bkt", keys);
  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].path, "/bkt?delete");
  size_t objects = 0;
  for (size_t at = 0; (at = seen[0].body.find("<Object>", at)) != std::string::npos; ++at) {
    ++objects;
  }
  EXPECT_EQ(objects, 1000u);
  EXPECT_NE(seen[1].body.find("<Key>k/1000&amp;&lt;1000&gt;</Key>"), std::string::npos);
  EXPECT_EQ(seen[1].headers.at("content-md5"), Md5Base64(seen[1].body));
}

TEST(DeleteObjects, AKeyS3DidNotDeleteIsNamed) {
  ScriptedServer server({{200,
                          "<DeleteResult><Error><Key>a.txt</Key><Code>AccessDenied</Code>"
                          "<Message>no</Message></Error></DeleteResult>"}});
  S3Client client(TestCredentials(), "us-east-1", server.url(), FastRetries());
  try {
    client.DeleteObjects("bkt", {"a.txt"});
    FAIL() << "expected S3Error";
  } catch (const S3Error& e) {
    EXPECT_NE(std::string(e.what()).find("a.txt not deleted: AccessDenied"), std::string::npos)
        << e.what();
  }
}

TEST(Download, ListsPagesAndWritesFilesUnderTheDestination) {
  testing::TempDir dir("s3");
  ScriptedServer server({
      {200, fmt::format("<ListBucketResult><IsTruncated>true</IsTruncated>"
                        "<NextContinuationToken>T2</NextContinuationToken>"
                        "<Contents><Key>p/a.txt</Key><Size>5</Size><ETag>{}</ETag></Contents>"
                        "<Contents><Key>p/sub/</Key><Size>0</Size><ETag>x</ETag></Contents>"
                        "</ListBucketResult>",
                        Quoted(Md5Hex("hello")))},
      {200, fmt::format("<ListBucketResult><IsTruncated>false</IsTruncated>"
                        "<Contents><Key>p/sub/b.txt</Key><Size>2</Size><ETag>{}</ETag></Contents>"
                        "</ListBucketResult>",
                        Quoted(Md5Hex("hi")))},
      {200, "hello"},
      {200, "hi"},
  });
  S3Client client(TestCredentials(), "us-east-1", server.url(), FastRetries());
  TransferOptions options;
  options.parallelism = 1;
  const auto summary = Download(client, "bkt", "p", dir.path() / "out", options);
  EXPECT_EQ(summary.files, 2u);
  const auto seen = server.seen();
  EXPECT_EQ(seen[0].path, "/bkt?list-type=2&prefix=p");
  EXPECT_EQ(seen[1].path, "/bkt?continuation-token=T2&list-type=2&prefix=p");
  std::ifstream a(dir.path() / "out" / "a.txt");
  std::string text((std::istreambuf_iterator<char>(a)), {});
  EXPECT_EQ(text, "hello");
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "out" / "sub" / "b.txt"));
}

TEST(Download, AKeyThatLeavesTheDestinationIsRefused) {
  testing::TempDir dir("s3");
  ScriptedServer server({{200,
                          "<ListBucketResult><IsTruncated>false</IsTruncated>"
                          "<Contents><Key>p/../../etc/x</Key><Size>1</Size><ETag>e</ETag>"
                          "</Contents></ListBucketResult>"}});
  S3Client client(TestCredentials(), "us-east-1", server.url(), FastRetries());
  EXPECT_THROW(Download(client, "bkt", "p/", dir.path() / "out", {}), IoError);
}

}  // namespace
}  // namespace skycore::storage
