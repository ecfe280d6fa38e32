// Azure: the token chain (a certificate assertion verified with the
// certificate's own key, the CLI's token cached, which source wins), the ARM
// client's long-running operations and retries against a scripted server on
// loopback, the failover classification of ARM's errors, and SkyPilot's
// state mapping.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/strings.h"
#include "infra/azure/arm_client.h"
#include "infra/azure/credentials.h"
#include "infra/azure/provisioner.h"
#include "infra/descriptor.h"
#include "scripted_server.h"
#include "temp_dir.h"

namespace skycore::azure {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::ScriptedResponse;
using testing::ScriptedServer;

EnvLookup FakeEnv(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
    auto found = values.find(name);
    if (found == values.end()) return std::nullopt;
    return found->second;
  };
}

ScriptedResponse Json(int status, json body, std::vector<std::string> headers = {}) {
  return {status, body.is_null() ? "" : body.dump(), 0, "application/json", std::move(headers)};
}

std::string TokenBody() {
  return json{{"token_type", "Bearer"}, {"expires_in", 3599}, {"access_token", "tok"}}.dump();
}

// ------------------------------------------------------------ credentials

TEST(AzureCredentials, CertificateAssertionVerifiesWithTheCertificate) {
  testing::TempDir dir("azure");
  const fs::path pem = dir.path() / "sp.pem";
  ASSERT_EQ(std::system(("openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=sp -days 1 "
                         "-keyout " +
                         pem.string() + " -out " + pem.string() + ".crt 2>/dev/null && cat " +
                         pem.string() + ".crt >> " + pem.string())
                            .c_str()),
            0);
  std::ifstream in(pem);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string jwt = CertificateAssertion(text, "client-1", "https://login/t/token", 1000);
  const auto parts = strings::Split(jwt, '.');
  ASSERT_EQ(parts.size(), 3u);
  auto decode = [](std::string part) {
    for (char& c : part) c = c == '-' ? '+' : c == '_' ? '/' : c;
    while (part.size() % 4) part.push_back('=');
    return strings::DecodeBase64(part).value_or("");
  };
  const json header = json::parse(decode(parts[0]));
  const json claims = json::parse(decode(parts[1]));
  EXPECT_EQ(header["alg"], "RS256");
  EXPECT_EQ(decode(header["x5t"].get<std::string>()).size(), 20u);  // a SHA-1 thumbprint
  EXPECT_EQ(claims["iss"], "client-1");
  EXPECT_EQ(claims["sub"], "client-1");
  EXPECT_EQ(claims["aud"], "https://login/t/token");
  EXPECT_EQ(claims["exp"], 1600);

  // The signature checks out with the certificate's public key.
  BIO* bio = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  ASSERT_NE(cert, nullptr);
  EVP_PKEY* key = X509_get_pubkey(cert);
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  const std::string input = parts[0] + "." + parts[1];
  const std::string signature = decode(parts[2]);
  EVP_DigestVerifyInit(context, nullptr, EVP_sha256(), nullptr, key);
  EXPECT_EQ(EVP_DigestVerify(context, reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                             input.size()),
            1);
  EVP_MD_CTX_free(context);
  EVP_PKEY_free(key);
  X509_free(cert);
  BIO_free(bio);

  EXPECT_THROW(CertificateAssertion("not a pem", "c", "a", 0), InvalidCloudCredentials);
}

TEST(AzureCredentials, SecretWinsAndIsRefusedWithEntrasWords) {
  ScriptedServer entra({Json(
      401, {{"error", "invalid_client"},
            {"error_description", "AADSTS7000215: Invalid client secret provided.\r\nTrace"}})});
  CredentialsOptions options;
  options.env = FakeEnv({{"AZURE_TENANT_ID", "t1"},
                         {"AZURE_CLIENT_ID", "c1"},
                         {"AZURE_CLIENT_SECRET", "wrong"},
                         {"AZURE_FEDERATED_TOKEN_FILE", "/elsewhere"},
                         {"AZURE_AUTHORITY_HOST", entra.url() + "/"}});
  TokenProvider tokens(options);
  EXPECT_EQ(tokens.SourceName(), "service principal c1 (AZURE_CLIENT_SECRET)");
  try {
    tokens.Token();
    FAIL() << "no error";
  } catch (const InvalidCloudCredentials& e) {
    EXPECT_NE(e.message().find("AADSTS7000215: Invalid client secret provided."), std::string::npos)
        << e.message();
    EXPECT_EQ(e.message().find("Trace"), std::string::npos) << e.message();
  }
  const auto seen = entra.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].path, "/t1/oauth2/v2.0/token");
  EXPECT_NE(seen[0].body.find("client_secret=wrong"), std::string::npos);
  EXPECT_NE(seen[0].body.find("scope=https%3A%2F%2Fmanagement.azure.com%2F.default"),
            std::string::npos);
}

