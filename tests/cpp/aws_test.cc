// AWS: the SigV4 signer against AWS's published test-suite vectors, the
// credentials chain with temporary files and a fake environment, the Query
// API client and the metadata service against a scripted HTTP server on
// loopback (retries, error documents, bounded timeouts), and the
// classification of EC2's errors for failover.
//
// AwsMoto.* run the provisioner end to end against a moto server when
// SKYCORE_TEST_AWS_ENDPOINT names one (http://127.0.0.1:PORT, started with
// MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION, MOTO_ENABLE_AMI_VALIDATION and
// MOTO_ENABLE_KEYPAIR_VALIDATION); skipped otherwise.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "infra/aws/cloud.h"
#include "infra/aws/credentials.h"
#include "infra/aws/ec2.h"
#include "infra/aws/provisioner.h"
#include "infra/aws/query_client.h"
#include "infra/aws/sigv4.h"
#include "infra/aws/sts.h"
#include "scripted_server.h"
#include "temp_dir.h"

namespace skycore::aws {
namespace {

namespace fs = std::filesystem;
using testing::ScriptedResponse;
using testing::ScriptedServer;
using testing::SeenRequest;

// ------------------------------------------------------------ helpers

EnvLookup FakeEnv(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
    auto found = values.find(name);
    if (found == values.end()) return std::nullopt;
    return found->second;
  };
}

void WriteFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

AwsCredentials TestCredentials() {
  AwsCredentials credentials;
  credentials.access_key_id = "AKIDEXAMPLE";
  credentials.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  credentials.source = "profile 'dev' in ~/.aws/credentials";
  return credentials;
}

QueryClientOptions FastOptions(int attempts) {
  QueryClientOptions options;
  options.retry.max_attempts = attempts;
  options.retry.initial_backoff_ms = 5;
  options.retry.max_backoff_ms = 20;
  options.connect_timeout_ms = 1000;
  options.request_timeout_ms = 2000;
  return options;
}

std::string Ec2Error(const std::string& code, const std::string& message) {
  return fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{}</Code>"
      "<Message>{}</Message></Error></Errors><RequestID>req-123</RequestID></Response>",
      code, message);
}

// ------------------------------------------------------------ SigV4

constexpr const char* kSuiteAmzDate = "20150830T123600Z";

SigningKeys SuiteKeys() { return {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""}; }

std::string SuiteAuthorization(const std::string& signed_headers, const std::string& signature) {
  return fmt::format(
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
      "SignedHeaders={}, Signature={}",
      signed_headers, signature);
}

