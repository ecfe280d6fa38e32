#include "infra/aws/sts.h"

#include <fmt/format.h>

namespace skycore::aws {

CallerIdentity GetCallerIdentity(const QueryClient& client) {
  const pugi::xml_document answer = client.Call("GetCallerIdentity", {});
  const pugi::xml_node result = FindDescendant(answer, "GetCallerIdentityResult");
  return {DescendantText(result, "Account"), DescendantText(result, "Arn"),
          DescendantText(result, "UserId")};
}

AwsCredentials AssumeRole(const EnvLookup& env, const AssumeRoleRequest& request,
                          const AwsCredentials& source, const QueryClientOptions& options) {
  QueryClient sts(StsService(), request.region, ServiceEndpoint(env, StsService(), request.region),
                  source, options);
  QueryParams params = {{"RoleArn", request.role_arn},
                        {"RoleSessionName", request.role_session_name},
                        {"DurationSeconds", std::to_string(request.duration_seconds)}};
  if (!request.external_id.empty()) params.emplace_back("ExternalId", request.external_id);
  pugi::xml_document answer;
  try {
    answer = sts.Call("AssumeRole", params);
  } catch (const AwsCredentialsRefused& e) {
    throw InvalidCloudCredentials(fmt::format(
        "cannot assume role {} with {}: {}: {}; check that the role's trust policy allows that "
        "identity{}",
        request.role_arn, source.source, e.detail().code, e.detail().message,
        request.external_id.empty() ? "" : " and the external_id"));
  }
  const pugi::xml_node credentials = FindDescendant(answer, "Credentials");
  AwsCredentials out;
  out.access_key_id = DescendantText(credentials, "AccessKeyId");
  out.secret_access_key = DescendantText(credentials, "SecretAccessKey");
  out.session_token = DescendantText(credentials, "SessionToken");
  out.expires_at = ParseIso8601(DescendantText(credentials, "Expiration"));
  if (out.access_key_id.empty() || out.secret_access_key.empty()) {
    throw InvalidCloudCredentials(
        fmt::format("STS AssumeRole of {} answered without credentials", request.role_arn));
  }
  return out;
}

}  // namespace skycore::aws
