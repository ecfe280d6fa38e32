// SigV4: signing one EC2 Query API request (a DescribeInstances POST with
// two filters and a session token), as the provisioner signs every call.
// Target: < 10 µs per signature. The derived signing key is cached per day,
// so a steady state pays for the canonical request, two SHA-256 and one HMAC.
#include <benchmark/benchmark.h>

#include "infra/aws/sigv4.h"

namespace {

using skycore::aws::SignableRequest;
using skycore::aws::SigningKeys;
using skycore::aws::SigV4Signer;

SignableRequest DescribeInstances() {
  SignableRequest request;
  request.method = "POST";
  request.host = "ec2.us-east-1.amazonaws.com";
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
  request.payload =
      "Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag%3Askypilot-cluster-name&"
      "Filter.1.Value.1=sky-4f2a-alice&Filter.2.Name=instance-state-name&Filter.2.Value.1="
      "pending&Filter.2.Value.2=running&MaxResults=1000";
  return request;
}

void BM_SignRequest(benchmark::State& state) {
  const SigV4Signer signer("us-east-1", "ec2");
  const SignableRequest request = DescribeInstances();
  const SigningKeys keys{"ASIAEXAMPLEEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                         "IQoJb3JpZ2luX2VjEXAMPLETOKEN"};
  for (auto _ : state) {
    benchmark::DoNotOptimize(signer.Sign(request, keys, "20250102T030405Z"));
  }
}
BENCHMARK(BM_SignRequest);

// The first request of a day: the signing key is derived (four more HMACs).
void BM_SignRequestNewKey(benchmark::State& state) {
  const SignableRequest request = DescribeInstances();
  const SigningKeys keys{"ASIAEXAMPLEEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
  for (auto _ : state) {
    const SigV4Signer signer("us-east-1", "ec2");
    benchmark::DoNotOptimize(signer.Sign(request, keys, "20250102T030405Z"));
  }
}
BENCHMARK(BM_SignRequestNewKey);

}  // namespace

BENCHMARK_MAIN();