// Expected values: AWS's Signature Version 4 test suite (aws-sig-v4-test-suite).
TEST(AwsSigV4, GetVanilla) {
  const SigV4Signer signer("us-east-1", "service");
  SignableRequest request;
  request.method = "GET";
  request.host = "example.amazonaws.com";
  const std::string canonical = signer.CanonicalRequest(request, kSuiteAmzDate, "", nullptr);
  EXPECT_EQ(canonical,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
            "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(signer.StringToSign(kSuiteAmzDate, canonical),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
  const SignedHeaders headers = signer.Sign(request, SuiteKeys(), kSuiteAmzDate);
  EXPECT_EQ(headers.authorization,
            SuiteAuthorization("host;x-amz-date",
                               "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"));
  EXPECT_EQ(headers.amz_date, kSuiteAmzDate);
  EXPECT_TRUE(headers.security_token.empty());
  // The cached signing key gives the same signature the second time.
  EXPECT_EQ(signer.Sign(request, SuiteKeys(), kSuiteAmzDate).authorization, headers.authorization);
}

TEST(AwsSigV4, GetVanillaQueryOrderKeyCase) {
  const SigV4Signer signer("us-east-1", "service");
  SignableRequest request;
  request.method = "GET";
  request.host = "example.amazonaws.com";
  request.query = {{"Param2", "value2"}, {"Param1", "value1"}};
  EXPECT_EQ(signer.Sign(request, SuiteKeys(), kSuiteAmzDate).authorization,
            SuiteAuthorization("host;x-amz-date",
                               "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"));
}

TEST(AwsSigV4, PostVanilla) {
  const SigV4Signer signer("us-east-1", "service");
  SignableRequest request;
  request.method = "POST";
  request.host = "example.amazonaws.com";
  EXPECT_EQ(signer.Sign(request, SuiteKeys(), kSuiteAmzDate).authorization,
            SuiteAuthorization("host;x-amz-date",
                               "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"));
}

TEST(AwsSigV4, PostXWwwFormUrlencoded) {
  const SigV4Signer signer("us-east-1", "service");
  SignableRequest request;
  request.method = "POST";
  request.host = "example.amazonaws.com";
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  request.payload = "Param1=value1";
  std::string names;
  const std::string canonical = signer.CanonicalRequest(request, kSuiteAmzDate, "", &names);
  EXPECT_EQ(names, "content-type;host;x-amz-date");
  EXPECT_EQ(signer.StringToSign(kSuiteAmzDate, canonical),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281");
  EXPECT_EQ(signer.Sign(request, SuiteKeys(), kSuiteAmzDate).authorization,
            SuiteAuthorization("content-type;host;x-amz-date",
                               "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"));
}

TEST(AwsSigV4, SessionTokenIsSignedAndAnotherSecretSignsDifferently) {
  const SigV4Signer signer("us-east-1", "service");
  SignableRequest request;
  request.host = "example.amazonaws.com";
  SigningKeys keys = SuiteKeys();
  keys.session_token = "token/with+chars";
  const SignedHeaders with_token = signer.Sign(request, keys, kSuiteAmzDate);
  EXPECT_NE(with_token.authorization.find("SignedHeaders=host;x-amz-date;x-amz-security-token"),
            std::string::npos)
      << with_token.authorization;
  EXPECT_EQ(with_token.security_token, "token/with+chars");
  SigningKeys other = SuiteKeys();
  other.secret_access_key = "another";
  EXPECT_NE(signer.Sign(request, other, kSuiteAmzDate).authorization,
            signer.Sign(request, SuiteKeys(), kSuiteAmzDate).authorization);
}

TEST(AwsSigV4, UriEncoding) {
  EXPECT_EQ(UriEncode("a b/c~d_e.f-g+h=i&j"), "a%20b%2Fc~d_e.f-g%2Bh%3Di%26j");
  EXPECT_EQ(UriEncode("/a b/c", true), "/a%20b/c");
  EXPECT_EQ(UriEncode("\xe1\x88\xb4"), "%E1%88%B4");
  EXPECT_EQ(AmzDate(std::chrono::system_clock::from_time_t(1440938160)), "20150830T123600Z");
}

// ------------------------------------------------------------ endpoints

TEST(AwsEndpoints, ServiceSpecificVariableWins) {
  EXPECT_EQ(ServiceEndpoint(FakeEnv({}), Ec2Service(), "eu-west-1"),
            "https://ec2.eu-west-1.amazonaws.com");
  EXPECT_EQ(ServiceEndpoint(FakeEnv({}), IamService(), "eu-west-1"), "https://iam.amazonaws.com");
  const auto env = FakeEnv({{"AWS_ENDPOINT_URL", "http://127.0.0.1:5000/"},
                            {"AWS_ENDPOINT_URL_STS", "http://127.0.0.1:6000"}});
  EXPECT_EQ(ServiceEndpoint(env, Ec2Service(), "us-east-1"), "http://127.0.0.1:5000");
  EXPECT_EQ(ServiceEndpoint(env, StsService(), "us-east-1"), "http://127.0.0.1:6000");
  EXPECT_EQ(S3EndpointOverride(env), "http://127.0.0.1:5000");
  EXPECT_EQ(RegionFromEnvironment(FakeEnv({{"AWS_DEFAULT_REGION", "eu-west-2"}})), "eu-west-2");
  EXPECT_EQ(RegionFromEnvironment(
                FakeEnv({{"AWS_DEFAULT_REGION", "eu-west-2"}, {"AWS_REGION", "ap-south-1"}})),
            "ap-south-1");
}

// ------------------------------------------------------------ credentials

class AwsCredentialsTest : public ::testing::Test {
 protected:
  AwsCredentialsTest() : home_("aws") {}
  CredentialsOptions Options(std::map<std::string, std::string> env) {
    env.emplace("HOME", home_.path().string());
    env.emplace("AWS_EC2_METADATA_DISABLED", "true");
    CredentialsOptions options;
    options.env = FakeEnv(std::move(env));
    options.now = [] { return int64_t{1700000000}; };
    options.process_timeout_s = 10;
    options.assume_role = [this](const AssumeRoleRequest& request, const AwsCredentials& source) {
      assumed_.push_back(request);
      assumed_with_.push_back(source);
      AwsCredentials out;
      out.access_key_id = "ASIAROLE";
      out.secret_access_key = "role-secret";
      out.session_token = "role-token";
      out.expires_at = 1700003600;
      return out;
    };
    return options;
  }
  fs::path Aws(const std::string& name) const { return home_.path() / ".aws" / name; }

  testing::TempDir home_;
  std::vector<AssumeRoleRequest> assumed_;
  std::vector<AwsCredentials> assumed_with_;
};

TEST_F(AwsCredentialsTest, EnvironmentFirst) {
  WriteFile(Aws("credentials"), "[default]\naws_access_key_id = FILE\naws_secret_access_key = s\n");
  WriteFile(Aws("config"), "[default]\nregion = eu-central-1\n");
  const auto credentials = ResolveCredentials(Options({{"AWS_ACCESS_KEY_ID", "ENVKEY"},
                                                       {"AWS_SECRET_ACCESS_KEY", "envsecret"},
                                                       {"AWS_SESSION_TOKEN", "envtoken"}}));
  EXPECT_EQ(credentials.access_key_id, "ENVKEY");
  EXPECT_EQ(credentials.session_token, "envtoken");
  EXPECT_EQ(credentials.source, "environment variables");
  EXPECT_EQ(credentials.profile_region, "eu-central-1");
  try {
    ResolveCredentials(Options({{"AWS_ACCESS_KEY_ID", "ENVKEY"}}));
    FAIL() << "a key without its secret must be refused";
  } catch (const InvalidCloudCredentials& e) {
    EXPECT_NE(e.message().find("AWS_SECRET_ACCESS_KEY is not"), std::string::npos) << e.message();
  }
}

TEST_F(AwsCredentialsTest, ProfilesOfBothFiles) {
  WriteFile(Aws("credentials"),
            "# keys\n[default]\naws_access_key_id = DEFAULTKEY\naws_secret_access_key = d\n"
            "[dev]\naws_access_key_id = DEVKEY\naws_secret_access_key = devsecret\n"
            "aws_session_token = devtoken\n");
  WriteFile(Aws("config"),
            "[default]\nregion = us-west-2\n[profile dev]\nregion = eu-west-1\n"
            "s3 =\n  max_concurrent_requests = 20\n"
            "[profile cfg]\naws_access_key_id = CFGKEY\naws_secret_access_key = cfgsecret\n"
            "[cfg]\naws_access_key_id = NOT_A_PROFILE_WITHOUT_PREFIX\n");
  auto credentials = ResolveCredentials(Options({}));
  EXPECT_EQ(credentials.access_key_id, "DEFAULTKEY");
  EXPECT_EQ(credentials.source, "profile 'default' in ~/.aws/credentials");
  EXPECT_EQ(credentials.profile_region, "us-west-2");

  credentials = ResolveCredentials(Options({{"AWS_PROFILE", "dev"}}));
  EXPECT_EQ(credentials.access_key_id, "DEVKEY");
  EXPECT_EQ(credentials.session_token, "devtoken");
  EXPECT_EQ(credentials.source, "profile 'dev' in ~/.aws/credentials");
  EXPECT_EQ(credentials.profile, "dev");
  EXPECT_EQ(credentials.profile_region, "eu-west-1");

  credentials = ResolveCredentials(Options({{"AWS_PROFILE", "cfg"}}));
  EXPECT_EQ(credentials.access_key_id, "CFGKEY");
  EXPECT_EQ(credentials.source, "profile 'cfg' in ~/.aws/config");

  EXPECT_EQ(ResolveRegion(Options({{"AWS_PROFILE", "dev"}}).env), "eu-west-1");
  EXPECT_EQ(ResolveRegion(Options({{"AWS_PROFILE", "dev"}, {"AWS_REGION", "ap-south-1"}}).env),
            "ap-south-1");

  try {
    ResolveCredentials(Options({{"AWS_PROFILE", "nope"}}));
    FAIL() << "a named profile that does not exist must be refused";
  } catch (const InvalidCloudCredentials& e) {
    EXPECT_NE(e.message().find("profile 'nope' not in ~/.aws/credentials or ~/.aws/config"),
              std::string::npos)
        << e.message();
    EXPECT_NE(e.message().find("AWS_PROFILE"), std::string::npos) << e.message();
    // `[cfg]` in the config file is no profile (no `profile ` prefix).
    EXPECT_NE(e.message().find("profiles there: 'cfg', 'default' and 'dev'"), std::string::npos)
        << e.message();
  }
  try {
    ResolveCredentials(Options({{"AWS_PROFILE", "deve"}}));
    FAIL() << "a named profile that does not exist must be refused";
  } catch (const InvalidCloudCredentials& e) {
    EXPECT_NE(e.message().find("did you mean 'dev'?"), std::string::npos) << e.message();
  }
}

TEST_F(AwsCredentialsTest, FilesNamedByTheEnvironment) {
  const fs::path credentials_file = home_.path() / "elsewhere" / "creds";
  WriteFile(credentials_file, "[default]\naws_access_key_id = K\naws_secret_access_key = S\n");
  const auto credentials =
      ResolveCredentials(Options({{"AWS_SHARED_CREDENTIALS_FILE", credentials_file.string()}}));
  EXPECT_EQ(credentials.access_key_id, "K");
  EXPECT_EQ(credentials.source, "profile 'default' in ~/elsewhere/creds");
}

TEST_F(AwsCredentialsTest, AssumeRoleWithSourceProfile) {
  WriteFile(Aws("credentials"), "[base]\naws_access_key_id = BASEKEY\naws_secret_access_key = b\n");
  WriteFile(Aws("config"),
            "[profile ops]\nrole_arn = arn:aws:iam::123456789012:role/ops\nsource_profile = base\n"
            "role_session_name = me\nexternal_id = ext-1\nduration_seconds = 900\n"
            "region = eu-north-1\n");
  const auto credentials = ResolveCredentials(Options({{"AWS_PROFILE", "ops"}}));
  EXPECT_EQ(credentials.access_key_id, "ASIAROLE");
  EXPECT_EQ(credentials.session_token, "role-token");
  EXPECT_EQ(credentials.source,
            "role arn:aws:iam::123456789012:role/ops assumed with profile 'base'");
  ASSERT_EQ(assumed_.size(), 1u);
  EXPECT_EQ(assumed_[0].role_arn, "arn:aws:iam::123456789012:role/ops");
  EXPECT_EQ(assumed_[0].role_session_name, "me");
  EXPECT_EQ(assumed_[0].external_id, "ext-1");
  EXPECT_EQ(assumed_[0].duration_seconds, 900);
  EXPECT_EQ(assumed_[0].region, "eu-north-1");
  EXPECT_EQ(assumed_with_[0].access_key_id, "BASEKEY");

  WriteFile(Aws("config"), "[profile loop]\nrole_arn = arn:r\nsource_profile = missing\n");
  try {
    ResolveCredentials(Options({{"AWS_PROFILE", "loop"}}));
    FAIL();
  } catch (const InvalidCloudCredentials& e) {
    EXPECT_NE(e.message().find("source_profile 'missing'"), std::string::npos) << e.message();
  }
}

TEST_F(AwsCredentialsTest, RefusedAssumeRoleNamesTheProfile) {
  WriteFile(Aws("credentials"), "[base]\naws_access_key_id = BASEKEY\naws_secret_access_key = b\n");
  WriteFile(
      Aws("config"),
      "[profile ops]\nrole_arn = arn:aws:iam::123456789012:role/ops\nsource_profile = base\n");
  auto options = Options({{"AWS_PROFILE", "ops"}});
  options.assume_role = [](const AssumeRoleRequest& request, const AwsCredentials& source) {
    throw InvalidCloudCredentials(fmt::format("cannot assume role {} with {}: AccessDenied: no",
                                              request.role_arn, source.source));
    return AwsCredentials{};
  };
  try {
    ResolveCredentials(options);
    FAIL() << "a refused AssumeRole must be refused";
  } catch (const InvalidCloudCredentials& e) {
    EXPECT_EQ(e.message(),
              "AWS profile 'ops': cannot assume role arn:aws:iam::123456789012:role/ops with "
              "profile 'base' in ~/.aws/credentials: AccessDenied: no");
  }
}

TEST_F(AwsCredentialsTest, CredentialProcess) {
  const fs::path script = home_.path() / "creds.sh";
  WriteFile(script,
            "#!/bin/sh\necho 'diagnostics go to stderr' >&2\n"
            "printf '{\"Version\": 1, \"AccessKeyId\": \"PROCKEY\", \"SecretAccessKey\": \"p\", "
            "\"SessionToken\": \"ptoken\", \"Expiration\": \"%s\"}' \"$1\"\n");
  fs::permissions(script, fs::perms::owner_all);
  WriteFile(Aws("config"),
            fmt::format("[profile proc]\ncredential_process = {} 2030-01-01T00:00:00Z\n"
                        "[profile stale]\ncredential_process = {} 2020-01-01T00:00:00Z\n"
                        "[profile broken]\ncredential_process = {}/missing-program --flag\n",
                        script.string(), script.string(), home_.path().string()));
  const auto credentials = ResolveCredentials(Options({{"AWS_PROFILE", "proc"}}));
  EXPECT_EQ(credentials.access_key_id, "PROCKEY");
  EXPECT_EQ(credentials.session_token, "ptoken");
  EXPECT_EQ(credentials.expires_at, 1893456000);
  EXPECT_EQ(credentials.source, "credential_process of profile 'proc'");
  try {
    ResolveCredentials(Options({{"AWS_PROFILE", "stale"}}));
    FAIL() << "expired credentials must be refused";
  } catch (const InvalidCloudCredentials& e) {
    EXPECT_NE(e.message().find("credential_process of profile 'stale' expired at "
                               "2020-01-01T00:00:00Z"),
              std::string::npos)
        << e.message();
  }
  try {
    ResolveCredentials(Options({{"AWS_PROFILE", "broken"}}));
    FAIL() << "a failing credential_process must be refused";
  } catch (const InvalidCloudCredentials& e) {
    EXPECT_NE(e.message().find("failed with exit code 127"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("missing-program"), std::string::npos) << e.message();
  }
}

TEST_F(AwsCredentialsTest, NothingFoundListsEverySourceAndNeverAsksTheMetadataService) {
  ScriptedServer imds({{200, "token"}});
  try {
    ResolveCredentials(Options({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url()}}));
    FAIL() << "expected InvalidCloudCredentials";
  } catch (const InvalidCloudCredentials& e) {
    EXPECT_NE(e.message().find("no AWS credentials found: environment variables not set; "
                               "profile 'default' not in ~/.aws/credentials or ~/.aws/config; "
                               "instance metadata disabled (AWS_EC2_METADATA_DISABLED=true)"),
              std::string::npos)
        << e.message();
  }
  EXPECT_TRUE(imds.seen().empty());
}

TEST_F(AwsCredentialsTest, InstanceMetadataV2) {
  ScriptedServer imds({{200, "session-token"},
                       {200, "sky-role\n"},
                       {200,
                        R"({"Code": "Success", "AccessKeyId": "ASIAIMDS", "SecretAccessKey": "i",
                            "Token": "itoken", "Expiration": "2030-01-01T00:00:00Z"})"}});
  auto options = Options({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url()}});
  auto env = options.env;
  options.env = [env](const std::string& name) -> std::optional<std::string> {
    if (name == "AWS_EC2_METADATA_DISABLED") return std::nullopt;
    return env(name);
  };
  const auto credentials = ResolveCredentials(options);
  EXPECT_EQ(credentials.access_key_id, "ASIAIMDS");
  EXPECT_EQ(credentials.session_token, "itoken");
  EXPECT_EQ(credentials.source, "instance metadata (role sky-role)");
  const auto seen = imds.seen();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].method, "PUT");
  EXPECT_EQ(seen[0].path, "/latest/api/token");
  EXPECT_EQ(seen[0].headers.at("x-aws-ec2-metadata-token-ttl-seconds"), "21600");
  EXPECT_EQ(seen[1].path, "/latest/meta-data/iam/security-credentials/");
  EXPECT_EQ(seen[1].headers.at("x-aws-ec2-metadata-token"), "session-token");
  EXPECT_EQ(seen[2].path, "/latest/meta-data/iam/security-credentials/sky-role");
}

