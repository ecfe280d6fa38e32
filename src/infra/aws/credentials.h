// Where skycore's AWS calls get their keys: the chain every AWS SDK walks.
//
//   1. environment variables: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
//      AWS_SESSION_TOKEN;
//   2. the profile AWS_PROFILE names (`default` when unset) in
//      AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials) and AWS_CONFIG_FILE
//      (~/.aws/config, `[profile name]` sections): `role_arn` with
//      `source_profile` (STS AssumeRole signed with the source's keys), then
//      static keys in the credentials file, then `credential_process`, then
//      static keys in the config file (botocore's order);
//   3. the instance metadata service (IMDSv2), unless
//      AWS_EC2_METADATA_DISABLED=true.
//
// The first source that has credentials wins; a source that is configured
// but broken (a profile named by AWS_PROFILE that does not exist, a
// credential_process that fails, a role that cannot be assumed) is an error,
// not a reason to try the next one, as in the SDKs. Every result says which
// source it came from, and a failure says why each source gave nothing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "infra/aws/endpoints.h"
#include "infra/aws/sigv4.h"

namespace skycore::aws {

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;          // empty for long-term keys
  std::optional<int64_t> expires_at;  // Unix seconds; nullopt: does not expire
  // Where they came from, for messages: "environment variables", "profile
  // 'dev' in ~/.aws/credentials", "role arn:aws:iam::1:role/r assumed with
  // profile 'base'", "credential_process of profile 'x'", "instance metadata
  // (role R)".
  std::string source;
  std::string profile;  // the profile used; empty for the environment and IMDS
  // The profile's `region`, when it names one.
  std::optional<std::string> profile_region;

  SigningKeys keys() const { return {access_key_id, secret_access_key, session_token}; }
};

// What AssumeRole is asked (a profile's role_arn and its options).
struct AssumeRoleRequest {
  std::string role_arn;
  std::string role_session_name;
  std::string external_id;
  int duration_seconds = 3600;
  std::string region;  // where STS is called
};

// Calls STS AssumeRole with `source`'s keys (sts.cc; tests inject their own).
using AssumeRoleFunction =
    std::function<AwsCredentials(const AssumeRoleRequest& request, const AwsCredentials& source)>;

struct CredentialsOptions {
  EnvLookup env;
  // Unix seconds now; empty: the system clock.
  std::function<int64_t()> now;
  // credential_process is killed after this long.
  double process_timeout_s = 60;
  // The metadata service answers within milliseconds on an instance; off
  // one, its address does not answer at all, and every `sky` command would
  // wait this long (botocore waits 1 s, one attempt).
  long imds_timeout_ms = 1000;
  // Empty: STS AssumeRole over HTTP (sts.cc).
  AssumeRoleFunction assume_role;
};

// The credentials of the first source of the chain that has them. Throws
// InvalidCloudCredentials naming every source tried and why it gave nothing
// ("no AWS credentials found: environment variables not set; profile
// 'default' not in ~/.aws/credentials or ~/.aws/config; instance metadata
// disabled (AWS_EC2_METADATA_DISABLED=true)"), or the one configured source
// that failed; credentials whose Expiration is past are refused the same way.
AwsCredentials ResolveCredentials(const CredentialsOptions& options);

// The region calls go to when none is given: AWS_REGION, AWS_DEFAULT_REGION,
// then the `region` of the profile (AWS_PROFILE or `default`) in the config
// file; nullopt when none names one.
std::optional<std::string> ResolveRegion(const EnvLookup& env);

// The shared files' paths (`~` is $HOME).
std::filesystem::path SharedCredentialsFile(const EnvLookup& env);
std::filesystem::path SharedConfigFile(const EnvLookup& env);

// "2024-01-02T03:04:05Z" (also with fractions or an offset) as Unix seconds.
std::optional<int64_t> ParseIso8601(const std::string& text);

}  // namespace skycore::aws