TEST(AzureCredentials, CliTokenIsCachedUntilNearItsExpiry) {
  testing::TempDir dir("azure");
  const fs::path az = dir.path() / "az";
  const fs::path calls = dir.path() / "calls";
  std::ofstream(az) << "#!/bin/sh\necho x >> " << calls.string()
                    << "\necho 'WARNING: ignored' >&2\n"
                       "echo '{\"accessToken\":\"cli-tok\",\"expires_on\":2000,"
                       "\"subscription\":\"sub-9\",\"tenant\":\"t9\"}'\n";
  ::chmod(az.c_str(), 0755);
  int64_t now = 1000;
  CredentialsOptions options;
  options.env = FakeEnv({});
  options.az_command = az.string();
  options.now = [&] { return now; };
  options.on_azure_vm = [] { return false; };
  TokenProvider tokens(options);
  EXPECT_EQ(tokens.SourceName(), "Azure CLI (az login)");
  const AccessToken first = tokens.Token();
  EXPECT_EQ(first.token, "cli-tok");
  EXPECT_EQ(first.cli_subscription, "sub-9");
  tokens.Token();
  auto count = [&] {
    std::ifstream in(calls);
    return std::count(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), '\n');
  };
  EXPECT_EQ(count(), 1);
  now = 1800;  // within five minutes of its expiry: renewed
  tokens.Token();
  EXPECT_EQ(count(), 2);

  options.az_command = (dir.path() / "no-such-az").string();
  TokenProvider none(options);
  try {
    none.Token();
    FAIL() << "no error";
  } catch (const InvalidCloudCredentials& e) {
    EXPECT_NE(e.message().find("az login"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("AZURE_CLIENT_SECRET"), std::string::npos) << e.message();
  }
}

// ------------------------------------------------------------ ARM client

std::shared_ptr<TokenProvider> FixedTokens(ScriptedServer& entra) {
  CredentialsOptions options;
  options.env = FakeEnv({{"AZURE_AUTHORITY_HOST", entra.url()}});
  return std::make_shared<TokenProvider>(options, ClientCredentials{"t", "c", "s", "", ""}, "sp");
}

ArmClientOptions Fast() {
  ArmClientOptions options;
  options.retry.initial_backoff_ms = 1;
  options.retry.max_backoff_ms = 5;
  options.default_poll = std::chrono::milliseconds(1);
  return options;
}

TEST(AzureArm, PutPollsTheAsyncOperationThenReadsTheResource) {
  ScriptedServer entra({{200, TokenBody()}});
  ScriptedServer server({Json(500, {})});
  const std::string op = server.url() +
                         "/subscriptions/s/providers/Microsoft.Compute/locations/"
                         "eastus/operations/1?api-version=2026-04-01";
  server.Script(
      {Json(429, {{"error", {{"code", "TooManyRequests"}}}}, {"Retry-After: 0"}),
       Json(201, {{"properties", {{"provisioningState", "Creating"}}}},
            {"Azure-AsyncOperation: " + op, "Retry-After: 0"}),
       Json(200, {{"status", "InProgress"}}, {"Retry-After: 0"}),
       Json(200, {{"status", "Succeeded"}}),
       Json(200, {{"name", "vm1"}, {"properties", {{"provisioningState", "Succeeded"}}}})});
  const ArmClient client(server.url(), "s", FixedTokens(entra), Fast());
  const std::string path = client.SubscriptionPath(
      "/resourceGroups/g/providers/"
      "Microsoft.Compute/virtualMachines/vm1");
  EXPECT_EQ(path,
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/vm1");
  const json vm = client.Run("PUT", path, "2026-04-01", {{"location", "eastus"}},
                             std::chrono::steady_clock::now() + std::chrono::seconds(10));
  EXPECT_EQ(vm.value("name", ""), "vm1");
  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 5u);
  EXPECT_EQ(seen[0].method, "PUT");  // throttled, then again
  EXPECT_EQ(seen[1].method, "PUT");
  EXPECT_EQ(seen[1].path, path + "?api-version=2026-04-01");
  EXPECT_EQ(seen[1].headers.at("authorization"), "Bearer tok");
  EXPECT_EQ(json::parse(seen[1].body)["location"], "eastus");
  EXPECT_EQ(seen[2].path, op.substr(server.url().size()));
  EXPECT_EQ(seen[4].method, "GET");
  EXPECT_EQ(seen[4].path, path + "?api-version=2026-04-01");
  EXPECT_EQ(entra.seen().size(), 1u);  // one token for every call
}