// ------------------------------------------------------------ Query API client

TEST(AwsQueryClient, SignsAndParses) {
  ScriptedServer server({{200,
                          "<DescribeRegionsResponse xmlns=\"http://ec2.amazonaws.com/doc/"
                          "2016-11-15/\"><regionInfo><item><regionName>us-east-1</regionName>"
                          "</item><item><regionName>eu-west-1</regionName></item></regionInfo>"
                          "</DescribeRegionsResponse>"}});
  AwsCredentials credentials = TestCredentials();
  credentials.session_token = "the-token";
  const Ec2Client ec2(std::make_shared<const QueryClient>(Ec2Service(), "eu-west-1", server.url(),
                                                          credentials, FastOptions(3)));
  EXPECT_EQ(ec2.DescribeRegions(), (std::vector<std::string>{"us-east-1", "eu-west-1"}));
  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].body, "Action=DescribeRegions&Version=2016-11-15");
  EXPECT_EQ(seen[0].headers.at("content-type"), "application/x-www-form-urlencoded; charset=utf-8");
  EXPECT_EQ(seen[0].headers.at("x-amz-security-token"), "the-token");
  const std::string authorization = seen[0].headers.at("authorization");
  EXPECT_NE(authorization.find("/eu-west-1/ec2/aws4_request"), std::string::npos) << authorization;
  // Recompute the signature from what arrived: the server sees what was signed.
  SignableRequest arrived;
  arrived.host = seen[0].headers.at("host");
  arrived.headers = {{"Content-Type", seen[0].headers.at("content-type")}};
  arrived.payload = seen[0].body;
  const SigV4Signer signer("eu-west-1", "ec2");
  EXPECT_EQ(
      signer.Sign(arrived, credentials.keys(), seen[0].headers.at("x-amz-date")).authorization,
      authorization);
}

