#include "infra/aws/endpoints.h"

#include <fmt/format.h>

namespace skycore::aws {
namespace {

std::string WithoutTrailingSlash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

}  // namespace

std::optional<std::string> NonEmpty(const EnvLookup& env, const std::string& name) {
  if (!env) return std::nullopt;
  auto value = env(name);
  if (!value || value->empty()) return std::nullopt;
  return value;
}

const AwsService& Ec2Service() {
  static const AwsService kService{"ec2", "EC2", "2016-11-15", "EC2"};
  return kService;
}

const AwsService& StsService() {
  static const AwsService kService{"sts", "STS", "2011-06-15", "STS"};
  return kService;
}

const AwsService& IamService() {
  static const AwsService kService{"iam", "IAM", "2010-05-08", "IAM"};
  return kService;
}

std::string ServiceEndpoint(const EnvLookup& env, const AwsService& service,
                            const std::string& region) {
  if (auto url = NonEmpty(env, fmt::format("AWS_ENDPOINT_URL_{}", service.env_suffix))) {
    return WithoutTrailingSlash(*url);
  }
  if (auto url = NonEmpty(env, "AWS_ENDPOINT_URL")) return WithoutTrailingSlash(*url);
  if (service.id == "iam") return "https://iam.amazonaws.com";
  const bool china = region.rfind("cn-", 0) == 0;
  return fmt::format("https://{}.{}.amazonaws.com{}", service.id, region, china ? ".cn" : "");
}

std::string S3EndpointOverride(const EnvLookup& env) {
  if (auto url = NonEmpty(env, "AWS_ENDPOINT_URL_S3")) return WithoutTrailingSlash(*url);
  if (auto url = NonEmpty(env, "AWS_ENDPOINT_URL")) return WithoutTrailingSlash(*url);
  return "";
}

std::optional<std::string> RegionFromEnvironment(const EnvLookup& env) {
  if (auto region = NonEmpty(env, "AWS_REGION")) return region;
  return NonEmpty(env, "AWS_DEFAULT_REGION");
}

}  // namespace skycore::aws