TEST(AzureArm, AFailedOperationCarriesItsCode) {
  ScriptedServer entra({{200, TokenBody()}});
  ScriptedServer server({Json(500, {})});
  server.Script(
      {Json(201, {}, {"Azure-AsyncOperation: " + server.url() + "/op", "Retry-After: 0"}),
       Json(200, {{"status", "Failed"},
                  {"error", {{"code", "AllocationFailed"}, {"message", "no room in eastus"}}}})});
  const ArmClient client(server.url(), "s", FixedTokens(entra), Fast());
  try {
    client.Run("PUT", "/subscriptions/s/x", "v", json::object(),
               std::chrono::steady_clock::now() + std::chrono::seconds(10));
    FAIL() << "no error";
  } catch (const ArmApiError& e) {
    EXPECT_EQ(e.arm_code(), "AllocationFailed");
    EXPECT_TRUE(e.detail().from_operation);
    EXPECT_NE(e.message().find("no room in eastus"), std::string::npos) << e.message();
  }
}

TEST(AzureArm, DeleteFollowsLocationAndAbsentIsDone) {
  ScriptedServer entra({{200, TokenBody()}});
  ScriptedServer server({Json(500, {})});
  server.Script({Json(202, {}, {"Location: " + server.url() + "/result", "Retry-After: 0"}),
                 Json(202, {}, {"Retry-After: 0"}), Json(200, {}),
                 Json(404, {{"error", {{"code", "ResourceNotFound"}}}})});
  const ArmClient client(server.url(), "s", FixedTokens(entra), Fast());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  EXPECT_TRUE(client.Run("DELETE", "/subscriptions/s/g", "v", nullptr, deadline).is_null());
  EXPECT_EQ(server.seen().size(), 3u);
  client.Run("DELETE", "/subscriptions/s/g", "v", nullptr, deadline);  // 404: nothing to do
  EXPECT_EQ(server.seen().size(), 4u);
  EXPECT_FALSE(client.Get("/subscriptions/s/g", "v").has_value());
}