TEST(AwsQueryClient, ThrottlingIsRetriedABoundedNumberOfTimes) {
  ScriptedServer server({{503, Ec2Error("RequestLimitExceeded", "Request limit exceeded.")}});
  const QueryClient client(Ec2Service(), "us-east-1", server.url(), TestCredentials(),
                           FastOptions(3));
  try {
    client.Call("RunInstances", {{"ClientToken", "t"}});
    FAIL() << "expected AwsApiError";
  } catch (const AwsApiError& e) {
    EXPECT_NE(e.message().find("AWS EC2 RunInstances in us-east-1: throttled "
                               "(RequestLimitExceeded) 3 times over"),
              std::string::npos)
        << e.message();
    EXPECT_NE(e.message().find("giving up"), std::string::npos) << e.message();
    EXPECT_EQ(e.aws_code(), "RequestLimitExceeded");
    EXPECT_EQ(e.detail().attempts, 3);
  }
  EXPECT_EQ(server.seen().size(), 3u);
}

TEST(AwsQueryClient, ServiceFailureThenSuccess) {
  ScriptedServer server({{503, ""},
                         {500, Ec2Error("InternalError", "An internal error has occurred")},
                         {200,
                          "<DescribeVpcsResponse><vpcSet><item><vpcId>vpc-1</vpcId>"
                          "</item></vpcSet></DescribeVpcsResponse>"}});
  const Ec2Client ec2(std::make_shared<const QueryClient>(Ec2Service(), "us-east-1", server.url(),
                                                          TestCredentials(), FastOptions(5)));
  EXPECT_EQ(ec2.DefaultVpc(), "vpc-1");
  EXPECT_EQ(server.seen().size(), 3u);
}

