// Where AWS's APIs are reached: the standard SDK variables first
// (AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL), else the public
// regional endpoint. A custom endpoint (an emulator, a VPC endpoint) changes
// only where requests go: they are still signed for their region.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "common/environment.h"

namespace skycore::aws {

using EnvLookup = env::Lookup;  // tests pass a map

// The value of `name` when set and not empty.
std::optional<std::string> NonEmpty(const EnvLookup& env, const std::string& name);

// One Query API of AWS, as its clients name it.
struct AwsService {
  std::string id;           // "ec2": the endpoint prefix, the signing name
  std::string name;         // "EC2": in messages
  std::string api_version;  // the Query API's Version parameter
  std::string env_suffix;   // "EC2": AWS_ENDPOINT_URL_<suffix>
};

const AwsService& Ec2Service();  // 2016-11-15
const AwsService& StsService();  // 2011-06-15
const AwsService& IamService();  // 2010-05-08

// The base URL of `service` in `region` ("https://ec2.us-east-1.amazonaws.com"),
// without a trailing '/'. IAM is global (https://iam.amazonaws.com).
std::string ServiceEndpoint(const EnvLookup& env, const AwsService& service,
                            const std::string& region);

// The S3 endpoint variable's value (AWS_ENDPOINT_URL_S3, else
// AWS_ENDPOINT_URL); empty for AWS's own.
std::string S3EndpointOverride(const EnvLookup& env);

// The region a request goes to when none is named: AWS_REGION, then
// AWS_DEFAULT_REGION; nullopt when neither is set (the profile may say).
std::optional<std::string> RegionFromEnvironment(const EnvLookup& env);

}  // namespace skycore::aws