TEST(AzureArm, AnExpiredTokenIsRenewedOnceThenRefused) {
  ScriptedServer entra({{200, TokenBody()}});
  ScriptedServer server({Json(401, {{"error", {{"code", "ExpiredAuthenticationToken"}}}}),
                         Json(200, {{"id", "/subscriptions/s"}}),
                         Json(401, {{"error", {{"code", "InvalidAuthenticationToken"}}}})});
  const ArmClient client(server.url(), "s", FixedTokens(entra), Fast());
  EXPECT_TRUE(client.Get("/subscriptions/s", "v").has_value());
  EXPECT_EQ(entra.seen().size(), 2u);
  try {
    client.Get("/subscriptions/s", "v");
    FAIL() << "no error";
  } catch (const ArmCredentialsRefused& e) {
    EXPECT_NE(e.message().find("InvalidAuthenticationToken"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("subscription s"), std::string::npos) << e.message();
  }
}

// ------------------------------------------------------------ classification

TEST(AzureErrors, ClassifiedForFailover) {
  auto kind = [](const std::string& code, const std::string& message = "", long status = 409) {
    const ArmApiError error("x", ArmErrorDetail{"PUT", "/p", code, message, status, true, 1});
    return ClassifyAzureError(error)->kind;
  };
  EXPECT_EQ(kind("AllocationFailed"), vm::FailureKind::kCapacity);
  EXPECT_EQ(kind("ZonalAllocationFailed"), vm::FailureKind::kCapacity);
  EXPECT_EQ(kind("OverconstrainedAllocationRequest"), vm::FailureKind::kCapacity);
  EXPECT_EQ(kind("SkuNotAvailable"), vm::FailureKind::kCapacity);
  EXPECT_EQ(kind("QuotaExceeded"), vm::FailureKind::kQuota);
  EXPECT_EQ(kind("OperationNotAllowed", "... exceeding approved standardDSv5Family Cores quota"),
            vm::FailureKind::kQuota);
  EXPECT_EQ(kind("OperationNotAllowed", "something else"), vm::FailureKind::kBadRequest);
  EXPECT_EQ(kind("InvalidParameter"), vm::FailureKind::kBadRequest);
  EXPECT_EQ(kind("", "", 503), vm::FailureKind::kTransient);
  const ArmCredentialsRefused refused(
      "no", ArmErrorDetail{"GET", "/", "AuthorizationFailed", "", 403, false, 1});
  EXPECT_EQ(ClassifyAzureError(refused)->kind, vm::FailureKind::kAuth);
  EXPECT_FALSE(ClassifyAzureError(IoError("disk")).has_value());
}

TEST(AzureErrors, WrappedCodesAreUnwrapped) {
  const auto detail =
      ParseArmError(json{{"error",
                          {{"code", "DeploymentFailed"},
                           {"message", "outer"},
                           {"details", {{{"code", "SkuNotAvailable"}, {"message", "inner"}}}}}}}
                        .dump());
  EXPECT_EQ(detail.code, "SkuNotAvailable");
  EXPECT_EQ(detail.message, "inner");
  EXPECT_EQ(ParseRetryAfter("7"), std::chrono::milliseconds(7000));
  EXPECT_FALSE(ParseRetryAfter("").has_value());
}

// ------------------------------------------------------------ mapping

TEST(AzureMapping, StatesFamiliesAndImages) {
  using vm::InstanceState;
  EXPECT_EQ(VmState("Creating", ""), InstanceState::kPending);
  EXPECT_EQ(VmState("Failed", ""), InstanceState::kPending);
  EXPECT_EQ(VmState("Deleting", "running"), InstanceState::kTerminating);
  EXPECT_EQ(VmState("Succeeded", "running"), InstanceState::kRunning);
  EXPECT_EQ(VmState("Succeeded", "deallocating"), InstanceState::kStopping);
  EXPECT_EQ(VmState("Succeeded", "deallocated"), InstanceState::kStopped);
  EXPECT_EQ(VmState("Succeeded", "starting"), InstanceState::kPending);

  const auto& azure = infra::DescribeInfra("azure");
  EXPECT_EQ(azure.Family("Standard_D8s_v5"), "Ds_v5");
  EXPECT_EQ(azure.Family("Standard_D2s_v5"), "Ds_v5");
  EXPECT_EQ(azure.Family("Standard_NC40ads_H100_v5"), "NCads_H100_v5");
  EXPECT_EQ(azure.Family("Standard_M8-2ms"), "Mms");
  EXPECT_EQ(infra::DescribeInfra("aws").Family("p5.48xlarge"), "p5");

  EXPECT_EQ(ImageReference("Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest")["sku"],
            "22_04-lts-gen2");
  EXPECT_EQ(ImageReference("/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/"
                           "images/i")
                .count("id"),
            1u);
  EXPECT_THROW(ImageReference("ubuntu-22.04"), InvalidTaskError);
  AzureProvisionerOptions options;
  EXPECT_EQ(ResourceGroupName(options, "c-1a2b", "eastus"), "c-1a2b-eastus");
  options.resource_group = "shared";
  EXPECT_EQ(ResourceGroupName(options, "c-1a2b", "eastus"), "shared");
}

}  // namespace
}  // namespace skycore::azure