TEST(AwsQueryClient, ErrorDocumentsAreParsedAndNotRetried) {
  ScriptedServer server(
      {{500, Ec2Error("InsufficientInstanceCapacity",
                      "We currently do not have sufficient p4d.24xlarge capacity")}});
  const QueryClient client(Ec2Service(), "us-east-1", server.url(), TestCredentials(),
                           FastOptions(5));
  try {
    client.Call("RunInstances", {});
    FAIL() << "expected AwsApiError";
  } catch (const AwsApiError& e) {
    EXPECT_EQ(e.aws_code(), "InsufficientInstanceCapacity");
    EXPECT_EQ(e.detail().http_status, 500);
    EXPECT_EQ(e.detail().request_id, "req-123");
    EXPECT_EQ(e.detail().action, "RunInstances");
    EXPECT_EQ(e.detail().region, "us-east-1");
    EXPECT_NE(e.message().find("sufficient p4d.24xlarge capacity"), std::string::npos);
    const auto failure = ClassifyAwsError(e);
    ASSERT_TRUE(failure);
    EXPECT_EQ(failure->kind, vm::FailureKind::kCapacity);
  }
  EXPECT_EQ(server.seen().size(), 1u);

  // STS and IAM wrap their errors differently.
  const auto detail = ParseErrorDocument(
      "<ErrorResponse><Error><Type>Sender</Type><Code>ExpiredToken</Code><Message>The security "
      "token included in the request is expired</Message></Error><RequestId>r-9</RequestId>"
      "</ErrorResponse>");
  EXPECT_EQ(detail.code, "ExpiredToken");
  EXPECT_EQ(detail.request_id, "r-9");
}

TEST(AwsQueryClient, RefusedCredentialsNameTheirSource) {
  ScriptedServer server({{401, Ec2Error("AuthFailure",
                                        "AWS was not able to validate the "
                                        "provided access credentials")}});
  const QueryClient client(Ec2Service(), "us-east-1", server.url(), TestCredentials(),
                           FastOptions(5));
  try {
    client.Call("DescribeInstances", {});
    FAIL() << "expected AwsCredentialsRefused";
  } catch (const AwsCredentialsRefused& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCloudCredentials);
    EXPECT_NE(e.message().find("refused the credentials from profile 'dev' in ~/.aws/credentials "
                               "(AuthFailure"),
              std::string::npos)
        << e.message();
    EXPECT_EQ(ClassifyAwsError(e)->kind, vm::FailureKind::kAuth);
  }
  EXPECT_EQ(server.seen().size(), 1u);
}

