// AWS STS: who the credentials are (GetCallerIdentity) and temporary
// credentials of a role (AssumeRole).
#pragma once

#include <string>

#include "infra/aws/credentials.h"
#include "infra/aws/query_client.h"

namespace skycore::aws {

struct CallerIdentity {
  std::string account;  // "123456789012"
  std::string arn;      // "arn:aws:iam::123456789012:user/alice"
  std::string user_id;
};

// STS GetCallerIdentity with `client` (an STS client). Throws as
// QueryClient::Call.
CallerIdentity GetCallerIdentity(const QueryClient& client);

// STS AssumeRole with `source`'s keys, at the STS endpoint of `env` for
// `request.region`. The result's source reads "role <arn> assumed with
// <source's source>"; InvalidCloudCredentials when STS refuses.
AwsCredentials AssumeRole(const EnvLookup& env, const AssumeRoleRequest& request,
                          const AwsCredentials& source, const QueryClientOptions& options = {});

}  // namespace skycore::aws