TEST(AwsQueryClient, TimeoutsAreBounded) {
  ScriptedServer server({{200, "<x/>", 5000}});
  QueryClientOptions options = FastOptions(2);
  options.request_timeout_ms = 200;
  const QueryClient client(Ec2Service(), "us-east-1", server.url(), TestCredentials(), options);
  const auto start = std::chrono::steady_clock::now();
  try {
    client.Call("DescribeInstances", {});
    FAIL() << "expected AwsApiError";
  } catch (const AwsApiError& e) {
    EXPECT_NE(e.message().find("timed out"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("2 times"), std::string::npos) << e.message();
    EXPECT_EQ(ClassifyAwsError(e)->kind, vm::FailureKind::kTransient);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST(AwsQueryClient, UnreachableEndpoint) {
  int port = 0;
  {
    ScriptedServer closed({{200, ""}});
    port = std::stoi(closed.url().substr(closed.url().rfind(':') + 1));
  }
  const QueryClient client(Ec2Service(), "us-east-1", fmt::format("http://127.0.0.1:{}", port),
                           TestCredentials(), FastOptions(2));
  try {
    client.Call("DescribeInstances", {});
    FAIL() << "expected AwsApiError";
  } catch (const AwsApiError& e) {
    EXPECT_NE(e.message().find("cannot reach http://127.0.0.1:"), std::string::npos) << e.message();
  }
}

TEST(AwsQueryClient, DescribeInstancesFollowsNextToken) {
  const std::string page1 =
      "<DescribeInstancesResponse><reservationSet><item><instancesSet><item>"
      "<instanceId>i-1</instanceId><instanceState><name>running</name></instanceState>"
      "<privateIpAddress>10.0.0.1</privateIpAddress><ipAddress>3.3.3.3</ipAddress>"
      "<placement><availabilityZone>us-east-1a</availabilityZone></placement>"
      "<tagSet><item><key>skypilot-head-node</key><value>1</value></item></tagSet>"
      "</item></instancesSet></item></reservationSet><nextToken>page-2</nextToken>"
      "</DescribeInstancesResponse>";
  const std::string page2 =
      "<DescribeInstancesResponse><reservationSet><item><instancesSet><item>"
      "<instanceId>i-2</instanceId><instanceState><name>terminated</name></instanceState>"
      "<stateReason><code>Server.SpotInstanceTermination</code><message>Server."
      "SpotInstanceTermination: Spot instance termination</message></stateReason>"
      "</item></instancesSet></item></reservationSet></DescribeInstancesResponse>";
  ScriptedServer server({{200, page1}, {200, page2}});
  const Ec2Client ec2(std::make_shared<const QueryClient>(Ec2Service(), "us-east-1", server.url(),
                                                          TestCredentials(), FastOptions(1)));
  const auto instances = ec2.DescribeInstances(
      {{"tag:skypilot-cluster-name", {"c-1"}}, {"instance-state-name", {"pending", "running"}}});
  ASSERT_EQ(instances.size(), 2u);
  EXPECT_EQ(instances[0].instance_id, "i-1");
  EXPECT_EQ(instances[0].public_ip, "3.3.3.3");
  EXPECT_EQ(instances[0].zone, "us-east-1a");
  EXPECT_EQ(instances[0].tags.at("skypilot-head-node"), "1");
  EXPECT_EQ(instances[1].state, "terminated");
  EXPECT_NE(instances[1].state_reason.find("Spot instance termination"), std::string::npos);
  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_NE(seen[0].body.find("Filter.1.Name=tag%3Askypilot-cluster-name&Filter.1.Value.1=c-1&"
                              "Filter.2.Name=instance-state-name&Filter.2.Value.1=pending&"
                              "Filter.2.Value.2=running"),
            std::string::npos)
      << seen[0].body;
  EXPECT_NE(seen[1].body.find("NextToken=page-2"), std::string::npos) << seen[1].body;
}

// ------------------------------------------------------------ classification

TEST(AwsClassify, Table) {
  const std::vector<std::pair<std::string, vm::FailureKind>> table = {
      {"InsufficientInstanceCapacity", vm::FailureKind::kCapacity},
      {"InsufficientFreeAddressesInSubnet", vm::FailureKind::kCapacity},
      {"SpotMaxPriceTooLow", vm::FailureKind::kCapacity},
      {"Unsupported", vm::FailureKind::kCapacity},
      {"VcpuLimitExceeded", vm::FailureKind::kQuota},
      {"InstanceLimitExceeded", vm::FailureKind::kQuota},
      {"MaxSpotInstanceCountExceeded", vm::FailureKind::kQuota},
      {"InvalidAMIID.NotFound", vm::FailureKind::kBadRequest},
      {"InvalidAMIID.Malformed", vm::FailureKind::kBadRequest},
      {"InvalidParameterValue", vm::FailureKind::kBadRequest},
      {"InvalidInstanceType", vm::FailureKind::kBadRequest},
      {"RequestLimitExceeded", vm::FailureKind::kTransient},
      {"Throttling", vm::FailureKind::kTransient},
      {"InternalError", vm::FailureKind::kTransient},
  };
  for (const auto& [code, kind] : table) {
    AwsErrorDetail detail;
    detail.code = code;
    detail.region = "us-east-1";
    detail.http_status = code == "InternalError" ? 500 : 400;
    const AwsApiError error(fmt::format("AWS EC2 RunInstances in us-east-1: {}", code), detail);
    const auto failure = ClassifyAwsError(error);
    ASSERT_TRUE(failure) << code;
    EXPECT_EQ(failure->kind, kind) << code;
    EXPECT_EQ(failure->cloud_code, code);
  }
  for (const char* code : {"AuthFailure", "SignatureDoesNotMatch", "InvalidClientTokenId",
                           "ExpiredToken", "UnrecognizedClientException"}) {
    AwsErrorDetail detail;
    detail.code = code;
    const AwsCredentialsRefused error("refused", detail);
    EXPECT_EQ(ClassifyAwsError(error)->kind, vm::FailureKind::kAuth) << code;
  }
  EXPECT_EQ(ClassifyAwsError(InvalidCloudCredentials("no AWS credentials found"))->kind,
            vm::FailureKind::kAuth);
  EXPECT_EQ(ClassifyAwsError(ResourcesUnavailableError("not offered in zone"))->kind,
            vm::FailureKind::kCapacity);
  EXPECT_FALSE(ClassifyAwsError(IoError("disk full")));
  EXPECT_EQ(KeyPairName("ssh-ed25519 AAAAkey comment-a\n"), KeyPairName("ssh-ed25519 AAAAkey b"));
  EXPECT_EQ(KeyPairName("ssh-ed25519 AAAAkey").size(), std::string("sky-key-").size() + 10);
  EXPECT_EQ(SecurityGroupName("c1-2ea4"), "sky-sg-c1-2ea4");
}

// ------------------------------------------------------------ config and check

TEST(AwsConfig, KeysAreValidated) {
  testing::TempDir dir("awsconfig");
  const fs::path config = dir.path() / "config.yaml";
  WriteFile(config, "aws:\n  ssh_user: ec2-user\n  image_id: ami-123\n  labels: {a: b}\n");
  const AwsSettings settings = ReadAwsSettings(config);
  EXPECT_EQ(settings.ssh_user, "ec2-user");
  EXPECT_EQ(settings.image_id, "ami-123");
  WriteFile(config, "aws:\n  ssh_usr: ec2-user\n");
  try {
    ReadAwsSettings(config);
    FAIL() << "expected InvalidSkyPilotConfigError";
  } catch (const InvalidSkyPilotConfigError& e) {
    EXPECT_NE(e.message().find("unknown field aws.ssh_usr"), std::string::npos) << e.message();
    ASSERT_FALSE(e.suggestions().empty());
    EXPECT_EQ(e.suggestions()[0], "ssh_user");
    EXPECT_EQ(e.location().line, 2);
  }
  EXPECT_EQ(ReadAwsSettings(dir.path() / "absent.yaml").ssh_user, "ubuntu");
}

TEST(AwsCheck, CachesWhatItFoundForEnabled) {
  ScriptedServer server(
      {{200,
        "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:"
        "user/alice</Arn><UserId>AIDA</UserId><Account>123456789012</Account>"
        "</GetCallerIdentityResult></GetCallerIdentityResponse>"},
       {200,
        "<DescribeRegionsResponse><regionInfo><item><regionName>us-east-1</regionName>"
        "</item></regionInfo></DescribeRegionsResponse>"}});
  testing::TempDir state("awscheck");
  SkyOptions options;
  options.state_dir = state.path();
  CredentialsOptions credentials;
  credentials.env = FakeEnv({{"AWS_ACCESS_KEY_ID", "AKID"},
                             {"AWS_SECRET_ACCESS_KEY", "secret"},
                             {"AWS_ENDPOINT_URL", server.url()},
                             {"AWS_EC2_METADATA_DISABLED", "true"},
                             {"HOME", state.path().string()}});
  EXPECT_FALSE(AwsEnabled(state.path()));
  InfraCheck check = CheckAws(options, credentials);
  EXPECT_TRUE(check.enabled) << check.reason;
  EXPECT_EQ(check.reason,
            "credentials from environment variables; account 123456789012, "
            "arn:aws:iam::123456789012:user/alice; 1 regions");
  EXPECT_TRUE(AwsEnabled(state.path()));
  const auto mode = fs::status(AwsCheckCachePath(state.path())).permissions();
  EXPECT_EQ(mode & (fs::perms::group_all | fs::perms::others_all), fs::perms::none);

  // Without credentials: disabled, the reason says why, and the cache agrees.
  credentials.env =
      FakeEnv({{"AWS_EC2_METADATA_DISABLED", "true"}, {"HOME", state.path().string()}});
  check = CheckAws(options, credentials);
  EXPECT_FALSE(check.enabled);
  EXPECT_NE(check.reason.find("no AWS credentials found"), std::string::npos) << check.reason;
  EXPECT_FALSE(AwsEnabled(state.path()));
}

// ------------------------------------------------------------ moto, end to end

class AwsMoto : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* endpoint = std::getenv("SKYCORE_TEST_AWS_ENDPOINT");
    if (endpoint == nullptr || *endpoint == '\0') {
      GTEST_SKIP() << "SKYCORE_TEST_AWS_ENDPOINT is not set (a moto server's URL)";
    }
    endpoint_ = endpoint;
  }
  std::string endpoint_;
};

TEST_F(AwsMoto, LaunchStopStartTerminateLeavesNothing) {
  const auto env = FakeEnv({{"AWS_ACCESS_KEY_ID", "testing"},
                            {"AWS_SECRET_ACCESS_KEY", "testing"},
                            {"AWS_ENDPOINT_URL", endpoint_},
                            {"AWS_EC2_METADATA_DISABLED", "true"}});
  CredentialsOptions credentials;
  credentials.env = env;
  AwsSettings settings;
  // moto knows only 2017-era images.
  settings.image_name_filter = "ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-*";
  const AwsCloud cloud(settings, credentials);
  auto provisioner_base = cloud.ProvisionerFor("us-east-1");
  auto& provisioner = dynamic_cast<AwsProvisioner&>(*provisioner_base);
  const std::string cluster =
      fmt::format("moto-{}", std::chrono::steady_clock::now().time_since_epoch().count() % 100000);

  vm::ProvisionRequest request;
  request.cluster_name = "moto";
  request.cluster_name_on_cloud = cluster;
  request.region = "us-east-1";
  request.instance_type = "t3.micro";
  request.count = 2;
  request.disk_size_gb = 64;
  request.ports = {8080};
  request.labels = {{"team", "infra"}};
  request.ssh_public_key =
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHZNJl13P6LUiAJMGR5lhH6RjOKZx6tDkEkC/WFLBlH2 test";

  // An image that is not in the region is the request's fault.
  vm::ProvisionRequest bad_image = request;
  bad_image.image_id = "ami-00000000000000000";
  try {
    provisioner.Bootstrap(bad_image);
    FAIL() << "expected InvalidTaskError";
  } catch (const InvalidTaskError& e) {
    EXPECT_NE(e.message().find("ami-00000000000000000 is not in AWS region us-east-1"),
              std::string::npos)
        << e.message();
  }

  const vm::ProvisionRequest ready = provisioner.Bootstrap(request);
  EXPECT_FALSE(ready.zone.empty());
  EXPECT_FALSE(ready.image_id.empty());
  EXPECT_EQ(ready.provider_config.value("key_name", ""), KeyPairName(request.ssh_public_key));
  // Idempotent: a second bootstrap finds the same group and key.
  EXPECT_EQ(provisioner.Bootstrap(request).provider_config["security_group_id"],
            ready.provider_config["security_group_id"]);

  const vm::ProvisionRecord record = provisioner.RunInstances(ready);
  EXPECT_EQ(record.created_instance_ids.size(), 2u);
  ASSERT_FALSE(record.head_instance_id.empty());
  // Idempotent: nothing more is created for a cluster that has its nodes.
  EXPECT_TRUE(provisioner.RunInstances(ready).created_instance_ids.empty());

  const auto deadline = [] { return std::chrono::steady_clock::now() + std::chrono::seconds(60); };
  provisioner.WaitInstances("us-east-1", cluster, vm::InstanceState::kRunning, deadline());
  const vm::ClusterInfo info = provisioner.GetClusterInfo("us-east-1", cluster);
  ASSERT_EQ(info.instances.size(), 2u);
  EXPECT_EQ(info.instances[0].instance_id, record.head_instance_id);
  EXPECT_EQ(info.head_instance_id, record.head_instance_id);
  EXPECT_EQ(info.instances[0].tags.at("ray-node-type"), "head");
  EXPECT_EQ(info.instances[0].tags.at("Name"), fmt::format("sky-{}-head", cluster));
  EXPECT_EQ(info.instances[1].tags.at("skypilot-head-node"), "0");
  EXPECT_EQ(info.instances[1].tags.at("team"), "infra");
  EXPECT_FALSE(info.instances[0].internal_ip.empty());
  EXPECT_EQ(info.ssh_user, "ubuntu");

  provisioner.StopInstances("us-east-1", cluster, false);
  provisioner.WaitInstances("us-east-1", cluster, vm::InstanceState::kStopped, deadline());
  const vm::ProvisionRecord resumed = provisioner.RunInstances(ready);
  EXPECT_EQ(resumed.resumed_instance_ids.size(), 2u);
  EXPECT_TRUE(resumed.created_instance_ids.empty());
  EXPECT_EQ(resumed.head_instance_id, record.head_instance_id);
  provisioner.WaitInstances("us-east-1", cluster, vm::InstanceState::kRunning, deadline());

  provisioner.TerminateInstances("us-east-1", cluster, true);
  auto states = provisioner.QueryInstances("us-east-1", cluster, true);
  provisioner.WaitInstances("us-east-1", cluster, vm::InstanceState::kRunning, deadline());
  states = provisioner.QueryInstances("us-east-1", cluster, true);
  EXPECT_EQ(states.size(), 1u);
  EXPECT_TRUE(states.count(record.head_instance_id));

  provisioner.TerminateInstances("us-east-1", cluster, false);
  provisioner.WaitInstances("us-east-1", cluster, vm::InstanceState::kTerminated, deadline());
  provisioner.CleanupPorts("us-east-1", cluster);
  EXPECT_TRUE(provisioner.QueryInstances("us-east-1", cluster, true).empty());
  EXPECT_TRUE(provisioner.Ec2("us-east-1")
                  .DescribeSecurityGroups({{"group-name", {SecurityGroupName(cluster)}}})
                  .empty());
}

}  // namespace
}  // namespace skycore::aws
